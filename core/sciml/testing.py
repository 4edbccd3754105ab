"""Testing kit for plugin authors.

Everything a plugin's own tests need, without MLflow or Ray in unit tests:

- :class:`RecordingReporter` and :func:`make_context`: unit-test a Dataset, Trainer or
  Evaluator in isolation.
- :func:`registered`: register a plugin object (a module or class with ``@sciml.hookimpl``
  functions) on the live plugin manager for the duration of a ``with`` block, the way an
  installed plugin is registered.
- :func:`assert_plugin_loads`: check that an installed plugin loads as ``sciml`` will load it.
- :func:`isolated_store` and the pytest fixture ``sciml_store``: a temporary tracking store
  and cache (``SCIML_HOME``, ``SCIML_CACHE``).
- :func:`run_tiny`: run a pipeline in-process, or as a tiny Ray Tune sweep with ``tune=True``.
- The core's own checks and lookups, for asserting that a plugin passes them:
  :func:`check_selection_metric`, :func:`flatten_baselines`, :func:`get_registry` and
  :func:`seed_everything` (seeds as a trial is seeded).

Plugins import only ``sciml`` and ``sciml.testing`` (``make test`` checks it): the core's
other modules may change between versions.

Example::

    from sciml.testing import RecordingReporter, make_context

    rep = RecordingReporter(tmp_path)
    results = MyEvaluator(MyEvaluator.Config(), make_context(tmp_path)).evaluate(model, data, rep)
    assert "rmsd.png" in rep.figures

Use the fixture in your ``tests/conftest.py``::

    from sciml.testing import sciml_store  # noqa: F401
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sciml.components import Context
from sciml.protocol import check_selection_metric, flatten_baselines
from sciml.registry import get_registry

__all__ = ["RecordingReporter", "assert_plugin_loads", "check_resume", "check_selection_metric", "flatten_baselines",
           "get_registry", "isolated_store", "make_context", "registered", "run_tiny", "sciml_store",
           "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators as a trial is seeded before it builds anything."""
    from sciml.training import seed_everything as seed_all

    seed_all(seed)


def make_context(tmp_path: str | Path, seed: int = 0, device: str = "cpu") -> Context:
    """A :class:`~sciml.Context` whose run and cache directories live under ``tmp_path``."""
    tmp_path = Path(tmp_path)
    (tmp_path / "run").mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache").mkdir(parents=True, exist_ok=True)
    return Context(run_dir=tmp_path / "run", cache_dir=tmp_path / "cache", seed=seed, device=device)


class RecordingReporter:
    """A :class:`~sciml.Reporter` that keeps everything in memory and files under ``root``.

    Attributes:
        metrics: list of ``(step, {name: value})`` in call order.
        figures: ``{filename: path}`` of saved figures.
        dicts: ``{filename: data}`` of logged dicts.
        checkpoints: list of saved checkpoint paths.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.figures: dict[str, Path] = {}
        self.dicts: dict[str, Any] = {}
        self.artifacts: list[Path] = []
        self.checkpoints: list[Path] = []

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        self.metrics.append((int(step), {k: float(v) for k, v in metrics.items()}))

    def history(self, name: str) -> list[float]:
        """Values of metric ``name`` in report order."""
        return [m[name] for _, m in self.metrics if name in m]

    def checkpoint_written(self, path: str | Path) -> None:
        self.checkpoints.append(Path(path))

    def log_figure(self, figure: Any, filename: str) -> None:
        path = self.root / filename
        figure.savefig(path, dpi=80)
        self.figures[filename] = path

    def draw_figure(self, filename: str, draw, /, *args: Any, **kwargs: Any) -> bool:
        """As in a real run: a figure that cannot be drawn is a warning, not a failure."""
        from sciml.trial import draw_figure

        return draw_figure(self, filename, draw, *args, **kwargs)

    def log_dict(self, data: Mapping[str, Any], filename: str) -> None:
        self.dicts[filename] = json.loads(json.dumps(data, default=str))

    def log_artifact(self, path: str | Path) -> None:
        self.artifacts.append(Path(path))

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        return iterable


# --- fixtures and helpers for pytest -------------------------------------------------------

import contextlib  # noqa: E402
import os  # noqa: E402


@contextlib.contextmanager
def registered(plugin: object, name: str):
    """Register ``plugin`` (a module or object with ``@sciml.hookimpl`` functions) on the live
    plugin manager as ``name`` for the duration of the block, the way an installed plugin is."""
    from sciml import plugins, registry

    pm = plugins.get_plugin_manager()
    if not plugins.register_plugin(pm, plugin, name):
        raise AssertionError(f"plugin {name!r} was rejected: {plugins.load_errors().get(name)}")
    registry.reset()
    try:
        yield pm
    finally:
        pm.unregister(name=name)
        registry.reset()


@contextlib.contextmanager
def isolated_store(root: str | Path):
    """Point ``SCIML_HOME`` (tracking store, runs) and ``SCIML_CACHE`` at ``root`` for the block."""
    root = Path(root)
    saved = {k: os.environ.get(k) for k in ("SCIML_HOME", "SCIML_CACHE", "MLFLOW_TRACKING_URI")}
    os.environ["SCIML_HOME"] = str(root / "home")
    os.environ["SCIML_CACHE"] = str(root / "cache")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        yield root / "home"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def assert_plugin_loads(name: str) -> dict[str, list[str]]:
    """Check that the installed plugin ``name`` loads the way ``sciml`` will load it.

    Checks, in order: an entry point ``name`` in the group ``sciml`` exists and imports; its
    ``SCIML_API`` matches the core; its hook names are spelled right; no hook raised; every
    registered import string (``"pkg.mod:Class"``) resolves.

    Returns:
        ``{kind: ["plugin:name", ...]}`` of what it registers (kinds: dataset, model, trainer,
        evaluator, pipeline), for the test to assert on.

    Raises:
        AssertionError: with the reason ``sciml plugins`` would show.
    """
    from sciml import plugins, registry

    infos = {info.name: info for info in plugins.plugin_infos()}
    if name not in infos:
        raise AssertionError(f"plugin {name!r} is not installed: no entry point {name!r} in the group "
                             f"'sciml' (is the distribution pip-installed? installed: {', '.join(sorted(infos))})")
    if infos[name].error:
        raise AssertionError(f"plugin {name!r} did not load: {infos[name].error}")
    reg = registry.get_registry()
    error = plugins.load_errors().get(name)
    if error:
        raise AssertionError(f"plugin {name!r}: {error}")
    for kind in registry.KINDS:
        for entry in reg.entries(kind):
            if entry.plugin != name or kind == "pipeline":
                continue
            try:
                entry.load()
            except Exception as exc:
                raise AssertionError(f"{kind} {entry.key!r}: cannot import {entry.factory!r}: "
                                     f"{type(exc).__name__}: {exc}") from exc
    return dict(reg.by_plugin(name))


def run_tiny(target: str, *sets: str, tune: bool = False, **options):
    """Run ``target`` with ``--set`` overrides (a tiny budget is up to the caller) and return the
    :class:`~sciml.runner.RunSummary`. Options are :class:`~sciml.runner.RunOptions` fields."""
    from sciml.runner import RunOptions, run

    return run(RunOptions(target=target, sets=list(sets), tune=tune, **options))


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional for users
    pytest = None

if pytest is not None:

    @pytest.fixture
    def sciml_store(tmp_path):
        """A temporary tracking store and cache; yields ``SCIML_HOME``."""
        with isolated_store(tmp_path) as home:
            yield home


def check_resume(build, tmp_path: str | Path, interrupt_at: int = 1, *, stage: str | None = None,
                 seed: int = 0) -> dict[str, float]:
    """Train twice from the same seed, once straight through and once interrupted at the start of
    epoch ``interrupt_at`` (as Ctrl-C would, after the previous epoch's checkpoint) and then
    resumed, and compare the two.

    Args:
        build: ``build(context) -> (trainer, model, dataset)``, fresh objects on each call (the
            helper seeds python, numpy and torch with ``seed`` before each call).
        tmp_path: a directory for the two runs.
        interrupt_at: the epoch whose start is interrupted (``0 < interrupt_at < max_epochs``).
        stage: with several fits in one trial, the stage to interrupt (:func:`sciml.fit`).

    Returns:
        ``{"max_weight_diff", "max_metric_diff", "steps"}``: the largest absolute difference
        between the final weights and between the reported metrics of the same step, and the
        number of steps reported.

    Raises:
        AssertionError: the interrupted run was not interrupted, a step was reported twice
            or missed, or the two runs report different metric names.
    """
    import os

    from sciml.engine import FAULT_ENV
    from sciml.training import seed_everything

    tmp_path = Path(tmp_path)

    def train(sub: str, env: str | None):
        ctx = make_context(tmp_path / sub, seed=seed)
        seed_everything(seed)
        trainer, model, data = build(ctx)
        rep = RecordingReporter(tmp_path / sub / "reports")
        old = os.environ.pop(FAULT_ENV, None)
        if env:
            os.environ[FAULT_ENV] = env
        try:
            trainer.fit(model, data, rep)
        finally:
            os.environ.pop(FAULT_ENV, None)
            if old is not None:
                os.environ[FAULT_ENV] = old
        return model, rep

    straight, rep_a = train("straight", None)
    spec = f"{stage}:{interrupt_at}" if stage else str(interrupt_at)
    try:
        train("interrupted", spec)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError(f"the run was not interrupted at epoch {interrupt_at} ({spec})")
    resumed, rep_b = train("interrupted", None)
    steps_a = [s for s, _ in rep_a.metrics]
    steps_b = [s for s, _ in rep_b.metrics]
    assert len(set(steps_b)) == len(steps_b), f"a step was reported twice after resuming: {steps_b}"
    assert steps_b == steps_a[len(steps_a) - len(steps_b):] and steps_b, \
        f"the resumed run reported steps {steps_b}; the straight run {steps_a}"
    assert len(steps_b) < len(steps_a), "the resumed run retrained from the start"
    a, b = dict(rep_a.metrics), dict(rep_b.metrics)
    metric_diff = 0.0
    for step in steps_b:
        assert set(a[step]) == set(b[step]), f"step {step}: metric names differ"
        metric_diff = max([metric_diff, *(abs(a[step][k] - b[step][k]) for k in a[step]
                                          if k != "time_s")])
    wa, wb = straight.state_dict(), resumed.state_dict()
    weight_diff = max((float((wa[k].float() - wb[k].float()).abs().max()) for k in wa
                       if hasattr(wa[k], "float") and wa[k].numel()), default=0.0)
    return {"max_weight_diff": weight_diff, "max_metric_diff": metric_diff, "steps": float(len(steps_a))}
