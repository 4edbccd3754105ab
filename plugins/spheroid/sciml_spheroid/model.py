"""``spheroid:simclr``: SimCLR encoder + projection head + untreated time-series model.

Methodology 1 of the thesis (Babu 2024, §5.1): (1) representations of every image from SimCLR
(Chen et al. 2020; NT-Xent eq. (1)); (2) a time-series model trained only on untreated wells'
representations of days 7–9 to predict day 10; (3) the deviation between predicted and actual
day-10 representations is the efficacy score used for ranking.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import sciml
import torch
from pydantic import Field
from torch import nn

from sciml_spheroid.augment import simclr_augment
from sciml_spheroid.encoder import ProjectionHead, ResNet18Encoder
from sciml_spheroid.losses import nt_xent
from sciml_spheroid.timeseries import TimeSeriesPredictor, deviation, fit_predictor


class SpheroidSimCLR(nn.Module):
    """SimCLR + time-series efficacy scorer. Inputs: images in [0, 1] of shape ``(B, 1, S, S)``."""

    class Config(sciml.ComponentConfig):
        width: int = Field(8, ge=2, le=64, description="ResNet-18 base width w (stages w, 2w, 4w, 8w channels)")
        stem_stride: int = Field(2, ge=1, le=4, description="stride of the 3x3 stem convolution (1 = full resolution)")
        embedding_size: int = Field(64, ge=4, le=1024, description="size of the representation h")
        projection_dim: int = Field(32, ge=2, le=1024, description="size of the projection z fed to NT-Xent")
        temperature: float = Field(0.2, gt=0.0, le=5.0, description="NT-Xent temperature tau (-)")
        aug_strength: float = Field(0.5, ge=0.0, le=1.0, description="scale of all augmentation ranges (0 = none)")
        ts_hidden: int = Field(16, ge=2, le=1024, description="GRU hidden size of the time-series model")
        context_days: list[int] | None = Field(None, description=(
            "days the time-series model reads (default: every imaging day of the data before target_day)"))
        target_day: int | None = Field(None, description=(
            "day whose representation is predicted, the read-out day (default: the data's last imaging day)"))
        distance: Literal["l2", "cosine"] = Field("l2", description="deviation predicted vs actual: 'l2' or 'cosine'")
        augment: Literal["efficacy", "legacy"] = Field("efficacy", description=(
            "SimCLR views: 'efficacy' (flips, 90° rotations, small shifts, noise, blur, mild crop and "
            "intensity that keep size and darkening) or 'legacy' (the first release's crops and brightness)"))
        normalise: Literal["plate", "training"] = Field("plate", description=(
            "'plate': representations centred on the plate's own untreated wells per day and scores as "
            "z-scores against them (eqs. N1, N2); 'training': against the training plates' untreated wells"))

    def __init__(self, config: Config, metadata: dict):
        super().__init__()
        self.config = config
        self.days = list(metadata.get("days", [7, 8, 9, 10]))
        self.target_day = int(self.days[-1] if config.target_day is None else config.target_day)
        self.context_days = ([d for d in self.days if d < self.target_day] if config.context_days is None
                             else [int(d) for d in config.context_days])
        for d in list(self.context_days) + [self.target_day]:
            if d not in self.days:
                raise sciml.UserError(f"model day {d} is not an imaging day of the data {self.days} "
                                      "(set model.context_days and model.target_day)")
        if self.target_day in self.context_days or not self.context_days:
            raise sciml.UserError(f"model.context_days {self.context_days} must be non-empty and must not contain "
                                  f"model.target_day {self.target_day}")
        self.image_size = int(metadata.get("image_size", 64))
        self.in_channels = int(metadata.get("in_channels", 1))
        self.encoder = ResNet18Encoder(self.in_channels, config.width, config.embedding_size,
                                       stem_stride=config.stem_stride)
        self.head = ProjectionHead(config.embedding_size, config.projection_dim)
        self.predictor = TimeSeriesPredictor(config.embedding_size, config.ts_hidden)
        self.register_buffer("rep_mean", torch.zeros(config.embedding_size))
        self.register_buffer("rep_std", torch.ones(config.embedding_size))
        self.register_buffer("ts_fitted", torch.zeros((), dtype=torch.bool))
        self.__dict__["_aug_cache"] = None  # kornia pipeline, kept out of the state_dict

    # -- SimCLR -----------------------------------------------------------------------------
    @property
    def augment(self):
        if self.__dict__["_aug_cache"] is None:
            self.__dict__["_aug_cache"] = simclr_augment(self.image_size, self.config.aug_strength,
                                                         preset=self.config.augment)
        return self.__dict__["_aug_cache"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Representations ``h``: ``(B, C, S, S) -> (B, embedding_size)``."""
        return self.encoder(images)

    @staticmethod
    def _images(batch) -> torch.Tensor:
        x = batch["images"] if isinstance(batch, dict) else batch
        return x.reshape(-1, *x.shape[-3:]) if x.ndim == 5 else x

    def simclr_loss(self, images: torch.Tensor) -> torch.Tensor:
        """NT-Xent of two random views of each image in ``(B, C, S, S)``."""
        with torch.no_grad():
            v1, v2 = self.augment(images), self.augment(images)
        z1 = self.head(self.encoder(v1.clamp(0, 1)))
        z2 = self.head(self.encoder(v2.clamp(0, 1)))
        return nt_xent(z1, z2, self.config.temperature)

    def validation_step(self, batch, epoch: int) -> dict:
        """NT-Xent with a fixed augmentation seed (comparable between epochs; global RNG untouched)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(12345)
            return {"loss": self.simclr_loss(self._images(batch))}

    def configure_optimizers(self, config):
        """Adam with a cosine learning-rate schedule over ``config.max_epochs`` (engine hook)."""
        opt = torch.optim.Adam(self.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.max_epochs))

    def training_step(self, batch, epoch: int) -> dict:
        """``batch``: dict with ``images`` ``(B, n_days, C, S, S)`` or a ``(B, C, S, S)`` tensor."""
        return {"loss": self.simclr_loss(self._images(batch))}

    # -- representations and the time-series stage ------------------------------------------
    @torch.no_grad()
    def embed(self, images: np.ndarray | torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Representations of ``(..., C, S, S)`` images (eval mode) -> ``(..., embedding_size)``.

        Raises:
            sciml.UserError: the channel count differs from the model's (``in_channels``)."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        if x.ndim < 3 or x.shape[-3] != self.in_channels:
            raise sciml.UserError(f"images of shape {tuple(x.shape)}: this model reads {self.in_channels} "
                                  "channel(s) (focal layers) per image, as (..., C, S, S)")
        lead = x.shape[:-3]
        flat = x.reshape(-1, *x.shape[-3:])
        was = self.training
        self.eval()
        dev = next(self.parameters()).device
        out = torch.cat([self.encoder(flat[i:i + batch_size].to(dev)).cpu() for i in range(0, len(flat), batch_size)])
        self.train(was)
        return out.reshape(*lead, -1)

    def prepare(self, reps, plate=None, group=None) -> torch.Tensor:
        """Representations ``(N, n_days, D)`` as the time-series stage reads them: centred on the
        untreated wells of their own plate per day (eq. N1) when ``normalise='plate'``, unchanged
        otherwise.

        Raises:
            sciml.UserError: ``normalise='plate'`` without ``plate``/``group`` or without untreated wells.
        """
        reps = torch.as_tensor(reps).float()
        if self.config.normalise != "plate":
            return reps
        if plate is None or group is None:
            raise sciml.UserError("model.normalise='plate' needs each well's plate and group to score it")
        if not np.any(np.asarray(group) == 0):
            raise sciml.UserError("model.normalise='plate' needs untreated (control) wells on the plate(s) scored; "
                                  "add them to the plate map or set model.normalise=training")
        from sciml_spheroid.normalise import centre_on_controls

        return torch.as_tensor(centre_on_controls(reps.cpu().numpy(), plate, group), dtype=torch.float32)

    @torch.no_grad()
    def score_wells(self, reps, plate=None, group=None, distance: str | None = None) -> np.ndarray:
        """Efficacy score ``(N,)`` of wells from raw representations ``(N, n_days, D)``: :meth:`prepare`,
        :meth:`score`, and with ``normalise='plate'`` z-scores against the plate's own untreated
        wells (eq. N2; 0 = like the controls, in units of their scatter)."""
        s = self.score(self.prepare(reps, plate, group), distance).numpy().astype(np.float64)
        if self.config.normalise != "plate":
            return s
        from sciml_spheroid.normalise import standardise_scores

        return standardise_scores(s, plate, group)

    def _split_days(self, reps: torch.Tensor):
        reps = torch.as_tensor(reps).to(self.rep_mean.device)
        ctx = [self.days.index(d) for d in self.context_days]
        tgt = self.days.index(self.target_day)
        z = (reps - self.rep_mean) / self.rep_std
        return z[:, ctx], z[:, tgt]

    def fit_time_series(self, reps_untreated: torch.Tensor, epochs: int = 300, lr: float = 3e-3,
                        reps_val: torch.Tensor | None = None) -> list[float]:
        """Fit the standardisation and the predictor on untreated wells' ``(N, n_days, D)``
        representations; ``reps_val`` (untreated validation wells) selects the best epoch."""
        reps_untreated = reps_untreated.detach().float().to(self.rep_mean.device)
        self.set_standardisation(reps_untreated)
        ctx, tgt = self._split_days(reps_untreated)
        val = self._split_days(reps_val.detach().float()) if reps_val is not None and len(reps_val) else None
        hist = fit_predictor(self.predictor, ctx, tgt, epochs=epochs, lr=lr, val=val)
        self.ts_fitted.fill_(True)
        return hist

    @torch.no_grad()
    def set_standardisation(self, reps_untreated: torch.Tensor) -> None:
        """Mean and sd per dimension of untreated wells' ``(N, n_days, D)`` (prepared) representations."""
        flat = torch.as_tensor(reps_untreated).float().reshape(-1, reps_untreated.shape[-1]).to(self.rep_mean.device)
        self.rep_mean.copy_(flat.mean(0))
        self.rep_std.copy_(flat.std(0).clamp_min(1e-6) if len(flat) > 1 else torch.ones_like(self.rep_std))

    @torch.no_grad()
    def time_series_loss(self, reps: torch.Tensor) -> float:
        """MSE of the target-day prediction on ``(N, n_days, D)`` representations (standardised
        units); ``reps`` as :meth:`prepare` returns them."""
        ctx, tgt = self._split_days(torch.as_tensor(reps).float())
        return float(torch.mean((self.predictor(ctx) - tgt) ** 2))

    @torch.no_grad()
    def score(self, reps: torch.Tensor, distance: str | None = None) -> torch.Tensor:
        """Efficacy score ``(N,)``: deviation of the predicted from the actual day-10 representation.

        ``l2``: Euclidean distance of the standardised representations (untreated mean/sd);
        ``cosine``: 1 - cosine similarity of the representations in their own (uncentred) space —
        after centring on the untreated mean, untreated wells sit near the origin where the
        angle is noise (measured: Spearman -0.34 instead of +0.73 on the default run)."""
        ctx, tgt = self._split_days(reps.float())
        self.predictor.eval()
        pred = self.predictor(ctx)
        distance = distance or self.config.distance
        if distance == "cosine":  # angles between the representations themselves, not the centred ones
            pred, tgt = pred * self.rep_std + self.rep_mean, tgt * self.rep_std + self.rep_mean
        return deviation(pred, tgt, distance).cpu()
