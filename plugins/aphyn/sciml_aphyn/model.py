"""APHYN-EP: dX/dt = F_p(X) + F_dl(X), integrated with a differentiable ODE solver.

Source: Kashtanova et al., STACOM 2022, Eq. (1) (decomposition), Eq. (2) (F_p, see
:mod:`sciml_aphyn.physics`) and Eq. (3) (loss, see :meth:`APHYNEP.loss_terms`).

The data are 0D (paper §3.1: one time sequence per pixel, each pixel a separate sample), so
the state is X = (v, h) per pixel and F_dl acts on each pixel's state independently: a
ResNet of 1×1 convolutions (= per-pixel linear layers) with ``width`` filters (8 in the
paper) and ``n_blocks`` residual blocks (3 in the paper), orthogonally initialised and
re-weighted by ``init_gain`` so that F_dl starts close to 0. A whole slab is forecast at
once by putting its pixels on the batch axis.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import sciml
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from sciml_aphyn.physics import PAPER_INITIAL, TAU_NAMES, MitchellSchaeffer


class ResidualBlock(nn.Module):
    """``x + W2 relu(W1 x)`` on ``(batch, width)`` (He et al. 2016, 1×1 convolutions)."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.linear instead of module calls: this runs 3500 times per 350 ms forecast.
        hidden = torch.relu(F.linear(x, self.fc1.weight, self.fc1.bias))
        return x + F.linear(hidden, self.fc2.weight, self.fc2.bias)


class ResNetFdl(nn.Module):
    """Data-driven part F_dl: ``(..., 2) -> (..., 2)``, (v, h) to (dv/dt, dh/dt) in 1/ms.

    Args:
        width: number of filters (8 in the paper).
        n_blocks: number of residual blocks (3 in the paper).
        init_gain: gain of the orthogonal initialisation ("re-weighted orthogonal
            initialisation", paper §3.1); the output layer is scaled by it twice, so
            F_dl starts near zero.
        zero_output: start the output layer at exactly zero, so F_dl = 0 and the hybrid
            model begins as the physical model. Even the small F_dl of ``init_gain`` (~5e-4/ms)
            is half the net dv/dt of the plateau (~1e-3/ms) and shifts the repolarisation.
    """

    def __init__(self, width: int = 8, n_blocks: int = 3, init_gain: float = 0.1, zero_output: bool = True):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(n_blocks)])
        self.head = nn.Linear(width, 2)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=init_gain)
                nn.init.zeros_(module.bias)
        # re-weight the output layer once more, to zero by default (F_dl = 0, the forecast starts
        # as the physical model's), else to F_dl ~ init_gain² |x| (1/ms).
        with torch.no_grad():
            self.head.weight.mul_(0.0 if zero_output else init_gain)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        x = torch.relu(F.linear(state, self.stem.weight, self.stem.bias))
        for block in self.blocks:
            x = block(x)
        return F.linear(x, self.head.weight, self.head.bias)


class ConstantFdl(nn.Module):
    """A learnable constant dv/dt: ``(..., 2) -> (..., 2)`` = (offset, 0) in 1/ms.

    The constant-offset control of issue 11: Mitchell–Schaeffer plus one number. If F_dl
    learns little more than a constant leak, this control does as well as APHYN-EP.
    Starts at 0 (the model starts as F_p alone).
    """

    def __init__(self):
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        dv = self.offset.expand(state.shape[:-1])
        return torch.stack((dv, torch.zeros_like(dv)), dim=-1)


class _Rhs(nn.Module):
    """``t, X -> F_p(t, X) + F_dl(X)`` for torchdiffeq (F_dl is skipped when absent).

    ``rates`` (the 1/τ of F_p) are computed once per forecast by :meth:`APHYNEP.forecast`.
    """

    def __init__(self, physics: MitchellSchaeffer, fdl: nn.Module | None, time_unit: float = 1.0):
        super().__init__()
        self.physics = physics
        self.fdl = fdl
        self.time_unit = float(time_unit)
        self.fdl_enabled = True
        self.rates: torch.Tensor | None = None

    @property
    def active_fdl(self) -> nn.Module | None:
        """F_dl when it takes part (present and not switched off by ``physics_only``), else None."""
        return self.fdl if self.fdl_enabled else None

    def forward(self, t, state):
        rates = self.rates if self.rates is not None else self.physics.rates()
        out = self.physics.rhs(rates, t, state)
        fdl = self.active_fdl
        if fdl is not None:
            out = out + fdl(state) / self.time_unit
        return out


class APHYNEP(nn.Module):
    """APHYN-EP model (paper Eq. 1): Mitchell–Schaeffer physics plus a ResNet correction.

    Constructed as ``APHYNEP(config, metadata)``; ``metadata`` needs ``sampling_interval``
    (ms between two samples of a trace) and may give ``horizon`` (ms).

    A batch is a tensor of normalised voltage traces ``(batch, n_samples)`` sampled every
    ``sampling_interval`` ms; the forecast starts from the first sample alone
    (X_0 = (v_0, h_0 = 1), paper §2) and runs over the whole trace.
    """

    class Config(sciml.ComponentConfig):
        use_fdl: bool = Field(True, description="include F_dl; False gives the physics-only baseline")
        fdl_kind: Literal["resnet", "constant"] = Field(
            "resnet", description="F_dl: the paper's ResNet, or one learnable dv/dt offset (the constant-offset control)")
        width: int = Field(8, ge=1, le=256, description="ResNet filters (paper: 8)")
        n_blocks: int = Field(3, ge=0, le=16, description="ResNet residual blocks (paper: 3)")
        init_gain: float = Field(0.1, gt=0, le=10, description="gain of F_dl's orthogonal init")
        zero_output: bool = Field(True, description="F_dl's output layer starts at 0 (the model starts as F_p)")
        learn_tau: list[Literal["tau_in", "tau_out", "tau_open", "tau_close"]] = Field(
            default_factory=lambda: ["tau_in", "tau_out", "tau_close"],
            description="which τ of Eq. 2 are learned (paper: tau_in, tau_out, tau_close)")
        tau_in: float = Field(PAPER_INITIAL["tau_in"], gt=0, description="initial τ_in (ms)")
        tau_out: float = Field(PAPER_INITIAL["tau_out"], gt=0, description="initial τ_out (ms)")
        tau_open: float = Field(PAPER_INITIAL["tau_open"], gt=0, description="initial τ_open (ms)")
        tau_close: float = Field(PAPER_INITIAL["tau_close"], gt=0, description="initial τ_close (ms)")
        v_gate: float = Field(PAPER_INITIAL["v_gate"], gt=0, lt=1, description="gate threshold (normalised v)")
        t_stim: float = Field(PAPER_INITIAL["t_stim"], ge=0, description="stimulus duration J_stim = 1 (ms)")
        step_size: float = Field(0.1, gt=0, le=5, description="ODE solver step (ms; paper: 0.1)")
        method: Literal["euler", "midpoint", "rk4"] = Field(
            "euler", description="fixed-step torchdiffeq method (paper forecasts with Euler)")
        time_unit: float = Field(
            1.0, gt=0, le=1e4,
            description="time unit of F_dl (ms): F_dl outputs dX/dt per time_unit and Eq. 3's ‖F_dl‖² is "
                        "taken in (1/time_unit)², i.e. weighted by time_unit² against the norm in 1/ms")

    #: Config keys that only shape F_dl (the physics-only baseline does not depend on them).
    FDL_KEYS = frozenset({"fdl_kind", "width", "n_blocks", "init_gain", "zero_output", "time_unit"})

    def __init__(self, config: Config | None = None, metadata: dict | None = None):
        super().__init__()
        self.config = config = config or self.Config()
        metadata = dict(metadata or {})
        self.sampling_interval = float(metadata.get("sampling_interval", 1.0))
        self.physics = MitchellSchaeffer(
            tau_in=config.tau_in, tau_out=config.tau_out, tau_open=config.tau_open,
            tau_close=config.tau_close, v_gate=config.v_gate, t_stim=config.t_stim,
            learn=tuple(config.learn_tau))
        if not config.use_fdl:
            self.fdl = None
        elif config.fdl_kind == "constant":
            self.fdl = ConstantFdl()
        else:
            self.fdl = ResNetFdl(config.width, config.n_blocks, config.init_gain, config.zero_output)
        self.rhs = _Rhs(self.physics, self.fdl, config.time_unit)
        #: λ of Eq. 3 used by training_step (set each epoch by the trainer's LambdaSchedule)
        self.loss_lambda = 1.0
        #: (start samples, full samples, epochs) of the horizon curriculum (set by the trainer)
        self.curriculum: tuple[int, int, int] | None = None
        #: samples forecast per training trace this epoch (None = the whole trace)
        self.horizon_samples: int | None = None

    @contextlib.contextmanager
    def physics_only(self):
        """Within the block, forecasts and losses use F_p alone (F_dl is skipped, not zeroed).

        Used for the trainer's physics warm-up; F_dl's parameters get no gradient there.
        """
        previous = self.rhs.fdl_enabled
        self.rhs.fdl_enabled = False
        try:
            yield self
        finally:
            self.rhs.fdl_enabled = previous

    # -- forecasting -------------------------------------------------------------------
    def times(self, n_samples: int, device=None) -> torch.Tensor:
        """Sample times ``(n_samples,)`` in ms, starting at 0."""
        return torch.arange(n_samples, dtype=torch.float32, device=device) * self.sampling_interval

    def initial_state(self, v0: torch.Tensor) -> torch.Tensor:
        """X_0 = (v_0, 1) from the first measurement ``v0`` ``(batch,)`` -> ``(batch, 2)``."""
        return torch.stack((v0, torch.ones_like(v0)), dim=-1)

    def forecast(self, v0: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Integrate dX/dt = F_p + F_dl from X_0 = (v0, 1) with torchdiffeq.

        Args:
            v0: first measurement of each trace, ``(batch,)``, normalised.
            n_samples: number of output samples (the first is X_0), spaced
                ``sampling_interval`` ms.

        Returns:
            ``(n_samples, batch, 2)``: (v, h) at the sample times, float32.
        """
        from torchdiffeq import odeint

        t = self.times(n_samples, device=v0.device)
        self.rhs.rates = self.physics.rates()
        try:
            return odeint(self.rhs, self.initial_state(v0), t, method=self.config.method,
                          options={"step_size": self.config.step_size})
        finally:
            self.rhs.rates = None

    def decompose(self, states: torch.Tensor, t: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """F_p and F_dl evaluated on ``states`` ``(n_t, batch, 2)`` -> each ``(n_t, batch, 2)``.

        ``t`` (``(n_t,)`` ms) gives J_stim; without it, J_stim is left out of F_p.
        """
        if t is None:
            fp = self.physics(-1.0, states)
        else:
            fp = torch.stack([self.physics(float(ti), s) for ti, s in zip(t, states, strict=True)])
        fdl = self.rhs.active_fdl
        fdl_ms = fdl(states) / self.rhs.time_unit if fdl is not None else torch.zeros_like(states)
        return {"F_p": fp, "F_dl": fdl_ms}

    # -- loss (paper Eq. 3) --------------------------------------------------------------
    def loss_terms(self, traces: torch.Tensor) -> dict[str, torch.Tensor]:
        """Trajectory MSE and ‖F_dl‖² of a batch of traces ``(batch, n_samples)``.

        ``traj`` = mean over samples and pixels of (v_forecast − v_measured)² (L_traj of
        Eq. 3, averaged instead of summed so that λ does not depend on the batch size);
        ``fdl_norm2`` = mean of |F_dl(X̃_t)|² over the forecast states (the squared
        ‖F_dl‖ of Eq. 3, as in APHYNITY), in (1/``time_unit``)²; 0 for the physics-only
        model and inside :meth:`physics_only`.
        """
        states = self.forecast(traces[:, 0], traces.shape[1])
        v = states[..., 0].transpose(0, 1)
        traj = torch.mean((v - traces) ** 2)
        fdl = self.rhs.active_fdl
        if fdl is not None:
            fdl_norm2 = torch.mean(torch.sum(fdl(states) ** 2, dim=-1))
        else:
            fdl_norm2 = torch.zeros((), device=traces.device)
        return {"traj": traj, "fdl_norm2": fdl_norm2}

    def taus(self) -> dict[str, float]:
        """Current τ values (ms)."""
        return self.physics.taus()

    # -- the engine's model contract (sciml.fit; see sciml_aphyn.training) ------------------
    @staticmethod
    def _traces(batch) -> torch.Tensor:
        return batch[0] if isinstance(batch, (list, tuple)) else batch

    def training_step(self, batch, epoch: int) -> dict[str, torch.Tensor]:
        """Eq. 3: ``loss`` = λ · L_traj + ‖F_dl‖² on the epoch's horizon; also ``traj``, ``fdl_norm2``."""
        traces = self._traces(batch)
        if self.horizon_samples:
            traces = traces[:, : self.horizon_samples]
        terms = self.loss_terms(traces)
        return {"loss": self.loss_lambda * terms["traj"] + terms["fdl_norm2"], **terms}

    def validation_step(self, batch, epoch: int) -> dict[str, torch.Tensor]:
        """``loss`` = forecast MSE over the whole validation traces (the paper's Table-1 figure)."""
        terms = self.loss_terms(self._traces(batch))
        return {"loss": terms["traj"], **terms}

    def on_epoch_start(self, epoch: int, max_epochs: int) -> None:
        """Horizon curriculum: the forecast horizon grows linearly to the full trace."""
        if not self.curriculum:
            self.horizon_samples = None
            return
        start, full, epochs = self.curriculum
        if epochs <= 0 or epoch >= epochs:
            self.horizon_samples = None
        else:
            self.horizon_samples = max(2, min(full, int(round(start + epoch / epochs * (full - start)))))

    def on_epoch_end(self, epoch: int, metrics: dict) -> dict[str, float]:
        """The current τ (ms), reported each epoch."""
        return self.taus()

    def configure_optimizers(self, trainer_config):
        """Adam with two groups: F_dl at ``lr``, the log τ at ``physics_lr`` (default ``lr``).

        Raises:
            sciml.UserError: nothing to train (no learned τ and no F_dl).
        """
        c = trainer_config
        phys = [p for n, p in self.named_parameters() if n.startswith("physics.")]
        rest = [p for n, p in self.named_parameters() if not n.startswith("physics.")]
        groups = []
        if rest:
            groups.append({"params": rest, "lr": c.lr})
        if phys:
            groups.append({"params": phys, "lr": getattr(c, "physics_lr", None) or c.lr})
        if not groups:
            raise sciml.UserError("the model has no trainable parameter: learn at least one τ or use F_dl")
        return torch.optim.Adam(groups, weight_decay=c.weight_decay)

    def clip_gradients(self, max_norm: float) -> None:
        """Clip F_dl's gradient norm only: a joint clip would shrink the τ steps too."""
        rest = [p for n, p in self.named_parameters() if not n.startswith("physics.")]
        if rest:
            torch.nn.utils.clip_grad_norm_(rest, max_norm)


__all__ = ["APHYNEP", "ConstantFdl", "ResNetFdl", "TAU_NAMES"]
