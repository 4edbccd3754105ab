"""Trial records, their status, and the MLflow tag names that identify a trial.

A trial is identified by its tags (``sciml.seed``, ``sciml.config_hash`` and, in a sweep,
``sciml.trial_id``) and by this record, never by its run name: the name
(``<plugin>-<config hash>-s<seed>``) is for display only.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any


class TrialStatus(str, enum.Enum):
    """Status of a trial; the values are MLflow's run statuses (and ``STOPPED`` by a scheduler)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    KILLED = "KILLED"

    def __str__(self) -> str:  # "FINISHED", not "TrialStatus.FINISHED", in messages and tags
        return self.value

    @property
    def run_status(self) -> str:
        """The MLflow status a child run ends with (a stopped trial's run is KILLED)."""
        return self.value if self in (TrialStatus.FINISHED, TrialStatus.FAILED) else "KILLED"


# --- tag names (child runs) -----------------------------------------------------------------
TAG_SEED = "sciml.seed"
TAG_CONFIG_HASH = "sciml.config_hash"
TAG_TRIAL_ID = "sciml.trial_id"  # the Ray Tune trial id (sweeps)
TAG_ATTEMPT = "sciml.attempt"  # the attempt number of an in-process run (seed retries)
TAG_STATUS = "sciml.status"
TAG_ACCEPTED = "sciml.accepted"
TAG_REJECT_REASON = "sciml.reject_reason"
TAG_ERROR = "sciml.error"
TAG_RETRIES = "sciml.retries"
# --- tag names (parent runs) ----------------------------------------------------------------
TAG_PLUGIN = "sciml.plugin"
TAG_PIPELINE = "sciml.pipeline"
TAG_MODE = "sciml.mode"
TAG_COMMAND = "sciml.command"
TAG_RESUMED = "sciml.resumed"
TAG_PARENT = "mlflow.parentRunId"


def trial_name(plugin: str, config_hash: str, seed: int) -> str:
    """The display name of a trial's run (never parsed back: the tags identify the trial)."""
    return f"{plugin}-{config_hash}-s{seed}"


@dataclasses.dataclass
class TrialRecord:
    """What the driver knows of one trial."""

    name: str
    seed: int
    config: dict[str, Any]
    config_hash: str
    run_id: str | None = None
    status: TrialStatus = TrialStatus.PENDING
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    accepted: bool = False
    reason: str = ""
    error: str | None = None
    run_dir: Path | None = None
    done: bool = False  # its MLflow child run is complete (logged and ended)
    reopen: bool = False  # resumed: mark the child run RUNNING again when the trial restarts
    orphan: bool = False  # resumed: a child run whose trial the restored experiment may not know
    logged_step: int = -1  # resumed: metrics up to this step are already in the store
    user_error: bool = False  # failed because of bad input (sciml.UserError)
    error_file: Path | None = None  # the full traceback of a failed trial (run_dir/error.txt)
    trial_id: str | None = None  # the Ray Tune trial id (sweeps)

    @property
    def identity_tags(self) -> dict[str, Any]:
        """The tags that identify this trial's child run."""
        tags: dict[str, Any] = {TAG_SEED: self.seed, TAG_CONFIG_HASH: self.config_hash}
        if self.trial_id:
            tags[TAG_TRIAL_ID] = self.trial_id
        return tags

    def fill_from_outcome(self, outcome: dict[str, Any], run_dir: Path | None = None) -> None:
        """Take a finished trial's ``outcome.json`` (see :func:`sciml.trial.execute_trial`)."""
        self.status, self.error = TrialStatus.FINISHED, None
        self.metrics, self.accepted, self.reason = outcome["metrics"], outcome["accepted"], outcome["reason"]
        self.results = {**outcome["results"], "dataset_hash": outcome["dataset_hash"]}
        if run_dir is not None:
            self.run_dir = run_dir


@dataclasses.dataclass
class RunSummary:
    """What ``sciml run`` / ``sciml resume`` return (and the CLI prints)."""

    plugin: str
    pipeline: str
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    metric: str
    mode: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    model_name: str | None = None
    model_version: str | None = None
    #: per config hash, over the seeds whose model was accepted: ``{metric: (mean, std, n)}``
    aggregates: dict[str, dict[str, tuple[float, float, int]]] = dataclasses.field(default_factory=dict)
    #: per config hash: how many of its finished seeds the acceptance gate rejected
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)
    #: the champion's selection and test metrics against its best trivial baseline
    comparison: Any = None
    extra_lines: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    resumed: bool = False


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; it was saved and ``sciml resume PARENT_RUN_ID`` continues it."""

    def __init__(self, parent_run_id: str):
        super().__init__(parent_run_id)
        self.parent_run_id = parent_run_id


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped (Ctrl-C, SIGTERM) before every trial ended; Tune saved its state."""
