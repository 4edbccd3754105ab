"""APHYN-EP model: solver shapes, dtype, gradients, Eq. 3 terms."""

from __future__ import annotations

import pytest
import torch
from sciml_aphyn.model import APHYNEP, ResNetFdl


def test_forecast_shape_dtype_and_initial_state():
    model = APHYNEP(APHYNEP.Config(), {"sampling_interval": 1.0})
    v0 = torch.tensor([0.1, 0.5, 0.9])
    states = model.forecast(v0, 21)
    assert states.shape == (21, 3, 2)
    assert states.dtype == torch.float32
    assert states[0, :, 0].tolist() == pytest.approx(v0.tolist())
    assert states[0, :, 1].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert torch.isfinite(states).all()


def test_euler_and_rk4_agree_on_a_short_forecast():
    cfg = dict(use_fdl=False, step_size=0.05)
    e = APHYNEP(APHYNEP.Config(method="euler", **cfg), {"sampling_interval": 1.0})
    r = APHYNEP(APHYNEP.Config(method="rk4", **cfg), {"sampling_interval": 1.0})
    v0 = torch.tensor([0.9])
    se, sr = e.forecast(v0, 30), r.forecast(v0, 30)
    # the stimulus switches off at t_stim = 1 ms: compare after it
    assert torch.allclose(se[2:], sr[2:], atol=5e-3)
    assert not torch.allclose(se[2:], sr[2:], atol=1e-6)


def test_resnet_starts_at_zero_or_small_and_has_the_paper_size():
    fdl = ResNetFdl(width=8, n_blocks=3)
    assert len(fdl.blocks) == 3 and fdl.stem.out_features == 8
    x = torch.rand(100, 2)
    out = fdl(x)
    assert out.shape == (100, 2) and not out.any()  # zero output layer: APHYN-EP starts as F_p
    small = ResNetFdl(width=8, n_blocks=3, zero_output=False)(x)
    assert 0 < small.abs().max().item() < 1e-2


def test_hybrid_starts_as_the_physical_model_and_physics_only_skips_fdl():
    meta = {"sampling_interval": 1.0}
    torch.manual_seed(0)
    hybrid = APHYNEP(APHYNEP.Config(step_size=0.5), meta)
    physics = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), meta)
    v0 = torch.tensor([0.3, 0.8])
    assert torch.equal(hybrid.forecast(v0, 30), physics.forecast(v0, 30))
    with torch.no_grad():
        hybrid.fdl.head.bias.fill_(0.01)
    assert not torch.equal(hybrid.forecast(v0, 30), physics.forecast(v0, 30))
    with hybrid.physics_only():
        assert torch.equal(hybrid.forecast(v0, 30), physics.forecast(v0, 30))
        assert hybrid.loss_terms(torch.rand(2, 6))["fdl_norm2"].item() == 0.0
    assert hybrid.loss_terms(torch.rand(2, 6))["fdl_norm2"].item() > 0  # switched back on


def test_loss_terms_are_differentiable_in_tau_and_fdl():
    model = APHYNEP(APHYNEP.Config(zero_output=False), {"sampling_interval": 1.0})
    traces = torch.rand(4, 11)
    terms = model.loss_terms(traces)
    (terms["traj"] + terms["fdl_norm2"]).backward()
    assert model.physics.log_tau_in.grad is not None and model.physics.log_tau_in.grad != 0
    assert model.fdl.head.weight.grad is not None and model.fdl.head.weight.grad.abs().sum() > 0
    assert terms["fdl_norm2"].item() > 0


def test_physics_only_model_has_no_fdl_and_zero_norm():
    model = APHYNEP(APHYNEP.Config(use_fdl=False), {"sampling_interval": 1.0})
    assert model.fdl is None
    terms = model.loss_terms(torch.rand(2, 6))
    assert terms["fdl_norm2"].item() == 0.0
    assert sorted(n for n, _ in model.named_parameters()) == [
        "physics.log_tau_close", "physics.log_tau_in", "physics.log_tau_out"]


def test_constant_fdl_is_one_learnable_dv_dt_offset():
    meta = {"sampling_interval": 1.0}
    model = APHYNEP(APHYNEP.Config(fdl_kind="constant", step_size=0.5), meta)
    physics = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), meta)
    assert sorted(n for n, _ in model.fdl.named_parameters()) == ["offset"]
    v0 = torch.tensor([0.3, 0.8])
    assert torch.equal(model.forecast(v0, 20), physics.forecast(v0, 20))  # starts at 0
    with torch.no_grad():
        model.fdl.offset.fill_(-1e-3)
    out = model.fdl(torch.rand(5, 3, 2))
    assert out.shape == (5, 3, 2) and (out[..., 0] == -1e-3).all() and not out[..., 1].any()
    terms = model.loss_terms(torch.rand(2, 6))
    assert terms["fdl_norm2"].item() == pytest.approx(1e-6)
    terms["traj"].backward()
    assert model.fdl.offset.grad is not None and model.fdl.offset.grad != 0


def test_time_unit_rescales_fdl_and_weights_its_norm():
    """F_dl in units of 1/time_unit: the same network divided by T in the dynamics, its Eq. 3 norm
    in (1/T)² — i.e. the norm in 1/ms weighted by T² (issue 17)."""
    meta = {"sampling_interval": 1.0}
    torch.manual_seed(0)
    slow = APHYNEP(APHYNEP.Config(step_size=0.5, zero_output=False, time_unit=30.0), meta)
    fast = APHYNEP(APHYNEP.Config(step_size=0.5, zero_output=False), meta)
    fast.load_state_dict(slow.state_dict())
    with torch.no_grad():  # the same F_dl in 1/ms: output layer / 30
        fast.fdl.head.weight.div_(30.0)
        fast.fdl.head.bias.div_(30.0)
    traces = torch.rand(3, 21)
    assert torch.allclose(slow.forecast(traces[:, 0], 21), fast.forecast(traces[:, 0], 21), atol=1e-6)
    a, b = slow.loss_terms(traces), fast.loss_terms(traces)
    assert float(a["traj"]) == pytest.approx(float(b["traj"]), rel=1e-5)
    assert float(a["fdl_norm2"]) == pytest.approx(900.0 * float(b["fdl_norm2"]), rel=1e-4)
    states = slow.forecast(traces[:, 0], 21)
    assert torch.allclose(slow.decompose(states)["F_dl"], fast.decompose(states)["F_dl"], atol=1e-7)
