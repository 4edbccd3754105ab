"""Experiment tracking with MLflow, written from one process only (the driver).

Trials, in-process or in Ray workers, never talk to MLflow: they report to a
:class:`~sciml.Reporter`, and the driver process writes runs, metrics, artifacts and the
model. With one writer, a local SQLite store cannot hit "database is locked", and a
remote server (``--tracking-uri http://...``) sees one client.

Where things live (``SCIML_HOME``, default ``./.sciml`` in the working directory)::

    $SCIML_HOME/mlflow.db        the default tracking + model-registry store (SQLite)
    $SCIML_HOME/artifacts/       artifacts of the default store
    $SCIML_HOME/runs/            per-trial working directories and Ray Tune storage

``sciml ui`` serves the same store.

A tracking server that goes away mid-run does not lose data: writes that fail with a
connection error are queued in memory (and spooled to ``runs/<parent>/tracking-pending.jsonl``)
and replayed in order when the server answers again. The run waits up to
``SCIML_TRACKING_WAIT`` seconds (default 300) for it at the end; if it does not come back
the run stops with :class:`TrackingUnavailable`, naming the spool file and the trial
directories, and nothing is registered (a model version is only created after the model
is fully logged, and is deleted again if tagging or aliasing it fails).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sciml.errors import SciMLError, UserError
from sciml.run import layout
from sciml.run.layout import default_tracking_uri, sciml_home  # noqa: F401  (their home; re-exported)
from sciml.run.records import (
    TAG_ACCEPTED,
    TAG_ERROR,
    TAG_PARENT,
    TAG_REJECT_REASON,
    TAG_STATUS,
    RunSummary,
    TrialRecord,
    TrialStatus,
)

log = logging.getLogger(__name__)
MODEL_ALIAS = "champion"
RETRY_EVERY_S = 5.0


class TrackingUnavailable(SciMLError):
    """The tracking store stopped answering and did not come back in time."""


def is_connection_error(exc: BaseException) -> bool:
    """True for failures that say the store is unreachable or busy, not that a request was wrong."""
    try:
        import requests

        if isinstance(exc, requests.exceptions.RequestException):
            return True
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    text = str(exc)
    markers = ("Max retries exceeded", "Connection refused", "Connection aborted", "ConnectionError",
               "Failed to establish", "RemoteDisconnected", "Read timed out", "database is locked",
               "TEMPORARILY_UNAVAILABLE", "503 Service Unavailable", "502 Bad Gateway")
    return any(m in text for m in markers)


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls from a run
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    warnings.filterwarnings("ignore", module="mlflow")
    import mlflow  # noqa: F401  (configures its loggers on import; quieten them after)

    for name in ("mlflow", "alembic", "alembic.runtime.migration", "mlflow.store.db.utils", "mlflow.pyfunc"):
        logging.getLogger(name).setLevel(logging.ERROR)


def check_tracking_uri(uri: str) -> None:
    """Fail early and clearly when a remote tracking server cannot be reached.

    Raises:
        UserError: an http(s) URI that does not answer, or an unsupported scheme.
    """
    if uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(f"--tracking-uri {uri!r} does not answer ({getattr(exc, 'reason', exc)}); "
                            "start the server or omit the option to use the local store") from None
    elif not uri.startswith(("sqlite:///", "file:", "postgresql", "mysql", "databricks")) and "://" in uri:
        raise UserError(f"--tracking-uri {uri!r}: unsupported scheme; use http(s)://HOST:PORT or sqlite:///PATH")


class Tracker:
    """MLflow client for one invocation: a parent run with nested child runs.

    Args:
        tracking_uri: MLflow URI; ``None`` is the default SQLite store in ``SCIML_HOME``.
        experiment: experiment name (created if missing).
    """

    def __init__(self, tracking_uri: str | None, experiment: str):
        _quiet_mlflow()
        import mlflow
        from mlflow import MlflowClient

        self.home = sciml_home()
        self.uri = tracking_uri or default_tracking_uri(self.home)
        check_tracking_uri(self.uri)
        if self.uri.startswith("http"):
            # fail fast per request; sciml queues and retries itself (see the module docstring)
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        self.wait_s = float(os.environ.get("SCIML_TRACKING_WAIT", "300"))
        self._pending: list[list[Any]] = []
        self._next_try = 0.0
        self.spool: Path | None = None
        self.outputs: list[Path] = []
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.client = MlflowClient(self.uri, registry_uri=self.uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            location = None
            if self.uri.startswith("sqlite:///"):
                location = (self.home / "artifacts" / experiment).as_uri()
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
        else:
            self.experiment_id = exp.experiment_id

    # -- runs --------------------------------------------------------------------------------
    def start_run(self, name: str, *, parent_id: str | None = None, tags: Mapping[str, str] | None = None) -> str:
        """Create a run (waits for an unreachable store up to ``SCIML_TRACKING_WAIT``: a run id is needed)."""
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        self._provenance = getattr(self, "_provenance", None) or provenance()  # versions, git commit
        all_tags = {**self._provenance, **{k: str(v) for k, v in (tags or {}).items()}}
        if parent_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_id
        self.flush()
        run = self._blocking(lambda: self.client.create_run(self.experiment_id, run_name=name, tags=all_tags),
                             f"create the run {name!r}")
        return run.info.run_id

    def reopen_run(self, run_id: str) -> None:
        """Mark a terminated run RUNNING again (``sciml resume``)."""
        self._blocking(lambda: self.client.update_run(run_id, status="RUNNING"), f"reopen run {run_id}")

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self._write(["end", run_id, str(status)])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self._write(["tags", run_id, {k: str(v)[:5000] for k, v in tags.items()}])

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self._write(["params", run_id, {k: json.dumps(v) if isinstance(v, (list, dict)) else str(v)
                                        for k, v in params.items()}])

    def log_metrics(self, run_id: str, metrics: Mapping[str, Any], step: int = 0) -> None:
        now = int(time.time() * 1000)
        clean = {k: float(v) for k, v in metrics.items() if _is_number(v)}
        if clean:
            self._write(["metrics", run_id, clean, int(step), now])

    def log_artifacts(self, run_id: str, directory: Path, artifact_path: str | None = None) -> None:
        if Path(directory).is_dir() and any(Path(directory).iterdir()):
            self.outputs.append(Path(directory))
            self._write(["artifacts", run_id, str(directory), artifact_path])

    def log_text(self, run_id: str, text: str, filename: str) -> None:
        self._write(["text", run_id, text, filename])

    def child_runs(self, parent_id: str) -> list:
        """Every (non-deleted) child run of ``parent_id``."""
        return self.client.search_runs([self.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'",
                                       max_results=10000)

    def last_step(self, run) -> int:
        """The highest metric step logged to ``run`` (-1 if none)."""
        steps = [m.step for key in run.data.metrics for m in self.client.get_metric_history(run.info.run_id, key)]
        return max(steps, default=-1)

    # -- trials and the parent run (what sciml.run.driver and the executors write) -------------
    def start_trial(self, rec: TrialRecord, parent_id: str, **tags: Any) -> str:
        """Create ``rec``'s child run, tagged with its identity (seed, config hash, Tune trial id)."""
        rec.run_id = self.start_run(rec.name, parent_id=parent_id, tags={**rec.identity_tags, **tags})
        return rec.run_id

    def log_trial(self, rec: TrialRecord) -> None:
        """Log a finished or failed trial's params, outcome and artifacts to its child run."""
        from sciml.config import flatten

        self.log_params(rec.run_id, flatten({k: v for k, v in rec.config.items() if k != "pipeline"}))
        self.set_tags(rec.run_id, {**rec.identity_tags, TAG_STATUS: rec.status, TAG_ACCEPTED: rec.accepted,
                                   **({TAG_REJECT_REASON: rec.reason} if rec.reason else {}),
                                   **({TAG_ERROR: rec.error} if rec.error else {})})
        if rec.metrics:
            self.log_metrics(rec.run_id, rec.metrics)
        if rec.results.get("dataset_hash"):
            self.log_params(rec.run_id, {"dataset_hash": rec.results["dataset_hash"]})
            self._write(dataset_input_op(rec.run_id, rec.config, rec.results["dataset_hash"]))
        if rec.run_dir is not None:
            self.log_artifacts(rec.run_id, rec.run_dir / "artifacts")

    def finish_trial(self, rec: TrialRecord) -> None:
        """Log ``rec`` and end its child run with its status (once)."""
        if rec.done:
            return
        self.log_trial(rec)
        self.end_run(rec.run_id, TrialStatus(rec.status).run_status)
        rec.done = True

    def trial_runs(self, parent_id: str) -> list:
        """The child runs of ``parent_id`` (resume reads their identity tags, never their names)."""
        return self.child_runs(parent_id)

    def log_summary(self, summary: RunSummary) -> None:
        """The parent run's outcome: best metrics, verdict tags, counts and ``summary.json``."""
        pid = summary.parent_run_id
        if summary.best is not None:
            cmp = summary.comparison
            self.log_metrics(pid, {f"best_{k}": v for k, v in summary.best.metrics.items()})
            if cmp.skill is not None:
                self.log_metrics(pid, {"best_skill_vs_baseline": cmp.skill})
            self.set_tags(pid, {"sciml.best_trial": summary.best.name, "sciml.best_run_id": summary.best.run_id,
                                "sciml.selected_on": summary.metric, "sciml.verdict": cmp.verdict(),
                                **({"sciml.beats_baseline": cmp.beats} if cmp.beats is not None else {})})
        counts = {s: sum(t.status == s for t in summary.trials) for s in TrialStatus}
        self.log_metrics(pid, {"n_trials": len(summary.trials), "n_failed": counts[TrialStatus.FAILED],
                               "n_accepted": sum(t.accepted for t in summary.trials)})
        agg = {h: {m: {"mean": a[0], "std": a[1], "n": a[2]} for m, a in ms.items()}
               for h, ms in summary.aggregates.items()}
        if summary.model_version:
            self.set_tags(pid, {"sciml.model": f"{summary.model_name}/{summary.model_version}"})
        self.log_text(pid, json.dumps({
            "best": summary.best.name if summary.best else None,
            "model": f"models:/{summary.model_name}/{summary.model_version}" if summary.model_version else None,
            "aggregates_over_seeds": agg,
            "rejected_per_config": summary.rejected,
            "verdict": summary.comparison.verdict() if summary.comparison else None,
            "summary": summary.extra_lines,
            "trials": [{"name": t.name, "seed": t.seed, "config_hash": t.config_hash, "status": str(t.status),
                        "accepted": t.accepted, "reason": t.reason, "error": t.error,
                        "error_file": str(t.error_file) if t.error_file else None,
                        "metrics": t.metrics, "run_id": t.run_id} for t in summary.trials],
        }, indent=2, default=str), "summary.json")

    def register_champion(self, summary: RunSummary, tags: Mapping[str, Any], description: str) -> None:
        """Log the best trial's model and register it as ``sciml-<plugin>`` (alias ``champion``)."""
        best = summary.best
        if best is None or best.run_dir is None:
            return
        if best.results.get("dataset_hash"):  # the parent run's Dataset column shows the champion's data
            self._write(dataset_input_op(summary.parent_run_id, best.config, best.results["dataset_hash"]))
        uri = self.log_model(best.run_id, best.run_dir / "model", summary.plugin)
        summary.model_name = f"sciml-{summary.plugin}"
        prov = getattr(self, "_provenance", None) or provenance()
        versions = json.loads(prov[TAG_VERSIONS])
        lines = provenance_lines(summary.plugin, versions, prov.get(TAG_GIT_COMMIT), prov.get(TAG_GIT_DIRTY) == "true")
        summary.model_version = self.register(
            uri, summary.model_name, best.run_id, description="\n".join([*lines, description]),
            tags={**tags, **prov, "plugin_version": versions.get(summary.plugin)})

    def replay_spool(self, parent_id: str) -> None:
        """Send the writes an earlier session of ``parent_id`` could not (``sciml resume``), then
        spool this session's to the same file."""
        self.spool = layout.spool_file(parent_id)
        if self.spool.exists():
            for line in self.spool.read_text().splitlines():
                if line.strip():
                    self._pending.append(json.loads(line))
            self.spool.unlink()
            self._next_try = 0.0
            self.close()

    def discard(self, parent_id: str, directories: list[Path]) -> None:
        """Delete the parent run, its children and ``directories`` (after a late UserError)."""
        import shutil

        try:
            ids = [r.info.run_id for r in self.child_runs(parent_id)]
        except Exception:
            ids = []
        self._pending.clear()
        self.delete_runs([*ids, parent_id])
        for d in directories:
            shutil.rmtree(d, ignore_errors=True)

    # -- writes that survive an unreachable store ---------------------------------------------
    def _apply(self, op: list[Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        kind, run_id, *args = op
        if kind == "end":
            self.client.set_terminated(run_id, status=args[0])
        elif kind == "tags":
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in args[0].items()])
        elif kind == "params":
            items = [Param(k, v) for k, v in args[0].items()]
            for i in range(0, len(items), 100):
                self.client.log_batch(run_id, params=items[i:i + 100])
        elif kind == "metrics":
            values, step, ts = args
            items = [Metric(k, v, ts, step) for k, v in values.items()]
            for i in range(0, len(items), 500):
                self.client.log_batch(run_id, metrics=items[i:i + 500])
        elif kind == "artifacts":
            self.client.log_artifacts(run_id, args[0], args[1])
        elif kind == "text":
            self.client.log_text(run_id, args[0], args[1])
        elif kind == "inputs":
            apply_inputs(self.client, run_id, args[0])
        else:  # pragma: no cover
            raise ValueError(kind)

    def _write(self, op: list[Any]) -> None:
        if self._pending and not self.flush():
            self._queue(op)
            return
        try:
            self._apply(op)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning("tracking store %s unreachable (%s); queueing writes and retrying every %.0f s",
                        self.uri, str(exc).splitlines()[0][:200], RETRY_EVERY_S)
            self._next_try = time.time() + RETRY_EVERY_S
            self._queue(op)

    def _queue(self, op: list[Any]) -> None:
        self._pending.append(op)
        if self.spool is not None:
            try:
                self.spool.parent.mkdir(parents=True, exist_ok=True)
                with open(self.spool, "a") as fh:
                    fh.write(json.dumps(op) + "\n")
            except OSError:  # the in-memory queue still holds it
                pass

    @property
    def pending(self) -> int:
        """Number of writes waiting for the store."""
        return len(self._pending)

    def flush(self, wait: float = 0.0) -> bool:
        """Replay queued writes in order; keep trying for ``wait`` seconds. True when none is left."""
        deadline = time.time() + wait
        while self._pending:
            if time.time() < self._next_try and wait <= 0:
                return False
            try:
                while self._pending:
                    self._apply(self._pending[0])
                    self._pending.pop(0)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                self._next_try = time.time() + RETRY_EVERY_S
                if time.time() >= deadline:
                    return False
                time.sleep(min(RETRY_EVERY_S, max(0.1, deadline - time.time())))
                continue
            log.warning("tracking store %s is back; all queued writes were written", self.uri)
            if self.spool is not None and self.spool.exists():
                self.spool.unlink()
        return True

    def _blocking(self, call, what: str):
        deadline = time.time() + self.wait_s
        while True:
            try:
                return call()
            except Exception as exc:
                if not is_connection_error(exc) or time.time() >= deadline:
                    if is_connection_error(exc):
                        raise self.unavailable(f"could not {what}") from None
                    raise
                log.warning("tracking store %s unreachable; retrying to %s", self.uri, what)
                time.sleep(min(RETRY_EVERY_S, max(0.1, deadline - time.time())))

    def unavailable(self, what: str) -> TrackingUnavailable:
        """The error to stop with when the store stays away: says what is kept where."""
        where = f"; {self.pending} unsent write(s) kept in {self.spool}" if self.pending and self.spool else ""
        outs = sorted({str(p.parent) for p in self.outputs})
        kept = f"; trial outputs are kept on disk in {', '.join(outs[:3])}{' ...' if len(outs) > 3 else ''}" \
            if outs else ""
        return TrackingUnavailable(f"tracking store {self.uri} did not answer for {self.wait_s:.0f} s: {what}"
                                   f"{where}{kept}; nothing was registered")

    def close(self) -> None:
        """Wait (up to ``SCIML_TRACKING_WAIT``) for queued writes to reach the store.

        Raises:
            TrackingUnavailable: they could not be written in time.
        """
        if not self.flush(wait=self.wait_s):
            raise self.unavailable("queued writes could not be sent")

    # -- models ------------------------------------------------------------------------------
    def log_model(self, run_id: str, model_dir: Path, plugin: str) -> str:
        """Log a trained model (state dict + config + metadata) as an MLflow pyfunc; return its URI."""
        import mlflow

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "add type hints to predict": inputs are file paths
            from sciml.mlflow_model import SciMLModel

        reqs = ["sciml", f"sciml-{plugin}"] if plugin != "sciml" else ["sciml"]
        if not self.flush(wait=self.wait_s):
            raise self.unavailable("the model was not logged")
        self.outputs.append(Path(model_dir))
        try:
            # "add type hints to predict" does not apply: inputs are users' file paths
            with warnings.catch_warnings(), mlflow.start_run(run_id=run_id):
                warnings.simplefilter("ignore")
                info = mlflow.pyfunc.log_model(name="model", python_model=SciMLModel(),
                                               artifacts={"sciml_model": str(model_dir)}, pip_requirements=reqs)
        except Exception as exc:
            if is_connection_error(exc):
                raise self.unavailable("logging the model failed") from None
            raise
        return info.model_uri

    def register(self, model_uri: str, name: str, run_id: str, tags: Mapping[str, Any] | None = None,
                 description: str | None = None) -> str:
        """Register ``model_uri`` as a new version of ``name`` and point the ``champion`` alias at it.

        ``tags`` whose value is ``None`` are not set; ``description`` becomes the version's
        description (how it was chosen, how it did on test, against which baselines).

        Called only after the model is fully logged and every queued write reached the store.
        If tagging or aliasing the new version fails, the version is deleted again, so the
        registry never holds a half-made entry.
        """
        import mlflow

        if not self.flush(wait=self.wait_s):
            raise self.unavailable("the model was not registered")
        version = mlflow.register_model(model_uri, name, await_registration_for=60)
        try:
            for k, v in (tags or {}).items():
                if v is not None:
                    self.client.set_model_version_tag(name, version.version, k, str(v))
            if description:
                self.client.update_model_version(name, version.version, description=description)
            self.client.set_registered_model_alias(name, MODEL_ALIAS, version.version)
        except Exception as exc:
            try:
                self.client.delete_model_version(name, version.version)
            except Exception:
                log.warning("could not delete the half-registered version %s of %s", version.version, name)
            if is_connection_error(exc):
                raise self.unavailable("registering the model failed") from None
            raise
        return str(version.version)

    def delete_runs(self, run_ids: list[str]) -> None:
        """Delete runs this invocation created (a user error surfaced after they were made)."""
        for rid in run_ids:
            try:
                self.client.delete_run(rid)
            except Exception as exc:  # best effort: the user error is what must be shown
                log.warning("could not delete run %s: %s", rid, exc)
                continue
            if self.uri.startswith("sqlite:///"):
                try:
                    from mlflow.tracking._tracking_service.utils import _get_store

                    _get_store(self.uri)._hard_delete_run(rid)
                except Exception:
                    pass


def open_parent(parent_run_id: str, tracking_uri: str | None = None) -> tuple[Tracker, Any]:
    """The :class:`Tracker` of an existing parent run (its experiment) and the run (``sciml resume``).

    Raises:
        UserError: no such run, a child run, or a run that already finished.
    """
    uri = tracking_uri or default_tracking_uri()
    check_tracking_uri(uri)
    _quiet_mlflow()
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    try:
        parent = client.get_run(parent_run_id)
    except Exception as exc:
        raise UserError(f"no run {parent_run_id!r} in the tracking store {uri} "
                        f"({str(exc).splitlines()[0][:200]})") from None
    tags = parent.data.tags
    if tags.get(TAG_PARENT):
        raise UserError(f"run {parent_run_id!r} is a trial; resume its parent run {tags[TAG_PARENT]!r}")
    if parent.info.status == "FINISHED":
        raise UserError(f"run {parent_run_id!r} already finished; nothing to resume")
    return Tracker(uri, client.get_experiment(parent.info.experiment_id).name), parent


def read_text_artifact(tracker: Tracker, run_id: str, name: str, local: Path) -> str:
    """The text of a run's artifact ``name``: the local copy ``local`` if it exists, else downloaded."""
    if local.exists():
        return local.read_text()
    local.parent.mkdir(parents=True, exist_ok=True)
    return Path(tracker.client.download_artifacts(run_id, name, str(local.parent))).read_text()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def split_results(results: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """Split evaluator results into finite numbers (metrics) and everything else (JSON)."""
    metrics, other = {}, {}
    for k, v in results.items():
        if _is_number(v):
            metrics[k] = float(v)
        elif hasattr(v, "item") and getattr(v, "size", 1) == 1:
            metrics[k] = float(v.item())
        else:
            other[k] = v
    return metrics, other


def load_model(uri: str | Path):
    """Load a model trained by sciml, from the tracking store or from a local directory.

    ``uri`` is an MLflow model URI (``models:/sciml-cgmap@champion``, ``models:/sciml-cgmap/3``,
    ``runs:/ID/model``, a downloaded MLflow model directory), or a trial's own model directory
    as a run leaves it on disk (``$SCIML_HOME/runs/<parent run>/<trial>/model``, holding
    ``state_dict.pt``, ``config.yaml`` and ``metadata.json``; see :mod:`sciml.modelio`), which
    needs no tracking store at all.

    Returns:
        :class:`sciml.modelio.LoadedModel` with ``.module`` (the torch model, eval mode),
        ``.config`` (resolved run config) and ``.metadata`` (dataset metadata).

    Raises:
        UserError: the URI cannot be resolved, or the directory is not a loadable model.
    """
    from sciml.modelio import MODEL_FILES, load_model_dir

    local = Path(uri).expanduser()
    if local.is_dir() and any((local / f).exists() for f in MODEL_FILES):
        return load_model_dir(local)
    uri = str(uri)
    _quiet_mlflow()
    import mlflow

    if os.environ.get("MLFLOW_TRACKING_URI") is None and not uri.startswith(("http", "file:")):
        mlflow.set_tracking_uri(default_tracking_uri())
        mlflow.set_registry_uri(default_tracking_uri())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pyfunc = mlflow.pyfunc.load_model(uri)
    except Exception as exc:
        raise UserError(f"cannot load model {uri!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return pyfunc.unwrap_python_model().loaded


# -- provenance: what a run was made from (dataset inputs, versions, git commit) -----------------
#: Run and model-version tags of :func:`provenance`.
TAG_VERSIONS = "sciml.versions"
TAG_GIT_COMMIT = "sciml.git_commit"
TAG_GIT_DIRTY = "sciml.git_dirty"


def _git(directory: Path, *args: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(directory: str | Path | None = None) -> tuple[str | None, bool]:
    """``(commit, dirty)`` of the git checkout holding ``directory``: by default the one holding
    the sciml source (an editable install, as in this repository), else the working directory.
    ``(None, False)`` outside git. ``dirty`` means tracked files differ from the commit."""
    if directory is None:
        candidates = [Path(__file__).resolve().parent, Path.cwd()]
    else:
        candidates = [Path(directory)]
    for d in candidates:
        commit = _git(d, "rev-parse", "HEAD")
        if commit:
            return commit, bool(_git(d, "status", "--porcelain", "--untracked-files=no"))
    return None, False


def installed_versions() -> dict[str, str]:
    """``{"sciml": version, plugin: version, ...}`` of the core and every plugin that loaded
    (the versions of their distributions; ``"unknown"`` where a plugin has none)."""
    from sciml import __version__
    from sciml.plugins import plugin_infos

    out = {"sciml": __version__}
    for info in plugin_infos():
        if info.error is None and info.name != "sciml":
            out[info.name] = info.version or "unknown"
    return out


def provenance() -> dict[str, str]:
    """The tags that say what made a run: :data:`TAG_VERSIONS` (JSON of :func:`installed_versions`)
    and, in a git checkout, :data:`TAG_GIT_COMMIT` and :data:`TAG_GIT_DIRTY`."""
    tags = {TAG_VERSIONS: json.dumps(installed_versions(), sort_keys=True)}
    commit, dirty = git_state()
    if commit:
        tags[TAG_GIT_COMMIT] = commit
        tags[TAG_GIT_DIRTY] = str(dirty).lower()
    return tags


def version_drift(logged: Mapping[str, str], installed: Mapping[str, str] | None = None) -> list[str]:
    """One line per package whose installed version differs from ``logged`` (a run's
    :data:`TAG_VERSIONS`), or that is missing now; empty when everything matches."""
    installed = installed_versions() if installed is None else installed
    lines = []
    for name, version in sorted(logged.items()):
        now = installed.get(name)
        if now != version:
            lines.append(f"{name}: logged {version}, installed {now or 'none'}")
    return lines


def dataset_source(config: Mapping[str, Any]) -> dict[str, Any]:
    """Where a trial's data came from, as MLflow shows a dataset's source: the dataset component
    and its options, plus ``uri`` (absolute) when an option names an existing file or folder."""
    section = dict(config.get("dataset") or {})
    name = section.pop("name", "unknown")
    source: dict[str, Any] = {"dataset": name, "config": section}
    for value in section.values():
        if isinstance(value, str) and value and ("/" in value or "." in value):
            p = Path(value).expanduser()
            if p.exists():
                source["uri"] = p.resolve().as_uri()
                break
    return source


def dataset_input_op(run_id: str, config: Mapping[str, Any], digest: str, context: str = "training") -> list[Any]:
    """The queued write (see :meth:`Tracker._write`) that logs a trial's dataset as an MLflow run
    input: name = the dataset component (``cgmap:md``), digest = its fingerprint
    (:meth:`sciml.Dataset.fingerprint`), source = :func:`dataset_source`. It fills the Dataset
    column of the MLflow UI."""
    source = dataset_source(config)
    return ["inputs", run_id, {"name": source["dataset"], "digest": str(digest), "source_type": "sciml",
                               "source": json.dumps(source, sort_keys=True, default=str), "context": context}]


def apply_inputs(client, run_id: str, spec: Mapping[str, Any]) -> None:
    """Send a :func:`dataset_input_op` to the store (``MlflowClient.log_inputs``)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    dataset = Dataset(name=spec["name"], digest=spec["digest"], source_type=spec["source_type"], source=spec["source"])
    client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, spec["context"])])])


def distribution_of(plugin: str) -> tuple[str | None, str | None, str | None]:
    """``(distribution name, summary, paper URL)`` of the installed distribution that provides
    ``plugin`` (its ``sciml`` entry point); the paper is the ``Paper`` entry of its project URLs
    (``[project.urls] Paper = ...`` in its pyproject.toml). ``None`` where unknown."""
    import importlib.metadata as md

    for ep in md.entry_points(group="sciml"):
        if ep.name == plugin and ep.dist is not None:
            meta = ep.dist.metadata
            paper = None
            for item in meta.get_all("Project-URL") or []:
                label, _, url = item.partition(",")
                if label.strip().lower() == "paper":
                    paper = url.strip()
            return ep.dist.name, meta.get("Summary"), paper
    return None, None, None


def provenance_lines(plugin: str, versions: Mapping[str, str] | None = None, commit: str | None = None,
                     dirty: bool = False) -> list[str]:
    """The lines a registered model version's description starts with: the plugin and its
    version, what it implements, the paper, sciml's version and the git commit."""
    versions = installed_versions() if versions is None else versions
    dist, summary, paper = distribution_of(plugin)
    lines = [f"Plugin: {dist or plugin} {versions.get(plugin, 'unknown')} (sciml {versions.get('sciml', 'unknown')})"
             + (f": {summary}" if summary else "") + "."]
    if paper:
        lines.append(f"Paper: {paper}")
    if commit:
        lines.append(f"Code: git commit {commit}{' with uncommitted changes' if dirty else ''}.")
    return lines
