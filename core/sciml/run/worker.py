"""Everything a trial runs, in-process or in a Ray worker, and nothing of the driver.

- :func:`run_trial`: one trial with the plugins' lifecycle hooks around it
  (``sciml_before_trial``, ``sciml_after_trial``, ``sciml_on_trial_error``).
- :func:`tune_trainable`: the Ray Tune function trainable. It reports each epoch's metrics with
  a checkpoint holding the engine's files of that epoch (``run_dir/<stage>.last.ckpt``,
  ``<stage>.done.json``), and restores them into ``run_dir`` on a retry or ``sciml resume``,
  so training goes on from the last epoch whose metrics the driver has seen. Its last report
  carries the trial's directory (model, artifacts, ``outcome.json``) as the final checkpoint.

Trials never talk to MLflow: metrics go to Tune (sweeps) or to the driver's sink (in-process).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sciml.caching import default_cache_dir
from sciml.components import Context
from sciml.config import config_hash
from sciml.plugins import get_plugin_manager
from sciml.run import layout
from sciml.run.sweep import ConfigSource, trial_overrides
from sciml.trial import FileReporter, execute_trial

log = logging.getLogger(__name__)

FINAL_KEY = "sciml_final"  # set in a trial's last report (its metrics are the outcome's)
STEP_KEY = "sciml_step"  # the epoch of a report
ACCEPTED_KEY = "sciml_accepted"
#: checkpoint files of the engine (Lightning) in a trial directory; last.pt* of loops not yet on it
CHECKPOINT_GLOBS = ("*.ckpt", "*.done.json", "last.pt", "last.pt.sha256")
RESOURCES_FILE = "resources.json"


def trial_context(run_dir: Path, seed: int, device: str, *, progress: bool = False, in_tune: bool = False,
                  threads: int | None = None) -> Context:
    """The :class:`~sciml.Context` of one trial (``run_dir`` and the shared cache are created)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    return Context(run_dir=run_dir, cache_dir=cache, seed=seed, device=device, progress=progress,
                   in_tune=in_tune, threads=threads)


def _call_hook(name: str, **kwargs: Any) -> None:
    """Call a lifecycle hook through the plugin manager; a hook that raises is logged, never fatal."""
    try:
        getattr(get_plugin_manager().hook, name)(**kwargs)
    except Exception as exc:
        log.warning("hook %s raised %s: %s (the trial goes on)", name, type(exc).__name__, exc)


def run_trial(config: Mapping[str, Any], context: Context, reporter: FileReporter) -> dict[str, Any]:
    """:func:`sciml.trial.execute_trial` with the lifecycle hooks around it; returns its outcome.

    Raises:
        whatever the trial raises (after ``sciml_on_trial_error`` was called).
    """
    _call_hook("sciml_before_trial", config=config, context=context)
    try:
        outcome = execute_trial(config, context, reporter)
    except Exception as exc:
        _call_hook("sciml_on_trial_error", config=config, context=context, error=exc)
        raise
    _call_hook("sciml_after_trial", config=config, context=context, outcome=outcome)
    return outcome


# --- Ray Tune ---------------------------------------------------------------------------------

def checkpoint_files(directory: Path) -> list[Path]:
    """The engine's checkpoint files in ``directory`` (see :data:`CHECKPOINT_GLOBS`)."""
    return sorted({p for pattern in CHECKPOINT_GLOBS for p in Path(directory).glob(pattern) if p.is_file()})


def restore_into(run_dir: Path, checkpoint) -> bool:
    """Bring a trial's state back from Tune's latest ``checkpoint`` (retry, ``sciml resume``).

    Returns True if the trial had finished (the final checkpoint holds ``outcome.json`` and the
    model; its result is reported again, not recomputed). Otherwise the checkpoint files in
    ``run_dir`` are replaced by the checkpoint's: a local file may be an epoch ahead of the
    metrics the driver has seen (written just before an interruption), so it is not trusted.
    """
    if not (run_dir / "outcome.json").exists():
        for path in checkpoint_files(run_dir):
            path.unlink()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            src = Path(d)
            if (src / "outcome.json").exists() and not (run_dir / "outcome.json").exists():
                shutil.copytree(src, run_dir, dirs_exist_ok=True)
            else:
                for path in checkpoint_files(src):
                    shutil.copyfile(path, run_dir / path.name)
    return (run_dir / "outcome.json").exists() and (run_dir / "model").is_dir()


class _TuneReports:
    """Pairs each epoch's metrics with the checkpoint the engine writes after them.

    The engine calls ``reporter.report(epoch, metrics)`` then ``reporter.checkpoint_written(path)``:
    the metrics wait (``pending``) and travel in one ``tune.report`` with a checkpoint of the
    run directory's checkpoint files, so Tune's latest checkpoint is always the state of the
    last epoch the driver logged.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.pending: dict[str, Any] = {}

    def sink(self, step: int, metrics: dict[str, float]) -> None:
        self.flush()
        self.pending.update(metrics)
        self.pending[STEP_KEY] = step

    def on_checkpoint(self, path: Path) -> None:
        from ray import tune

        with tempfile.TemporaryDirectory() as tmp:
            for src in checkpoint_files(Path(path).parent):
                shutil.copyfile(src, Path(tmp) / src.name)
            tune.report(dict(self.pending) or {STEP_KEY: -1}, checkpoint=tune.Checkpoint.from_directory(tmp))
        self.pending.clear()

    def flush(self) -> None:
        from ray import tune

        if self.pending:
            tune.report(dict(self.pending))
        self.pending.clear()

    def final(self, outcome: Mapping[str, Any]) -> None:
        """The last report: the outcome's metrics and the trial directory without checkpoints."""
        from ray import tune

        self.flush()
        result = {**outcome["metrics"], FINAL_KEY: 1, ACCEPTED_KEY: float(outcome["accepted"])}
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(self.run_dir, tmp, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.ckpt", "last.pt*", "best.pt", "*.tmp"))
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(tmp))


def _trial_resources(ctx) -> dict[str, float]:
    try:
        return dict(ctx.get_trial_resources().required_resources)
    except Exception:  # a Ray without per-trial resources in its context
        return {}


def record_resources(run_dir: Path, resources: Mapping[str, float], threads: int, device: str) -> dict[str, Any]:
    """What the trial was given (``artifacts/resources.json``): Ray's request, GPU ids, threads, device."""
    import ray

    try:
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    except Exception:
        gpu_ids = []
    seen = {"cpus": resources.get("CPU", 0.0), "gpus": resources.get("GPU", 0.0), "gpu_ids": gpu_ids,
            "threads": threads, "device": device, "started": time.time()}
    (run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    (run_dir / "artifacts" / RESOURCES_FILE).write_text(json.dumps(seen, indent=2))
    return seen


def tune_trainable(params: dict[str, Any], source: ConfigSource) -> None:
    """Ray Tune function trainable: one trial of the sweep (see the module docstring)."""
    import torch
    from ray import tune

    config = source.resolve(overrides=trial_overrides(params))
    ctx = tune.get_context()
    run_dir = layout.tune_trial_dir(ctx.get_experiment_name(), config_hash(config), config["seed"], ctx.get_trial_id())
    run_dir.mkdir(parents=True, exist_ok=True)
    reports = _TuneReports(run_dir)
    if restore_into(run_dir, tune.get_checkpoint()):
        reports.final(json.loads((run_dir / "outcome.json").read_text()))
        return
    resources = _trial_resources(ctx)
    threads = max(1, int(resources.get("CPU", 1)))
    device = "cuda" if resources.get("GPU", 0) > 0 and torch.cuda.is_available() else "cpu"
    if config["trainer"].get("device", "auto") == "auto" and "device" in config["trainer"]:
        config["trainer"]["device"] = device
    record_resources(run_dir, resources, threads, device)
    reporter = FileReporter(run_dir, sink=reports.sink, on_checkpoint=reports.on_checkpoint, progress=False)
    context = trial_context(run_dir, config["seed"], device, in_tune=True, threads=threads)
    outcome = run_trial(config, context, reporter)
    seen = json.loads((run_dir / "artifacts" / RESOURCES_FILE).read_text())
    (run_dir / "artifacts" / RESOURCES_FILE).write_text(json.dumps({**seen, "ended": time.time()}, indent=2))
    reports.final(outcome)
