"""Wire dataset -> model -> trainer -> evaluator, once in-process or as a Ray Tune sweep.

:func:`run` is what ``sciml run`` calls. One MLflow parent run per invocation; one nested
child run per trial (``<plugin>-<config hash>-s<seed>``). The best accepted trial's model
is registered as ``sciml-<plugin>`` with the alias ``champion``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import random
import shlex
import shutil
import signal
import statistics
import sys
import threading
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
    done: bool = False  # its MLflow child run is complete (logged and ended)
    reopen: bool = False  # resumed: mark the child run RUNNING again when the trial restarts
    orphan: bool = False  # resumed: a child run whose trial the restored experiment may not know
    logged_step: int = -1  # resumed: metrics up to this step are already in the store
    user_error: bool = False  # failed because of bad input (sciml.UserError)
    error_file: Path | None = None  # the full traceback of a failed trial (run_dir/error.txt)


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


INVOCATION = "invocation.json"
DRIVER_PID = "driver.pid"


def _live_driver(run_dir: Path) -> int | None:
    """The pid of a sciml process still driving this run, if any (``sciml resume`` refuses then)."""
    try:
        pid = int((run_dir / DRIVER_PID).read_text())
        if pid == os.getpid():
            return None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"sciml" in cmdline else None


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM acts like Ctrl-C: Tune stops cleanly and saves its state, and
    outside Tune a KeyboardInterrupt is raised (the runs are marked KILLED)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        current = signal.getsignal(signal.SIGINT)
        if callable(current):
            current(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    """Per config hash: ``{metric: (mean, std, n)}`` over the finished seeds whose model was accepted.

    Rejected models (e.g. a collapsed mapping) are not averaged in: :func:`_rejected` counts them.
    """
    groups: dict[str, list[TrialRecord]] = {}
    for t in trials:
        if t.status == "FINISHED" and t.accepted:
            groups.setdefault(t.config_hash, []).append(t)
    out = {}
    for h, members in groups.items():
        names = sorted(set.intersection(*(set(m.metrics) for m in members)))
        out[h] = {}
        for n in names:
            vals = [m.metrics[n] for m in members]
            out[h][n] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))
    return out


def _rejected(trials: list[TrialRecord]) -> dict[str, int]:
    """Per config hash: the number of finished seeds the acceptance gate rejected."""
    out: dict[str, int] = {}
    for t in trials:
        if t.status == "FINISHED" and not t.accepted:
            out[t.config_hash] = out.get(t.config_hash, 0) + 1
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


def model_description(summary: RunSummary, command: str) -> str:
    """The registered model version's description: how it was chosen, how it did on test, against what."""
    from sciml.protocol import fmt_value as _num
    from sciml.protocol import unflatten_baselines

    best, cmp = summary.best, summary.comparison
    lines = [f"Champion of {summary.plugin}:{summary.pipeline}, trial {best.name} (seed {best.seed}).",
             f"Selected on validation: {summary.metric} = {_num(cmp.val)} ({summary.mode}); "
             f"test (reported, never used to choose): {cmp.test_metric} = {_num(cmp.test)}.",
             f"Verdict: {cmp.verdict()}."]
    baselines = unflatten_baselines(best.metrics)
    if baselines:
        lines.append("Trivial baselines on the same splits: " + "; ".join(
            f"{n}: {cmp.test_metric} = {_num(v.get(cmp.test_metric))}" for n, v in sorted(baselines.items())) + ".")
    if best.results.get("dataset_hash"):
        lines.append(f"Dataset digest: {best.results['dataset_hash']}.")
    lines.append(f"Reproduce: {command}")
    return "\n".join(lines)


def _register_best(tracker, summary: RunSummary, command: str) -> None:
    best = summary.best
    if best is None or best.run_dir is None:
        return
    cmp = summary.comparison
    uri = tracker.log_model(best.run_id, best.run_dir / "model", summary.plugin)
    name = f"sciml-{summary.plugin}"
    summary.model_name = name
    summary.model_version = tracker.register(
        uri, name, best.run_id,
        tags={"metric": summary.metric, "value": best.metrics.get(summary.metric), "trial": best.name,
              "parent_run_id": summary.parent_run_id, "test_metric": cmp.test_metric, "test_value": cmp.test,
              "best_baseline": cmp.baseline, "beats_baseline": cmp.beats},
        description=model_description(summary, command))


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
    if options.max_failures < 0:
        raise UserError(f"--max-failures {options.max_failures}: must be >= 0")
    from sciml.tracking import Tracker, check_tracking_uri, sciml_home

    if options.tracking_uri:  # everything is checked before anything is written
        check_tracking_uri(options.tracking_uri)
    if options.address and options.tune:
        from sciml.tuning import check_address

        check_address(options.address)
    if not options.tune and "device" in config["trainer"]:
        from sciml.training import resolve_device

        resolve_device(config["trainer"]["device"])  # a missing CUDA device is bad input, found now
    base_seed = config["seed"] if config["seed"] is not None else _draw_seed()
    if options.tune:
        from sciml.tuning import check_samples

        check_samples(pipeline, options, config, space, base_seed)
    experiment = options.experiment or f"sciml-{plugin}"
    tracker = Tracker(options.tracking_uri, experiment)
    parent_tags = {"sciml.plugin": plugin, "sciml.pipeline": config["pipeline"],
                   "sciml.mode": "tune" if options.tune else "single",
                   "sciml.command": " ".join(shlex.quote(a) for a in sys.argv)}
    parent_id = tracker.start_run(f"{plugin}-{'tune' if options.tune else 'run'}-{time.strftime('%Y%m%d-%H%M%S')}",
                                  tags=parent_tags)
    tracker.spool = sciml_home() / "runs" / parent_id / "tracking-pending.jsonl"
    invocation = json.dumps({"options": dataclasses.asdict(options), "config": config, "base_seed": base_seed,
                             "space": {k: [f, a] for k, (f, a) in space.items()}, "argv": sys.argv},
                            indent=2, default=str)
    local = sciml_home() / "runs" / parent_id / INVOCATION
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(invocation)
    tracker.log_text(parent_id, invocation, INVOCATION)
    (local.parent / DRIVER_PID).write_text(str(os.getpid()))
    tracker.log_params(parent_id, {"base_seed": base_seed, "seed_drawn": config["seed"] is None,
                                   **flatten({k: v for k, v in config.items() if k not in ("seed",)})})
    tracker.log_text(parent_id, to_yaml({**config, "seed": base_seed}), "config.yaml")
    if options.tune:
        tracker.log_params(parent_id, {f"tune.{k}": v for k, v in dataclasses.asdict(options).items()
                                       if k not in ("sets", "search", "target", "config_file")})
        tracker.log_text(parent_id, json.dumps({k: [f, a] for k, (f, a) in space.items()}, indent=2),
                         "search_space.json")
    summary = RunSummary(plugin=plugin, pipeline=config["pipeline"], parent_run_id=parent_id,
                         experiment_id=tracker.experiment_id, tracking_uri=tracker.uri,
                         metric=pipeline.metric, mode=pipeline.mode, trials=[], best=None)
    return _execute(options, pipeline, plugin, config, space, base_seed, tracker, summary, t0)


def resume(parent_run_id: str, *, tracking_uri: str | None = None, max_failures: int | None = None,
           retry_failed: bool = False) -> RunSummary:
    """Continue an interrupted ``sciml run`` under the same MLflow parent run.

    A sweep continues with ``tune.Tuner.restore`` on its experiment directory
    (``$SCIML_HOME/runs/tune/PARENT_RUN_ID``): finished trials are not run again and keep
    their child runs; interrupted ones continue from their last checkpoint under their
    existing child run (matched by the tag ``sciml.trial_id``). A single run reruns the
    interrupted attempt from its ``last.pt``. Failed trials stay failed unless ``retry_failed``.

    Raises:
        UserError: no such run, not a parent run of sciml, already finished, or its
            invocation record (``invocation.json``) is missing.
    """
    t0 = time.time()
    from sciml.registry import get_registry
    from sciml.tracking import Tracker, _quiet_mlflow, check_tracking_uri, default_tracking_uri, sciml_home

    uri = tracking_uri or default_tracking_uri()
    check_tracking_uri(uri)
    _quiet_mlflow()
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    try:
        parent = client.get_run(parent_run_id)
    except Exception as exc:
        raise UserError(f"no run {parent_run_id!r} in the tracking store {uri} "
                        f"({str(exc).splitlines()[0][:200]})") from None
    tags = parent.data.tags
    if tags.get("mlflow.parentRunId"):
        raise UserError(f"run {parent_run_id!r} is a trial; resume its parent run {tags['mlflow.parentRunId']!r}")
    if parent.info.status == "FINISHED":
        raise UserError(f"run {parent_run_id!r} already finished; nothing to resume")
    local = sciml_home() / "runs" / parent_run_id / INVOCATION
    pid = _live_driver(local.parent)
    if pid is not None:
        raise UserError(f"run {parent_run_id!r} is still being driven by process {pid}; stop it first "
                        f"(kill -TERM {pid}) or wait for it")
    try:
        text = local.read_text() if local.exists() else client.download_artifacts(parent_run_id, INVOCATION,
                                                                                   str(local.parent))
        if not isinstance(text, str) or not text.lstrip().startswith("{"):
            text = Path(text).read_text()
        inv = json.loads(text)
    except Exception:
        raise UserError(f"run {parent_run_id!r} has no {INVOCATION}: it was not started by this version "
                        "of sciml run, so it cannot be resumed") from None
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    options = RunOptions(**{k: v for k, v in inv["options"].items() if k in fields})
    options.tracking_uri = tracking_uri or options.tracking_uri
    if max_failures is not None:
        options.max_failures = max_failures
    config = inv["config"]
    registry = get_registry()
    pipeline = registry.get("pipeline", config["pipeline"]).factory
    plugin = registry.plugin_of(pipeline)
    space = {k: (f, a) for k, (f, a) in inv["space"].items()}
    experiment = client.get_experiment(parent.info.experiment_id).name
    tracker = Tracker(uri, experiment)
    tracker.spool = sciml_home() / "runs" / parent_run_id / "tracking-pending.jsonl"
    if tracker.spool.exists():  # writes an earlier session could not send
        for line in tracker.spool.read_text().splitlines():
            if line.strip():
                tracker._pending.append(json.loads(line))
        tracker.spool.unlink()
        tracker._next_try = 0.0
        tracker.close()
    tracker.reopen_run(parent_run_id)
    local.parent.mkdir(parents=True, exist_ok=True)
    (local.parent / DRIVER_PID).write_text(str(os.getpid()))
    n = int(tags.get("sciml.resumed", "0")) + 1
    tracker.set_tags(parent_run_id, {"sciml.resumed": n})
    summary = RunSummary(plugin=plugin, pipeline=config["pipeline"], parent_run_id=parent_run_id,
                         experiment_id=tracker.experiment_id, tracking_uri=tracker.uri,
                         metric=pipeline.metric, mode=pipeline.mode, trials=[], best=None, resumed=True)
    return _execute(options, pipeline, plugin, config, space, int(inv["base_seed"]), tracker, summary, t0,
                    resume=True, retry_failed=retry_failed)


def _execute(options, pipeline, plugin, config, space, base_seed, tracker, summary: RunSummary, t0: float,
             resume: bool = False, retry_failed: bool = False) -> RunSummary:
    parent_id = summary.parent_run_id
    status: str | None = "FAILED"
    try:
        with sigterm_as_interrupt():
            if options.tune:
                from sciml.tuning import run_tune

                summary.trials = run_tune(options, pipeline, plugin, config, space, base_seed, tracker, parent_id,
                                          resume=resume, retry_failed=retry_failed)
            else:
                summary.trials = _run_local(options, pipeline, plugin, config, base_seed, tracker, parent_id,
                                            resume=resume, retry_failed=retry_failed)
        summary.best = _pick_best(summary.trials, pipeline.metric, pipeline.mode)
        summary.aggregates = _aggregate(summary.trials)
        summary.rejected = _rejected(summary.trials)
        if summary.best is not None:
            from sciml.protocol import compare, unflatten_baselines

            summary.comparison = compare(pipeline.metric, pipeline.mode, summary.best.metrics,
                                         unflatten_baselines(summary.best.metrics))
        if pipeline.summarize is not None:
            from sciml.registry import resolve

            summary.extra_lines = list(resolve(pipeline.summarize)([
                {"name": t.name, "config": t.config, "seed": t.seed, "metrics": t.metrics,
                 "results": t.results, "accepted": t.accepted, "status": t.status} for t in summary.trials]))
        if options.register:
            _register_best(tracker, summary, _command(options))
        _log_parent(tracker, summary)
        status = "FINISHED"
    except UserError:
        if not resume:  # bad input found after runs were made: leave nothing half-written
            _discard(tracker, parent_id)
            status = None
        raise
    except KeyboardInterrupt:
        status = "KILLED"
        raise RunInterrupted(parent_id) from None
    finally:
        summary.seconds = time.time() - t0
        from sciml.tracking import sciml_home

        (sciml_home() / "runs" / parent_id / DRIVER_PID).unlink(missing_ok=True)
        if status is not None:
            tracker.end_run(parent_id, status)
        in_flight = sys.exc_info()[0] is not None
        try:
            tracker.close()
        except Exception as exc:
            if not in_flight:
                raise
            log.error("%s", exc)
    return summary


def _command(options: RunOptions) -> str:
    """The ``sciml run`` command line of ``options`` (the seed drawn is in the run's config)."""
    argv = ["sciml", "run", options.target]
    if options.config_file:
        argv += ["--config", options.config_file]
    for item in options.sets:
        argv += ["--set", item]
    for item in options.search:
        argv += ["--search", item]
    if options.seed is not None:
        argv += ["--seed", str(options.seed)]
    if options.tune:
        argv.append("--tune")
        for flag, value in (("--num-samples", options.num_samples), ("--seeds", options.seeds)):
            if value is not None:
                argv += [flag, str(value)]
        if options.scheduler != "fifo":
            argv += ["--scheduler", options.scheduler]
    return " ".join(shlex.quote(a) for a in argv)


def _discard(tracker, parent_id: str) -> None:
    """Delete the parent run, its children and their local directories (after a late UserError)."""
    from sciml.tracking import sciml_home
    from sciml.tuning import experiment_dir

    try:
        ids = [r.info.run_id for r in tracker.child_runs(parent_id)]
    except Exception:
        ids = []
    tracker._pending.clear()
    tracker.delete_runs([*ids, parent_id])
    for d in (sciml_home() / "runs" / parent_id, experiment_dir(parent_id)):
        shutil.rmtree(d, ignore_errors=True)


def _log_parent(tracker, summary: RunSummary) -> None:
    pid = summary.parent_run_id
    if summary.best is not None:
        cmp = summary.comparison
        tracker.log_metrics(pid, {f"best_{k}": v for k, v in summary.best.metrics.items()})
        if cmp.skill is not None:
            tracker.log_metrics(pid, {"best_skill_vs_baseline": cmp.skill})
        tracker.set_tags(pid, {"sciml.best_trial": summary.best.name, "sciml.best_run_id": summary.best.run_id,
                               "sciml.selected_on": summary.metric, "sciml.verdict": cmp.verdict(),
                               **({"sciml.beats_baseline": cmp.beats} if cmp.beats is not None else {})})
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
        "rejected_per_config": summary.rejected,
        "verdict": summary.comparison.verdict() if summary.comparison else None,
        "summary": summary.extra_lines,
        "trials": [{"name": t.name, "status": t.status, "accepted": t.accepted, "reason": t.reason,
                    "error": t.error, "error_file": str(t.error_file) if t.error_file else None,
                    "metrics": t.metrics, "run_id": t.run_id} for t in summary.trials],
    }, indent=2, default=str), "summary.json")


def trial_context(run_dir: Path, seed: int, device: str, progress: bool, in_tune: bool) -> Context:
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    return Context(run_dir=run_dir, cache_dir=cache, seed=seed, device=device, progress=progress, in_tune=in_tune)


def _local_record(run, plugin: str, config: dict[str, Any]) -> TrialRecord:
    """A trial of an earlier session, rebuilt from its child run and its directory."""
    from sciml.tracking import sciml_home

    tags = run.data.tags
    seed = int(tags.get("sciml.seed", run.info.run_name.rsplit("-s", 1)[-1]))
    cfg = {**config, "seed": seed}
    rec = TrialRecord(name=run.info.run_name, seed=seed, config=cfg, config_hash=config_hash(cfg),
                      run_id=run.info.run_id, status=run.info.status, done=True)
    rec.run_dir = sciml_home() / "runs" / tags["mlflow.parentRunId"] / rec.name
    rec.error, rec.reason = tags.get("sciml.error"), tags.get("sciml.reject_reason", "")
    outcome = rec.run_dir / "outcome.json"
    if rec.status == "FINISHED" and outcome.exists():
        out = json.loads(outcome.read_text())
        rec.metrics, rec.accepted, rec.reason = out["metrics"], out["accepted"], out["reason"]
        rec.results = {**out["results"], "dataset_hash": out["dataset_hash"]}
    else:
        rec.metrics = dict(run.data.metrics)
        rec.accepted = tags.get("sciml.accepted") == "True"
    return rec


def _run_local(options, pipeline, plugin, config, base_seed, tracker, parent_id, resume: bool = False,
               retry_failed: bool = False) -> list[TrialRecord]:
    """In-process: train, evaluate, and retrain with a new seed until accepted (bounded).

    A failing attempt is retried ``--max-failures`` times from its ``last.pt``; with
    ``resume``, attempts of an earlier session are taken from their child runs (tag
    ``sciml.attempt``) and an interrupted one continues from its ``last.pt``.
    """
    from sciml.tracking import sciml_home
    from sciml.training import resolve_device
    from sciml.trial import FileReporter, error_file, execute_trial

    device = resolve_device(config["trainer"].get("device", "auto"))
    progress = sys.stderr.isatty() if options.progress is None else options.progress
    earlier = {}
    if resume:
        for run in tracker.child_runs(parent_id):
            earlier[int(run.data.tags.get("sciml.attempt", "0"))] = run
    trials: list[TrialRecord] = []
    for attempt in range(max(1, pipeline.max_attempts)):
        seed = base_seed + attempt
        cfg = {**config, "seed": seed}
        old = earlier.get(attempt)
        if old is not None and (old.info.status == "FINISHED" or (old.info.status == "FAILED" and not retry_failed)):
            rec = _local_record(old, plugin, config)
            trials.append(rec)
            if rec.status == "FAILED" or rec.accepted:
                break
            continue
        rec = TrialRecord(name=_trial_name(plugin, cfg, seed), seed=seed, config=cfg, config_hash=config_hash(cfg))
        if old is not None:
            rec.run_id, rec.logged_step = old.info.run_id, tracker.last_step(old)
            tracker.reopen_run(rec.run_id)
        else:
            rec.run_id = tracker.start_run(rec.name, parent_id=parent_id,
                                           tags={"sciml.attempt": attempt, "sciml.seed": seed})
        rec.run_dir = sciml_home() / "runs" / parent_id / rec.name

        def sink(step, m, rec=rec):
            if step > rec.logged_step:  # an epoch repeated after a retry is not logged twice
                tracker.log_metrics(rec.run_id, m, step)
                rec.logged_step = step

        reporter = FileReporter(rec.run_dir, sink=sink, progress=progress)
        context = trial_context(rec.run_dir, seed, device, progress, in_tune=False)
        outcome = None
        for retry in range(options.max_failures + 1):
            try:
                outcome = execute_trial(cfg, context, reporter)
                break
            except UserError:
                tracker.end_run(rec.run_id, "FAILED")
                raise
            except KeyboardInterrupt:
                tracker.end_run(rec.run_id, "KILLED")
                raise
            except Exception as exc:
                rec.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                if retry < options.max_failures:
                    log.warning("trial %s failed (%s); retry %d of %d from its last checkpoint",
                                rec.name, rec.error, retry + 1, options.max_failures)
                    tracker.set_tags(rec.run_id, {"sciml.retries": retry + 1})
        if outcome is None:
            rec.status = "FAILED"
            rec.error_file = error_file(rec.run_dir)
            log.warning("trial %s failed: %s", rec.name, rec.error)
            _log_trial(tracker, rec)
            tracker.end_run(rec.run_id, "FAILED")
            trials.append(rec)
            break
        rec.status, rec.error = "FINISHED", None
        rec.metrics, rec.accepted, rec.reason = outcome["metrics"], outcome["accepted"], outcome["reason"]
        rec.results = {**outcome["results"], "dataset_hash": outcome["dataset_hash"]}
        _log_trial(tracker, rec)
        tracker.end_run(rec.run_id, "FINISHED")
        trials.append(rec)
        if rec.accepted:
            break
        if attempt + 1 < max(1, pipeline.max_attempts):
            log.warning("attempt %d (seed %d) rejected: %s; retrying with a new seed", attempt + 1, seed, rec.reason)
    return trials
