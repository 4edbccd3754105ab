"""Component contracts: what a Dataset, Model, Trainer, Evaluator and Pipeline look like.

This module imports neither torch nor ray nor mlflow, so plugins can import it at
discovery time.

Life of one training run (a "trial")::

    dataset = DatasetCls(dataset_config, context);  dataset.prepare()
    model   = ModelCls(model_config, dataset.metadata)          # a torch.nn.Module
    trainer = TrainerCls(trainer_config, context)
    trainer.fit(model, dataset, reporter)                        # reports per-epoch metrics
    results = EvaluatorCls(evaluator_config, context).evaluate(model, dataset, reporter)
    ok, why = evaluator.accept(results)                          # selection (e.g. cgmap §3.3)

Model contract, used by the default trainer (``sciml:default``)::

    class MyModel(torch.nn.Module):
        class Config(sciml.ComponentConfig):
            hidden: int = 64
        def __init__(self, config, metadata): ...
        def training_step(self, batch, epoch) -> dict[str, Tensor]: ...   # must hold "loss"
        # optional:
        def validation_step(self, batch, epoch) -> dict[str, Tensor]: ... # default: training_step
        def on_epoch_start(self, epoch, max_epochs) -> None: ...          # schedules
        def configure_optimizers(self, trainer_config) -> torch.optim.Optimizer: ...
        def collate(self, samples) -> batch                                 # default: torch's

Every key of the dict ``training_step`` returns is logged as ``train_<key>`` (epoch
mean), of ``validation_step`` as ``val_<key>``.
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
    """

    run_dir: Path
    cache_dir: Path
    seed: int = 0
    device: str = "cpu"
    progress: bool = False
    in_tune: bool = False


class Reporter(Protocol):
    """The only channel from a component to tracking (MLflow) and tuning (Ray Tune).

    Plugins never import mlflow or ray; they call these methods.
    """

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record metrics at ``step`` (an epoch): MLflow metrics, a Tune report, the bar."""

    def checkpoint(self, state: Mapping[str, Any], *, best: bool = False) -> Path:
        """Save a torch state (``last.pt``; also ``best.pt`` when ``best``); returns its path."""

    def log_figure(self, figure: Any, filename: str) -> None:
        """Save a matplotlib figure as an artifact (``filename`` ends in .png/.svg)."""

    def log_dict(self, data: Mapping[str, Any], filename: str) -> None:
        """Save a dict as a JSON or YAML artifact, chosen by the extension."""

    def log_artifact(self, path: str | Path) -> None:
        """Copy a file into the run's artifacts."""

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        """Wrap an iterable in a progress bar when bars are allowed, else return it."""


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
        """Selection: is this trained model acceptable? ``(ok, reason)``. Default: always."""
        return True, ""


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
        metric, mode: what "best" means, e.g. ``"test_rmsd"``, ``"min"``.
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
