"""Physical part F_p of APHYN-EP: the Mitchell–Schaeffer two-variable model.

Source: Kashtanova et al., "APHYN-EP: Physics-based deep learning framework to learn and
forecast cardiac electrophysiology dynamics", STACOM 2022, Eq. (2); model of Mitchell &
Schaeffer, Bull. Math. Biol. 65 (2003)::

    dv/dt = h v² (1 − v) / τ_in − v / τ_out + J_stim(t)
    dh/dt = (1 − h) / τ_open   if v < v_gate
            −h / τ_close       if v > v_gate

v is the normalised (dimensionless, in [0, 1]) transmembrane potential, h the gating
variable, time in ms, every τ in ms. J_stim(t) = 1 (1/ms) during the stimulation time
0 ≤ t < t_stim, 0 afterwards (paper, below Eq. 2).

The τ that are learned (by default τ_in, τ_out, τ_close, paper §3.1 "Training settings")
are stored as ``log τ`` so that τ = exp(log τ) > 0 for any parameter value (positive by
construction); the others are fixed buffers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Initial values from the paper (§3.1), taken from Mitchell & Schaeffer (2003). τ in ms.
PAPER_INITIAL = {
    "tau_in": 0.3,
    "tau_out": 6.0,
    "tau_open": 120.0,
    "tau_close": 150.0,
    "v_gate": 0.13,
    "t_stim": 1.0,
}

TAU_NAMES = ("tau_in", "tau_out", "tau_open", "tau_close")


class MitchellSchaeffer(nn.Module):
    """Right-hand side of the Mitchell–Schaeffer model (APHYN-EP paper, Eq. 2).

    Args:
        tau_in, tau_out, tau_open, tau_close: initial time constants (ms), each > 0.
        v_gate: gate threshold of v (dimensionless, in (0, 1)).
        t_stim: duration of the stimulus J_stim = 1 at the start of the forecast (ms).
        stim_amplitude: value of J_stim during the stimulus (1/ms); 1 in the paper.
        learn: names of the τ that are trainable (subset of ``tau_in, tau_out, tau_open,
            tau_close``); the paper learns ``("tau_in", "tau_out", "tau_close")``.

    Raises:
        ValueError: a τ that is not > 0, a ``v_gate`` outside (0, 1), or an unknown name
            in ``learn``.
    """

    def __init__(
        self,
        tau_in: float = 0.3,
        tau_out: float = 6.0,
        tau_open: float = 120.0,
        tau_close: float = 150.0,
        v_gate: float = 0.13,
        t_stim: float = 1.0,
        stim_amplitude: float = 1.0,
        learn: tuple[str, ...] | list[str] = ("tau_in", "tau_out", "tau_close"),
    ):
        super().__init__()
        taus = {"tau_in": tau_in, "tau_out": tau_out, "tau_open": tau_open, "tau_close": tau_close}
        unknown = sorted(set(learn) - set(TAU_NAMES))
        if unknown:
            raise ValueError(f"unknown τ name(s) {unknown} in learn; accepted: {list(TAU_NAMES)}")
        for name, value in taus.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0 ms, got {value!r}")
            log_value = torch.tensor(math.log(value), dtype=torch.float32)
            if name in learn:
                self.register_parameter(f"log_{name}", nn.Parameter(log_value))
            else:
                self.register_buffer(f"log_{name}", log_value)
        if not 0.0 < v_gate < 1.0:
            raise ValueError(f"v_gate must lie in (0, 1), got {v_gate!r}")
        self.v_gate = float(v_gate)
        self.t_stim = float(t_stim)
        self.stim_amplitude = float(stim_amplitude)
        self.learned = tuple(n for n in TAU_NAMES if n in learn)

    def tau(self, name: str) -> torch.Tensor:
        """τ ``name`` in ms (a positive scalar tensor, differentiable if learned)."""
        return torch.exp(getattr(self, f"log_{name}"))

    def taus(self) -> dict[str, float]:
        """All four τ as floats (ms)."""
        return {n: float(self.tau(n).detach()) for n in TAU_NAMES}

    def j_stim(self, t: torch.Tensor | float) -> float:
        """J_stim(t): ``stim_amplitude`` (1/ms) for 0 ≤ t < t_stim (ms), else 0."""
        t = float(t)
        return self.stim_amplitude if 0.0 <= t < self.t_stim else 0.0

    def rates(self) -> torch.Tensor:
        """``(4,)`` tensor of 1/τ_in, 1/τ_out, 1/τ_open, 1/τ_close (1/ms), differentiable."""
        return torch.exp(-torch.stack([getattr(self, f"log_{n}") for n in TAU_NAMES]))

    def rhs(self, rates: torch.Tensor, t: torch.Tensor | float, state: torch.Tensor) -> torch.Tensor:
        """Eq. 2 with precomputed :meth:`rates` (saves work inside an ODE solver loop)."""
        v = state[..., 0]
        h = state[..., 1]
        dv = h * v * v * (1.0 - v) * rates[0] - v * rates[1]
        stim = self.j_stim(t)
        if stim:
            dv = dv + stim
        dh = torch.where(v < self.v_gate, (1.0 - h) * rates[2], -h * rates[3])
        return torch.stack((dv, dh), dim=-1)

    def forward(self, t: torch.Tensor | float, state: torch.Tensor) -> torch.Tensor:
        """F_p(t, X): time derivative of X = (v, h) (Eq. 2).

        Args:
            t: time since the first measurement (ms), a scalar.
            state: ``(..., 2)`` with ``state[..., 0] = v`` and ``state[..., 1] = h``.

        Returns:
            ``(..., 2)``: (dv/dt, dh/dt) in 1/ms, same dtype as ``state``.
        """
        return self.rhs(self.rates(), t, state)
