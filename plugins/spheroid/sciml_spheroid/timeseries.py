"""Time-series model of Methodology 1, step 2 (thesis §5.1): trained only on untreated wells,
it predicts the day-10 representation from the representations of days 7, 8, 9.

A GRU reads the context days and a linear layer predicts the change from the last context day
(``z_hat_10 = z_9 + W GRU(z_7, z_8, z_9)``), on representations standardised with the untreated
training wells' mean and sd. The deviation between prediction and the actual day-10
representation (L2 or cosine distance) is the efficacy score (§5.1 step 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    import sciml


class TimeSeriesPredictor(nn.Module):
    """``(N, n_context, D) -> (N, D)``: predicted next representation."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(seq)
        return seq[:, -1] + self.out(h[:, -1])


def deviation(pred: torch.Tensor, actual: torch.Tensor, distance: str = "l2") -> torch.Tensor:
    """Efficacy score per well ``(N,)`` from ``(N, D)`` predicted and actual representations.

    ``"l2"``: Euclidean distance (standardised units); ``"cosine"``: 1 - cosine similarity.

    Raises:
        ValueError: unknown ``distance``.
    """
    if distance == "l2":
        return torch.linalg.vector_norm(pred - actual, dim=-1)
    if distance == "cosine":
        return 1.0 - torch.nn.functional.cosine_similarity(pred, actual, dim=-1)
    raise ValueError(f"unknown distance {distance!r}; accepted: 'l2', 'cosine'")


class Sequences(torch.utils.data.Dataset):
    """Prepared representations of untreated wells as engine samples: ``{"ctx": (n_context, D),
    "tgt": (D,)}``, each well ``repeat`` times (with the well count as batch size, an epoch is
    ``repeat`` full-batch steps)."""

    def __init__(self, ctx: torch.Tensor, tgt: torch.Tensor, repeat: int = 1):
        if len(ctx) != len(tgt):
            raise ValueError(f"context has {len(ctx)} wells, target {len(tgt)}")
        self.ctx, self.tgt, self.repeat = ctx, tgt, int(repeat)

    def __len__(self):
        return len(self.ctx) * self.repeat

    def __getitem__(self, i):
        i = i % len(self.ctx)
        return {"ctx": self.ctx[i], "tgt": self.tgt[i]}


class TimeSeriesStage(nn.Module):
    """A predictor as an engine model (:func:`sciml.fit`): MSE of the target-day prediction
    (§5.1 step 2), Adam with ``weight_decay``."""

    def __init__(self, predictor: nn.Module, weight_decay: float = 1e-3):
        super().__init__()
        self.predictor = predictor
        self.weight_decay = weight_decay

    def training_step(self, batch, epoch):
        return {"loss": torch.mean((self.predictor(batch["ctx"]) - batch["tgt"]) ** 2)}

    def configure_optimizers(self, config):
        return torch.optim.Adam(self.parameters(), lr=config.lr, weight_decay=self.weight_decay)


class _History:
    """A silent reporter that keeps the training loss of each engine epoch."""

    def __init__(self):
        self.train_loss: list[float] = []

    def report(self, step, metrics):
        self.train_loss.append(float(metrics["train_loss"]))


def predictor_config(base: sciml.TrainerConfig, *, epochs: int, steps_per_epoch: int, lr: float, n_wells: int,
                     has_val: bool) -> tuple[sciml.TrainerConfig, int]:
    """The engine config of a time-series fit, from ``base``: ``epochs`` full-batch Adam steps
    (batch = the ``n_wells`` training wells) grouped ``k = min(steps_per_epoch, epochs)`` to an
    engine epoch, so ``ceil(epochs / k)`` epochs; no patience; ``val_loss`` monitored when there
    is validation data, else ``train_loss``. Returns ``(config, k)``; ``k`` is the ``repeat`` of
    the training :class:`Sequences`."""
    k = max(1, min(int(steps_per_epoch), int(epochs)))
    return base.model_copy(update={"max_epochs": -(-int(epochs) // k), "lr": lr, "batch_size": n_wells,
                                   "patience": 0, "monitor": "val_loss" if has_val else "train_loss",
                                   "mode": "min", "weight_decay": 0.0}), k


def fit_predictor(model: TimeSeriesPredictor, context: torch.Tensor, target: torch.Tensor,
                  epochs: int = 300, lr: float = 3e-3, weight_decay: float = 1e-3,
                  val: tuple[torch.Tensor, torch.Tensor] | None = None, *, steps_per_epoch: int = 1) -> list[float]:
    """Full-batch Adam on the MSE between ``model(context)`` ``(N, n_context, D)`` and ``target``
    ``(N, D)``, ``epochs`` steps on the core's engine (:func:`sciml.fit`, config from
    :func:`predictor_config`), on the model's device, in a temporary directory, seeded from
    torch's global generator.

    With ``val = (context_val, target_val)`` the weights with the lowest validation MSE, measured
    every ``steps_per_epoch`` steps, are kept (early stopping: few untreated wells, many
    dimensions); without it the last weights are. The model ends in eval mode.

    Returns:
        The training loss (mean over the epoch's steps) of each engine epoch,
        ``ceil(epochs / steps_per_epoch)`` values.

    Raises:
        ValueError: fewer than one training well, or context and target of different lengths.
        sciml.TrainingDiverged: a non-finite loss.
    """
    import tempfile
    from pathlib import Path

    import sciml

    if len(context) < 1:
        raise ValueError("fit_predictor needs at least one training well")
    has_val = val is not None and len(val[0]) > 0
    config, k = predictor_config(sciml.TrainerConfig(restore_best=has_val, checkpoint_every_s=3600.0), epochs=epochs,
                                 steps_per_epoch=steps_per_epoch, lr=lr, n_wells=len(context), has_val=has_val)
    history = _History()
    train = Sequences(context.detach(), target.detach(), repeat=k)
    valset = Sequences(val[0].detach(), val[1].detach()) if has_val else None
    model.train()
    with tempfile.TemporaryDirectory(prefix="sciml-predictor-") as tmp:
        ctx = sciml.Context(run_dir=Path(tmp), cache_dir=Path(tmp), seed=int(torch.initial_seed() % 2**31),
                            device=str(next(model.parameters()).device))
        sciml.fit(TimeSeriesStage(model, weight_decay), train, valset, config, ctx, history, stage="predictor")
    return history.train_loss  # the engine leaves the model on its device, in eval mode
