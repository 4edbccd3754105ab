"""APHYN-EP training on the core's engine (paper §2, Eq. 3, and the adaptive λ of APHYNITY,
Yin et al. 2021).

The loop is :func:`sciml.fit` (Lightning: device, threads, checkpoints, resume, divergence,
early stopping, best-epoch restore). What is particular to APHYN-EP:

- the model's ``training_step`` returns loss = λ_j · L_traj + ‖F_dl‖² (Eq. 3) on a batch of
  pixels; ``validation_step`` the forecast MSE of validation pixels (``val_loss``);
- :class:`LambdaSchedule` (a Lightning callback whose state is in the checkpoint, so it
  survives resume): λ_{j+1} = λ_j + γ · L_traj(θ_{j+1}) after each epoch in which F_dl trains
  (λ_0 = 1, γ = 10 in silico, 1 ex vivo; L_traj(θ_{j+1}) is the epoch's mean trajectory loss),
  and the optional physics warm-up: the first ``physics_warmup_epochs`` epochs train F_p alone
  (F_dl skipped, λ held at λ_0);
- per-group learning rates (``lr`` for F_dl, ``physics_lr`` for the log τ) in the model's
  ``configure_optimizers``, and ``grad_clip`` on F_dl's gradients only (``clip_gradients``);
- the horizon curriculum in the model's ``on_epoch_start``.

The physics-only baselines are trained by the same trainer (model with ``use_fdl=False``, or
with the constant F_dl) under their own stage names.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
import numpy as np
import sciml
import torch
from pydantic import Field


class LambdaSchedule(pl.Callback):
    """λ of Eq. 3 and the physics warm-up, per epoch; adds ``lambda``, ``fdl_on``, ``horizon``
    (ms) and ``time_s`` (seconds of the epoch) to the reported metrics.

    ``lambda`` is the λ the epoch trained with; the update λ += γ·train_traj follows the epoch.
    The state (λ) is saved in Lightning's checkpoint (:meth:`state_dict`).
    """

    def __init__(self, lambda0: float, gamma: float, warmup_epochs: int):
        self.lam = float(lambda0)
        self.gamma = float(gamma)
        self.warmup_epochs = int(warmup_epochs)
        self._t0 = 0.0

    def state_dict(self) -> dict[str, float]:
        return {"lambda": self.lam}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.lam = float(state["lambda"])

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        net = pl_module.net
        net.loss_lambda = self.lam
        # the warm-up skips F_dl in training and validation (F_dl's parameters get no gradient)
        net.rhs.fdl_enabled = not (net.fdl is not None and trainer.current_epoch < self.warmup_epochs)
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        net = pl_module.net
        metrics = pl_module.epoch_metrics
        fdl_trains = net.fdl is not None and net.rhs.fdl_enabled
        n_h = net.horizon_samples
        metrics.update({"lambda": self.lam, "fdl_on": float(fdl_trains), "time_s": time.perf_counter() - self._t0})
        if n_h:
            metrics["horizon"] = (n_h - 1) * net.sampling_interval
        # λ weighs L_traj against ‖F_dl‖², so it moves only while F_dl trains (for F_p alone it
        # would only rescale Adam's steps)
        if fdl_trains and math.isfinite(metrics.get("train_traj", math.nan)):
            self.lam += self.gamma * metrics["train_traj"]

    def on_train_end(self, trainer, pl_module) -> None:
        pl_module.net.rhs.fdl_enabled = True


class _Arrays:
    """``split(name)`` over trace tensors, for :meth:`AphynTrainer.fit_arrays`."""

    def __init__(self, train, val):
        from torch.utils.data import TensorDataset

        self._splits = {name: TensorDataset(torch.as_tensor(x, dtype=torch.float32))
                        for name, x in (("train", train), ("val", val))}

    def split(self, name):
        return self._splits[name]


class AphynTrainer(sciml.DefaultTrainer):
    """Trainer ``aphyn:aphyn`` (Eq. 3 with the λ schedule) on :func:`sciml.fit`.

    ``fit(model, data, reporter)`` trains an :class:`~sciml_aphyn.model.APHYNEP` in place on
    ``data.split("train")`` and reports per epoch ``train_loss``, ``train_traj``,
    ``train_fdl_norm2``, ``val_loss`` (forecast MSE of ``val_pixels`` validation pixels),
    ``lambda``, ``fdl_on``, ``time_s``, ``lr`` and the τ (ms); early stopping on ``val_loss``
    (``patience``, ``min_delta`` relative) never before the warm-up and curriculum end, plus
    ``patience`` epochs for F_dl.
    Returns ``{"best_epoch", "best_val_loss", "epochs", "stopped_early"}``.
    """

    class Config(sciml.TrainerConfig):
        max_epochs: int = Field(200, ge=1, le=10000, description="epochs, warm-up included (paper: ~100)")
        batch_size: int = Field(576, ge=1, description="pixels per optimisation step (576 = a 24×24 slab)")
        lr: float = Field(3e-5, gt=0, le=1,
                          description="Adam learning rate of F_dl (paper: 1e-3, too large with F_dl in 1/ms)")
        patience: int = Field(
            0, ge=0, description="stop after this many epochs without a val_loss improvement (0 = run max_epochs)")
        min_delta: float = Field(0.0, ge=0, lt=1, description="relative val_loss decrease that counts for patience")
        delta_mode: str = Field("relative", pattern="^(absolute|relative)$", description="min_delta is relative")
        grad_clip: float | None = Field(1.0, gt=0, description="max gradient norm of F_dl (None = off); τ are not clipped")
        physics_warmup_epochs: int = Field(
            150, ge=0, description="first epochs train F_p alone (F_dl off); the rest train both")
        physics_lr: float | None = Field(
            3e-2, gt=0, le=1,
            description="Adam learning rate of the log-τ; None = lr (a step of 0.03 changes τ by ~3 %)")
        val_pixels: int = Field(48, ge=0, description="validation pixels forecast per epoch (0 = all)")
        lambda0: float = Field(1.0, ge=0, description="λ_0 of Eq. 3 (paper: 1)")
        gamma: float = Field(10.0, ge=0, description="γ of the λ schedule (paper: 10 in silico, 1 ex vivo)")
        start_horizon: float = Field(60.0, gt=0, description="forecast horizon of the first epoch (ms)")
        curriculum_epochs: int = Field(0, ge=0, description="epochs over which the horizon grows to the full trace")

    def callbacks(self, model, data) -> list[Any]:
        c = self.config
        return [LambdaSchedule(c.lambda0, c.gamma, c.physics_warmup_epochs)]

    def fit(self, model, data, reporter, *, stage: str = "fit") -> dict[str, float]:
        """Train ``model`` in place; ``stage`` names the checkpoint (several fits per trial)."""
        c = self.config
        n_samples = int(data.split("train")[0][0].shape[-1])
        start = min(n_samples, int(math.floor(c.start_horizon / model.sampling_interval)) + 1)
        model.curriculum = (start, n_samples, c.curriculum_epochs)
        val = data.split("val")
        if c.val_pixels and c.val_pixels < len(val):
            gen = torch.Generator().manual_seed(int(getattr(self.context, "seed", 0) or 0))
            val = torch.utils.data.Subset(val, torch.randperm(len(val), generator=gen)[: c.val_pixels].tolist())
        # no early stop before the warm-up and the curriculum are over and F_dl had `patience` epochs
        settle = (c.physics_warmup_epochs if model.fdl is not None else 0) + c.curriculum_epochs
        settle += c.patience if settle else 0
        config = c.model_copy(update={"min_epochs": max(c.min_epochs, min(settle, c.max_epochs))})
        return sciml.fit(model, data.split("train"), val, config, self.context,
                         reporter if reporter is not None else sciml.SilentReporter(),
                         callbacks=self.callbacks(model, data), stage=stage)

    def fit_arrays(self, model, train, val, reporter=None, *, stage: str = "fit") -> dict[str, float]:
        """:meth:`fit` on trace tensors ``train`` ``(n_train, n_samples)`` and ``val``."""
        return self.fit(model, _Arrays(train, val), reporter, stage=stage)

    @staticmethod
    @torch.no_grad()
    def validation_mse(model, traces: torch.Tensor) -> float:
        """Forecast MSE of ``model`` on ``traces`` ``(n, n_samples)`` (from the first sample)."""
        model.eval()
        traces = torch.as_tensor(np.asarray(traces), dtype=torch.float32)
        states = model.forecast(traces[:, 0], traces.shape[1])
        return float(torch.mean((states[..., 0].transpose(0, 1) - traces) ** 2))


def train_model(model, train, val, run_dir, reporter=None, seed: int = 0, stage: str = "fit",
                **config: Any) -> dict[str, float]:
    """Train ``model`` on trace tensors with an :class:`AphynTrainer` built from ``config`` keys;
    checkpoints go to ``run_dir``."""
    context = sciml.Context(run_dir=run_dir, cache_dir=run_dir, seed=seed)
    return AphynTrainer(AphynTrainer.Config(**config), context).fit_arrays(model, train, val, reporter, stage=stage)


def fit_lbfgs(model, traces, max_iter: int = 40, history: list | None = None) -> dict[str, float]:
    """Fit a model's few parameters (the τ of a physics-only baseline, plus a constant offset)
    by full-batch L-BFGS with a strong-Wolfe line search on the trajectory MSE of ``traces``
    ``(n, n_samples)``, until the loss stops changing (or ``max_iter`` iterations).

    Adam on the log τ creeps: on a 12×12 TP06 slab it was still improving after 250 epochs
    (test MSE vs the clean traces 9.9e-4 at lr 0.03, 9.0e-4 at lr 0.1), where L-BFGS converged
    in 25 loss evaluations (7.9e-4). Not for F_dl (hundreds of weights, a stochastic problem).

    Returns ``{"evaluations", "iterations", "loss"}``; appends ``{"train_traj": loss}`` per
    evaluation to ``history`` if given.

    Raises:
        sciml.UserError: the model has no trainable parameter.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise sciml.UserError("the model has no trainable parameter: learn at least one τ")
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, max_eval=2 * max_iter, tolerance_grad=1e-10,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")
    traces = torch.as_tensor(np.asarray(traces), dtype=torch.float32)
    history = [] if history is None else history
    start = len(history)
    best = {"loss": math.inf, "params": [p.detach().clone() for p in params]}
    model.train()

    def closure():
        opt.zero_grad()
        loss = model.loss_terms(traces)["traj"]
        value = float(loss.detach())
        if not math.isfinite(value):
            # a trial step made Euler blow up (e.g. τ_in too small for the step): a large finite
            # loss with no gradient makes the line search step back instead of extrapolating
            history.append({"train_traj": value})
            return torch.tensor(1e6)
        loss.backward()
        history.append({"train_traj": value})
        if value < best["loss"]:
            best["loss"], best["params"] = value, [p.detach().clone() for p in params]
        return loss

    try:
        opt.step(closure)
    except RuntimeError as exc:  # a line search that overflowed: keep the best point seen
        if "overflow" not in str(exc):
            raise
    with torch.no_grad():  # the lowest loss evaluated (L-BFGS's last point may be a trial step)
        for p, b in zip(params, best["params"], strict=True):
            p.copy_(b)
    model.eval()
    state = opt.state[params[0]]
    return {"evaluations": float(len(history) - start), "iterations": float(state.get("n_iter", 0)),
            "loss": best["loss"]}
