"""``spheroid:simclr`` trainer: SimCLR stage, then the untreated time-series stage.

Why a trainer of our own rather than ``sciml:default``: Methodology 1 (thesis §5.1) has two
stages on different data — SimCLR on single images of all training wells and days, then a
time-series model on the frozen representations of the untreated wells only — and the second
stage's standardisation and predictor are part of the model that ``predict`` and the registered
champion must carry. One trainer fits both, so the checkpoint is the whole scorer. (The model
still has ``training_step``, so ``--set trainer=sciml:default`` trains the SimCLR stage and the
evaluator then fits the time-series stage itself.)
"""

from __future__ import annotations

import contextlib
import copy
import math

import numpy as np
import torch
from pydantic import Field

import sciml


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch CPU threads (0: unchanged), restoring the old setting."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class SimCLRTrainer(sciml.Trainer):
    """Adam + cosine learning-rate schedule on NT-Xent (val_loss: NT-Xent on the validation
    plates with fixed augmentation seeds), best-val weights restored, then the time-series fit.
    Without a validation plate no val_loss is reported and the last epoch's weights are kept."""

    class Config(sciml.ComponentConfig):
        max_epochs: int = Field(15, ge=1, le=10000, description="SimCLR epochs (passes over all training images)")
        batch_size: int = Field(128, ge=4, le=8192, description="images per SimCLR batch (2x views)")
        lr: float = Field(2e-3, gt=0, le=1.0, description="Adam learning rate (cosine-annealed)")
        weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay")
        patience: int = Field(0, ge=0, description="stop after this many epochs without val_loss improvement (0 = off)")
        min_delta: float = Field(0.0, ge=0, description="smallest val_loss decrease that counts as improvement")
        ts_epochs: int = Field(300, ge=1, le=100000, description="full-batch Adam steps of the time-series model")
        ts_lr: float = Field(3e-3, gt=0, le=1.0, description="learning rate of the time-series model")
        device: str | None = Field(None, description="torch device (default: the run's device)")
        num_threads: int = Field(1, ge=0, le=256, description=(
            "torch CPU threads while fitting (0 = leave torch's setting); 1 is several times faster "
            "than 2 on shared, busy cores (see bench/spheroid_throughput.py)"))

    def fit(self, model, data, reporter) -> dict[str, float]:
        with torch_threads(self.config.num_threads):
            return self._fit(model, data, reporter)

    def _fit(self, model, data, reporter) -> dict[str, float]:
        c = self.config
        dev = torch.device(c.device or getattr(self.context, "device", "cpu") or "cpu")
        model.to(dev)
        a = data.arrays
        tr, va = data.indices("train"), data.indices("val")
        imgs_tr = torch.from_numpy(a["images"][tr].reshape(-1, 1, *a["images"].shape[-2:]))
        imgs_va = torch.from_numpy(a["images"][va].reshape(-1, 1, *a["images"].shape[-2:]))
        opt = torch.optim.Adam(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        steps_per_epoch = max(1, math.ceil(len(imgs_tr) / c.batch_size))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.max_epochs * steps_per_epoch)
        gen = torch.Generator().manual_seed(int(getattr(self.context, "seed", 0)))
        best, best_state, since = math.inf, None, 0
        last = {}
        for epoch in range(c.max_epochs):
            model.train()
            perm = torch.randperm(len(imgs_tr), generator=gen)
            tot, n = 0.0, 0
            for i in range(0, len(perm), c.batch_size):
                b = perm[i:i + c.batch_size]
                if len(b) < 2:
                    continue
                loss = model.simclr_loss(imgs_tr[b].to(dev))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                tot += float(loss.detach()) * len(b)
                n += len(b)
            last = {"train_loss": tot / max(n, 1), "lr": sched.get_last_lr()[0]}
            if len(imgs_va):
                val = last["val_loss"] = self._val_loss(model, imgs_va, dev, c.batch_size)
                improved = val < best - c.min_delta
            else:  # no validation plate: nothing to choose an epoch with, the last one stands
                val, improved = math.nan, True
            if improved:
                best, since = val, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since += 1
            reporter.report(epoch, last)
            reporter.checkpoint({"model": model.state_dict(), "epoch": epoch, "val_loss": val}, best=improved)
            if c.patience and len(imgs_va) and since >= c.patience:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        # -- stage 2: time-series model on untreated training wells only (§5.1 step 2)
        ts = fit_time_series(model, data, epochs=c.ts_epochs, lr=c.ts_lr)
        final = {**({"best_val_loss": best} if math.isfinite(best) else {}), **ts}
        reporter.report(epoch + 1, {k: v for k, v in ts.items()})
        reporter.checkpoint({"model": model.state_dict(), "epoch": epoch + 1, "val_loss": best}, best=True)
        return final

    @staticmethod
    @torch.no_grad()
    def _val_loss(model, imgs, dev, batch_size) -> float:
        """NT-Xent on validation images, eval-mode BN, fixed augmentation seed (comparable per epoch)."""
        model.eval()
        tot, n = 0.0, 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(12345)
            for i in range(0, len(imgs), batch_size):
                x = imgs[i:i + batch_size]
                if len(x) < 2:
                    continue
                tot += float(model.simclr_loss(x.to(dev))) * len(x)
                n += len(x)
        model.train()
        return tot / max(n, 1)


def fit_time_series(model, data, epochs: int = 300, lr: float = 3e-3) -> dict[str, float]:
    """Embed the wells, fit ``model``'s time-series stage on untreated training wells (§5.1 step 2).

    Returns ``ts_train_loss`` and ``ts_val_loss`` (MSE of the day-10 prediction on untreated
    train / validation wells, standardised units).

    Raises:
        sciml.UserError: the training plates have fewer than 2 untreated wells.
    """
    a = data.arrays
    tr, va = data.indices("train"), data.indices("val")
    unt_tr = tr[a["group"][tr] == 0]
    unt_va = va[a["group"][va] == 0]
    if len(unt_tr) < 2:
        raise sciml.UserError(
            f"the training plates have {len(unt_tr)} untreated well(s); the time-series model needs at least 2")
    reps = model.embed(a["images"][np.concatenate([unt_tr, unt_va])])
    r_tr, r_va = reps[: len(unt_tr)], reps[len(unt_tr):]
    hist = model.fit_time_series(r_tr, epochs=epochs, lr=lr, reps_val=r_va)
    out = {"ts_train_loss": hist[-1]}
    if len(r_va):
        out["ts_val_loss"] = model.time_series_loss(r_va)
    return out
