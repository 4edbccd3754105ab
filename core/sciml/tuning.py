"""Sweeps with Ray Tune (current API: ``tune.Tuner``, ``tune.report``, ``tune.Checkpoint``).

Every sampled config is trained with ``--seeds N`` seeds (a grid over seeds repeated
``--num-samples`` times). Trials run :func:`sciml.trial.execute_trial` in Ray workers and
talk only to Tune; the driver's :class:`MLflowCallback` mirrors each trial into an MLflow
child run as results arrive, and after the sweep logs each trial's artifacts from its
final checkpoint. Resources per trial: ``--cpus-per-trial``, ``--gpus-per-trial``
(fractions allowed, e.g. 0.25 packs four trials on a GPU).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from sciml.config import config_hash
from sciml.errors import UserError

log = logging.getLogger(__name__)
FINAL_KEY = "sciml_final"
_RAY_KEYS = {"timestamp", "time_this_iter_s", "time_total_s", "training_iteration", "pid", "date",
             "node_ip", "hostname", "time_since_restore", "iterations_since_restore", "done",
             "checkpoint_dir_name", "should_checkpoint", "trial_id", "experiment_tag", FINAL_KEY, "sciml_step"}


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


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of a resolved config with dotted ``overrides`` applied (not validated)."""
    out = copy.deepcopy(config)
    for key, value in overrides.items():
        target = out
        parts = key.split(".")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return out


def trial_config(base_config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The run config of one trial from Tune's ``{"overrides": ..., "seed": ...}`` (not validated)."""
    return {**apply_overrides(base_config, params["overrides"]), "seed": int(params["seed"])}


def resources_per_trial(cpus: float, gpus: float) -> dict[str, float]:
    """The Ray resource request of one trial (``{"cpu": 1, "gpu": 0.25}``)."""
    return {"cpu": float(cpus), "gpu": float(gpus)}


def make_trainable(base_config: dict[str, Any], cpus_per_trial: float, gpus_per_trial: float):
    """The Tune trainable with the base config bound and the per-trial resource request."""
    from ray import tune

    return tune.with_resources(tune.with_parameters(_trainable, base_config=base_config),
                               resources_per_trial(cpus_per_trial, gpus_per_trial))


def _validated(config: dict[str, Any]) -> dict[str, Any]:
    """Re-validate a trial config in the worker (the overrides may change types)."""
    from sciml.config import resolve_config
    from sciml.registry import get_registry

    reg = get_registry()
    pipeline = reg.get("pipeline", config["pipeline"]).factory
    sets = [(f"{s}.{k}", v) for s in ("dataset", "model", "trainer", "evaluator")
            for k, v in config[s].items()]
    return resolve_config(pipeline, reg, pipeline_key=config["pipeline"], sets=[("seed", config["seed"]), *sets])


def sweep_size(pipeline, options) -> tuple[int, int]:
    """``(num_samples, seeds)`` of a sweep: the options, else the pipeline's tune defaults.

    Raises:
        UserError: either is below 1.
    """
    defaults = pipeline.tune_defaults or {}
    num_samples = options.num_samples or int(defaults.get("num_samples", 1))
    n_seeds = options.seeds or int(defaults.get("seeds", 1))
    if num_samples < 1 or n_seeds < 1:
        raise UserError("--num-samples and --seeds must be at least 1")
    return num_samples, n_seeds


def check_samples(pipeline, options, base_config: dict[str, Any], space: dict, base_seed: int) -> None:
    """Validate every config the sweep will train, in the driver, before anything starts.

    Raises:
        UserError: a sampled value the component's config rejects (names the key and value).
    """
    from sciml.config import sample_space

    num_samples, _ = sweep_size(pipeline, options)
    for sample in sample_space(space, num_samples, base_seed):
        try:
            _validated({**apply_overrides(base_config, sample), "seed": base_seed})
        except UserError as exc:
            raise UserError(f"search space: {exc}") from None


def _restore_into(run_dir: Path) -> bool:
    """Bring the trial's state back after a retry or ``sciml resume``. True if it had finished.

    The trial directory survives on the node that ran it: a final ``outcome.json`` there
    means the trial completed in an earlier session (its result is reported again, not
    recomputed). Otherwise ``last.pt`` from Tune's latest checkpoint replaces the local one,
    so training continues from the last epoch whose metrics were reported.
    """
    from ray import tune

    if not (run_dir / "outcome.json").exists():
        # Tune's checkpoint is the state whose metrics MLflow has seen; a local last.pt may be
        # an epoch ahead of it (written just before the interruption), so it is not trusted
        for name in ("last.pt", "last.pt.sha256", "best.pt"):
            (run_dir / name).unlink(missing_ok=True)
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as d:
            src = Path(d)
            if (src / "outcome.json").exists() and not (run_dir / "outcome.json").exists():
                shutil.copytree(src, run_dir, dirs_exist_ok=True)
            elif (src / "last.pt").exists():
                for name in ("last.pt", "last.pt.sha256"):
                    if (src / name).exists():
                        shutil.copyfile(src / name, run_dir / name)
    return (run_dir / "outcome.json").exists() and (run_dir / "model").is_dir()


def trial_dir(experiment: str, trial_name: str, trial_id: str) -> Path:
    """A Tune trial's own directory (on the node that runs it): checkpoints, artifacts, ``error.txt``."""
    from sciml.tracking import sciml_home

    return sciml_home() / "runs" / "trials" / experiment / f"{trial_name}-{trial_id}"


def _trainable(params: dict[str, Any], base_config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one trial."""
    import torch
    from ray import tune

    from sciml.runner import trial_context
    from sciml.trial import FileReporter, execute_trial

    config = _validated(trial_config(base_config, params))
    ctx = tune.get_context()
    # outside Tune's trial directory: Ray syncs that one while the trial writes, and trips over
    # files replaced under it; results travel to the driver as the final Tune checkpoint
    run_dir = trial_dir(ctx.get_experiment_name(), ctx.get_trial_name(), ctx.get_trial_id())
    run_dir.mkdir(parents=True, exist_ok=True)
    if _restore_into(run_dir):
        outcome = json.loads((run_dir / "outcome.json").read_text())
        final = {**outcome["metrics"], FINAL_KEY: 1, "sciml_accepted": float(outcome["accepted"])}
        tune.report(final, checkpoint=tune.Checkpoint.from_directory(str(run_dir)))
        return
    resources = ctx.get_trial_resources().required_resources if hasattr(ctx, "get_trial_resources") else {}
    torch.set_num_threads(max(1, int(resources.get("CPU", 1))))
    device = "cuda" if resources.get("GPU", 0) > 0 and torch.cuda.is_available() else "cpu"
    if config["trainer"].get("device", "auto") == "auto" and "device" in config["trainer"]:
        config["trainer"]["device"] = device
    pending: dict[str, Any] = {}

    def sink(step: int, metrics: dict[str, float]) -> None:
        if pending:
            tune.report(dict(pending))
        pending.clear()
        pending.update(metrics, sciml_step=step)

    def on_checkpoint(path: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("last.pt", "last.pt.sha256"):
                if (path.parent / name).exists():
                    shutil.copyfile(path.parent / name, Path(tmp) / name)
            tune.report(dict(pending) or {"sciml_step": -1}, checkpoint=tune.Checkpoint.from_directory(tmp))
        pending.clear()

    reporter = FileReporter(run_dir, sink=sink, on_checkpoint=on_checkpoint, progress=False)
    context = trial_context(run_dir, config["seed"], device, progress=False, in_tune=True)
    outcome = execute_trial(config, context, reporter)
    if pending:
        tune.report(dict(pending))
        pending.clear()
    final = {**outcome["metrics"], FINAL_KEY: 1, "sciml_accepted": float(outcome["accepted"])}
    tune.report(final, checkpoint=tune.Checkpoint.from_directory(str(run_dir)))


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


def _failed_trial_dir(parent_id: str, name: str, trial) -> tuple[Path, Path | None]:
    """The directory of a failed trial and its traceback file.

    The worker wrote ``error.txt`` there (:func:`sciml.trial.execute_trial`); where the trial
    ran on another node, Ray's own error file (synced to the driver) is copied in instead.
    """
    from sciml.trial import error_file, write_error

    local = trial_dir(parent_id, name, trial.trial_id)
    if error_file(local) is None:
        try:
            text = Path(trial.error_file).read_text()
        except Exception:
            text = ""
        if text:
            write_error(local, text)
    return local, error_file(local)


def _fill_from_outcome(rec, directory: Path | None) -> bool:
    """Fill a record from a trial directory's ``outcome.json``; False if there is none."""
    if directory is None or not (directory / "outcome.json").exists():
        return False
    outcome = json.loads((directory / "outcome.json").read_text())
    rec.status = "FINISHED"
    rec.metrics, rec.accepted, rec.reason = outcome["metrics"], outcome["accepted"], outcome["reason"]
    rec.results = {**outcome["results"], "dataset_hash": outcome["dataset_hash"]}
    rec.run_dir = directory
    return True


_LIVE_CALLBACK: list[Any] = []


def _live_callback():
    """What a pickled callback becomes when Tune restores an experiment: this driver's callback."""
    return _LIVE_CALLBACK[-1]


class _Callbacks:
    """Factory for the driver-side Tune callback (defined lazily: ray is imported on use)."""

    @staticmethod
    def make(tracker, parent_id: str, plugin: str, base_config: dict[str, Any], records: dict, total: int):
        from ray import tune

        from sciml.runner import TrialRecord, _log_trial, _trial_name

        class MLflowCallback(tune.Callback):
            """Mirrors trials into MLflow child runs as results arrive; ends each child as its trial ends.

            ``records`` maps Tune trial ids to :class:`TrialRecord`; on ``sciml resume`` it is
            pre-filled from the existing child runs (tag ``sciml.trial_id``), so no trial gets
            a second child run and metrics already logged (``rec.logged_step``) are not repeated.
            """

            def __init__(self):
                self.bar = None
                self.terminal: set[str] = {tid for tid, r in records.items() if r.done}
                try:
                    from tqdm.auto import tqdm

                    self.bar = tqdm(total=total, initial=len(self.terminal), desc="trials", unit="trial",
                                    leave=False, disable=not os.isatty(2))
                except Exception:
                    self.bar = None

            def __reduce__(self):  # Tune pickles its RunConfig; a restore gets the live callback
                return (_live_callback, ())

            def record(self, trial) -> TrialRecord:
                if trial.trial_id not in records:
                    cfg = trial_config(base_config, trial.config)
                    seed = cfg["seed"]
                    name = _trial_name(plugin, cfg, seed)
                    orphan = next((tid for tid, r in records.items() if r.name == name and r.orphan), None)
                    if orphan is not None:  # a trial Tune's saved state did not know yet (killed process)
                        rec = records.pop(orphan)
                        rec.orphan = False
                        tracker.set_tags(rec.run_id, {"sciml.trial_id": trial.trial_id})
                    else:
                        rec = TrialRecord(name=name, seed=seed, config=cfg, config_hash=config_hash(cfg))
                        rec.run_id = tracker.start_run(rec.name, parent_id=parent_id,
                                                       tags={"sciml.trial_id": trial.trial_id,
                                                             "sciml.seed": seed})
                    rec.status = "RUNNING"
                    records[trial.trial_id] = rec
                return records[trial.trial_id]

            def on_trial_start(self, iteration, trials, trial, **info):
                rec = self.record(trial)
                if rec.reopen and not rec.done:
                    tracker.reopen_run(rec.run_id)
                    rec.reopen = False

            def on_trial_result(self, iteration, trials, trial, result, **info):
                rec = self.record(trial)
                if result.get(FINAL_KEY) or rec.done:
                    return
                step = int(result.get("sciml_step", 0))
                if step <= rec.logged_step:
                    return  # logged before the interruption
                metrics = {k: v for k, v in result.items() if k not in _RAY_KEYS and isinstance(v, (int, float))}
                if metrics:
                    tracker.log_metrics(rec.run_id, metrics, step=step)

            def _finish(self, trial, rec, status: str) -> None:
                self.terminal.add(trial.trial_id)
                if self.bar is not None:
                    self.bar.update(1)
                if rec.done:
                    return
                _log_trial(tracker, rec)
                tracker.end_run(rec.run_id, {"FINISHED": "FINISHED", "FAILED": "FAILED"}.get(status, "KILLED"))
                rec.done = True

            def on_trial_complete(self, iteration, trials, trial, **info):
                rec = self.record(trial)
                if not rec.done:
                    ckpt = getattr(trial, "checkpoint", None)  # the final one holds the trial's directory
                    final = (trial.last_result or {}).get(FINAL_KEY)
                    if not (final and _fill_from_outcome(rec, Path(ckpt.path) if ckpt is not None else None)):
                        rec.status, rec.reason = "STOPPED", "stopped early by the scheduler"
                self._finish(trial, rec, rec.status)

            def on_trial_error(self, iteration, trials, trial, **info):
                rec = self.record(trial)
                if not rec.done:
                    rec.status = "FAILED"
                    rec.error, rec.user_error = _trial_error(trial)
                    rec.run_dir, rec.error_file = _failed_trial_dir(parent_id, rec.name, trial)
                self._finish(trial, rec, "FAILED")

            def on_experiment_end(self, trials, **info):
                if self.bar is not None:
                    self.bar.close()

        callback = MLflowCallback()
        _LIVE_CALLBACK.append(callback)
        return callback


def _init_ray(address: str | None) -> bool:
    """Start or join Ray; True if this call started it (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    from sciml.tracking import sciml_home

    env = {k: v for k, v in os.environ.items() if k.startswith(("SCIML_", "MLFLOW_"))}
    env["SCIML_HOME"] = str(sciml_home())  # absolute: workers run in other directories
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


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped (Ctrl-C, SIGTERM) before every trial ended; Tune saved its state."""


def experiment_dir(parent_id: str) -> Path:
    """Where Tune keeps the experiment of the sweep under MLflow parent run ``parent_id``."""
    from sciml.tracking import sciml_home

    return sciml_home() / "runs" / "tune" / parent_id


def existing_children(tracker, parent_id: str, retry_failed: bool = False) -> dict:
    """Child runs of an earlier session of the sweep, keyed by their Tune trial id (``sciml resume``).

    Finished (and, unless ``retry_failed``, failed) children are ``done``: they are neither
    re-run nor logged again. Others are reopened when their trial restarts; metrics up to
    ``logged_step`` are already in the store and are not logged twice.
    """
    from sciml.runner import TrialRecord

    runs = tracker.child_runs(parent_id)
    out = {}
    for run in runs:
        tid = run.data.tags.get("sciml.trial_id")
        if not tid:
            continue
        name = run.info.run_name
        seed = int(run.data.tags.get("sciml.seed", name.rsplit("-s", 1)[-1]))
        rec = TrialRecord(name=name, seed=seed, config={}, config_hash=name.rsplit("-", 2)[-2], run_id=run.info.run_id)
        status = run.info.status
        rec.done = status == "FINISHED" or (status == "FAILED" and not retry_failed)
        rec.status = status if rec.done else "RUNNING"
        rec.error = run.data.tags.get("sciml.error")
        if not rec.done:
            rec.reopen, rec.orphan = True, True
            rec.logged_step = tracker.last_step(run)
        out[tid] = rec
    return out


def repair_checkpoint_refs(exp_dir: Path) -> list[Path]:
    """Make every checkpoint named by Tune's saved experiment state exist again; the paths refilled.

    With ``num_to_keep=1`` Tune deletes a trial's previous checkpoint as soon as it registers
    the next one, and writes its experiment state a moment later. A driver killed in between
    (SIGKILL, OOM, a lost node) leaves a state that names a deleted checkpoint, and
    ``Tuner.restore`` then fails that trial ("does not exist on storage anymore"). The
    checkpoint the trial wrote next is copied in under the missing name: its metrics reached
    the driver (and MLflow) before the old one was deleted, so training goes on from there and
    no step is logged twice. A trial with no later checkpoint is left as it is.

    The state file is this sweep's own (Tune unpickles the same data on restore).
    """
    import pickle

    states = sorted(exp_dir.glob("experiment_state-*.json"))
    if not states:
        return []
    try:
        trial_data = json.loads(states[-1].read_text()).get("trial_data", [])
    except (OSError, ValueError):
        return []
    named: set[Path] = set()
    for entry in trial_data:
        try:
            raw = json.loads(entry[1])["checkpoint_manager"]
            manager = pickle.loads(bytes.fromhex(raw["value"]))  # noqa: S301 - this sweep's own state
            results = list(manager._checkpoint_results) + [manager._latest_checkpoint_result]
        except Exception:  # a Ray whose state looks different: leave it to Tune
            continue
        named.update(Path(r.checkpoint.path) for r in results
                     if getattr(r, "checkpoint", None) is not None and str(r.checkpoint.path).startswith("/"))

    def index(path: Path) -> int | None:  # checkpoint_000004 -> 4
        digits = path.name.rpartition("_")[2]
        return int(digits) if digits.isdigit() else None

    refilled = []
    for missing in sorted(p for p in named if not p.exists() and index(p) is not None):
        prefix = missing.name.rpartition("_")[0]
        later = sorted((index(p), p) for p in missing.parent.glob(f"{prefix}_*")
                       if p.is_dir() and index(p) is not None and index(p) > index(missing))
        if later:
            shutil.copytree(later[0][1], missing)
            refilled.append(missing)
            log.warning("trial checkpoint %s was deleted before the sweep's state was saved; "
                        "continuing from %s", missing, later[0][1].name)
    return refilled


def run_tune(options, pipeline, plugin: str, base_config: dict[str, Any], space: dict, base_seed: int,
             tracker, parent_id: str, resume: bool = False, retry_failed: bool = False) -> list:
    """Run the sweep (or, with ``resume``, continue it); one :class:`~sciml.runner.TrialRecord` per trial.

    Raises:
        SweepInterrupted: stopped before every trial ended; ``sciml resume`` continues it.
        UserError: every trial failed, at least one because of bad input.
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "3")  # experiment state at most 3 s old after a kill
    import ray
    from ray import tune

    from sciml.config import sample_space

    num_samples, n_seeds = sweep_size(pipeline, options)
    seeds = [base_seed + i for i in range(n_seeds)]
    samples = sample_space(space, num_samples, base_seed)
    param_space = {"overrides": tune.grid_search(samples), "seed": tune.grid_search(seeds)}
    total = len(samples) * n_seeds

    scheduler = None
    if options.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        trainer_cfg = base_config["trainer"]
        scheduler = ASHAScheduler(metric=trainer_cfg.get("monitor", "val_loss"), mode=trainer_cfg.get("mode", "min"),
                                  max_t=int(trainer_cfg.get("max_epochs", 100)), grace_period=1)
    exp_dir = experiment_dir(parent_id)
    records = existing_children(tracker, parent_id, retry_failed) if resume else {}
    callback = _Callbacks.make(tracker, parent_id, plugin, base_config, records, total)
    exp_dir.parent.mkdir(parents=True, exist_ok=True)

    def name_of(trial) -> str:
        cfg = trial_config(base_config, trial.config)
        return _trial_name(plugin, cfg, cfg["seed"])

    from sciml.runner import _trial_name, sigterm_as_interrupt

    started = _init_ray(options.address)
    try:
        trainable = make_trainable(base_config, options.cpus_per_trial, options.gpus_per_trial)
        if resume:
            if not tune.Tuner.can_restore(str(exp_dir)):
                raise UserError(f"no Ray Tune experiment to resume in {exp_dir}")
            repair_checkpoint_refs(exp_dir)
            tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True,
                                       resume_errored=retry_failed, param_space=param_space)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=param_space,
                tune_config=tune.TuneConfig(num_samples=1, scheduler=scheduler,
                                            max_concurrent_trials=options.max_concurrent,
                                            # one worker process runs trial after trial: no start-up per trial
                                            reuse_actors=os.environ.get("SCIML_REUSE_ACTORS", "1") == "1",
                                            trial_name_creator=name_of,
                                            trial_dirname_creator=lambda t: f"{name_of(t)}-{t.trial_id}"),
                run_config=tune.RunConfig(name=parent_id, storage_path=str(exp_dir.parent), verbose=0,
                                          callbacks=[callback],
                                          failure_config=tune.FailureConfig(max_failures=options.max_failures),
                                          checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
            )
        with sigterm_as_interrupt():  # again: ray.init installs its own SIGTERM handler
            grid = tuner.fit()
        return _collect(grid, records, tracker, callback, base_config, total)
    finally:
        _LIVE_CALLBACK.remove(callback)
        if started:
            ray.shutdown()


def _collect(grid, records: dict, tracker, callback, base_config: dict[str, Any], total: int) -> list:
    """Records of every trial, in (config, seed) order, after the sweep (child runs are already ended).

    Raises:
        SweepInterrupted: some trials did not end (the runs of those are marked KILLED).
        UserError: every trial failed and at least one because of bad input.
    """
    out = []
    for result in grid:
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name.rsplit("-", 1)[-1]
        rec = records.get(trial_id)
        if rec is None:
            continue
        cfg_in = result.config or {}
        if not rec.config and "overrides" in cfg_in:
            rec.config = trial_config(base_config, cfg_in)
        if rec.status == "FINISHED" and not rec.metrics:  # finished in an earlier session
            _fill_from_outcome(rec, Path(result.checkpoint.path) if result.checkpoint is not None else None)
        out.append(rec)
    seen = {id(r) for r in out}
    for rec in records.values():  # children of trials the restored experiment never knew
        if id(rec) not in seen and not rec.done:
            rec.done = True
            tracker.end_run(rec.run_id, "KILLED")
    missing = [r for r in out if not r.done]
    if len(callback.terminal) < total or missing:
        for rec in missing:
            rec.status = "KILLED"
            tracker.end_run(rec.run_id, "KILLED")
        raise SweepInterrupted(f"{len(callback.terminal)} of {total} trials ended")
    out.sort(key=lambda r: (r.config_hash, r.seed))
    user = [r for r in out if getattr(r, "user_error", False)]
    if out and user and all(r.status == "FAILED" for r in out):
        raise UserError(user[0].error.split(": ", 1)[-1])
    return out
