"""``sciml run`` and ``sciml resume``: plan, execute, select, register.

One MLflow parent run per invocation; one nested child run per trial, identified by its tags
(seed, config hash and, in a sweep, the Tune trial id; its name ``<plugin>-<hash>-s<seed>``
is for display). The best accepted trial's model is registered as ``sciml-<plugin>`` with the
alias ``champion``. Every MLflow write goes through :mod:`sciml.tracking`.
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
from typing import Any

from sciml.config import flatten, to_yaml
from sciml.engine import resolve_device
from sciml.errors import UserError
from sciml.protocol import compare, unflatten_baselines
from sciml.protocol import fmt_value as _num
from sciml.registry import get_registry, resolve
from sciml.run import layout, signals
from sciml.run.executor import Executor, Plan
from sciml.run.local import LocalExecutor
from sciml.run.options import RunOptions
from sciml.run.records import (
    TAG_COMMAND,
    TAG_MODE,
    TAG_PIPELINE,
    TAG_PLUGIN,
    TAG_RESUMED,
    RunInterrupted,
    RunSummary,
    TrialRecord,
    TrialStatus,
)
from sciml.run.sweep import ConfigSource, check_space, search_space, sweep_size
from sciml.tracking import Tracker, check_tracking_uri, open_parent, read_text_artifact

log = logging.getLogger(__name__)


def prepare(options: RunOptions):
    """Resolve the pipeline and the base config (no heavy imports); used by ``--print-config``.

    Returns:
        ``(registry, pipeline, plugin, config)``.
    """
    registry, pipeline, plugin, _, config = _resolve(options)
    return registry, pipeline, plugin, config


def _resolve(options: RunOptions):
    registry = get_registry()
    pipeline = registry.pipeline(options.target)
    plugin = registry.plugin_of(pipeline)
    source = ConfigSource.from_options(f"{plugin}:{pipeline.name}", options)
    return registry, pipeline, plugin, source, source.resolve(registry=registry)


def executor_for(options: RunOptions) -> Executor:
    """The in-process executor, or Ray Tune's for ``--tune`` (Ray is imported only then)."""
    if options.tune:
        from sciml.run.ray_executor import RayExecutor  # imports Ray: only for sweeps

        return RayExecutor()
    return LocalExecutor()


def _check(options: RunOptions, pipeline, source: ConfigSource, config: dict[str, Any], space, base_seed: int) -> None:
    """Everything is checked before anything is written (the options were validated first).

    Raises:
        UserError: bad options, an unreachable tracking server or Ray head, a missing device,
            a search space that can draw values the components reject.
    """
    if options.tracking_uri:
        check_tracking_uri(options.tracking_uri)
    if not options.tune:
        if "device" in config["trainer"]:
            resolve_device(config["trainer"]["device"])  # a missing CUDA device is bad input, found now
        return
    if options.address:
        from sciml.run.ray_executor import check_address

        check_address(options.address)
    if options.search_alg == "optuna":
        import importlib.util

        if importlib.util.find_spec("optuna") is None:
            raise UserError("--search-alg optuna needs optuna: pip install 'sciml[optuna]'")
    sweep_size(pipeline, options)
    check_space(source, space, base_seed, options.search_alg)


def run(options: RunOptions) -> RunSummary:
    """Run a pipeline (see the module docstring). Returns the summary the CLI prints.

    Raises:
        UserError: bad options, names or config values (before anything is written).
        RunInterrupted: Ctrl-C or SIGTERM; ``sciml resume`` continues the run.
    """
    t0 = time.time()
    options.validate()
    _, pipeline, plugin, source, config = _resolve(options)
    space = search_space(pipeline, options.search, config) if options.tune else {}
    base_seed = config["seed"] if config["seed"] is not None else random.SystemRandom().randrange(0, 2**31 - 1)
    _check(options, pipeline, source, config, space, base_seed)
    tracker = Tracker(options.tracking_uri, options.experiment or f"sciml-{plugin}")
    mode = "tune" if options.tune else "single"
    parent_id = tracker.start_run(f"{plugin}-{'tune' if options.tune else 'run'}-{time.strftime('%Y%m%d-%H%M%S')}",
                                  tags={TAG_PLUGIN: plugin, TAG_PIPELINE: config["pipeline"], TAG_MODE: mode,
                                        TAG_COMMAND: " ".join(shlex.quote(a) for a in sys.argv)})
    tracker.spool = layout.spool_file(parent_id)
    plan = Plan(options, pipeline, plugin, source, config, space, base_seed, parent_id)
    _log_invocation(tracker, plan)
    summary = RunSummary(plugin=plugin, pipeline=config["pipeline"], parent_run_id=parent_id,
                         experiment_id=tracker.experiment_id, tracking_uri=tracker.uri,
                         metric=pipeline.metric, mode=pipeline.mode, trials=[], best=None)
    return _execute(plan, tracker, summary, t0)


def _log_invocation(tracker: Tracker, plan: Plan) -> None:
    """What ``sciml resume`` needs (``invocation.json``, locally and as an artifact), and the
    parent run's params."""
    options, config, parent_id = plan.options, plan.config, plan.parent_id
    space_json = {k: [f, a] for k, (f, a) in plan.space.items()}
    invocation = json.dumps({"options": dataclasses.asdict(options), "source": plan.source.to_json(),
                             "config": config, "base_seed": plan.base_seed, "space": space_json,
                             "argv": sys.argv}, indent=2, default=str)
    local = layout.invocation_file(parent_id)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(invocation)
    tracker.log_text(parent_id, invocation, layout.INVOCATION)
    signals.claim(parent_id)
    tracker.log_params(parent_id, {"base_seed": plan.base_seed, "seed_drawn": config["seed"] is None,
                                   **flatten({k: v for k, v in config.items() if k != "seed"})})
    tracker.log_text(parent_id, to_yaml({**config, "seed": plan.base_seed}), "config.yaml")
    if options.tune:
        tracker.log_params(parent_id, {f"tune.{k}": v for k, v in dataclasses.asdict(options).items()
                                       if k not in ("sets", "search", "target", "config_file")})
        tracker.log_text(parent_id, json.dumps(space_json, indent=2), "search_space.json")


def resume(parent_run_id: str, *, tracking_uri: str | None = None, retry_failed: bool = False,
           **changes: Any) -> RunSummary:
    """Continue an interrupted ``sciml run`` under the same MLflow parent run.

    A sweep continues with ``tune.Tuner.restore`` on its experiment directory
    (``$SCIML_HOME/runs/tune/PARENT_RUN_ID``): finished trials are not run again and keep
    their child runs; interrupted ones continue from their last checkpoint under their
    existing child run (matched by the tag ``sciml.trial_id``). A single run reruns the
    interrupted attempt from its last checkpoint. Failed trials stay failed unless ``retry_failed``.
    ``changes`` are :class:`RunOptions` fields a resumed run may change (``max_failures``); ``None``
    keeps the value the run was started with.

    Raises:
        UserError: no such run, not a parent run of sciml, already finished, still driven by
            another process, or its invocation record (``invocation.json``) is missing.
    """
    t0 = time.time()
    tracker, parent = open_parent(parent_run_id, tracking_uri)
    pid = signals.live_driver(parent_run_id)
    if pid is not None:
        raise UserError(f"run {parent_run_id!r} is still being driven by process {pid}; stop it first "
                        f"(kill -TERM {pid}) or wait for it")
    plan = _plan_of(parent_run_id, tracker, {"tracking_uri": tracking_uri, "retry_failed": retry_failed, **changes})
    tracker.replay_spool(parent_run_id)
    tracker.reopen_run(parent_run_id)
    signals.claim(parent_run_id)
    tracker.set_tags(parent_run_id, {TAG_RESUMED: int(parent.data.tags.get(TAG_RESUMED, "0")) + 1})
    summary = RunSummary(plugin=plan.plugin, pipeline=plan.config["pipeline"], parent_run_id=parent_run_id,
                         experiment_id=tracker.experiment_id, tracking_uri=tracker.uri,
                         metric=plan.pipeline.metric, mode=plan.pipeline.mode, trials=[], best=None, resumed=True)
    return _execute(plan, tracker, summary, t0, resume=True)


def _plan_of(parent_run_id: str, tracker: Tracker, changes: dict[str, Any]) -> Plan:
    """The plan of an earlier ``sciml run``, from its ``invocation.json``, with the resume options on top."""
    try:
        inv = json.loads(read_text_artifact(tracker, parent_run_id, layout.INVOCATION,
                                            layout.invocation_file(parent_run_id)))
        source = ConfigSource.from_json(inv["source"])
    except Exception:
        raise UserError(f"run {parent_run_id!r} has no {layout.INVOCATION} of this version of sciml run, "
                        "so it cannot be resumed") from None
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    unknown = set(changes) - fields
    if unknown:
        raise TypeError(f"resume() got unknown options: {', '.join(sorted(unknown))}")
    started = {k: v for k, v in inv["options"].items() if k in fields}
    options = RunOptions(**{**started, **{k: v for k, v in changes.items() if v is not None}}).validate()
    registry = get_registry()
    pipeline = registry.get("pipeline", source.pipeline_key).factory
    space = {k: (f, a) for k, (f, a) in inv["space"].items()}
    return Plan(options, pipeline, registry.plugin_of(pipeline), source, inv["config"], space,
                int(inv["base_seed"]), parent_run_id)


def _execute(plan: Plan, tracker: Tracker, summary: RunSummary, t0: float, resume: bool = False) -> RunSummary:
    """Run the plan's trials, then select, summarise, register and log the parent run."""
    executor = executor_for(plan.options)
    status: str | None = "FAILED"
    try:
        with signals.sigterm_as_interrupt():
            summary.trials = executor.execute(plan, tracker, resume=resume, retry_failed=plan.options.retry_failed)
        _select(summary, plan.pipeline)
        if plan.options.register and summary.best is not None:
            tracker.register_champion(summary, _version_tags(summary), model_description(summary, plan.options.command()))
        tracker.log_summary(summary)
        status = "FINISHED"
    except UserError:
        if not resume:  # bad input found after runs were made: leave nothing half-written
            tracker.discard(plan.parent_id, executor.directories(plan.parent_id))
            status = None
        raise
    except KeyboardInterrupt:
        status = "KILLED"
        raise RunInterrupted(plan.parent_id) from None
    finally:
        summary.seconds = time.time() - t0
        signals.release(plan.parent_id)
        if status is not None:
            tracker.end_run(plan.parent_id, status)
        in_flight = sys.exc_info()[0] is not None
        try:
            tracker.close()
        except Exception as exc:
            if not in_flight:
                raise
            log.error("%s", exc)
    return summary


# --- selection ----------------------------------------------------------------------------------

def _select(summary: RunSummary, pipeline) -> None:
    """Pick the champion on validation; aggregate over seeds; compare with the baselines."""
    summary.best = pick_best(summary.trials, pipeline.metric, pipeline.mode)
    summary.aggregates = aggregate(summary.trials)
    summary.rejected = rejected(summary.trials)
    if summary.best is not None:
        summary.comparison = compare(pipeline.metric, pipeline.mode, summary.best.metrics,
                                     unflatten_baselines(summary.best.metrics))
    if pipeline.summarize is not None:
        summary.extra_lines = list(resolve(pipeline.summarize)([
            {"name": t.name, "config": t.config, "seed": t.seed, "metrics": t.metrics,
             "results": t.results, "accepted": t.accepted, "status": str(t.status)} for t in summary.trials]))


def aggregate(trials: list[TrialRecord]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Per config hash: ``{metric: (mean, std, n)}`` over the finished seeds whose model was accepted.

    Rejected models (e.g. a collapsed mapping) are not averaged in: :func:`rejected` counts them.
    """
    groups: dict[str, list[TrialRecord]] = {}
    for t in trials:
        if t.status == TrialStatus.FINISHED and t.accepted:
            groups.setdefault(t.config_hash, []).append(t)
    out = {}
    for h, members in groups.items():
        names = sorted(set.intersection(*(set(m.metrics) for m in members)))
        out[h] = {}
        for n in names:
            vals = [m.metrics[n] for m in members]
            out[h][n] = (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))
    return out


def rejected(trials: list[TrialRecord]) -> dict[str, int]:
    """Per config hash: the number of finished seeds the acceptance gate rejected."""
    out: dict[str, int] = {}
    for t in trials:
        if t.status == TrialStatus.FINISHED and not t.accepted:
            out[t.config_hash] = out.get(t.config_hash, 0) + 1
    return out


def pick_best(trials: list[TrialRecord], metric: str, mode: str) -> TrialRecord | None:
    """The accepted finished trial with the best validation ``metric`` (``None`` if there is none)."""
    ok = [t for t in trials if t.status == TrialStatus.FINISHED and t.accepted and metric in t.metrics]
    if not ok:
        return None
    return (min if mode == "min" else max)(ok, key=lambda t: t.metrics[metric])


# --- registration -------------------------------------------------------------------------------

def model_description(summary: RunSummary, command: str) -> str:
    """The registered model version's description: how it was chosen, how it did on test, against what."""
    best, cmp = summary.best, summary.comparison
    lines = [f"Champion of {summary.pipeline}, trial {best.name} (seed {best.seed}).",
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


def _version_tags(summary: RunSummary) -> dict[str, Any]:
    best, cmp = summary.best, summary.comparison
    return {"metric": summary.metric, "value": best.metrics.get(summary.metric), "trial": best.name,
            "parent_run_id": summary.parent_run_id, "test_metric": cmp.test_metric, "test_value": cmp.test,
            "best_baseline": cmp.baseline, "beats_baseline": cmp.beats}
