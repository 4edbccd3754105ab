"""In-process execution: train, evaluate, and retrain with a new seed until accepted (bounded).

A failing attempt is retried ``--max-failures`` times in its directory (the engine resumes
from its last checkpoint); with ``resume``, attempts of an earlier session are taken from
their child runs (tags ``sciml.attempt``, ``sciml.seed``, ``sciml.config_hash``) and an
interrupted one continues from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from sciml.engine import resolve_device
from sciml.errors import UserError
from sciml.run import layout
from sciml.run.executor import Plan
from sciml.run.records import TAG_ATTEMPT, TAG_CONFIG_HASH, TAG_RETRIES, TAG_SEED, TrialRecord, TrialStatus
from sciml.run.sweep import new_record
from sciml.run.worker import run_trial, trial_context
from sciml.trial import FileReporter, error_file

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs the attempts of a plan one after the other in this process (see the module docstring)."""

    def directories(self, parent_id: str) -> list:
        return [layout.parent_dir(parent_id)]

    def execute(self, plan: Plan, tracker, *, resume: bool = False, retry_failed: bool = False) -> list[TrialRecord]:
        earlier = {int(r.data.tags.get(TAG_ATTEMPT, "0")): r for r in tracker.trial_runs(plan.parent_id)} \
            if resume else {}
        attempts = max(1, plan.pipeline.max_attempts)
        trials: list[TrialRecord] = []
        for attempt in range(attempts):
            old = earlier.get(attempt)
            if old is not None and (old.info.status == "FINISHED" or (old.info.status == "FAILED" and not retry_failed)):
                rec = self._earlier_record(old, plan)
            else:
                rec = self._run_attempt(plan, tracker, attempt, old)
            trials.append(rec)
            if rec.status == TrialStatus.FAILED or rec.accepted:
                break
            if attempt + 1 < attempts:
                log.warning("attempt %d (seed %d) rejected: %s; retrying with a new seed", attempt + 1, rec.seed,
                            rec.reason)
        return trials

    @staticmethod
    def _earlier_record(run, plan: Plan) -> TrialRecord:
        """A trial of an earlier session, rebuilt from its child run's tags and its directory."""
        tags = run.data.tags
        rec = new_record(plan.plugin, {**plan.config, "seed": int(tags[TAG_SEED])})
        rec.config_hash = tags.get(TAG_CONFIG_HASH, rec.config_hash)
        rec.run_id, rec.status, rec.done = run.info.run_id, TrialStatus(run.info.status), True
        rec.run_dir = layout.local_trial_dir(plan.parent_id, rec.config_hash, rec.seed)
        rec.error, rec.reason = tags.get("sciml.error"), tags.get("sciml.reject_reason", "")
        outcome = rec.run_dir / "outcome.json"
        if rec.status == TrialStatus.FINISHED and outcome.exists():
            rec.fill_from_outcome(json.loads(outcome.read_text()))
        else:
            rec.metrics = dict(run.data.metrics)
            rec.accepted = tags.get("sciml.accepted") == "True"
        return rec

    def _run_attempt(self, plan: Plan, tracker, attempt: int, old) -> TrialRecord:
        rec = new_record(plan.plugin, {**plan.config, "seed": plan.base_seed + attempt})
        if old is not None:
            rec.run_id, rec.logged_step = old.info.run_id, tracker.last_step(old)
            tracker.reopen_run(rec.run_id)
        else:
            tracker.start_trial(rec, plan.parent_id, **{TAG_ATTEMPT: attempt})
        rec.run_dir = layout.local_trial_dir(plan.parent_id, rec.config_hash, rec.seed)
        progress = sys.stderr.isatty() if plan.options.progress is None else plan.options.progress

        def sink(step: int, metrics: dict[str, float]) -> None:
            if step > rec.logged_step:  # an epoch repeated after a retry is not logged twice
                tracker.log_metrics(rec.run_id, metrics, step)
                rec.logged_step = step

        reporter = FileReporter(rec.run_dir, sink=sink, progress=progress)
        context = trial_context(rec.run_dir, rec.seed, resolve_device(plan.config["trainer"].get("device", "auto")),
                                progress=progress, threads=plan.options.cpus)
        outcome = self._with_retries(plan, tracker, rec, context, reporter)
        if outcome is None:
            rec.status = TrialStatus.FAILED
            rec.error_file = error_file(rec.run_dir)
            log.warning("trial %s failed: %s", rec.name, rec.error)
        else:
            rec.fill_from_outcome(outcome)
        tracker.finish_trial(rec)
        return rec

    @staticmethod
    def _with_retries(plan: Plan, tracker, rec: TrialRecord, context, reporter) -> dict[str, Any] | None:
        """The outcome, retrying a failing trial ``--max-failures`` times; ``None`` if it kept failing."""
        retries = plan.options.max_failures
        for retry in range(retries + 1):
            try:
                return run_trial(rec.config, context, reporter)
            except UserError:
                tracker.end_run(rec.run_id, TrialStatus.FAILED)
                raise
            except KeyboardInterrupt:
                tracker.end_run(rec.run_id, TrialStatus.KILLED)
                raise
            except Exception as exc:
                rec.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                if retry < retries:
                    log.warning("trial %s failed (%s); retry %d of %d from its last checkpoint",
                                rec.name, rec.error, retry + 1, retries)
                    tracker.set_tags(rec.run_id, {TAG_RETRIES: retry + 1})
        return None
