"""The paper's CNN on periodic-table images (Zheng, Zheng & Zhang 2018, §CNNs and Fig. 1c).

Architecture: three convolution + ReLU pairs (3x3, 5x5, 3x3 filters; ``channels`` maps, 96 in the
paper; stride 1; zero padding 1 on the inputs of the first two; no pooling), then two fully
connected layers of ``hidden`` (192 in the paper) neurons with ReLU and a linear output layer
with one neuron per task (``hidden_layers=1``: the authors' public ports, one FC layer of 192
then the output, which is another reading of the paper's "two full connection layers"). For the 5x16 compact PTR the feature maps are 5x16 -> 3x14 -> 1x12
(the paper's 16x5, 14x3, 12x1). For 1-pixel-high line representations the filters become 1x3,
1x5, 1x3 (same widths, padding only along the line): a 3x3 filter cannot slide on a line.

Loss (paper eq. in §CNNs): smooth L1, f(d) = 0.5 d^2 if |d| < 1 else |d| - 0.5, on normalised
targets, summed over tasks present (OQMD rows have no lattice parameter: masked out).
Optimiser (paper): SGD, Nesterov momentum 0.85, lr 0.01, weight decay 0.005, step decay of the
learning rate: trainer configuration (:class:`sciml_ptrcnn.training.PaperTrainer`), built by the
core's engine.
"""

from __future__ import annotations

from typing import Literal

import sciml
import torch
from pydantic import Field, model_validator
from torch import nn

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
        hidden_layers: int = Field(2, ge=1, le=4, description="hidden fully connected layers before the output layer: 2 = our reading of the paper's 'two full connection layers'; 1 = the authors' PyTorch/Keras ports (one FC of 192, then the output)")
        smooth_l1_beta: float = Field(1.0, gt=0, description="smooth-L1 transition |d| (paper: 1, normalised units)")
        init: Literal["kaiming", "torch"] = Field(
            "kaiming", description="weight init: kaiming = He normal (fan_in, ReLU), zero biases; torch = PyTorch default")

        @model_validator(mode="before")
        @classmethod
        def _moved_to_trainer(cls, data):
            """The step decay moved to the trainer (issue 12): models saved before carry the old
            defaults (dropped, they are the trainer's defaults now); other values are an error."""
            if isinstance(data, dict):
                data = dict(data)
                for key, old in (("lr_step_fraction", 0.1), ("lr_gamma", 0.7)):
                    if key in data and data.pop(key) != old:
                        hint = "trainer.lr_step_size (epochs)" if key == "lr_step_fraction" else "trainer.lr_gamma"
                        raise ValueError(f"model.{key} is no longer a model option: set {hint} instead")
            return data

    def __init__(self, config: PTRCNN.Config | None = None, metadata: dict | None = None):
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
        fcs = [nn.Flatten(), nn.Linear(n_flat, config.hidden), nn.ReLU()]
        for _ in range(config.hidden_layers - 1):
            fcs += [nn.Linear(config.hidden, config.hidden), nn.ReLU()]
        self.predictor = nn.Sequential(*fcs)
        self.head = nn.Linear(config.hidden, len(self.tasks))
        if config.init == "kaiming":
            for mod in self.modules():
                if isinstance(mod, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                    nn.init.zeros_(mod.bias)
            nn.init.xavier_normal_(self.head.weight)

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
        self.train()  # the copies keep the base's eval mode otherwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.predictor(self.features(x))).squeeze(-1)

    def training_step(self, batch, epoch: int) -> dict[str, torch.Tensor]:
        """Binary cross-entropy of the logits for a batch ``(x (n,1,H,W), y (n,) in {0, 1})``."""
        x, y = batch[0], batch[1]
        return {"loss": nn.functional.binary_cross_entropy_with_logits(self(x), y.float())}

    @torch.no_grad()
    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """Stability probability in [0, 1], shape ``(batch,)``."""
        self.eval()
        return torch.sigmoid(self(x))
