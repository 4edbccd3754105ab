"""Wire dataset -> model -> trainer -> evaluator, once in-process or as a Ray Tune sweep.

:func:`run` is what ``sciml run`` calls. One MLflow parent run per invocation; one nested
child run per trial (``<plugin>-<config hash>-s<seed>``). The best accepted trial's model
is registered as ``sciml-<plugin>`` with the alias ``champion``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sciml.caching import default_cache_dir
from sciml.components import Context
from sciml.config import config_hash, flatten, parse_sets, resolve_config, to_yaml, validate_space
from sciml.errors import UserError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class RunOptions:
    """Options of one ``sciml run`` invocation (the CLI's flags)."""

    target: str
    config_file: str | None = None
    sets: Sequence[str] = ()
    search: Sequence[str] = ()
    seed: int | None = None
    device: str | None = None
    tune: bool = False
    num_samples: int | None = None
    seeds: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    scheduler: str = "fifo"
    max_concurrent: int | None = None
    address: str | None = None
    max_failures: int = 0
    tracking_uri: str | None = None
    experiment: str | None = None
    progress: bool | None = None
    register: bool = True


@dataclasses.dataclass
class TrialRecord:
    name: str
    seed: int
    config: dict[str, Any]
    config_hash: str
    run_id: str | None = None
    status: str = "PENDING"  # FINISHED, FAILED, STOPPED
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    accepted: bool = False
    reason: str = ""
    error: str | None = None
    run_dir: Path | None = None


@dataclasses.dataclass
class RunSummary:
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
    aggregates: dict[str, dict[str, tuple[float, float, int]]] = dataclasses.field(default_factory=dict)
    extra_lines: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def prepare(options: RunOptions):
    """Resolve the pipeline and the base config (no heavy imports); used by ``--print-config``."""
    from sciml.registry import get_registry

    registry = get_registry()
    pipeline = registry.pipeline(options.target)
    plugin = registry.plugin_of(pipeline)
    key = f"{plugin}:{pipeline.name}"
    sets = parse_sets(options.sets)
    if options.seed is not None:
        sets.append(("seed", options.seed))
    if options.device is not None:
        sets.append(("trainer.device", options.device))
    config = resolve_config(pipeline, registry, pipeline_key=key, config_file=options.config_file, sets=sets)
    return registry, pipeline, plugin, config


def _search_space(pipeline, options: RunOptions, config):
    space = dict(pipeline.search_space or {})
    for item in options.search:
        k, sep, v = item.partition("=")
        if not sep:
            raise UserError(f"--search {item!r}: expected KEY=SPEC, e.g. --search trainer.lr='loguniform(1e-4,1e-2)'")
        space[k.strip()] = v.strip()
    return validate_space(space, config)


def _draw_seed() -> int:
    return random.SystemRandom().randrange(0, 2**31 - 1)


def _trial_name(plugin: str, config: dict[str, Any], seed: int) -> str:
    return f"{plugin}-{config_hash(config)}-s{seed}"


def _aggregate(trials: list[TrialRecord]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Per config hash: ``{metric: (mean, std, n)}`` over the finished seeds."""
    groups: dict[str, list[TrialRecord]] = {}
    for t in trials:
        if t.status == "FINISHED":
            groups.setdefault(t.config_hash, []).append(t)
    out = {}
    for h, members in groups.items():
        names = sorted(set.intersection(*(set(m.metrics) for m in members)))
        out[h] = {}
        for n in names:
            vals = [m.metrics[n] for m in members]
            out[h][n] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))
    return out


def _pick_best(trials: list[TrialRecord], metric: str, mode: str) -> TrialRecord | None:
    ok = [t for t in trials if t.status == "FINISHED" and t.accepted and metric in t.metrics]
    if not ok:
        return None
    return (min if mode == "min" else max)(ok, key=lambda t: t.metrics[metric])


def _log_trial(tracker, trial: TrialRecord) -> None:
    """Log a finished or failed trial's params, outcome and artifacts to its child run."""
    flat = flatten({k: v for k, v in trial.config.items() if k != "pipeline"})
    tracker.log_params(trial.run_id, flat)
    tracker.set_tags(trial.run_id, {"sciml.seed": trial.seed, "sciml.config_hash": trial.config_hash,
                                    "sciml.status": trial.status, "sciml.accepted": trial.accepted,
                                    **({"sciml.reject_reason": trial.reason} if trial.reason else {}),
                                    **({"sciml.error": trial.error} if trial.error else {})})
    if trial.metrics:
        tracker.log_metrics(trial.run_id, trial.metrics)
    if trial.results.get("dataset_hash"):
        tracker.log_params(trial.run_id, {"dataset_hash": trial.results["dataset_hash"]})
    if trial.run_dir is not None:
        tracker.log_artifacts(trial.run_id, trial.run_dir / "artifacts")


def _register_best(tracker, summary: RunSummary) -> None:
    best = summary.best
    if best is None or best.run_dir is None:
        return
    uri = tracker.log_model(best.run_id, best.run_dir / "model", summary.plugin)
    name = f"sciml-{summary.plugin}"
    summary.model_name = name
    summary.model_version = tracker.register(
        uri, name, best.run_id,
        tags={"metric": summary.metric, "value": best.metrics.get(summary.metric), "trial": best.name,
              "parent_run_id": summary.parent_run_id})


def run(options: RunOptions) -> RunSummary:
    """Run a pipeline (see the module docstring). Returns the summary the CLI prints.

    Raises:
        UserError: bad options, names or config values (before anything is written).
    """
    t0 = time.time()
    registry, pipeline, plugin, config = prepare(options)
    space = _search_space(pipeline, options, config) if options.tune else {}
    if not options.tune and (options.num_samples or options.seeds):
        raise UserError("--num-samples and --seeds need --tune")
    if options.scheduler not in ("fifo", "asha"):
        raise UserError(f"--scheduler {options.scheduler!r}: accepted: fifo, asha")
    if options.gpus_per_trial < 0 or options.cpus_per_trial <= 0:
        raise UserError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    from sciml.tracking import Tracker

    experiment = options.experiment or f"sciml-{plugin}"
    tracker = Tracker(options.tracking_uri, experiment)
    if options.address and options.tune:
        from sciml.tuning import check_address

        check_address(options.address)
    base_seed = config["seed"] if config["seed"] is not None else _draw_seed()
    parent_tags = {"sciml.plugin": plugin, "sciml.pipeline": config["pipeline"],
                   "sciml.mode": "tune" if options.tune else "single",
                   "sciml.command": " ".join(shlex.quote(a) for a in sys.argv)}
    parent_id = tracker.start_run(f"{plugin}-{'tune' if options.tune else 'run'}-{time.strftime('%Y%m%d-%H%M%S')}",
                                  tags=parent_tags)
    tracker.log_params(parent_id, {"base_seed": base_seed, "seed_drawn": config["seed"] is None,
                                   **flatten({k: v for k, v in config.items() if k not in ("seed",)})})
    tracker.log_text(parent_id, to_yaml({**config, "seed": base_seed}), "config.yaml")
    summary = RunSummary(plugin=plugin, pipeline=config["pipeline"], parent_run_id=parent_id,
                         experiment_id=tracker.experiment_id, tracking_uri=tracker.uri,
                         metric=pipeline.metric, mode=pipeline.mode, trials=[], best=None)
    status = "FAILED"
    try:
        if options.tune:
            from sciml.tuning import run_tune

            tracker.log_params(parent_id, {f"tune.{k}": v for k, v in dataclasses.asdict(options).items()
                                           if k not in ("sets", "search", "target", "config_file")})
            tracker.log_text(parent_id, json.dumps({k: [f, a] for k, (f, a) in space.items()}, indent=2),
                             "search_space.json")
            summary.trials = run_tune(options, pipeline, plugin, config, space, base_seed, tracker, parent_id)
        else:
            summary.trials = _run_local(options, pipeline, plugin, config, base_seed, tracker, parent_id)
        summary.best = _pick_best(summary.trials, pipeline.metric, pipeline.mode)
        summary.aggregates = _aggregate(summary.trials)
        if pipeline.summarize is not None:
            from sciml.registry import resolve

            summary.extra_lines = list(resolve(pipeline.summarize)([
                {"name": t.name, "config": t.config, "seed": t.seed, "metrics": t.metrics,
                 "results": t.results, "accepted": t.accepted, "status": t.status} for t in summary.trials]))
        if options.register:
            _register_best(tracker, summary)
        _log_parent(tracker, summary)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracker.end_run(parent_id, status)
        summary.seconds = time.time() - t0
    return summary


def _log_parent(tracker, summary: RunSummary) -> None:
    pid = summary.parent_run_id
    if summary.best is not None:
        tracker.log_metrics(pid, {f"best_{k}": v for k, v in summary.best.metrics.items()})
        tracker.set_tags(pid, {"sciml.best_trial": summary.best.name, "sciml.best_run_id": summary.best.run_id})
    counts = {s: sum(t.status == s for t in summary.trials) for s in ("FINISHED", "FAILED", "STOPPED")}
    tracker.log_metrics(pid, {"n_trials": len(summary.trials), "n_failed": counts["FAILED"],
                              "n_accepted": sum(t.accepted for t in summary.trials)})
    agg = {h: {m: {"mean": a[0], "std": a[1], "n": a[2]} for m, a in ms.items()} for h, ms in summary.aggregates.items()}
    if summary.model_version:
        tracker.set_tags(pid, {"sciml.model": f"{summary.model_name}/{summary.model_version}"})
    tracker.log_text(pid, json.dumps({
        "best": summary.best.name if summary.best else None,
        "model": f"models:/{summary.model_name}/{summary.model_version}" if summary.model_version else None,
        "aggregates_over_seeds": agg,
        "summary": summary.extra_lines,
        "trials": [{"name": t.name, "status": t.status, "accepted": t.accepted, "reason": t.reason,
                    "error": t.error, "metrics": t.metrics, "run_id": t.run_id} for t in summary.trials],
    }, indent=2, default=str), "summary.json")


def trial_context(run_dir: Path, seed: int, device: str, progress: bool, in_tune: bool) -> Context:
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    return Context(run_dir=run_dir, cache_dir=cache, seed=seed, device=device, progress=progress, in_tune=in_tune)


def _run_local(options, pipeline, plugin, config, base_seed, tracker, parent_id) -> list[TrialRecord]:
    """In-process: train, evaluate, and retrain with a new seed until accepted (bounded)."""
    from sciml.tracking import sciml_home
    from sciml.training import resolve_device
    from sciml.trial import FileReporter, execute_trial

    device = resolve_device(config["trainer"].get("device", "auto"))
    progress = sys.stderr.isatty() if options.progress is None else options.progress
    trials: list[TrialRecord] = []
    for attempt in range(max(1, pipeline.max_attempts)):
        seed = base_seed + attempt
        cfg = {**config, "seed": seed}
        rec = TrialRecord(name=_trial_name(plugin, cfg, seed), seed=seed, config=cfg, config_hash=config_hash(cfg))
        rec.run_id = tracker.start_run(rec.name, parent_id=parent_id, tags={"sciml.attempt": attempt})
        rec.run_dir = sciml_home() / "runs" / parent_id / rec.name
        reporter = FileReporter(rec.run_dir, sink=lambda step, m, rid=rec.run_id: tracker.log_metrics(rid, m, step),
                                progress=progress)
        context = trial_context(rec.run_dir, seed, device, progress, in_tune=False)
        try:
            outcome = execute_trial(cfg, context, reporter)
        except UserError:
            tracker.end_run(rec.run_id, "FAILED")
            raise
        except Exception as exc:
            rec.status, rec.error = "FAILED", f"{type(exc).__name__}: {exc}"
            log.warning("trial %s failed: %s", rec.name, rec.error)
            _log_trial(tracker, rec)
            tracker.end_run(rec.run_id, "FAILED")
            trials.append(rec)
            break
        rec.status = "FINISHED"
        rec.metrics, rec.accepted, rec.reason = outcome["metrics"], outcome["accepted"], outcome["reason"]
        rec.results = {**outcome["results"], "dataset_hash": outcome["dataset_hash"]}
        _log_trial(tracker, rec)
        tracker.end_run(rec.run_id, "FINISHED")
        trials.append(rec)
        if rec.accepted:
            break
        log.warning("attempt %d (seed %d) rejected: %s; retrying with a new seed", attempt + 1, seed, rec.reason)
    return trials
