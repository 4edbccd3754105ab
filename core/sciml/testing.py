"""Testing kit for plugin authors.

``RecordingReporter`` collects what a component reports, so a Dataset, Trainer or
Evaluator can be unit-tested without MLflow or Ray::

    from sciml.testing import RecordingReporter, make_context

    rep = RecordingReporter(tmp_path)
    results = MyEvaluator(MyEvaluator.Config(), make_context(tmp_path)).evaluate(model, data, rep)
    assert "rmsd.png" in rep.figures
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sciml.components import Context


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

    def checkpoint(self, state: Mapping[str, Any], *, best: bool = False) -> Path:
        import torch

        path = self.root / "last.pt"
        torch.save(dict(state), path)
        if best:
            torch.save(dict(state), self.root / "best.pt")
        self.checkpoints.append(path)
        return path

    def log_figure(self, figure: Any, filename: str) -> None:
        path = self.root / filename
        figure.savefig(path, dpi=80)
        self.figures[filename] = path

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
