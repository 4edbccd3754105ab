"""The paper's CNN on periodic-table images (Zheng, Zheng & Zhang 2018, §CNNs and Fig. 1c).

Architecture: three convolution + ReLU pairs (3x3, 5x5, 3x3 filters; ``channels`` maps, 96 in the
paper; stride 1; zero padding 1 on the inputs of the first two; no pooling), then two fully
connected layers of ``hidden`` (192 in the paper) neurons with ReLU and a linear output layer
with one neuron per task. For the 5x16 compact PTR the feature maps are 5x16 -> 3x14 -> 1x12
(the paper's 16x5, 14x3, 12x1). For 1-pixel-high line representations the filters become 1x3,
1x5, 1x3 (same widths, padding only along the line): a 3x3 filter cannot slide on a line.

Loss (paper eq. in §CNNs): smooth L1, f(d) = 0.5 d^2 if |d| < 1 else |d| - 0.5, on normalised
targets, summed over tasks present (OQMD rows have no lattice parameter: masked out).
Optimiser (paper): SGD, Nesterov momentum 0.85, lr 0.01, weight decay 0.005, step decay of the
learning rate (paper: every 10,000 of 100,000 iterations, i.e. every tenth of training; factor
``lr_gamma``, not given in the paper).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

import sciml

TASKS = {"multi": ("formation_energy_per_atom", "lattice_parameter"),
         "formation_energy": ("formation_energy_per_atom",),
         "lattice_parameter": ("lattice_parameter",)}


class PTRCNN(nn.Module):
    """Multi-task (or single-task) CNN; input ``(batch, 1, height, width)`` images, output
    ``(batch, n_tasks)`` normalised targets.

    metadata keys used: ``input_shape`` ``(1, height, width)``, ``targets`` (the dataset's target
    names, order of the target columns), ``normalization`` (see :mod:`sciml_ptrcnn.dataset`).
    """

    class Config(sciml.ComponentConfig):
        task: Literal["multi", "formation_energy", "lattice_parameter"] = Field(
            "multi", description="multi = formation energy (eV/atom) + lattice parameter (Å); or one of them")
        channels: int = Field(96, ge=1, le=512, description="convolution maps per layer (paper: 96)")
        hidden: int = Field(192, ge=1, le=4096, description="neurons per fully connected layer (paper: 192)")
        smooth_l1_beta: float = Field(1.0, gt=0, description="smooth-L1 transition |d| (paper: 1, normalised units)")
        lr_step_fraction: float = Field(0.1, gt=0, le=1, description="lr decays every this fraction of max_epochs (paper: 10k of 100k iterations)")
        lr_gamma: float = Field(0.7, gt=0, le=1, description="lr multiplier at each step (not in the paper)")
        init: Literal["kaiming", "torch"] = Field(
            "kaiming", description="weight init: kaiming = He normal (fan_in, ReLU), zero biases; torch = PyTorch default")

    def __init__(self, config: "PTRCNN.Config | None" = None, metadata: dict | None = None):
        super().__init__()
        self.config = config = config or self.Config()
        metadata = metadata or {}
        self.metadata = dict(metadata)
        _, h, w = metadata.get("input_shape", (1, 5, 16))
        self.tasks = TASKS[config.task]
        targets = tuple(metadata.get("targets", TASKS["multi"]))
        missing = [t for t in self.tasks if t not in targets]
        if missing:
            raise sciml.UserError(f"model.task={config.task!r} needs target(s) {missing} the dataset does not have ({list(targets)})")
        self.register_buffer("target_index", torch.tensor([targets.index(t) for t in self.tasks]), persistent=False)
        c = config.channels
        if h == 1:  # line representations: 1-D filters of the same widths
            k, p = [(1, 3), (1, 5), (1, 3)], [(0, 1), (0, 1), (0, 0)]
        else:
            k, p = [3, 5, 3], [1, 1, 0]
        self.features = nn.Sequential(
            nn.Conv2d(1, c, k[0], stride=1, padding=p[0]), nn.ReLU(),
            nn.Conv2d(c, c, k[1], stride=1, padding=p[1]), nn.ReLU(),
            nn.Conv2d(c, c, k[2], stride=1, padding=p[2]), nn.ReLU(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, 1, h, w)).numel()
        if n_flat == 0:
            raise sciml.UserError(f"input of {h}x{w} pixels is too small for the 3x3/5x5/3x3 filters")
        self.feature_shape = tuple(self.features(torch.zeros(1, 1, h, w)).shape[1:])
        self.predictor = nn.Sequential(
            nn.Flatten(), nn.Linear(n_flat, config.hidden), nn.ReLU(),
            nn.Linear(config.hidden, config.hidden), nn.ReLU(),
        )
        self.head = nn.Linear(config.hidden, len(self.tasks))
        if config.init == "kaiming":
            for mod in self.modules():
                if isinstance(mod, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                    nn.init.zeros_(mod.bias)
            nn.init.xavier_normal_(self.head.weight)
        self._optimizer = None
        self._base_lr = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, H, W)`` -> ``(batch, n_tasks)`` normalised predictions."""
        return self.head(self.predictor(self.features(x)))

    def loss(self, batch) -> dict[str, torch.Tensor]:
        """Smooth-L1 (paper eq. f(d)) on the normalised targets present; also the per-task L1 (normalised)."""
        x, y, mask = batch
        y, mask = y[:, self.target_index], mask[:, self.target_index]
        pred = self(x)
        sl1 = nn.functional.smooth_l1_loss(pred, torch.nan_to_num(y), reduction="none", beta=self.config.smooth_l1_beta)
        m = mask.float()
        out = {"loss": (sl1 * m).sum() / m.sum().clamp(min=1)}
        for i, t in enumerate(self.tasks):
            out[f"l1_{t}"] = ((pred[:, i] - torch.nan_to_num(y[:, i])).abs() * m[:, i]).sum() / m[:, i].sum().clamp(min=1)
        return out

    def training_step(self, batch, epoch: int) -> dict[str, torch.Tensor]:
        return self.loss(batch)

    def validation_step(self, batch, epoch: int) -> dict[str, torch.Tensor]:
        return self.loss(batch)

    def configure_optimizers(self, trainer_config) -> torch.optim.Optimizer:
        """SGD with Nesterov momentum (paper); lr/momentum/weight decay from the trainer config."""
        get = (lambda k, d: getattr(trainer_config, k, d)) if not isinstance(trainer_config, dict) else trainer_config.get
        self._base_lr = float(get("lr", 0.01))
        opt_name = str(get("optimizer", "sgd")).lower()
        if opt_name == "adam":
            self._optimizer = torch.optim.Adam(self.parameters(), lr=self._base_lr, weight_decay=float(get("weight_decay", 0.005)))
        else:
            self._optimizer = torch.optim.SGD(
                self.parameters(), lr=self._base_lr, momentum=float(get("momentum", 0.85) or 0.85),
                nesterov=bool(get("nesterov", True)), weight_decay=float(get("weight_decay", 0.005)))
        return self._optimizer

    def on_epoch_start(self, epoch: int, max_epochs: int) -> None:
        """Step decay (paper): lr = lr0 * gamma^floor(epoch / (lr_step_fraction * max_epochs))."""
        if self._optimizer is None:
            return
        step = max(1, round(self.config.lr_step_fraction * max_epochs))
        lr = self._base_lr * self.config.lr_gamma ** (epoch // step)
        for g in self._optimizer.param_groups:
            g["lr"] = lr


class StabilityCNN(nn.Module):
    """Transfer-learning stability classifier (paper §Transfer learning): the feature extractor and
    fully connected layers of a trained :class:`PTRCNN`, a new one-neuron head, sigmoid output in
    [0, 1] (probability that X2YZ is a stable full-Heusler compound; the paper calls > 0.99 stable).

    Input ``(batch, 1, H, W)``; :meth:`forward` returns logits ``(batch,)``.
    """

    def __init__(self, base: PTRCNN):
        super().__init__()
        import copy

        self.features = copy.deepcopy(base.features)
        self.predictor = copy.deepcopy(base.predictor)
        self.head = nn.Linear(base.head.in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.predictor(self.features(x))).squeeze(-1)

    @torch.no_grad()
    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """Stability probability in [0, 1], shape ``(batch,)``."""
        self.eval()
        return torch.sigmoid(self(x))
