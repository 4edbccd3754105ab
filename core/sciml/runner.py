"""Former home of ``sciml run``; kept as a thin re-export of :mod:`sciml.run` (see docs/architecture.md)."""

from sciml.run.driver import prepare, resume, run
from sciml.run.options import RunOptions
from sciml.run.records import RunInterrupted, RunSummary, TrialRecord, TrialStatus

__all__ = ["RunInterrupted", "RunOptions", "RunSummary", "TrialRecord", "TrialStatus", "prepare", "resume", "run"]
