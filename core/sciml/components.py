"""Component contracts: what a Dataset, Model, Trainer, Evaluator and Pipeline look like.

This module imports neither torch nor ray nor mlflow, so plugins can import it at
discovery time.

Life of one training run (a "trial")::

    dataset = DatasetCls(dataset_config, context);  dataset.prepare()
    model   = ModelCls(model_config, dataset.metadata)          # a torch.nn.Module
    trainer = TrainerCls(trainer_config, context)
    trainer.fit(model, dataset, reporter)                        # reports per-epoch metrics
    results = EvaluatorCls(evaluator_config, context).evaluate(model, dataset, reporter)
    ok, why = evaluator.accept(results)                          # an acceptance gate (validation only)
    baselines = evaluator.baselines(model, dataset, results)     # trivial baselines, same splits

The experiment protocol (owned by the core, :mod:`sciml.protocol`): the pipeline's
``metric`` is a validation metric (``val_*``); it chooses the epoch, the trial and the
champion. The evaluator also returns its test counterpart (``val_rmsd`` -> ``test_rmsd``),
which is logged and reported, never used to choose. Each baseline is measured on the same
splits; the core logs ``baseline.<name>.<metric>`` and flags a champion that does not beat
every one of them on test.

Model contract, used by the training engine (:func:`sciml.fit`, Lightning; the default
trainer ``sciml:default`` and every plugin trainer train through it)::

    class MyModel(torch.nn.Module):
        class Config(sciml.ComponentConfig):
            hidden: int = 64
        def __init__(self, config, metadata): ...
        def training_step(self, batch, epoch) -> dict[str, Tensor]: ...   # must hold "loss"
        # optional:
        def validation_step(self, batch, epoch) -> dict[str, Tensor]: ... # default: training_step
        def on_epoch_start(self, epoch, max_epochs) -> None: ...          # schedules
        def on_epoch_end(self, epoch, metrics) -> dict[str, float]: ...   # extra metrics
        def configure_optimizers(self, trainer_config) -> optimizer | (optimizer, scheduler): ...
        def clip_gradients(self, max_norm) -> None: ...                    # custom clipping
        def collate(self, samples) -> batch                                 # default: torch's

Every key of the dict ``training_step`` returns is logged as ``train_<key>`` (epoch
mean, weighted by batch length), of ``validation_step`` as ``val_<key>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict


class ComponentConfig(BaseModel):
    """Base class of every component's ``Config``: typed, validated, no unknown keys."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


@dataclasses.dataclass
class Context:
    """What the core hands every Dataset, Trainer and Evaluator.

    Attributes:
        run_dir: this trial's private directory (checkpoints, figures); created.
        cache_dir: shared cache for prepared data, keyed by content hash.
        seed: the trial's training seed (python, numpy and torch are already seeded).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, resolved from ``--device``.
        progress: whether progress bars may be shown (False in Ray workers / no TTY).
        in_tune: True inside a Ray Tune trial.
        threads: torch intra-op threads for this trial (``--cpus-per-trial``, ``--cpus``);
            ``None`` leaves torch's default. Applied by the engine (:mod:`sciml.engine`).
    """

    run_dir: Path
    cache_dir: Path
    seed: int = 0
    device: str = "cpu"
    progress: bool = False
    in_tune: bool = False
    threads: int | None = None


class Reporter(Protocol):
    """The only channel from a component to tracking (MLflow) and tuning (Ray Tune).

    Plugins never import mlflow or ray; they call these methods.
    """

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record metrics at ``step`` (an epoch): MLflow metrics, a Tune report, the bar."""

    def checkpoint_written(self, path: Path) -> None:
        """The engine wrote a training checkpoint at ``path`` (after reporting that epoch's
        metrics): keep it where a retry or ``sciml resume`` finds it (Tune's checkpoint)."""

    def log_figure(self, figure: Any, filename: str) -> None:
        """Save a matplotlib figure as an artifact (``filename`` ends in .png/.svg)."""

    def draw_figure(self, filename: str, draw: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
        """Call ``draw(*args, **kwargs)`` (it returns a matplotlib figure, or ``None`` for
        nothing to draw) and save the figure as :meth:`log_figure` does.

        A figure that cannot be drawn never fails the run: the exception is logged as a
        warning naming ``filename`` and the metrics are kept. Returns whether it was saved.
        """

    def log_dict(self, data: Mapping[str, Any], filename: str) -> None:
        """Save a dict as a JSON or YAML artifact, chosen by the extension."""

    def log_artifact(self, path: str | Path) -> None:
        """Copy a file into the run's artifacts."""

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        """Wrap an iterable in a progress bar when bars are allowed, else return it."""


class SilentReporter:
    """A :class:`Reporter` that keeps nothing: for fits whose epochs must not enter the run's
    metric history (evaluator baselines, auxiliary fits, benches) and for DDP ranks other than 0
    (rank 0 speaks for the trial). Figures it is given are closed."""

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        pass

    def checkpoint_written(self, path: Path) -> None:
        pass

    def log_figure(self, figure: Any, filename: str) -> None:
        import matplotlib.pyplot as plt

        plt.close(figure)

    def draw_figure(self, filename: str, draw: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
        return False

    def log_dict(self, data: Mapping[str, Any], filename: str) -> None:
        pass

    def log_artifact(self, path: str | Path) -> None:
        pass

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        return iterable


class _Component:
    Config: ClassVar[type[ComponentConfig]] = ComponentConfig

    def __init__(self, config: ComponentConfig, context: Context):
        self.config = config
        self.context = context


class Dataset(_Component):
    """Prepares data once (cached) and gives train/val/test splits.

    Subclasses set ``Config`` and implement :meth:`prepare` and :meth:`split`.
    """

    #: Metadata passed to the model factory; set it in :meth:`prepare`.
    metadata: dict[str, Any]

    def prepare(self) -> None:
        """Build or load the data (idempotent; cache heavy work under ``context.cache_dir``)."""
        raise NotImplementedError(f"{type(self).__name__}.prepare is not implemented")

    def split(self, name: Literal["train", "val", "test"]):
        """Return a ``torch.utils.data.Dataset`` for ``name``."""
        raise NotImplementedError(f"{type(self).__name__}.split is not implemented")

    def fingerprint(self) -> str:
        """Content hash of the prepared data, logged with every run (default: of the config)."""
        from sciml.caching import content_hash

        return content_hash({"class": type(self).__qualname__, "config": self.config.model_dump()})

    def split_indices(self) -> dict[str, list[int]] | None:
        """Indices of each split in the underlying data, saved with the run (optional)."""
        return None


class Trainer(_Component):
    """Fits a model. The core's default is ``sciml:default`` (:mod:`sciml.training`)."""

    def fit(self, model, data: Dataset, reporter: Reporter) -> dict[str, float]:
        """Train ``model`` in place on ``data``; return final metrics."""
        raise NotImplementedError


class Evaluator(_Component):
    """Computes metrics (and figures) of a trained model."""

    def evaluate(self, model, data: Dataset, reporter: Reporter) -> dict[str, Any]:
        """Return results: numbers become MLflow metrics, everything else is saved as JSON."""
        raise NotImplementedError

    def accept(self, results: Mapping[str, Any]) -> tuple[bool, str]:
        """Acceptance gate: is this trained model acceptable? ``(ok, reason)``. Default: always.

        The gate may look at validation results and at properties of the model itself (e.g. a
        mapping's connectivity), never at a test metric: a gate on test makes the reported
        test figure optimistic by construction.
        """
        return True, ""

    def baselines(self, model, data: Dataset, results: Mapping[str, Any]) -> Mapping[str, Mapping[str, float]]:
        """The trivial baselines a reviewer asks for first, measured on the same splits.

        Returns:
            ``{baseline_name: {metric: value}}`` with the same metric names the evaluator
            returns for the model, e.g. ``{"mean_structure": {"val_rmsd": 0.07,
            "test_rmsd": 0.071}}``. Give the validation counterpart too, so that both
            can be shown side by side. The champion is compared with the baseline that is
            best on *test*: beating it means beating every baseline, so the verdict can
            only understate the model (:func:`sciml.protocol.compare`). ``results`` is
            what :meth:`evaluate` returned, so work done there is not repeated.
            Default: none (the summary then says that no baseline was declared).
        """
        return {}


@dataclasses.dataclass
class Pipeline:
    """What ``sciml run PLUGIN`` runs.

    Attributes:
        name: ``default`` for the plugin's main pipeline.
        dataset, model, evaluator: component names ``plugin:name``.
        trainer: component name; the core's default trainer is ``sciml:default``.
        defaults: config per section (``dataset``, ``model``, ``trainer``, ``evaluator``,
            and top-level keys such as ``seed``), overriding each component's own defaults.
        search_space: ``{"section.key": "loguniform(1e-4, 1e-2)" | "choice(a, b)" | ...}``
            (grammar in :mod:`sciml.config`), used by ``--tune``.
        metric, mode: what "best" means, e.g. ``"val_rmsd"``, ``"min"``. A validation
            metric (``val_*``): a pipeline selecting on anything else is refused when it
            is registered. The evaluator reports the test counterpart (``test_rmsd``).
        max_attempts: without ``--tune``, retrain with a new seed until
            :meth:`Evaluator.accept` says yes, at most this many times.
        tune_defaults: defaults of the tune options (``num_samples``, ``seeds``,
            ``scheduler``, ...) for this pipeline.
        predict: ``predict(model, config, metadata, input_path) -> pandas.DataFrame`` for
            ``sciml predict``; ``None`` if the plugin does not support it.
        summarize: ``summarize(trials) -> list[str]``: extra summary lines from the
            per-trial results (each a dict with ``config``, ``seed``, ``metrics``,
            ``results``, ``accepted``).
        description: one line for ``sciml plugins``.
    """

    name: str
    dataset: str
    model: str
    evaluator: str
    trainer: str = "sciml:default"
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    search_space: dict[str, Any] = dataclasses.field(default_factory=dict)
    metric: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    max_attempts: int = 1
    tune_defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    predict: Callable[..., Any] | str | None = None
    summarize: Callable[[list[dict[str, Any]]], list[str]] | str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        from sciml.protocol import check_selection_metric

        check_selection_metric(self.name, self.metric, self.mode)
