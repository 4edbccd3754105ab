"""Every path under ``$SCIML_HOME`` (default ``./.sciml``)::

    $SCIML_HOME/mlflow.db                          the default tracking + registry store
    $SCIML_HOME/artifacts/                         artifacts of the default store
    $SCIML_HOME/runs/PARENT/invocation.json        what `sciml resume` needs to continue the run
    $SCIML_HOME/runs/PARENT/driver.pid             the process driving it (resume refuses while it lives)
    $SCIML_HOME/runs/PARENT/tracking-pending.jsonl writes the tracking store has not taken yet
    $SCIML_HOME/runs/PARENT/HASH-sSEED/            an in-process trial's directory
    $SCIML_HOME/runs/tune/PARENT/                  Ray Tune's experiment (state, checkpoints)
    $SCIML_HOME/runs/trials/PARENT/HASH-sSEED-ID/  a Tune trial's directory (on the node running it)

Trial directories are named from the trial's identity (config hash, seed, Tune trial id),
never from its display name.
"""

from __future__ import annotations

import os
from pathlib import Path

INVOCATION = "invocation.json"
DRIVER_PID = "driver.pid"
SPOOL = "tracking-pending.jsonl"


def sciml_home() -> Path:
    """``$SCIML_HOME`` or ``./.sciml``, made absolute."""
    return Path(os.environ.get("SCIML_HOME", ".sciml")).expanduser().resolve()


def default_tracking_uri(home: Path | None = None) -> str:
    """The local SQLite store ``$SCIML_HOME/mlflow.db`` (the home is created)."""
    home = home or sciml_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'mlflow.db'}"


def parent_dir(parent_id: str) -> Path:
    """The driver's directory of the run under MLflow parent run ``parent_id``."""
    return sciml_home() / "runs" / parent_id


def invocation_file(parent_id: str) -> Path:
    return parent_dir(parent_id) / INVOCATION


def driver_pid_file(parent_id: str) -> Path:
    return parent_dir(parent_id) / DRIVER_PID


def spool_file(parent_id: str) -> Path:
    return parent_dir(parent_id) / SPOOL


def local_trial_dir(parent_id: str, config_hash: str, seed: int) -> Path:
    """The directory of an in-process trial."""
    return parent_dir(parent_id) / f"{config_hash}-s{seed}"


def experiment_dir(parent_id: str) -> Path:
    """Where Tune keeps the experiment of the sweep under MLflow parent run ``parent_id``."""
    return sciml_home() / "runs" / "tune" / parent_id


def tune_trial_dir(parent_id: str, config_hash: str, seed: int, trial_id: str) -> Path:
    """A Tune trial's own directory, on the node that runs it: checkpoints, artifacts, ``error.txt``.

    Outside Tune's trial directory: Ray syncs that one while the trial writes, and trips over
    files replaced under it. Results travel to the driver as the trial's final Tune checkpoint.
    """
    return sciml_home() / "runs" / "trials" / parent_id / f"{config_hash}-s{seed}-{trial_id}"
