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


def _trainable(params: dict[str, Any], base_config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one trial."""
    import torch
    from ray import tune

    from sciml.runner import trial_context
    from sciml.trial import FileReporter, execute_trial

    config = _validated({**apply_overrides(base_config, params["overrides"]), "seed": int(params["seed"])})
    ctx = tune.get_context()
    run_dir = Path(ctx.get_trial_dir()) / "sciml"
    run_dir.mkdir(parents=True, exist_ok=True)
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as d:
            if (Path(d) / "last.pt").exists():
                shutil.copyfile(Path(d) / "last.pt", run_dir / "last.pt")
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
            shutil.copyfile(path, Path(tmp) / "last.pt")
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


class _Callbacks:
    """Factory for the driver-side Tune callback (defined lazily: ray is imported on use)."""

    @staticmethod
    def make(tracker, parent_id: str, plugin: str, base_config: dict[str, Any], records: dict, total: int):
        from ray import tune

        from sciml.runner import TrialRecord, _trial_name

        class MLflowCallback(tune.Callback):
            def __init__(self):
                self.bar = None
                try:
                    from tqdm.auto import tqdm

                    self.bar = tqdm(total=total, desc="trials", unit="trial", leave=False,
                                    disable=not os.isatty(2))
                except Exception:
                    self.bar = None

            def record(self, trial) -> TrialRecord:
                if trial.trial_id not in records:
                    seed = int(trial.config["seed"])
                    cfg = {**apply_overrides(base_config, trial.config["overrides"]), "seed": seed}
                    rec = TrialRecord(name=_trial_name(plugin, cfg, seed), seed=seed, config=cfg,
                                      config_hash=config_hash(cfg))
                    rec.run_id = tracker.start_run(rec.name, parent_id=parent_id,
                                                   tags={"sciml.trial_id": trial.trial_id})
                    rec.status = "RUNNING"
                    records[trial.trial_id] = rec
                return records[trial.trial_id]

            def on_trial_start(self, iteration, trials, trial, **info):
                self.record(trial)

            def on_trial_result(self, iteration, trials, trial, result, **info):
                rec = self.record(trial)
                if result.get(FINAL_KEY):
                    return
                metrics = {k: v for k, v in result.items() if k not in _RAY_KEYS and isinstance(v, (int, float))}
                if metrics:
                    tracker.log_metrics(rec.run_id, metrics, step=int(result.get("sciml_step", 0)))

            def on_trial_complete(self, iteration, trials, trial, **info):
                if self.bar is not None:
                    self.bar.update(1)

            def on_trial_error(self, iteration, trials, trial, **info):
                rec = self.record(trial)
                rec.status = "FAILED"
                if self.bar is not None:
                    self.bar.update(1)

            def on_experiment_end(self, trials, **info):
                if self.bar is not None:
                    self.bar.close()

        return MLflowCallback()


def _init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    env = {k: v for k, v in os.environ.items() if k.startswith(("SCIML_", "MLFLOW_"))}
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "log_to_driver": os.environ.get("SCIML_RAY_LOGS") == "1",
                              "runtime_env": {"env_vars": env}}
    if address:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise UserError(f"--address {address!r}: cannot join the Ray cluster ({exc})") from None


def run_tune(options, pipeline, plugin: str, base_config: dict[str, Any], space: dict, base_seed: int,
             tracker, parent_id: str) -> list:
    """Run the sweep; return one :class:`~sciml.runner.TrialRecord` per trial."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    import ray
    from ray import tune

    from sciml.config import sample_space
    from sciml.runner import TrialRecord
    from sciml.tracking import sciml_home

    defaults = pipeline.tune_defaults or {}
    num_samples = options.num_samples or int(defaults.get("num_samples", 1))
    n_seeds = options.seeds or int(defaults.get("seeds", 1))
    if num_samples < 1 or n_seeds < 1:
        raise UserError("--num-samples and --seeds must be at least 1")
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
    records: dict[str, TrialRecord] = {}
    callback = _Callbacks.make(tracker, parent_id, plugin, base_config, records, total)
    storage = sciml_home() / "runs" / "tune"
    storage.mkdir(parents=True, exist_ok=True)

    def name_of(trial) -> str:
        seed = int(trial.config["seed"])
        cfg = {**apply_overrides(base_config, trial.config["overrides"]), "seed": seed}
        return f"{plugin}-{config_hash(cfg)}-s{seed}"

    _init_ray(options.address)
    try:
        trainable = make_trainable(base_config, options.cpus_per_trial, options.gpus_per_trial)
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(num_samples=1, scheduler=scheduler,
                                        max_concurrent_trials=options.max_concurrent,
                                        trial_name_creator=name_of,
                                        trial_dirname_creator=lambda t: f"{name_of(t)}-{t.trial_id}"),
            run_config=tune.RunConfig(name=parent_id, storage_path=str(storage), verbose=0,
                                      callbacks=[callback],
                                      failure_config=tune.FailureConfig(max_failures=options.max_failures),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
        )
        grid = tuner.fit()
        return _collect(grid, records, tracker, callback)
    finally:
        if not options.address:
            ray.shutdown()


def _collect(grid, records: dict, tracker, callback) -> list:
    from sciml.runner import _log_trial

    out = []
    for result in grid:
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name.rsplit("-", 1)[-1]
        rec = records.get(trial_id)
        if rec is None:
            continue
        ckpt_dir = Path(result.checkpoint.path) if result.checkpoint is not None else None
        if result.error is not None:
            rec.status, rec.error = "FAILED", f"{type(result.error).__name__}: {result.error}".splitlines()[0][:500]
            cause = getattr(result.error, "cause", None)
            if cause is not None:
                rec.error = f"{type(cause).__name__}: {cause}".splitlines()[0][:500]
        elif (result.metrics or {}).get(FINAL_KEY) and ckpt_dir is not None and (ckpt_dir / "outcome.json").exists():
            outcome = json.loads((ckpt_dir / "outcome.json").read_text())
            rec.status = "FINISHED"
            rec.metrics, rec.accepted, rec.reason = outcome["metrics"], outcome["accepted"], outcome["reason"]
            rec.results = {**outcome["results"], "dataset_hash": outcome["dataset_hash"]}
            rec.run_dir = ckpt_dir
        else:
            rec.status = "STOPPED"
            rec.reason = "stopped early by the scheduler"
        _log_trial(tracker, rec)
        tracker.end_run(rec.run_id, {"FINISHED": "FINISHED", "FAILED": "FAILED"}.get(rec.status, "KILLED"))
        out.append(rec)
    out.sort(key=lambda r: (r.config_hash, r.seed))
    return out
