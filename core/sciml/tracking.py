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

from sciml.errors import UserError

log = logging.getLogger(__name__)
MODEL_ALIAS = "champion"


def sciml_home() -> Path:
    """``$SCIML_HOME`` or ``./.sciml``, made absolute."""
    return Path(os.environ.get("SCIML_HOME", ".sciml")).expanduser().resolve()


def default_tracking_uri(home: Path | None = None) -> str:
    home = home or sciml_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'mlflow.db'}"


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
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        all_tags = dict(tags or {})
        if parent_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        return run.info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, json.dumps(v) if isinstance(v, (list, dict)) else str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, Any], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items() if _is_number(v)]
        for i in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[i:i + 500])

    def log_artifacts(self, run_id: str, directory: Path, artifact_path: str | None = None) -> None:
        if Path(directory).is_dir() and any(Path(directory).iterdir()):
            self.client.log_artifacts(run_id, str(directory), artifact_path)

    def log_text(self, run_id: str, text: str, filename: str) -> None:
        self.client.log_text(run_id, text, filename)

    # -- models ------------------------------------------------------------------------------
    def log_model(self, run_id: str, model_dir: Path, plugin: str) -> str:
        """Log a trained model (state dict + config + metadata) as an MLflow pyfunc; return its URI."""
        import mlflow

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "add type hints to predict": inputs are file paths
            from sciml.mlflow_model import SciMLModel

        reqs = ["sciml", f"sciml-{plugin}"] if plugin != "sciml" else ["sciml"]
        # "add type hints to predict" does not apply: inputs are users' file paths
        with warnings.catch_warnings(), mlflow.start_run(run_id=run_id):
            warnings.simplefilter("ignore")
            info = mlflow.pyfunc.log_model(name="model", python_model=SciMLModel(),
                                           artifacts={"sciml_model": str(model_dir)}, pip_requirements=reqs)
        return info.model_uri

    def register(self, model_uri: str, name: str, run_id: str, tags: Mapping[str, Any] | None = None) -> str:
        """Register ``model_uri`` as a new version of ``name`` and point the ``champion`` alias at it."""
        import mlflow

        version = mlflow.register_model(model_uri, name, await_registration_for=60)
        for k, v in (tags or {}).items():
            self.client.set_model_version_tag(name, version.version, k, str(v))
        self.client.set_registered_model_alias(name, MODEL_ALIAS, version.version)
        return str(version.version)


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


def load_model(uri: str):
    """Load a model logged by sciml: ``models:/sciml-cgmap@champion``, ``runs:/ID/model``, a path.

    Returns:
        :class:`sciml.modelio.LoadedModel` with ``.module`` (the torch model, eval mode),
        ``.config`` (resolved run config) and ``.metadata`` (dataset metadata).

    Raises:
        UserError: the URI cannot be resolved.
    """
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
