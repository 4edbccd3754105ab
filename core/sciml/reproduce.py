"""``sciml reproduce RUN_ID``: run a logged trial again with its exact config and seed, and compare.

The trial's resolved config (its ``config.yaml`` artifact, seed included) is run as a new
single ``sciml run`` in the same experiment; nothing is registered. Before it runs, the
versions of sciml and of the plugin logged with the trial (tag ``sciml.versions``) are
compared with the installed ones (a difference is a warning, not an error: the run may still
reproduce). Afterwards the new trial's dataset digest (:meth:`sciml.Dataset.fingerprint`) is
compared with the logged one, and the pipeline's selection metric with the logged value.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from sciml.errors import UserError

log = logging.getLogger(__name__)
TAG_REPRODUCES = "sciml.reproduces"


@dataclasses.dataclass
class Reproduction:
    """What :func:`reproduce` found.

    Attributes:
        run_id: the trial that was reproduced (the champion trial when a parent run was given).
        metric: the pipeline's selection metric (``val_*``).
        logged, reproduced: its value in the logged trial and in the new one (``None``: missing).
        logged_digest, reproduced_digest: the dataset digests of both.
        warnings: version or data differences, one line each.
        summary: the new run's :class:`~sciml.run.records.RunSummary`.
    """

    run_id: str
    metric: str
    logged: float | None
    reproduced: float | None
    logged_digest: str | None
    reproduced_digest: str | None
    warnings: list[str]
    summary: Any

    def matches(self, rtol: float = 1e-6) -> bool:
        """Whether the metric was reproduced within relative tolerance ``rtol``."""
        if self.logged is None or self.reproduced is None:
            return False
        return math.isclose(self.logged, self.reproduced, rel_tol=rtol, abs_tol=1e-12)


def _trial_of(client, run_id: str):
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise UserError(f"no run {run_id!r} in the tracking store ({str(exc).splitlines()[0][:200]})") from None
    if run.data.tags.get("mlflow.parentRunId"):
        return run
    best = run.data.tags.get("sciml.best_run_id")
    if not best:
        raise UserError(f"run {run_id!r} is a parent run without a champion trial; pass the run id of one of its "
                        "trials (sciml runs show them as child runs)")
    return client.get_run(best)


def reproduce(run_id: str, *, tracking_uri: str | None = None) -> Reproduction:
    """Run the logged trial ``run_id`` (or the champion trial of the parent run ``run_id``) again.

    Raises:
        UserError: no such run, not a sciml trial (no ``config.yaml`` artifact), or the plugin
            that made it is not installed.
    """
    import yaml

    from sciml.run.driver import run
    from sciml.run.options import RunOptions
    from sciml.tracking import (
        TAG_VERSIONS,
        _quiet_mlflow,
        check_tracking_uri,
        default_tracking_uri,
        installed_versions,
        version_drift,
    )

    uri = tracking_uri or default_tracking_uri()
    check_tracking_uri(uri)
    _quiet_mlflow()
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    trial = _trial_of(client, run_id)
    tid = trial.info.run_id
    with tempfile.TemporaryDirectory(prefix="sciml-reproduce-") as tmp:
        try:
            path = Path(client.download_artifacts(tid, "config.yaml", tmp))
            config = yaml.safe_load(path.read_text())
        except Exception:
            raise UserError(f"run {tid!r} has no config.yaml artifact: it is not a trial of sciml run") from None
        if not isinstance(config, dict) or "pipeline" not in config or config.get("seed") is None:
            raise UserError(f"the config.yaml of run {tid!r} names no pipeline or seed")
        plugin = str(config["pipeline"]).split(":")[0]
        logged_versions = json.loads(trial.data.tags.get(TAG_VERSIONS, "{}"))
        warnings = []
        if not logged_versions:
            warnings.append(f"run {tid} has no {TAG_VERSIONS} tag: the versions it was made with are unknown")
        relevant = {k: v for k, v in logged_versions.items() if k in ("sciml", plugin)}
        for line in version_drift(relevant, installed_versions()):
            warnings.append(f"version differs from the logged run: {line}")
        for w in warnings:
            log.warning("%s", w)
        experiment = client.get_experiment(trial.info.experiment_id).name
        options = RunOptions(target=config["pipeline"], config_file=str(path), seed=int(config["seed"]),
                             tracking_uri=tracking_uri, experiment=experiment, register=False)
        summary = run(options)
    client.set_tag(summary.parent_run_id, TAG_REPRODUCES, tid)
    new = summary.trials[0] if summary.trials else None  # the first attempt runs the logged seed
    logged_digest = trial.data.params.get("dataset_hash")
    new_digest = new.results.get("dataset_hash") if new is not None else None
    if logged_digest and new_digest and logged_digest != new_digest:
        warnings.append(f"the dataset digest differs: logged {logged_digest}, now {new_digest} (the data changed)")
        log.warning("%s", warnings[-1])
    metric = summary.metric
    return Reproduction(run_id=tid, metric=metric, logged=trial.data.metrics.get(metric),
                        reproduced=new.metrics.get(metric) if new is not None else None,
                        logged_digest=logged_digest, reproduced_digest=new_digest, warnings=warnings,
                        summary=summary)
