"""The default trainer ``sciml:default``: a plain-torch loop.

Device choice (``auto``: CUDA when present, else CPU), ``pin_memory`` on CUDA, automatic
mixed precision on CUDA (``amp=true``; a no-op on CPU), early stopping, checkpoints of the
best and last state, a per-epoch progress bar when the context allows one, and resuming
from a ``last.pt`` checkpoint. The model contract is in :mod:`sciml.components`.
"""

from __future__ import annotations

import logging
import math
import os
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sciml.components import ComponentConfig, Trainer
from sciml.errors import UserError

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (CPU and CUDA) from one integer."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def resolve_device(spec: str) -> str:
    """``auto`` -> ``cuda`` if available else ``cpu``; ``cuda[:N]`` is checked to exist.

    Raises:
        UserError: a CUDA device was asked for and there is none, or the spec is unknown.
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device {spec!r} asked for, but no CUDA device is available; use --device cpu or auto")
        index = spec.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise UserError(f"device {spec!r}: there are {torch.cuda.device_count()} CUDA devices")
        return spec
    if spec == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    raise UserError(f"unknown device {spec!r}; accepted: auto, cpu, cuda, cuda:N")


_CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "best", "best_epoch", "stale")


def load_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any] | None:
    """Load a ``last.pt`` written by the reporter, or report why it cannot be used.

    The file must match its ``last.pt.sha256`` (when present), load with
    ``torch.load(weights_only=True)`` (no code runs: a pickle that wants to call anything is
    refused) and hold the trainer's keys. A file that fails any check is renamed
    ``last.pt.corrupt`` (kept for inspection), a warning says why, and ``None`` is returned:
    training starts from scratch instead of loading it.
    """
    import torch

    from sciml.caching import file_sha256

    path = Path(path)
    side = path.with_name(path.name + ".sha256")
    problem = None
    try:
        if side.exists() and side.read_text().strip() != file_sha256(path):
            problem = "its SHA-256 does not match last.pt.sha256 (truncated or modified)"
        else:
            state = torch.load(path, map_location=device, weights_only=True)
            if not isinstance(state, dict) or not all(k in state for k in _CHECKPOINT_KEYS):
                problem = "it is not a checkpoint of sciml's trainer"
    except Exception as exc:  # truncated zip, not a torch file, or a pickle that wants to run code
        problem = f"it cannot be loaded safely ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    if problem is None:
        return state
    bad = path.with_name(path.name + ".corrupt")
    try:
        path.replace(bad)
        side.unlink(missing_ok=True)
    except OSError:
        bad = path
    log.warning("checkpoint %s is unusable: %s; moved to %s, training starts from scratch", path, problem, bad)
    return None


def move_to(batch: Any, device: str, non_blocking: bool = False) -> Any:
    """Move tensors inside (nested) tuples, lists and dicts to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: move_to(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device, non_blocking) for v in batch)
    return batch


class DefaultTrainer(Trainer):
    """Mini-batch training of any model that implements ``training_step`` (see components)."""

    class Config(ComponentConfig):
        max_epochs: int = Field(50, ge=1, description="upper bound on epochs")
        batch_size: int = Field(64, ge=1)
        lr: float = Field(1e-3, gt=0, description="learning rate")
        weight_decay: float = Field(0.0, ge=0)
        optimizer: Literal["adam", "adamw", "sgd"] = "adam"
        momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
        nesterov: bool = False
        lr_step_size: int = Field(0, ge=0, description="epochs between step decays of lr (0: off)")
        lr_gamma: float = Field(0.1, gt=0, le=1, description="lr decay factor per step")
        patience: int = Field(10, ge=0, description="early stopping: epochs without progress (0: off)")
        min_delta: float = Field(0.0, ge=0, description="early stopping: smallest change that counts")
        stop_rule: Literal["no_improvement", "no_change"] = Field(
            "no_improvement",
            description="no_improvement: best monitored value not improved by min_delta; no_change: "
                        "consecutive values differ by less than min_delta (the cgmap paper's rule)")
        monitor: str = Field("val_loss", pattern=r"^(val|train)_\w+$",
                             description="metric for early stopping, the best checkpoint and ASHA: a "
                                         "validation (val_*) or training metric, never a test metric")
        mode: Literal["min", "max"] = "min"
        grad_clip: float | None = Field(None, gt=0)
        device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
        amp: bool = Field(False, description="automatic mixed precision (CUDA only)")
        num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
        restore_best: bool = Field(True, description="load the best state at the end")

    def _loader(self, model, dataset, shuffle: bool, device: str):
        import torch
        from torch.utils.data import DataLoader

        gen = torch.Generator()
        gen.manual_seed(self.context.seed)
        collate = getattr(model, "collate", None)
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=shuffle, generator=gen,
                          num_workers=self.config.num_workers, collate_fn=collate,
                          pin_memory=device.startswith("cuda"), drop_last=False)

    def make_optimizer(self, model):
        import torch

        if hasattr(model, "configure_optimizers"):
            return model.configure_optimizers(self.config)
        c = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov,
                                   weight_decay=c.weight_decay)
        cls = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        return cls(params, lr=c.lr, weight_decay=c.weight_decay)

    def _epoch(self, model, loader, epoch: int, device: str, optimizer=None, scaler=None) -> dict[str, float]:
        import torch

        train = optimizer is not None
        model.train(train)
        step = model.training_step if train or not hasattr(model, "validation_step") else model.validation_step
        sums: dict[str, float] = {}
        count = 0
        amp = self.config.amp and device.startswith("cuda")
        for batch in loader:
            batch = move_to(batch, device, non_blocking=True)
            with torch.set_grad_enabled(train), torch.autocast(device_type=device.split(":")[0], enabled=amp):
                out = step(batch, epoch)
            if "loss" not in out:
                raise RuntimeError(f"{type(model).__name__}.training_step must return a dict with 'loss'")
            if train:
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(out["loss"]).backward()
                if self.config.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            n = _batch_len(batch)
            count += n
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach() if hasattr(v, "detach") else v) * n
        return {k: v / max(count, 1) for k, v in sums.items()}

    def fit(self, model, data, reporter) -> dict[str, float]:
        """Train ``model`` in place; report ``train_*``/``val_*`` per epoch; return the best.

        Raises:
            RuntimeError: the loss became NaN or infinite (the trial is marked failed).
        """
        import torch

        c = self.config
        device = resolve_device(c.device)
        model.to(device)
        train_loader = self._loader(model, data.split("train"), True, device)
        val_loader = self._loader(model, data.split("val"), False, device)
        optimizer = self.make_optimizer(model)
        scheduler = (torch.optim.lr_scheduler.StepLR(optimizer, c.lr_step_size, c.lr_gamma)
                     if c.lr_step_size else None)
        scaler = torch.amp.GradScaler("cuda", enabled=c.amp and device.startswith("cuda"))
        sign = 1.0 if c.mode == "min" else -1.0
        best, best_epoch, previous, stale, start = math.inf, -1, None, 0, 0
        best_state = None

        resume = Path(self.context.run_dir) / "last.pt"
        state = load_checkpoint(resume, device) if resume.exists() else None
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            start, best, best_epoch, stale = state["epoch"] + 1, state["best"], state["best_epoch"], state["stale"]
            best_state = {k: v.clone() for k, v in state["best_model"].items()} if state.get("best_model") else None
            log.info("resuming from %s at epoch %d", resume, start)

        epochs = range(start, c.max_epochs)
        bar = None
        if self.context.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=c.max_epochs, initial=start, desc="epochs", unit="ep", leave=False)
        metrics: dict[str, float] = {}
        done = start
        for epoch in epochs:
            if hasattr(model, "on_epoch_start"):
                model.on_epoch_start(epoch, c.max_epochs)
            train = self._epoch(model, train_loader, epoch, device, optimizer, scaler)
            with torch.no_grad():
                val = self._epoch(model, val_loader, epoch, device)
            if scheduler is not None:
                scheduler.step()
            metrics = {f"train_{k}": v for k, v in train.items()} | {f"val_{k}": v for k, v in val.items()}
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            if hasattr(model, "on_epoch_end"):
                metrics.update(model.on_epoch_end(epoch, metrics) or {})
            if c.monitor not in metrics:
                raise UserError(f"trainer.monitor={c.monitor!r} is not a reported metric; "
                                f"reported: {', '.join(sorted(metrics))}")
            value = metrics[c.monitor]
            if not math.isfinite(metrics.get("train_loss", 0.0)) or not math.isfinite(value):
                raise RuntimeError(f"non-finite loss at epoch {epoch}: train_loss={metrics.get('train_loss')}, "
                                   f"{c.monitor}={value}")
            improved = sign * value < best - c.min_delta
            if improved:
                best, best_epoch = sign * value, epoch
                best_state = _copy_state(model.state_dict())
            if c.stop_rule == "no_change":
                stale = stale + 1 if previous is not None and abs(value - previous) < c.min_delta else 0
            else:
                stale = 0 if improved else stale + 1
            previous = value
            done = epoch + 1
            reporter.report(epoch, metrics)
            reporter.checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict() if scheduler else None,
                                 "epoch": epoch, "best": best, "best_epoch": best_epoch, "stale": stale,
                                 "best_model": best_state}, best=improved)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items() if k in ("train_loss", c.monitor)})
            if c.patience and stale >= c.patience:
                log.info("early stop at epoch %d (%s)", epoch, c.stop_rule)
                break
        if bar is not None:
            bar.close()
        if c.restore_best and best_state is not None:
            model.load_state_dict(best_state)
        return {"best_epoch": float(best_epoch), f"best_{c.monitor}": sign * best,
                "epochs": float(done)}


def _batch_len(batch: Any) -> int:
    import torch

    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, dict):
        return _batch_len(next(iter(batch.values())))
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    return 1


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A detached copy of a state dict; non-tensor entries (``get_extra_state``) are deep-copied."""
    import copy

    import torch

    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in state.items()}
