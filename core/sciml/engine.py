"""The training engine: every plugin trains through :func:`fit`, on Lightning (``lightning.pytorch``).

A plugin's model stays a plain :class:`torch.nn.Module` with the contract of
:mod:`sciml.components` (``training_step(batch, epoch) -> {"loss": ...}``, optional
``validation_step``, ``on_epoch_start``, ``on_epoch_end``, ``configure_optimizers``,
``clip_gradients``, ``collate``). :func:`fit` wraps it in a LightningModule and adds what the
core promises to every plugin:

- **Device, threads and precision from one place.** ``TrainerConfig.device`` (``auto`` takes
  the run's ``--device``, or the GPU Ray assigned to the trial) becomes Lightning's
  ``accelerator``/``devices``; ``Context.threads`` (``--cpus-per-trial``, ``--cpus``) sets
  torch's intra-op threads; ``precision`` (``bf16-mixed``/``16-mixed``) applies on CUDA.
- **Selection on validation.** Early stopping and the restored "best" weights follow
  ``monitor`` (a ``val_*`` metric), with the ``no_improvement`` or ``no_change`` rule.
- **Resume.** A Lightning checkpoint ``<stage>.last.ckpt`` is written to the trial directory
  after an epoch (with the selection state and the RNG states) at most every
  ``checkpoint_every_s`` seconds and after the last epoch, and handed to the reporter (Tune
  keeps it). Epochs trained after the last checkpoint are trained again on resume, to the
  same values; the tracking side logs each step once. A fit that finds it continues from the next epoch: the same seed gives the
  same final weights as an uninterrupted run, and each epoch is reported once.
- **One divergence error.** A non-finite training loss or monitored value raises
  :class:`TrainingDiverged`.

Plugin-specific schedules are model hooks or Lightning callbacks (``callbacks=``); a callback
sees the plugin's model as ``pl_module.net`` and the finished epoch's metrics as
``pl_module.epoch_metrics`` in ``on_train_epoch_end`` (keys it adds there are reported too).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sciml.components import ComponentConfig, Context
from sciml.errors import SciMLError, UserError

log = logging.getLogger(__name__)

#: A fit reports one metric dict per epoch at ``step_offset + epoch``.
CKPT_SUFFIX = ".last.ckpt"
DONE_SUFFIX = ".done.json"


class TrainingDiverged(SciMLError):
    """The training loss or the monitored metric became NaN or infinite (the trial fails)."""


class TrainerConfig(ComponentConfig):
    """Options of :func:`fit` and of the core's trainer ``sciml:default``."""

    max_epochs: int = Field(50, ge=1, description="upper bound on epochs")
    min_epochs: int = Field(0, ge=0, description="no early stop before this many epochs (e.g. the end of a schedule)")
    batch_size: int = Field(64, ge=1)
    val_batch_size: int | None = Field(None, ge=1, description="validation batch size (None: batch_size)")
    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (0 is plain SGD)")
    nesterov: bool = Field(False, description="Nesterov momentum (SGD, needs momentum > 0)")
    lr_step_size: int = Field(0, ge=0, description="epochs between step decays of lr (0: off)")
    lr_gamma: float = Field(0.1, gt=0, le=1, description="lr decay factor per step")
    patience: int = Field(10, ge=0, description="early stopping: epochs without progress (0: off)")
    min_delta: float = Field(0.0, ge=0, description="early stopping: smallest change that counts")
    delta_mode: Literal["absolute", "relative"] = Field(
        "absolute", description="min_delta in the metric's units, or as a fraction of the best value")
    stop_rule: Literal["no_improvement", "no_change"] = Field(
        "no_improvement",
        description="no_improvement: best monitored value not improved by min_delta; no_change: "
                    "consecutive values differ by less than min_delta (the cgmap paper's rule)")
    monitor: str = Field("val_loss", pattern=r"^(val|train)_\w+$",
                         description="metric for early stopping, the best checkpoint and ASHA: a "
                                     "validation (val_*) or training metric, never a test metric")
    mode: Literal["min", "max"] = "min"
    grad_clip: float | None = Field(None, gt=0, description="max gradient norm (None: off)")
    device: str = Field("auto", description="auto (the run's --device / the trial's GPU), cpu, cuda, cuda:N")
    devices: int = Field(1, ge=1, description="devices per trial; more than 1 trains with DDP")
    strategy: Literal["auto", "ddp"] = Field("auto", description="auto (one device) or ddp (several)")
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = Field(
        "32-true", description="mixed precision applies on CUDA only (CPU trains in 32-bit)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    restore_best: bool = Field(True, description="load the best (monitor) weights at the end")
    checkpoint_every_s: float = Field(
        10.0, ge=0, description="write the resume checkpoint after an epoch when this many seconds passed "
                                "since the last one (0: every epoch); the last epoch is always written")


# --- device, threads, precision: decided here and nowhere else ---------------------------------

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


def apply_threads(context: Context | None) -> None:
    """Set torch's intra-op threads to ``context.threads`` (``--cpus-per-trial``) when given."""
    threads = getattr(context, "threads", None)
    if threads:
        import torch

        if torch.get_num_threads() != int(threads):
            torch.set_num_threads(int(threads))


def lightning_devices(config: TrainerConfig, context: Context | None) -> dict[str, Any]:
    """Lightning's ``accelerator``, ``devices``, ``strategy`` and ``precision`` for this fit."""
    spec = config.device if config.device != "auto" else (getattr(context, "device", None) or "auto")
    device = resolve_device(spec)
    if device.startswith("cuda"):
        index = device.partition(":")[2]
        accelerator, devices = "gpu", ([int(index)] if index else config.devices)
    else:
        accelerator, devices = ("mps" if device == "mps" else "cpu"), config.devices
    precision = config.precision
    if accelerator != "gpu" and precision != "32-true":
        log.info("precision %s applies on CUDA only; training in 32-bit on %s", precision, accelerator)
        precision = "32-true"
    n = len(devices) if isinstance(devices, list) else devices
    if config.strategy == "ddp" or n > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy: Any = DDPStrategy(process_group_backend="nccl" if accelerator == "gpu" else "gloo")
    else:
        strategy = "auto"
    return {"accelerator": accelerator, "devices": devices, "strategy": strategy, "precision": precision}


# --- data ----------------------------------------------------------------------------------------

class EpochSampler:
    """Shuffled indices that depend only on ``(seed, epoch)``: a resumed fit sees the same order.

    Lightning calls :meth:`set_epoch` before each epoch.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        import torch

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


def _loader(model, dataset, batch_size: int, config: TrainerConfig, seed: int, shuffle: bool, distributed: bool):
    import torch
    from torch.utils.data import DataLoader

    kwargs: dict[str, Any] = {"batch_size": batch_size, "num_workers": config.num_workers,
                              "collate_fn": getattr(model, "collate", None),
                              "generator": torch.Generator().manual_seed(seed),
                              "persistent_workers": config.num_workers > 0}
    if shuffle and not distributed:
        kwargs["sampler"] = EpochSampler(len(dataset), seed)
    else:
        kwargs["shuffle"] = shuffle  # under DDP Lightning substitutes a seeded DistributedSampler
    return DataLoader(dataset, **kwargs)


def batch_len(batch: Any) -> int:
    """Number of samples in a (nested) batch: the leading dimension of its first tensor."""
    import torch

    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, dict):
        return batch_len(next(iter(batch.values())))
    if isinstance(batch, (list, tuple)) and batch:
        return batch_len(batch[0])
    return 1


# --- the LightningModule around a plugin's model ---------------------------------------------

def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype("int64")), int(pos),
                                                       int(has_gauss), float(cached)],
             "python": [list(random.getstate()[1]), random.getstate()[0], random.getstate()[2]]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, cached))
    internal, version, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _make_module(net, config: TrainerConfig):
    import lightning.pytorch as pl
    import torch

    class SciMLModule(pl.LightningModule):
        """Runs a plugin model's steps; accumulates epoch means on the device (no per-step sync)."""

        def __init__(self):
            super().__init__()
            self.net = net
            self.cfg = config
            self.epoch_metrics: dict[str, float] = {}
            self._sums: dict[str, dict[str, Any]] = {"train": {}, "val": {}}
            self._counts = {"train": 0, "val": 0}
            # one backward and one step per batch, written out: Lightning's automatic loop wraps
            # each step in a closure and a dozen hooks, ~0.6 ms a batch (bench/engine_overhead.py)
            self.automatic_optimization = False

        def forward(self, *args, **kwargs):
            return self.net(*args, **kwargs)

        def _accumulate(self, split: str, out: Any, batch: Any) -> None:
            if not isinstance(out, dict) or "loss" not in out:
                raise TypeError(f"{type(self.net).__name__}.training_step/validation_step must return a dict "
                                f"with 'loss'; got {type(out).__name__}")
            n = batch_len(batch)
            sums = self._sums[split]
            for key, value in out.items():
                value = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
                if key in sums:
                    sums[key].add_(value, alpha=n)  # in place, no host sync
                else:
                    sums[key] = value.float() * n
            self._counts[split] += n

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            # the DataLoader's CPU tensors are already where a CPU fit needs them: skip Lightning's
            # walk of the batch (2 % of a ptrcnn epoch, profiled)
            if device.type == "cpu":
                return batch
            return super().transfer_batch_to_device(batch, device, dataloader_idx)

        def __setattr__(self, name, value):
            # Lightning sets this ~35 times a batch; nn.Module's checks for parameters and
            # submodules are not needed for a string (8 % of a ptrcnn epoch, profiled)
            if name == "_current_fx_name":
                object.__setattr__(self, name, value)
            else:
                super().__setattr__(name, value)

        def training_step(self, batch, batch_idx):
            # one device in 32-bit: the plain optimizer and backward (Lightning's wrappers only add
            # hooks nobody listens to); mixed precision and DDP go through Lightning's
            plain = self._plain_steps
            optimizer = self.optimizers(use_pl_optimizer=not plain)
            out = self.net.training_step(batch, self.current_epoch)
            self._accumulate("train", out, batch)
            optimizer.zero_grad(set_to_none=True)
            if plain:
                out["loss"].backward()
            else:
                self.manual_backward(out["loss"])
            if self.cfg.grad_clip:
                if hasattr(self.net, "clip_gradients"):
                    self.net.clip_gradients(self.cfg.grad_clip)
                else:
                    self.clip_gradients(optimizer, gradient_clip_val=self.cfg.grad_clip,
                                        gradient_clip_algorithm="norm")
            optimizer.step()

        def on_fit_start(self):
            self._plain_steps = (self.trainer.world_size == 1 and
                                 str(self.trainer.precision) in ("32-true", "32"))

        def on_train_epoch_end(self):
            scheduler = self.lr_schedulers()  # stepped here, before the checkpoint callbacks save it
            if scheduler is not None:
                scheduler.step()

        def validation_step(self, batch, batch_idx):
            step = getattr(self.net, "validation_step", None) or self.net.training_step
            self._accumulate("val", step(batch, self.current_epoch), batch)

        def on_train_epoch_start(self):
            self._sums["train"], self._counts["train"] = {}, 0
            optimizers = self.trainer.optimizers
            # the rate this epoch trains with (an epoch scheduler steps before the epoch's hooks end)
            self._epoch_lr = float(optimizers[0].param_groups[0]["lr"]) if optimizers else None
            if hasattr(self.net, "on_epoch_start"):
                self.net.on_epoch_start(self.current_epoch, self.trainer.max_epochs)

        def on_validation_epoch_start(self):
            self._sums["val"], self._counts["val"] = {}, 0

        def finish_epoch(self) -> dict[str, float]:
            """The epoch's means, summed over DDP ranks (one reduce), plus ``lr`` and model extras."""
            names = [(s, k) for s in ("train", "val") for k in self._sums[s]]
            if names:
                values = torch.stack([torch.as_tensor(self._sums[s][k], device=self.device).reshape(())
                                      for s, k in names])
                counts = torch.tensor([float(self._counts["train"]), float(self._counts["val"])], device=self.device)
                both = self.trainer.strategy.reduce(torch.cat([values, counts]), reduce_op="sum")
                values, counts = both[:-2].tolist(), both[-2:].tolist()
                metrics = {f"{s}_{k}": v / max(counts[0 if s == "train" else 1], 1.0)
                           for (s, k), v in zip(names, values, strict=True)}
            else:
                metrics = {}
            if getattr(self, "_epoch_lr", None) is not None:
                metrics["lr"] = self._epoch_lr
            if hasattr(self.net, "on_epoch_end"):
                metrics.update(self.net.on_epoch_end(self.current_epoch, dict(metrics)) or {})
            self.epoch_metrics = metrics
            return metrics

        def configure_optimizers(self):
            c = self.cfg
            if hasattr(self.net, "configure_optimizers"):
                made = self.net.configure_optimizers(c)
            else:
                params = [p for p in self.net.parameters() if p.requires_grad]
                if c.optimizer == "sgd":
                    made = torch.optim.SGD(params, lr=c.lr, momentum=c.momentum,
                                           nesterov=c.nesterov and c.momentum > 0, weight_decay=c.weight_decay)
                else:
                    cls = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
                    made = cls(params, lr=c.lr, weight_decay=c.weight_decay)
            optimizer, scheduler = made if isinstance(made, tuple) else (made, None)
            if scheduler is None and c.lr_step_size:
                scheduler = torch.optim.lr_scheduler.StepLR(optimizer, c.lr_step_size, c.lr_gamma)
            if scheduler is None:
                return optimizer
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

        def on_save_checkpoint(self, checkpoint):
            checkpoint["sciml_rng"] = _rng_state()

        def on_load_checkpoint(self, checkpoint):
            if "sciml_rng" in checkpoint:
                _set_rng_state(checkpoint["sciml_rng"])

    return SciMLModule()


def _callbacks(config: TrainerConfig, reporter, run_dir: Path, stage: str, step_offset: int):
    """The engine's own callbacks: epoch metrics first, selection + checkpoint + report last."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import Checkpoint

    class EpochMetrics(pl.Callback):
        """First in line: the epoch's metrics are final before any plugin callback looks at them."""

        def on_train_epoch_end(self, trainer, pl_module):
            pl_module.finish_epoch()

    class Selection(Checkpoint):
        """Last in line (Lightning runs Checkpoint callbacks after the others): divergence check,
        best weights, early stopping, the checkpoint file, and the report of the epoch."""

        def __init__(self):
            self.sign = 1.0 if config.mode == "min" else -1.0
            self.best, self.best_epoch, self.previous, self.stale = math.inf, -1, None, 0
            self.best_state: dict[str, Any] | None = None
            self.stopped_early = False
            self.path = run_dir / f"{stage}{CKPT_SUFFIX}"
            self.every_s = config.checkpoint_every_s
            self.last_save = time.perf_counter()

        def state_dict(self):
            return {"best": self.best, "best_epoch": self.best_epoch, "previous": self.previous,
                    "stale": self.stale, "best_state": self.best_state}

        def load_state_dict(self, state):
            self.best, self.best_epoch = state["best"], state["best_epoch"]
            self.previous, self.stale, self.best_state = state["previous"], state["stale"], state["best_state"]

        def on_train_epoch_end(self, trainer, pl_module):
            metrics = dict(pl_module.epoch_metrics)
            epoch = trainer.current_epoch
            if config.monitor not in metrics:
                raise UserError(f"trainer.monitor={config.monitor!r} is not a reported metric; "
                                f"reported: {', '.join(sorted(metrics))}")
            value = metrics[config.monitor]
            loss = metrics.get("train_loss", 0.0)
            if not (math.isfinite(loss) and math.isfinite(value)):
                raise TrainingDiverged(f"non-finite loss at epoch {epoch}: train_loss={loss}, {config.monitor}="
                                       f"{value}; lower trainer.lr (was {config.lr}) or clip gradients "
                                       f"(trainer.grad_clip)")
            margin = config.min_delta * (abs(self.best) if config.delta_mode == "relative" and
                                         math.isfinite(self.best) else 1.0)
            improved = self.sign * value < self.best - margin
            if improved:
                self.best, self.best_epoch = self.sign * value, epoch
                self.best_state = _copy_state(pl_module.net.state_dict())
            if config.stop_rule == "no_change":
                self.stale = (self.stale + 1 if self.previous is not None and abs(value - self.previous) < margin
                              else 0)
            else:
                self.stale = 0 if improved else self.stale + 1
            self.previous = value
            if config.patience and self.stale >= config.patience and epoch + 1 >= config.min_epochs:
                trainer.should_stop = True
                self.stopped_early = epoch + 1 < config.max_epochs
            if trainer.is_global_zero:
                reporter.report(step_offset + epoch, metrics)
            last = trainer.should_stop or epoch + 1 >= config.max_epochs
            if last or time.perf_counter() - self.last_save >= self.every_s:
                self._save(trainer)

        def _save(self, trainer):
            self.last_save = time.perf_counter()
            tmp = self.path.with_name(self.path.name + ".tmp")
            trainer.save_checkpoint(tmp, weights_only=False)
            if trainer.is_global_zero:
                os.replace(tmp, self.path)
                if hasattr(reporter, "checkpoint_written"):
                    reporter.checkpoint_written(self.path)

    return EpochMetrics(), Selection()


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A detached CPU copy of a state dict; non-tensor entries (``get_extra_state``) are deep-copied."""
    import copy

    import torch

    return {k: v.detach().cpu().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in state.items()}


def _usable_checkpoint(path: Path) -> bool:
    """Whether ``path`` loads as one of our checkpoints; a bad file is moved aside with a warning."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and "loops" in state:
            return True
        problem = "it is not a checkpoint of sciml's engine"
    except Exception as exc:  # truncated zip, not a torch file, or a pickle that wants to run code
        problem = f"it cannot be loaded safely ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    bad = path.with_name(path.name + ".corrupt")
    try:
        path.replace(bad)
    except OSError:
        bad = path
    log.warning("checkpoint %s is unusable: %s; moved to %s, training starts from scratch", path, problem, bad)
    return False


def _load_completed(model, path: Path, restore_best: bool) -> None:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    selection = next((v for k, v in state.get("callbacks", {}).items() if "Selection" in k), {})
    if restore_best and selection.get("best_state") is not None:
        model.load_state_dict(selection["best_state"])
    else:
        model.load_state_dict({k[len("net."):]: v for k, v in state["state_dict"].items() if k.startswith("net.")})


def fit(model, train, val, config: TrainerConfig, context: Context, reporter, *,
        callbacks: Sequence[Any] = (), stage: str = "fit", step_offset: int = 0) -> dict[str, float]:
    """Train ``model`` in place on the map-style datasets ``train`` and ``val`` (``val`` may be
    ``None`` or empty: then ``monitor`` must be a ``train_*`` metric).

    Each epoch's metrics (``train_<key>``/``val_<key>`` epoch means of what the model's steps
    return, ``lr``, and what ``on_epoch_end`` and ``callbacks`` add) are reported at
    ``step_offset + epoch``. ``<stage>.last.ckpt`` in ``context.run_dir`` is written after an
    epoch (every ``checkpoint_every_s`` seconds, and after the last) and resumed from when present; ``<stage>.done.json`` marks a finished fit, which a
    second call does not repeat (its final weights are loaded and its result returned).

    Returns:
        ``{"best_epoch", "best_<monitor>", "epochs", "stopped_early", "world_size"}`` (the
        number of DDP processes that trained).

    Raises:
        TrainingDiverged: non-finite training loss or monitored value.
        UserError: ``monitor`` is not among the reported metrics; a device that does not exist.
    """
    import warnings

    import lightning.pytorch as pl

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # a fit without validation data (monitor train_*) is intended, not a forgotten loader
    warnings.filterwarnings("ignore", message=r".*defined a `validation_step` but have no `val_dataloader`.*")
    run_dir = Path(context.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt, done = run_dir / f"{stage}{CKPT_SUFFIX}", run_dir / f"{stage}{DONE_SUFFIX}"
    if done.exists() and ckpt.exists():
        result = json.loads(done.read_text())
        _load_completed(model, ckpt, config.restore_best)
        log.info("stage %s finished before (%s): not trained again", stage, done)
        return result
    done.unlink(missing_ok=True)
    apply_threads(context)
    devices = lightning_devices(config, context)
    distributed = devices["strategy"] != "auto"
    seed = int(getattr(context, "seed", 0) or 0)
    module = _make_module(model, config)
    has_val = val is not None and len(val) > 0
    train_loader = _loader(model, train, config.batch_size, config, seed, True, distributed)
    val_loader = (_loader(model, val, config.val_batch_size or config.batch_size, config, seed, False, distributed)
                  if has_val else None)
    first, selection = _callbacks(config, reporter, run_dir, stage, step_offset)
    if os.environ.get(FAULT_ENV):
        selection.every_s = 0.0  # an injected interruption lands right after a checkpoint
    resume = str(ckpt) if ckpt.exists() and _usable_checkpoint(ckpt) else None
    callbacks = [first, *callbacks, selection]
    fault = _injected_interrupt(stage) if resume is None else None
    if fault is not None:
        callbacks.insert(1, fault)
    _quiet_lightning()
    trainer = pl.Trainer(
        max_epochs=config.max_epochs, min_epochs=config.min_epochs or None, **devices,
        callbacks=callbacks, logger=False, enable_checkpointing=True,
        enable_progress_bar=bool(getattr(context, "progress", False)), enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=None if has_val else 0, default_root_dir=str(run_dir),
        use_distributed_sampler=distributed, deterministic=False, log_every_n_steps=50,
    )
    if resume:
        log.info("resuming stage %s from %s", stage, ckpt)
    try:
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=resume,
                    weights_only=True)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C/SIGTERM into exit(1): give it back to the runner
            import signal

            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from None
        raise
    if trainer.interrupted:
        raise KeyboardInterrupt
    if config.restore_best and selection.best_state is not None:
        model.load_state_dict(selection.best_state)
    if trainer.world_size == 1:  # Lightning's teardown moved a GPU-trained model to the CPU: the
        model.to(trainer.strategy.root_device)  # evaluator runs where training ran (--device)
    model.eval()
    result = {"best_epoch": float(selection.best_epoch), f"best_{config.monitor}": selection.sign * selection.best,
              "epochs": float(trainer.current_epoch), "stopped_early": float(selection.stopped_early),
              "world_size": float(trainer.world_size)}
    if trainer.is_global_zero:
        tmp = done.with_name(done.name + ".tmp")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, done)
    return result


#: Fault injection for tests (:func:`sciml.testing.check_resume`, the fault tests): ``N`` or
#: ``STAGE:N`` interrupts a fit that starts from scratch at the start of epoch ``N``, as Ctrl-C
#: would, after epoch ``N-1``'s checkpoint was written. A resumed fit is never interrupted.
FAULT_ENV = "SCIML_TEST_INTERRUPT_AT_EPOCH"


def _injected_interrupt(stage: str):
    spec = os.environ.get(FAULT_ENV, "").strip()
    if not spec:
        return None
    where, _, epoch = spec.rpartition(":")
    if where and where != stage:
        return None
    import lightning.pytorch as pl

    class Interrupt(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == int(epoch):
                raise KeyboardInterrupt(f"{FAULT_ENV}={spec}")

    return Interrupt()


_QUIETED = False


def _quiet_lightning() -> None:
    """Lightning's start-up banners (GPU available, TPU, ...) say nothing a sciml user acts on."""
    global _QUIETED
    if not _QUIETED:
        for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
                     "lightning.fabric.utilities.rank_zero"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _QUIETED = True


def epochs_of(history: Iterable[tuple[int, dict[str, float]]]) -> int:
    """Number of distinct epochs in a reporter's history (for a second stage's ``step_offset``)."""
    return len({step for step, _ in history})
