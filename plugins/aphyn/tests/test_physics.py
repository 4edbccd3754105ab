"""Mitchell–Schaeffer F_p (paper Eq. 2) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from sciml_aphyn.model import APHYNEP
from sciml_aphyn.physics import MitchellSchaeffer


def test_rhs_matches_hand_computed_values_above_and_below_the_gate():
    ms = MitchellSchaeffer()  # τ_in 0.3, τ_out 6, τ_open 120, τ_close 150, v_gate 0.13, t_stim 1
    state = torch.tensor([[0.5, 0.8], [0.1, 0.5]])
    # t = 2 ms: no stimulus
    out = ms(2.0, state)
    # v = 0.5 > v_gate: dv = 0.8·0.25·0.5/0.3 − 0.5/6 = 0.25 ; dh = −0.8/150
    assert out[0, 0].item() == pytest.approx(0.25, rel=1e-5)
    assert out[0, 1].item() == pytest.approx(-0.8 / 150, rel=1e-5)
    # v = 0.1 < v_gate: dv = 0.5·0.01·0.9/0.3 − 0.1/6 ; dh = 0.5/120
    assert out[1, 0].item() == pytest.approx(0.015 - 0.1 / 6, rel=1e-5)
    assert out[1, 1].item() == pytest.approx(0.5 / 120, rel=1e-5)
    # t = 0.5 ms: J_stim = 1 is added to dv/dt only
    stim = ms(0.5, state)
    assert (stim[:, 0] - out[:, 0]).tolist() == pytest.approx([1.0, 1.0])
    assert torch.equal(stim[:, 1], out[:, 1])
    assert ms(1.0, state)[0, 0].item() == pytest.approx(0.25, rel=1e-5)  # stimulus over at t_stim


def test_one_euler_step_of_the_physics_only_model():
    model = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.1), {"sampling_interval": 0.1})
    states = model.forecast(torch.tensor([0.2]), 2)
    # X0 = (0.2, 1); dv = 0.04·0.8/0.3 − 0.2/6 + 1 ; dh = −1/150 (0.2 > v_gate)
    dv = 0.04 * 0.8 / 0.3 - 0.2 / 6 + 1.0
    assert states[0, 0].tolist() == pytest.approx([0.2, 1.0])
    assert states[1, 0, 0].item() == pytest.approx(0.2 + 0.1 * dv, rel=1e-5)
    assert states[1, 0, 1].item() == pytest.approx(1.0 - 0.1 / 150, rel=1e-5)


def test_taus_stay_positive_for_any_parameter_value():
    ms = MitchellSchaeffer(learn=("tau_in", "tau_out", "tau_close"))
    with torch.no_grad():
        ms.log_tau_in.fill_(-40.0)
        ms.log_tau_out.fill_(25.0)
        ms.log_tau_close.fill_(-5.0)
    taus = ms.taus()
    assert all(v > 0 for v in taus.values())
    assert taus["tau_close"] == pytest.approx(math.exp(-5.0), rel=1e-5)
    assert taus["tau_open"] == pytest.approx(120.0, rel=1e-6)  # not learned: unchanged


def test_only_the_named_taus_are_learned():
    ms = MitchellSchaeffer(learn=("tau_in", "tau_close"))
    names = sorted(n for n, _ in ms.named_parameters())
    assert names == ["log_tau_close", "log_tau_in"]
    assert ms.learned == ("tau_in", "tau_close")


@pytest.mark.parametrize("kwargs, match", [
    ({"tau_in": -0.3}, "tau_in must be > 0"),
    ({"tau_close": 0.0}, "tau_close must be > 0"),
    ({"v_gate": 1.5}, "v_gate must lie in"),
    ({"learn": ("tau_in", "tau_foo")}, "unknown τ name"),
])
def test_bad_physics_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MitchellSchaeffer(**kwargs)
