"""The default trainer ``sciml:default``: :func:`sciml.engine.fit` on the model and the dataset's
train and validation splits (Lightning; device, threads, precision, early stopping, checkpoints
and resume are the engine's). The model contract is in :mod:`sciml.components`.

A plugin with its own schedule subclasses :class:`DefaultTrainer`: it changes the ``Config``
defaults (``class Config(DefaultTrainer.Config)``) and returns Lightning callbacks from
:meth:`DefaultTrainer.callbacks`.
"""

from __future__ import annotations

import random
from typing import Any

from sciml.components import Trainer
from sciml.engine import TrainerConfig, TrainingDiverged, fit, resolve_device

__all__ = ["DefaultTrainer", "TrainingDiverged", "resolve_device", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (CPU and CUDA) from one integer.

    Python's hash seed cannot be changed inside a running interpreter: the runner sets
    ``PYTHONHASHSEED`` for the processes it starts (Ray workers) instead.
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class DefaultTrainer(Trainer):
    """Mini-batch training of any model that implements ``training_step`` (see components)."""

    Config = TrainerConfig

    def callbacks(self, model, data) -> list[Any]:
        """Lightning callbacks particular to a plugin (schedules); none by default."""
        return []

    def fit(self, model, data, reporter) -> dict[str, float]:
        """Train ``model`` in place; report ``train_*``/``val_*`` per epoch; return the best.

        Raises:
            TrainingDiverged: the loss became NaN or infinite (the trial is marked failed).
        """
        return fit(model, data.split("train"), data.split("val"), self.config, self.context, reporter,
                   callbacks=self.callbacks(model, data))
