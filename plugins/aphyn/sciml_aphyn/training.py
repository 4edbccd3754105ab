"""APHYN-EP training (paper §2, Eq. 3, and the adaptive λ of APHYNITY, Yin et al. 2021).

Per step: loss = λ_j · L_traj + ‖F_dl‖² on a batch of pixels, Adam (lr 1e-3 in the paper).
After epoch j: λ_{j+1} = λ_j + γ · L_traj(θ_{j+1}) (λ_0 = 1, γ = 10 in silico, 1 ex vivo);
L_traj(θ_{j+1}) is taken as the mean trajectory loss of the epoch's batches (no extra pass).

Physics warm-up: the first ``physics_warmup_epochs`` epochs train F_p alone (F_dl skipped,
λ held at λ_0, exactly as the physics-only baseline is trained), then F_p and F_dl are
trained together on Eq. 3. APHYNITY's principle is that the physical model explains all it
can and F_dl only the rest; on a CPU budget, training both from the start let F_dl absorb
the part a change of τ would explain (measured: τ barely moved and the hybrid lost to the
physics-only model), so the order is made explicit.

Budget (CPU): a 350 ms forecast is 3500 Euler steps; an epoch is one step on
``pixels_per_epoch`` training pixels (default: all 576 of the slab at once, the cheapest per
pixel, since the solver's cost is mostly per step). Optionally the forecast horizon grows
from ``start_horizon`` to the full trace over ``curriculum_epochs``.
The physics-only baselines are trained by the same code (model with ``use_fdl=False``, or
with the constant F_dl), with early stopping (``patience``) on the validation loss.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from typing import Any

import numpy as np
import torch
from pydantic import Field

import sciml


class AphynTrainer(sciml.Trainer):
    """Trainer ``aphyn:aphyn`` (Eq. 3 with the λ schedule).

    ``fit(model, data, reporter)`` trains ``model`` (an :class:`~sciml_aphyn.model.APHYNEP`) in
    place on ``data.split("train")``, reports per epoch ``train_loss``, ``train_traj``,
    ``train_fdl_norm2``, ``val_loss`` (= forecast MSE on validation pixels), ``lambda``,
    ``horizon`` (ms), ``fdl_on`` (0 in the physics warm-up), ``time_s`` and the learned τ (ms),
    checkpoints (best on ``val_loss``), and restores the best weights at the end.
    With ``patience`` > 0 it stops early once ``val_loss`` has not improved by a fraction
    ``min_delta`` for ``patience`` full-horizon epochs after the warm-up; the returned metrics
    then say ``epochs`` (trained) and ``stopped_early`` (1.0).
    """

    class Config(sciml.ComponentConfig):
        max_epochs: int = Field(200, ge=1, le=10000, description="epochs, warm-up included (paper: ~100)")
        physics_warmup_epochs: int = Field(
            150, ge=0, description="first epochs train F_p alone (F_dl off); the rest train both")
        lr: float = Field(3e-5, gt=0, le=1,
                          description="Adam learning rate of F_dl (paper: 1e-3, too large with t in ms)")
        physics_lr: float | None = Field(
            3e-2, gt=0, le=1,
            description="Adam learning rate of the log-τ; None = lr (a step of 0.03 changes τ by ~3 %)")
        weight_decay: float = Field(0.0, ge=0, description="Adam weight decay")
        batch_size: int = Field(576, ge=1, description="pixels per optimisation step")
        pixels_per_epoch: int = Field(576, ge=1, description="training pixels drawn per epoch (all if larger)")
        val_pixels: int = Field(48, ge=0, description="validation pixels forecast per epoch (0 = all)")
        lambda0: float = Field(1.0, ge=0, description="λ_0 of Eq. 3 (paper: 1)")
        gamma: float = Field(10.0, ge=0, description="γ of the λ schedule (paper: 10 in silico, 1 ex vivo)")
        start_horizon: float = Field(60.0, gt=0, description="forecast horizon of the first epoch (ms)")
        curriculum_epochs: int = Field(0, ge=0, description="epochs over which the horizon grows to the full trace")
        grad_clip: float = Field(1.0, ge=0, description="max gradient norm of F_dl (0 = off); τ are not clipped")
        patience: int = Field(
            0, ge=0, description="stop after this many epochs without a val_loss improvement (0 = run max_epochs)")
        min_delta: float = Field(
            0.0, ge=0, lt=1, description="relative val_loss decrease that counts as an improvement for patience")
        device: str = Field("auto", description="torch device; auto = the run's --device")

    def horizon_samples(self, epoch: int, n_samples: int, sampling_interval: float) -> int:
        """Number of samples forecast at ``epoch`` (0-based): the curriculum of the budget."""
        c = self.config
        start = min(n_samples, int(math.floor(c.start_horizon / sampling_interval)) + 1)
        if c.curriculum_epochs <= 0 or epoch >= c.curriculum_epochs:
            return n_samples
        frac = epoch / c.curriculum_epochs
        return max(2, min(n_samples, int(round(start + frac * (n_samples - start)))))

    def fit(self, model, data, reporter, progress=None) -> dict[str, float]:
        train = data.split("train").tensors[0]
        val = data.split("val").tensors[0]
        return self.fit_arrays(model, train, val, reporter, progress)

    def fit_arrays(self, model, train: torch.Tensor, val: torch.Tensor, reporter=None,
                   progress=None) -> dict[str, float]:
        """Train on traces ``train`` ``(n_train, n_samples)``, validate on ``val``.

        ``progress`` wraps the epoch range in a progress bar (default: ``reporter.progress``).

        Returns the metrics of the best epoch (lowest ``val_loss``), with ``best_epoch``
        (0-based), ``epochs`` (trained) and ``stopped_early`` (0/1).
        """
        c = self.config
        device = torch.device(getattr(self.context, "device", "cpu") if c.device == "auto" else c.device)
        model.to(device)
        train = torch.as_tensor(train, dtype=torch.float32, device=device)
        val = torch.as_tensor(val, dtype=torch.float32, device=device)
        seed = int(getattr(self.context, "seed", 0) or 0)
        gen = torch.Generator().manual_seed(seed)
        val_idx = torch.randperm(len(val), generator=gen)[: c.val_pixels] if c.val_pixels else torch.arange(len(val))
        val_sub = val[val_idx.to(device)]

        phys = [p for n, p in model.named_parameters() if n.startswith("physics.")]
        rest = [p for n, p in model.named_parameters() if not n.startswith("physics.")]
        groups = []
        if rest:
            groups.append({"params": rest, "lr": c.lr})
        if phys:
            groups.append({"params": phys, "lr": c.physics_lr or c.lr})
        if not groups:
            raise sciml.UserError("the model has no trainable parameter: learn at least one τ or use F_dl")
        optimizer = torch.optim.Adam(groups, weight_decay=c.weight_decay)

        lam = float(c.lambda0)
        best = {"val_loss": math.inf}
        plateau_ref, since_improved, stopped = math.inf, 0, False
        warm_up_end = c.physics_warmup_epochs if model.fdl is not None else 0
        best_state = copy.deepcopy(model.state_dict())
        t0 = time.perf_counter()
        n_samples = train.shape[1]
        epochs = range(c.max_epochs)
        progress = progress or (reporter.progress if reporter is not None else None)
        if progress is not None:  # a bar on a terminal: the default run trains for minutes
            epochs = progress(epochs, total=c.max_epochs,
                              desc="APHYN-EP epochs" if model.fdl is not None else "physics-only epochs")
        for epoch in epochs:
            model.train()
            warm_up = epoch < c.physics_warmup_epochs and model.fdl is not None
            fdl_trains = model.fdl is not None and not warm_up
            phase = model.physics_only if warm_up else contextlib.nullcontext
            n_h = self.horizon_samples(epoch, n_samples, model.sampling_interval)
            order = torch.randperm(len(train), generator=gen)[: c.pixels_per_epoch]
            sums = {"loss": 0.0, "traj": 0.0, "fdl_norm2": 0.0}
            n_batches = 0
            for start in range(0, len(order), c.batch_size):
                batch = train[order[start:start + c.batch_size].to(device), :n_h]
                with phase():
                    terms = model.loss_terms(batch)
                loss = lam * terms["traj"] + terms["fdl_norm2"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.grad_clip and rest:
                    # clip F_dl's gradients only: a joint clip shrinks the τ steps too
                    torch.nn.utils.clip_grad_norm_(rest, c.grad_clip)
                optimizer.step()
                sums["loss"] += float(loss.detach())
                sums["traj"] += float(terms["traj"].detach())
                sums["fdl_norm2"] += float(terms["fdl_norm2"].detach())
                n_batches += 1
            means = {k: v / n_batches for k, v in sums.items()}
            if not all(np.isfinite(list(means.values()))):
                raise sciml.UserError(
                    f"training diverged at epoch {epoch} (loss {means['loss']}): lower trainer.lr "
                    f"or trainer.physics_lr, or use model.method=rk4")
            val_loss = self.validation_mse(model, val_sub)
            metrics: dict[str, float] = {
                "train_loss": means["loss"], "train_traj": means["traj"],
                "train_fdl_norm2": means["fdl_norm2"], "val_loss": val_loss, "lambda": lam,
                "horizon": (n_h - 1) * model.sampling_interval,
                "fdl_on": float(fdl_trains),
                "time_s": time.perf_counter() - t0,
                **{k: v for k, v in model.taus().items()},
            }
            # λ_{j+1} = λ_j + γ L_traj(θ_{j+1})  (paper §2); λ weighs L_traj against ‖F_dl‖²,
            # so it moves only while F_dl trains (for F_p alone it would only rescale Adam's steps)
            if fdl_trains:
                lam = lam + c.gamma * means["traj"]
            # Only full-horizon epochs compete for "best": a short-horizon fit is not a forecast.
            is_best = n_h == n_samples and val_loss < best["val_loss"]
            if is_best:
                best = {**metrics, "best_epoch": float(epoch)}
                best_state = copy.deepcopy(model.state_dict())
            if reporter is not None:
                reporter.report(epoch, metrics)
                reporter.checkpoint({"model": model.state_dict(), "epoch": epoch, "lambda": lam},
                                    best=is_best)
            # early stopping on validation only (patience counts full-horizon epochs after the warm-up)
            if c.patience and n_h == n_samples and epoch >= warm_up_end:
                if val_loss < plateau_ref * (1.0 - c.min_delta):
                    plateau_ref, since_improved = val_loss, 0
                else:
                    since_improved += 1
                if since_improved >= c.patience:
                    stopped = True
                    break
        if math.isfinite(best["val_loss"]):
            model.load_state_dict(best_state)
        else:
            best = metrics
        best = {**best, "epochs": float(epoch + 1), "stopped_early": float(stopped)}
        model.eval()
        return best

    @staticmethod
    @torch.no_grad()
    def validation_mse(model, traces: torch.Tensor) -> float:
        """Forecast MSE of ``model`` on ``traces`` ``(n, n_samples)`` (from the first sample)."""
        model.eval()
        states = model.forecast(traces[:, 0], traces.shape[1])
        return float(torch.mean((states[..., 0].transpose(0, 1) - traces) ** 2))


def train_model(model, train, val, reporter=None, seed: int = 0, **config: Any) -> dict[str, float]:
    """Train ``model`` on trace tensors with an :class:`AphynTrainer` built from ``config`` keys."""
    trainer = AphynTrainer(AphynTrainer.Config(**config), sciml.Context(run_dir=".", cache_dir=".", seed=seed))
    return trainer.fit_arrays(model, train, val, reporter)
