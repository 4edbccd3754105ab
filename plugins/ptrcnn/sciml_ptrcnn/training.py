"""The paper's training procedure: mini-batch SGD with Nesterov momentum 0.85, lr 0.01 with step
decay, weight decay 0.005 (paper §CNNs), plus early stopping on the validation loss (ours: the
paper trains a fixed 100,000 iterations).
"""

from __future__ import annotations

import copy
import math

import torch
from pydantic import Field
from torch.utils.data import DataLoader

import sciml


def fit(model, train_ds, val_ds=None, *, max_epochs: int = 30, batch_size: int = 64, lr: float = 0.01,
        momentum: float = 0.85, weight_decay: float = 0.005, optimizer: str = "sgd", patience: int = 10,
        seed: int = 0, reporter=None, progress: bool = False, loss_fn=None) -> dict[str, float]:
    """Train ``model`` in place; restores the weights of the best validation epoch.

    ``loss_fn(model, batch) -> dict`` with key ``loss`` (default: ``model.training_step(batch, epoch)``).
    Uses ``model.configure_optimizers`` / ``model.on_epoch_start`` when present (step decay).
    Returns ``{"best_val_loss", "best_epoch", "epochs", "train_loss"}``.
    """
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, generator=g, drop_last=len(train_ds) > batch_size)
    vloader = DataLoader(val_ds, batch_size=1024) if val_ds is not None and len(val_ds) else None
    cfg = {"lr": lr, "momentum": momentum, "nesterov": True, "weight_decay": weight_decay, "optimizer": optimizer}
    if hasattr(model, "configure_optimizers"):
        opt = model.configure_optimizers(cfg)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    step = (lambda m, b, e: m.training_step(b, e)) if loss_fn is None else (lambda m, b, e: loss_fn(m, b))
    best, best_state, best_epoch, bad = math.inf, None, -1, 0
    epochs = range(max_epochs)
    if reporter is not None and progress:
        epochs = reporter.progress(epochs, total=max_epochs, desc="epochs")
    train_loss = math.nan
    for epoch in epochs:
        if hasattr(model, "on_epoch_start"):
            model.on_epoch_start(epoch, max_epochs)
        model.train()
        tot, n = 0.0, 0
        for batch in loader:
            opt.zero_grad()
            out = step(model, batch, epoch)
            out["loss"].backward()
            opt.step()
            tot += float(out["loss"].detach()) * len(batch[0])
            n += len(batch[0])
        train_loss = tot / max(n, 1)
        metrics = {"train_loss": train_loss, "lr": opt.param_groups[0]["lr"]}
        if vloader is not None:
            model.eval()
            with torch.no_grad():
                vt, vn = 0.0, 0
                for batch in vloader:
                    vt += float(step(model, batch, epoch)["loss"]) * len(batch[0])
                    vn += len(batch[0])
            val = vt / vn
            metrics["val_loss"] = val
        else:
            val = train_loss
        if not math.isfinite(train_loss):
            raise sciml.UserError(f"training diverged at epoch {epoch} (loss {train_loss}); lower trainer.lr (was {lr})")
        if val < best - 1e-6:
            best, best_state, best_epoch, bad = val, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            bad += 1
        if reporter is not None:
            reporter.report(epoch, metrics)
        if patience and bad >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"best_val_loss": best, "best_epoch": best_epoch, "epochs": epoch + 1, "train_loss": train_loss}


class PaperTrainer(sciml.Trainer):
    """Trainer ``ptrcnn:sgd``: the paper's SGD (Nesterov momentum 0.85, weight decay 0.005, lr 0.01
    with step decay set by the model's ``lr_step_fraction``/``lr_gamma``) with early stopping."""

    class Config(sciml.ComponentConfig):
        max_epochs: int = Field(40, ge=1, description="epochs (passes over the training set)")
        batch_size: int = Field(64, ge=1, description="mini-batch size (compounds)")
        lr: float = Field(0.01, gt=0, description="initial learning rate (paper: 0.01)")
        momentum: float = Field(0.85, ge=0, lt=1, description="Nesterov momentum (paper: 0.85)")
        nesterov: bool = Field(True, description="Nesterov accelerated gradient (paper)")
        weight_decay: float = Field(0.005, ge=0, description="L2 weight decay (paper: 0.005)")
        optimizer: str = Field("sgd", description="sgd (paper) or adam")
        patience: int = Field(10, ge=0, description="early stopping patience in epochs (0 = off)")
        device: str = Field("cpu", description="torch device")

    def fit(self, model, data, reporter):
        data.prepare()
        seed = getattr(self.context, "seed", 0) if self.context is not None else 0
        torch.manual_seed(seed)
        c = self.config
        out = fit(model, data.split("train"), data.split("val"), max_epochs=c.max_epochs, batch_size=c.batch_size,
                  lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, optimizer=c.optimizer,
                  patience=c.patience, seed=seed, reporter=reporter,
                  progress=bool(getattr(self.context, "progress", False)))
        if reporter is not None:
            reporter.checkpoint({"model": model.state_dict()}, best=True)
        return {k: float(v) for k, v in out.items()}
