"""One training run ("trial"): dataset -> model -> trainer -> evaluator, wherever it runs.

The same :func:`execute_trial` runs in-process (``sciml run``) and inside Ray workers
(``sciml run --tune``). It writes everything it produces under ``context.run_dir``::

    run_dir/<stage>.last.ckpt      the engine's Lightning checkpoint of each fit (default stage
                                   ``fit``), resumed from; <stage>.done.json marks a finished fit
    run_dir/artifacts/             figures, JSON, split indices, the resolved config
    run_dir/model/                 state_dict.pt + config.yaml + metadata.json (see modelio)
    run_dir/outcome.json           metrics, results, acceptance, timings
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from sciml.components import Context

log = logging.getLogger(__name__)


class FileReporter:
    """A :class:`~sciml.Reporter` writing artifacts under ``run_dir`` and passing metrics to ``sink``.

    Args:
        run_dir: the trial directory.
        sink: ``sink(step, metrics)``; MLflow in-process, ``tune.report`` in Ray.
        on_checkpoint: ``on_checkpoint(path)`` after the engine wrote a checkpoint (Tune attaches it).
        progress: allow progress bars.
    """

    def __init__(self, run_dir: Path, sink: Callable[[int, dict[str, float]], None] | None = None,
                 on_checkpoint: Callable[[Path], None] | None = None, progress: bool = False):
        self.run_dir = Path(run_dir)
        self.artifacts = self.run_dir / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.sink = sink
        self.on_checkpoint = on_checkpoint
        self.allow_progress = progress
        self.history: list[tuple[int, dict[str, float]]] = []

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        clean = {k: float(v) for k, v in metrics.items()}
        self.history.append((int(step), clean))
        if self.sink is not None:
            self.sink(int(step), clean)

    def checkpoint_written(self, path: Path) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint(Path(path))

    def _target(self, filename: str) -> Path:
        from sciml.caching import safe_child

        path = safe_child(self.artifacts, filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def log_figure(self, figure: Any, filename: str) -> None:
        figure.savefig(self._target(filename), dpi=110, bbox_inches="tight")
        try:
            import matplotlib.pyplot as plt

            plt.close(figure)
        except Exception:
            pass

    def draw_figure(self, filename: str, draw: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
        return draw_figure(self, filename, draw, *args, **kwargs)

    def log_dict(self, data: Mapping[str, Any], filename: str) -> None:
        from sciml.modelio import _json_default

        target = self._target(filename)
        if filename.endswith((".yaml", ".yml")):
            import yaml

            target.write_text(yaml.safe_dump(json.loads(json.dumps(data, default=_json_default)), sort_keys=False))
        else:
            target.write_text(json.dumps(data, indent=2, default=_json_default))

    def log_artifact(self, path: str | Path) -> None:
        shutil.copy(path, self._target(Path(path).name))

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        if not self.allow_progress:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False)


def draw_figure(reporter, filename: str, draw: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
    """:meth:`sciml.Reporter.draw_figure` for any reporter with ``log_figure``: draw, save, and turn a
    failure into a warning naming ``filename`` (a figure is never worth a failed trial)."""
    try:
        figure = draw(*args, **kwargs)
        if figure is not None:
            reporter.log_figure(figure, filename)
        return figure is not None
    except Exception as exc:
        log.warning("figure %s not drawn: %s: %s", filename, type(exc).__name__, exc)
        try:
            import matplotlib.pyplot as plt

            plt.close("all")
        except Exception:
            pass
        return False


def plot_history(history: list[tuple[int, dict[str, float]]]):
    """Figure of the loss curves (every ``*loss*`` metric) per epoch; ``None`` if nothing to draw."""
    names = sorted({k for _, m in history for k in m if "loss" in k})
    if not names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        pts = [(s, m[name]) for s, m in history if name in m]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name)
    values = [m[n] for _, m in history for n in names if n in m]
    if values and min(values) > 0 and max(values) / min(values) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax.set_title("training curves")
    return fig


ERROR_FILE = "error.txt"


def error_file(run_dir: Path | None) -> Path | None:
    """The traceback file of a failed trial in ``run_dir`` (``None`` if there is none)."""
    if run_dir is None:
        return None
    path = Path(run_dir) / ERROR_FILE
    return path if path.exists() else None


def write_error(run_dir: Path, text: str) -> Path:
    """Keep a failed trial's full traceback: ``run_dir/error.txt`` and, so that it is logged to the
    trial's MLflow child run, ``run_dir/artifacts/error.txt``. Returns the first path."""
    run_dir = Path(run_dir)
    (run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    for path in (run_dir / "artifacts" / ERROR_FILE, run_dir / ERROR_FILE):
        path.write_text(text)
    return run_dir / ERROR_FILE


def execute_trial(config: Mapping[str, Any], context: Context, reporter: FileReporter) -> dict[str, Any]:
    """Run one trial; return its outcome (also written to ``run_dir/outcome.json``).

    A trial that raises leaves its full traceback in ``run_dir/error.txt`` (and
    ``run_dir/artifacts/error.txt``) before the exception propagates.

    Returns:
        ``{"metrics": {...}, "results": {...}, "accepted": bool, "reason": str,
        "dataset_hash": str, "seconds": float}``. ``metrics`` holds the evaluator's
        baselines as ``baseline.<name>.<metric>`` (:mod:`sciml.protocol`).

    Raises:
        whatever the components raise; the caller marks the trial failed.
    """
    (context.run_dir / ERROR_FILE).unlink(missing_ok=True)  # a retry that succeeds leaves no stale error
    (context.run_dir / "artifacts" / ERROR_FILE).unlink(missing_ok=True)
    try:
        return _execute(config, context, reporter)
    except Exception:
        import traceback

        write_error(context.run_dir, traceback.format_exc())
        raise


def _execute(config: Mapping[str, Any], context: Context, reporter: FileReporter) -> dict[str, Any]:
    from sciml.assembly import build_components, section
    from sciml.config import to_yaml
    from sciml.distributed import ranks
    from sciml.modelio import json_roundtrip, save_model_dir
    from sciml.protocol import flatten_baselines
    from sciml.registry import get_registry
    from sciml.tracking import split_results

    t0 = time.time()
    (context.run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    (context.run_dir / "artifacts" / "config.yaml").write_text(to_yaml(config))
    dataset, model, trainer = build_components(config, context, reporter)
    metadata = json_roundtrip(getattr(dataset, "metadata", {}) or {})
    t_data = time.time()
    with ranks(config, context):  # the other DDP ranks of a multi-device trial, if any
        fit_metrics = trainer.fit(model, dataset, reporter) or {}
    t_fit = time.time()
    reporter.draw_figure("loss_curves.png", plot_history, reporter.history)

    ev_cls, ev_cfg = section(config, "evaluator", get_registry())
    evaluator = ev_cls(ev_cfg, context)
    model.eval()
    results = evaluator.evaluate(model, dataset, reporter) or {}
    accepted, reason = evaluator.accept(results)
    baselines = {name: dict(values) for name, values in (evaluator.baselines(model, dataset, results) or {}).items()}
    metrics, other = split_results(results)
    # the evaluator has the last word where the trainer returned a metric of the same name
    metrics = {**{k: float(v) for k, v in fit_metrics.items()}, **metrics, **flatten_baselines(baselines)}
    model.cpu()
    save_model_dir(context.run_dir / "model", model, dict(config), metadata)
    outcome = {
        "metrics": metrics,
        "results": json.loads(json.dumps(other, default=str)),
        "accepted": bool(accepted),
        "reason": reason,
        "dataset_hash": dataset.fingerprint(),
        "seconds": {"data": t_data - t0, "fit": t_fit - t_data, "evaluate": time.time() - t_fit},
    }
    (context.run_dir / "outcome.json").write_text(json.dumps(outcome, indent=2))
    reporter.log_dict(outcome, "outcome.json")
    return outcome
