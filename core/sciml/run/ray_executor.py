"""Sweeps on Ray Tune (``tune.Tuner``, ``tune.report``, ``tune.Checkpoint``), driven from here.

The search space is sampled by Tune's search API (:mod:`sciml.run.sweep`): the basic
algorithm (``BasicVariantGenerator(constant_grid_search=True)``) trains every sampled config
with ``--seeds N`` seeds; ``--search-alg optuna`` proposes configs with TPE
(``ray.tune.search.optuna``). Trials run :func:`sciml.run.worker.tune_trainable` in Ray
workers and talk only to Tune; :class:`MLflowCallback` mirrors each trial into an MLflow
child run as results arrive and logs its artifacts from its final checkpoint.

Checkpoints: Tune keeps every checkpoint of a running trial (no ``num_to_keep``: Tune never
deletes a checkpoint its saved state may still name, so a killed driver resumes cleanly).
Once the sweep returns, the checkpoints of each completed trial but its final one are pruned.

This module imports Ray; the driver imports it only for ``--tune``.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from sciml.errors import UserError
from sciml.run import layout
from sciml.run.executor import Plan
from sciml.run.records import TAG_CONFIG_HASH, TAG_SEED, TAG_TRIAL_ID, SweepInterrupted, TrialRecord, TrialStatus
from sciml.run.signals import sigterm_as_interrupt
from sciml.run.sweep import new_record, sweep_size, trial_overrides, tune_param_space
from sciml.run.worker import ACCEPTED_KEY, FINAL_KEY, STEP_KEY, tune_trainable

log = logging.getLogger(__name__)
_RAY_KEYS = {"timestamp", "time_this_iter_s", "time_total_s", "training_iteration", "pid", "date",
             "node_ip", "hostname", "time_since_restore", "iterations_since_restore", "done",
             "checkpoint_dir_name", "should_checkpoint", "trial_id", "experiment_tag", "config",
             FINAL_KEY, STEP_KEY, ACCEPTED_KEY}


def check_address(address: str) -> None:
    """Fail fast when ``--address`` names a Ray head that does not answer.

    Raises:
        UserError: the host:port cannot be connected to within 5 s.
    """
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(f"--address {address!r}: no Ray cluster answers there ({exc.strerror or exc})") from None


def init_ray(address: str | None) -> bool:
    """Start or join Ray; True if this call started it (and so should shut it down).

    Workers get ``SCIML_*``/``MLFLOW_*`` from this process, an absolute ``SCIML_HOME`` and a
    fixed ``PYTHONHASHSEED`` (it only acts when set before an interpreter starts).
    """
    import ray

    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items() if k.startswith(("SCIML_", "MLFLOW_"))}
    env["SCIML_HOME"] = str(layout.sciml_home())  # absolute: workers run in other directories
    env["PYTHONHASHSEED"] = os.environ.get("PYTHONHASHSEED", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "log_to_driver": os.environ.get("SCIML_RAY_LOGS") == "1",
                              "runtime_env": {"env_vars": env}}
    if address:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise UserError(f"--address {address!r}: cannot join the Ray cluster ({exc})") from None
    return True


class _OptunaOnFinal(OptunaSearch):
    """TPE told only the results that hold the selection metric (the evaluator's, in a trial's
    last report); per-epoch reports carry training metrics only."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self.metric in result:
            super().on_trial_result(trial_id, result)


def search_algorithm(plan: Plan):
    """Tune's search algorithm for ``--search-alg`` (seeded by the run's base seed).

    ``--max-concurrent`` goes to the generator itself: Tune ignores ``max_concurrent_trials``
    for a search algorithm that is not a ``Searcher`` (it warns and runs everything at once).
    """
    if plan.options.search_alg == "optuna":
        return _OptunaOnFinal(metric=plan.pipeline.metric, mode=plan.pipeline.mode, seed=plan.base_seed)
    return BasicVariantGenerator(constant_grid_search=True, random_state=plan.base_seed,
                                 max_concurrent=plan.options.max_concurrent or 0)


def trial_count(plan: Plan) -> int:
    """How many trials the sweep runs: samples × seeds × the ``grid(...)`` combinations."""
    num_samples, n_seeds = sweep_size(plan.pipeline, plan.options)
    grids = math.prod(len(args) for func, args in plan.space.values() if func == "grid")
    return num_samples * n_seeds * grids


def existing_children(tracker, parent_id: str, retry_failed: bool = False) -> dict[str, TrialRecord]:
    """Child runs of an earlier session of the sweep, keyed by their Tune trial id (``sciml resume``).

    Identity comes from the tags (seed, config hash, trial id). Finished (and, unless
    ``retry_failed``, failed) children are ``done``: neither re-run nor logged again. Others
    are reopened when their trial restarts; metrics up to ``logged_step`` are not logged twice.
    """
    out = {}
    for run in tracker.trial_runs(parent_id):
        tags = run.data.tags
        if not tags.get(TAG_TRIAL_ID):
            continue
        rec = TrialRecord(name=run.info.run_name, seed=int(tags[TAG_SEED]), config={},
                          config_hash=tags[TAG_CONFIG_HASH], run_id=run.info.run_id, trial_id=tags[TAG_TRIAL_ID])
        status = run.info.status
        rec.done = status == "FINISHED" or (status == "FAILED" and not retry_failed)
        rec.status = TrialStatus(status) if rec.done else TrialStatus.RUNNING
        rec.error = tags.get("sciml.error")
        if not rec.done:
            rec.reopen, rec.orphan = True, True
            rec.logged_step = tracker.last_step(run)
        out[rec.trial_id] = rec
    return out


def _error_text(error: BaseException | None) -> tuple[str, bool]:
    """One line for a trial's error (the user's exception, not Ray's wrapper); is it a UserError?"""
    if error is None:
        return "unknown error", False
    cause = getattr(error, "cause", None) or error
    text = f"{type(cause).__name__}: {cause}".strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else text)[:500], isinstance(cause, UserError)


def _trial_error(trial) -> tuple[str, bool]:
    try:
        err = trial.get_pickled_error()
    except Exception:
        err = None
    if err is not None:
        return _error_text(err)
    try:
        text = Path(trial.error_file).read_text().strip().splitlines()
        return (text[-1] if text else "unknown error")[:500], False
    except Exception:
        return "unknown error", False


def _failed_trial_dir(parent_id: str, rec: TrialRecord, trial) -> tuple[Path, Path | None]:
    """The directory of a failed trial and its traceback file.

    The worker wrote ``error.txt`` there (:func:`sciml.trial.execute_trial`); where the trial
    ran on another node, Ray's own error file (synced to the driver) is copied in instead.
    """
    from sciml.trial import error_file, write_error

    local = layout.tune_trial_dir(parent_id, rec.config_hash, rec.seed, trial.trial_id)
    if error_file(local) is None:
        try:
            text = Path(trial.error_file).read_text()
        except Exception:
            text = ""
        if text:
            write_error(local, text)
    return local, error_file(local)


def _fill_from_dir(rec: TrialRecord, directory: Path | None) -> bool:
    """Fill a record from a final checkpoint's ``outcome.json``; False if there is none."""
    import json

    if directory is None or not (directory / "outcome.json").exists():
        return False
    rec.fill_from_outcome(json.loads((directory / "outcome.json").read_text()), directory)
    return True


_LIVE_CALLBACK: list[Any] = []


def _live_callback():
    """What a pickled callback becomes when Tune restores an experiment: this driver's callback."""
    return _LIVE_CALLBACK[-1]


class MLflowCallback(tune.Callback):
    """Mirrors trials into MLflow child runs as results arrive; ends each child as its trial ends.

    ``records`` maps Tune trial ids to :class:`TrialRecord`; on ``sciml resume`` it is
    pre-filled from the existing child runs (tag ``sciml.trial_id``), so no trial gets a second
    child run and metrics already logged (``rec.logged_step``) are not repeated. A child run of
    a trial the restored experiment does not know (the driver was killed before Tune saved it)
    is matched to its new trial by identity (config hash and seed), never by name.
    """

    def __init__(self, plan: Plan, tracker, records: dict[str, TrialRecord], total: int):
        self.plan, self.tracker, self.records, self.total = plan, tracker, records, total
        self.terminal: set[str] = {tid for tid, r in records.items() if r.done}
        self.completed: list[tuple[Path, Path]] = []  # (trial storage dir, its final checkpoint)
        self.bar = None
        try:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=len(self.terminal), desc="trials", unit="trial",
                            leave=False, disable=not os.isatty(2))
        except Exception:
            self.bar = None

    def __reduce__(self):  # Tune pickles its RunConfig; a restore gets the live callback
        return (_live_callback, ())

    def record(self, trial) -> TrialRecord:
        if trial.trial_id not in self.records:
            rec = new_record(self.plan.plugin, self.plan.source.resolve(overrides=trial_overrides(trial.config)),
                             trial.trial_id)
            orphan = next((tid for tid, r in self.records.items()
                           if r.orphan and (r.config_hash, r.seed) == (rec.config_hash, rec.seed)), None)
            if orphan is not None:
                old = self.records.pop(orphan)
                old.orphan, old.trial_id, old.config = False, trial.trial_id, rec.config
                self.tracker.set_tags(old.run_id, {TAG_TRIAL_ID: trial.trial_id})
                rec = old
            else:
                self.tracker.start_trial(rec, self.plan.parent_id)
            rec.status = TrialStatus.RUNNING
            self.records[trial.trial_id] = rec
        return self.records[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info):
        rec = self.record(trial)
        if rec.reopen and not rec.done:
            self.tracker.reopen_run(rec.run_id)
            rec.reopen = False

    def on_trial_result(self, iteration, trials, trial, result, **info):
        rec = self.record(trial)
        if result.get(FINAL_KEY) or rec.done:
            return
        step = int(result.get(STEP_KEY, 0))
        if step <= rec.logged_step:
            return  # logged before the interruption
        metrics = {k: v for k, v in result.items() if k not in _RAY_KEYS and isinstance(v, (int, float))}
        if metrics:
            self.tracker.log_metrics(rec.run_id, metrics, step=step)
            rec.logged_step = step

    def _finish(self, trial, rec: TrialRecord) -> None:
        self.terminal.add(trial.trial_id)
        if self.bar is not None:
            self.bar.update(1)
        self.tracker.finish_trial(rec)

    def on_trial_complete(self, iteration, trials, trial, **info):
        rec = self.record(trial)
        if not rec.done:
            ckpt = getattr(trial, "checkpoint", None)  # the final one holds the trial's directory
            final = (trial.last_result or {}).get(FINAL_KEY)
            if not (final and _fill_from_dir(rec, Path(ckpt.path) if ckpt is not None else None)):
                rec.status, rec.reason = TrialStatus.STOPPED, "stopped early by the scheduler"
            if ckpt is not None:
                self.completed.append((Path(ckpt.path).parent, Path(ckpt.path)))
        self._finish(trial, rec)

    def on_trial_error(self, iteration, trials, trial, **info):
        rec = self.record(trial)
        if not rec.done:
            rec.status = TrialStatus.FAILED
            rec.error, rec.user_error = _trial_error(trial)
            rec.run_dir, rec.error_file = _failed_trial_dir(self.plan.parent_id, rec, trial)
        self._finish(trial, rec)

    def on_experiment_end(self, trials, **info):
        if self.bar is not None:
            self.bar.close()

    def prune(self) -> None:
        """Delete the checkpoints of completed trials but their final one (after Tune saved its state)."""
        for trial_dir, keep in self.completed:
            for old in trial_dir.glob("checkpoint_*"):
                if old.is_dir() and old != keep:
                    shutil.rmtree(old, ignore_errors=True)
        self.completed.clear()


def _tune_env() -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "3")  # experiment state at most 3 s old after a kill


class RayExecutor:
    """Runs a plan as a Ray Tune sweep (see the module docstring)."""

    def directories(self, parent_id: str) -> list:
        return [layout.parent_dir(parent_id), layout.experiment_dir(parent_id)]

    def execute(self, plan: Plan, tracker, *, resume: bool = False, retry_failed: bool = False) -> list[TrialRecord]:
        """Raises:
            SweepInterrupted: stopped before every trial ended; ``sciml resume`` continues it.
            UserError: every trial failed, at least one because of bad input.
        """
        _tune_env()
        import ray

        records = existing_children(tracker, plan.parent_id, retry_failed) if resume else {}
        callback = MLflowCallback(plan, tracker, records, trial_count(plan))
        _LIVE_CALLBACK.append(callback)
        started = init_ray(plan.options.address)
        try:
            tuner = self._tuner(plan, callback, resume, retry_failed)
            with sigterm_as_interrupt():  # again: ray.init installs its own SIGTERM handler
                grid = tuner.fit()
            callback.prune()
            return self._collect(plan, grid, callback)
        finally:
            _LIVE_CALLBACK.remove(callback)
            if started:
                ray.shutdown()

    @staticmethod
    def trainable(plan: Plan):
        """The Tune trainable with the config source bound and the per-trial resource request."""
        return tune.with_resources(tune.with_parameters(tune_trainable, source=plan.source),
                                   {"cpu": float(plan.options.cpus_per_trial), "gpu": float(plan.options.gpus_per_trial)})

    def _tuner(self, plan: Plan, callback: MLflowCallback, resume: bool, retry_failed: bool):
        num_samples, n_seeds = sweep_size(plan.pipeline, plan.options)
        param_space = tune_param_space(plan.space, [plan.base_seed + i for i in range(n_seeds)])
        exp_dir = layout.experiment_dir(plan.parent_id)
        exp_dir.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            if not tune.Tuner.can_restore(str(exp_dir)):
                raise UserError(f"no Ray Tune experiment to resume in {exp_dir}")
            return tune.Tuner.restore(str(exp_dir), trainable=self.trainable(plan), resume_unfinished=True,
                                      resume_errored=retry_failed, param_space=param_space)
        scheduler = None
        if plan.options.scheduler == "asha":
            from ray.tune.schedulers import ASHAScheduler

            trainer = plan.config["trainer"]
            scheduler = ASHAScheduler(metric=trainer.get("monitor", "val_loss"), mode=trainer.get("mode", "min"),
                                      max_t=int(trainer.get("max_epochs", 100)), grace_period=1)

        def name_of(trial) -> str:
            return callback.record(trial).name

        return tune.Tuner(
            self.trainable(plan),
            param_space=param_space,
            tune_config=tune.TuneConfig(num_samples=num_samples, search_alg=search_algorithm(plan),
                                        scheduler=scheduler,
                                        max_concurrent_trials=plan.options.max_concurrent
                                        if plan.options.search_alg == "optuna" else None,
                                        # one worker process runs trial after trial: no start-up per trial
                                        reuse_actors=os.environ.get("SCIML_REUSE_ACTORS", "1") == "1",
                                        trial_name_creator=name_of,
                                        trial_dirname_creator=lambda t: f"{name_of(t)}-{t.trial_id}"),
            run_config=tune.RunConfig(name=plan.parent_id, storage_path=str(exp_dir.parent), verbose=0,
                                      callbacks=[callback],
                                      failure_config=tune.FailureConfig(max_failures=plan.options.max_failures),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),
        )

    @staticmethod
    def _collect(plan: Plan, grid, callback: MLflowCallback) -> list[TrialRecord]:
        """Records of every trial, in (config, seed) order, after the sweep (child runs are already ended).

        Raises:
            SweepInterrupted: some trials did not end (the runs of those are marked KILLED).
            UserError: every trial failed and at least one because of bad input.
        """
        records, tracker = callback.records, callback.tracker
        out = []
        for result in grid:
            trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name.rsplit("-", 1)[-1]
            rec = records.get(trial_id)
            if rec is None:
                continue
            if not rec.config and "seed" in (result.config or {}):
                rec.config = plan.source.resolve(overrides=trial_overrides(result.config))
            if rec.status == TrialStatus.FINISHED and not rec.metrics:  # finished in an earlier session
                _fill_from_dir(rec, Path(result.checkpoint.path) if result.checkpoint is not None else None)
            out.append(rec)
        seen = {id(r) for r in out}
        for rec in records.values():  # children of trials the restored experiment never knew
            if id(rec) not in seen and not rec.done:
                rec.done = True
                tracker.end_run(rec.run_id, TrialStatus.KILLED)
        missing = [r for r in out if not r.done]
        if len(callback.terminal) < callback.total or missing:
            for rec in missing:
                rec.status = TrialStatus.KILLED
                tracker.end_run(rec.run_id, TrialStatus.KILLED)
            raise SweepInterrupted(f"{len(callback.terminal)} of {callback.total} trials ended")
        out.sort(key=lambda r: (r.config_hash, r.seed))
        user = [r for r in out if r.user_error]
        if out and user and all(r.status == TrialStatus.FAILED for r in out):
            raise UserError(user[0].error.split(": ", 1)[-1])
        return out
