"""``spheroid:simclr`` trainer: SimCLR stage, then the untreated time-series stage, on the engine.

Methodology 1 (thesis §5.1) has two stages on different data — SimCLR on single images of all
training wells and days, then a time-series model on the frozen representations of the
untreated wells only — and the second stage's standardisation and predictor are part of the
model that ``predict`` and the registered champion carry. Both stages are fits of the core's
engine (:func:`sciml.fit`, Lightning): stage ``"simclr"`` (epochs ``0 .. n-1``) and stage
``"timeseries"`` with ``step_offset`` = the epochs of the first, so MLflow shows one curve with
each step once (steps from the offset on are the time-series stage's ``train_loss`` /
``val_loss``). Each stage checkpoints every epoch and resumes (``sciml resume``); a finished
stage is not retrained. Device and threads are the engine's.
"""

from __future__ import annotations

import numpy as np
import sciml
import torch
from pydantic import Field

from sciml_spheroid.timeseries import Sequences, TimeSeriesStage, predictor_config


class _Images(torch.utils.data.Dataset):
    """Single images ``(C, S, S)`` of wells ``idx`` on every day (SimCLR sees days as images)."""

    def __init__(self, images: np.ndarray, idx: np.ndarray):
        self.images, self.n_days = images[idx], images.shape[1]

    def __len__(self):
        return len(self.images) * self.n_days

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i // self.n_days, i % self.n_days])


class SimCLRTrainer(sciml.DefaultTrainer):
    """Stage ``simclr``: Adam + cosine learning-rate schedule (per epoch) on NT-Xent; ``val_loss``
    is NT-Xent on the validation plates with fixed augmentation seeds; the best ``val_loss``
    weights are restored (no validation plate: ``monitor`` falls back to ``train_loss``).
    Stage ``timeseries``: Adam on batches of the untreated training wells (``ts_steps_per_epoch``
    steps per epoch: a checkpoint per step of a tiny model costs more than the step), best
    ``val_loss`` on the untreated validation wells restored."""

    class Config(sciml.TrainerConfig):
        max_epochs: int = Field(15, ge=1, le=10000, description="SimCLR epochs (passes over all training images)")
        batch_size: int = Field(128, ge=4, le=8192, description="images per SimCLR batch (2x views)")
        lr: float = Field(2e-3, gt=0, le=1.0, description="Adam learning rate (cosine-annealed over max_epochs)")
        weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay")
        patience: int = Field(0, ge=0, description="stop after this many epochs without val_loss improvement (0 = off)")
        ts_epochs: int = Field(300, ge=1, le=100000, description=(
            "Adam steps of the time-series stage (batches of the untreated training well count)"))
        ts_steps_per_epoch: int = Field(10, ge=1, le=1000, description=(
            "time-series steps per engine epoch (one checkpoint and one reported step each); "
            "the stage runs ceil(ts_epochs / ts_steps_per_epoch) epochs"))
        ts_lr: float = Field(3e-3, gt=0, le=1.0, description="learning rate of the time-series stage")

    def fit(self, model, data, reporter) -> dict[str, float]:
        c = self.config
        a = data.arrays
        tr, va = data.indices("train"), data.indices("val")
        monitor = "val_loss" if len(va) else "train_loss"
        cfg = c.model_copy(update={"monitor": monitor, "mode": "min"})
        val = _Images(a["images"], va) if len(va) else None
        first = sciml.fit(model, _Images(a["images"], tr), val, cfg, self.context, reporter, stage="simclr")
        offset = int(first["epochs"])
        # -- stage 2: time-series model on untreated training wells only (§5.1 step 2)
        model.eval()
        z = model.prepare(model.embed(a["images"]), a["plate"], a["group"])
        unt_tr, unt_va = tr[a["group"][tr] == 0], va[a["group"][va] == 0]
        if len(unt_tr) < 2:
            raise sciml.UserError(
                f"the training plates have {len(unt_tr)} untreated well(s); the time-series model needs at least 2")
        model.set_standardisation(z[unt_tr])
        ctx_tr, tgt_tr = model._split_days(z[unt_tr])
        seq_va = Sequences(*model._split_days(z[unt_va])) if len(unt_va) else None
        ts_cfg, k = predictor_config(c, epochs=c.ts_epochs, steps_per_epoch=c.ts_steps_per_epoch, lr=c.ts_lr,
                                     n_wells=len(unt_tr), has_val=len(unt_va) > 0)
        model.predictor.train()
        second = sciml.fit(TimeSeriesStage(model.predictor), Sequences(ctx_tr, tgt_tr, repeat=k), seq_va, ts_cfg,
                           self.context, reporter, stage="timeseries", step_offset=offset)
        model.predictor.eval()
        model.ts_fitted.fill_(True)
        out = {"simclr_epochs": float(offset), "ts_train_loss": model.time_series_loss(z[unt_tr])}
        if "best_val_loss" in first:
            out["best_val_loss"] = first["best_val_loss"]
        if len(unt_va):
            out["ts_val_loss"] = second["best_val_loss"]
        return out


def fit_time_series(model, data, epochs: int = 300, lr: float = 3e-3) -> dict[str, float]:
    """Embed the wells, fit ``model``'s time-series stage on untreated training wells (§5.1 step 2).

    Returns ``ts_train_loss`` and ``ts_val_loss`` (MSE of the target-day prediction on untreated
    train / validation wells, standardised units).

    Raises:
        sciml.UserError: the training plates have fewer than 2 untreated wells.
    """
    a = data.arrays
    tr, va = data.indices("train"), data.indices("val")
    return fit_time_series_arrays(model, model.embed(a["images"]), a, tr, va, epochs=epochs, lr=lr)


def fit_time_series_arrays(model, reps, a: dict, tr: np.ndarray, va: np.ndarray, epochs: int = 300,
                           lr: float = 3e-3) -> dict[str, float]:
    """:func:`fit_time_series` from representations ``reps`` ``(N, n_days, D)`` of every well of
    arrays ``a`` (``plate``, ``group``) and the train / validation well indices."""
    unt_tr = tr[a["group"][tr] == 0]
    unt_va = va[a["group"][va] == 0]
    if len(unt_tr) < 2:
        raise sciml.UserError(
            f"the training plates have {len(unt_tr)} untreated well(s); the time-series model needs at least 2")
    z = model.prepare(reps, a["plate"], a["group"])
    r_tr, r_va = z[unt_tr], z[unt_va]
    hist = model.fit_time_series(r_tr, epochs=epochs, lr=lr, reps_val=r_va)
    out = {"ts_train_loss": hist[-1]}
    if len(r_va):
        out["ts_val_loss"] = model.time_series_loss(r_va)
    return out
