"""AphynTrainer: the λ schedule of the paper and loss reduction on tiny budgets."""

from __future__ import annotations

import pytest
import sciml
import torch
from sciml.testing import RecordingReporter, make_context
from sciml_aphyn.model import APHYNEP
from sciml_aphyn.training import AphynTrainer


def _ms_traces(tau_close: float, n: int = 6, n_samples: int = 121, seed: int = 0) -> torch.Tensor:
    """Physics-only forecasts with a given τ_close (ms), sampled every 1 ms, plus small noise."""
    gen = torch.Generator().manual_seed(seed)
    model = APHYNEP(APHYNEP.Config(use_fdl=False, tau_close=tau_close, step_size=0.5), {"sampling_interval": 1.0})
    v0 = 0.5 + 0.4 * torch.rand(n, generator=gen)
    with torch.no_grad():
        v = model.forecast(v0, n_samples)[..., 0].T
    return v + 0.01 * torch.randn(v.shape, generator=gen)


def _ctx(tmp_path, name: str, seed: int = 0):
    """A context with its own run directory (each fit writes fit.last.ckpt/fit.done.json there)."""
    return make_context(tmp_path / name, seed=seed)


def test_lambda_follows_the_paper_schedule(tmp_path):
    traces = _ms_traces(60.0, n_samples=41)
    cfg = AphynTrainer.Config(max_epochs=3, physics_warmup_epochs=0, lambda0=1.0, gamma=10.0, batch_size=6,
                              checkpoint_every_s=0)  # a checkpoint after every epoch
    rep = RecordingReporter(tmp_path / "rep")
    model = APHYNEP(APHYNEP.Config(step_size=0.5, zero_output=False), {"sampling_interval": 1.0})
    ctx = _ctx(tmp_path, "a")
    AphynTrainer(cfg, ctx).fit_arrays(model, traces, traces, rep)
    lam, traj = rep.history("lambda"), rep.history("train_traj")
    assert lam[0] == 1.0
    for j in range(2):  # λ_{j+1} = λ_j + γ L_traj
        assert lam[j + 1] == pytest.approx(lam[j] + 10.0 * traj[j], rel=1e-6)
    assert rep.history("train_loss")[0] == pytest.approx(
        lam[0] * traj[0] + rep.history("train_fdl_norm2")[0], rel=1e-5)
    assert len(rep.checkpoints) == 3 and (ctx.run_dir / "fit.last.ckpt").exists()


def test_physics_only_training_moves_tau_close_towards_the_truth(tmp_path):
    traces = _ms_traces(60.0)  # APD ≈ 60 ln 5 ≈ 97 ms
    model = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), {"sampling_interval": 1.0})
    before = AphynTrainer.validation_mse(model, traces)
    cfg = AphynTrainer.Config(max_epochs=8, physics_lr=0.05, batch_size=6)
    best = AphynTrainer(cfg, _ctx(tmp_path, "a")).fit_arrays(model, traces, traces)
    assert best["best_val_loss"] < 0.5 * before
    assert AphynTrainer.validation_mse(model, traces) == pytest.approx(best["best_val_loss"], rel=1e-4)
    assert model.taus()["tau_close"] < 140.0


def test_aphyn_ep_training_reduces_the_loss_on_a_tiny_tp06_slab(tiny_dataset, tmp_path):
    model = APHYNEP(APHYNEP.Config(), tiny_dataset.metadata)
    val = tiny_dataset.split("val").tensors[0]
    before = AphynTrainer.validation_mse(model, val)
    cfg = AphynTrainer.Config(max_epochs=4, physics_warmup_epochs=2, lr=1e-2, physics_lr=3e-2, batch_size=8)
    rep = RecordingReporter(tmp_path / "rep")
    best = AphynTrainer(cfg, _ctx(tmp_path, "a")).fit(model, tiny_dataset, rep)
    assert best["best_val_loss"] < before
    assert set(rep.metrics[0][1]) >= {"train_loss", "val_loss", "lambda", "tau_in", "tau_out", "tau_close", "time_s"}
    assert rep.history("fdl_on") == [0.0, 0.0, 1.0, 1.0]
    assert model.fdl.head.weight.abs().sum() > 0  # F_dl trained after the warm-up
    assert model.rhs.fdl_enabled  # switched back on after training


def test_physics_warm_up_is_the_physics_only_training(tmp_path):
    """During the warm-up F_dl gets no update and λ stays λ_0; τ follow the baseline's path."""
    traces = _ms_traces(60.0, n_samples=61)
    cfg = dict(physics_lr=0.05, lr=1e-3, batch_size=6, gamma=10.0)
    torch.manual_seed(0)
    hybrid = APHYNEP(APHYNEP.Config(step_size=0.5), {"sampling_interval": 1.0})
    head0 = hybrid.fdl.head.weight.detach().clone()
    rep = RecordingReporter(tmp_path / "h")
    AphynTrainer(AphynTrainer.Config(max_epochs=3, physics_warmup_epochs=3, **cfg),
                 _ctx(tmp_path, "h")).fit_arrays(hybrid, traces, traces, rep)
    assert torch.equal(hybrid.fdl.head.weight, head0) and not head0.any()
    assert rep.history("lambda") == [1.0, 1.0, 1.0] and rep.history("train_fdl_norm2") == [0.0, 0.0, 0.0]
    base = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), {"sampling_interval": 1.0})
    AphynTrainer(AphynTrainer.Config(max_epochs=3, **cfg), _ctx(tmp_path, "b")).fit_arrays(base, traces, traces)
    assert hybrid.taus() == pytest.approx(base.taus(), rel=1e-6)
    # after the warm-up F_dl trains and λ follows Eq. 3's schedule
    rep2 = RecordingReporter(tmp_path / "h2")
    AphynTrainer(AphynTrainer.Config(max_epochs=2, physics_warmup_epochs=0, **cfg),
                 _ctx(tmp_path, "h2")).fit_arrays(hybrid, traces, traces, rep2)
    assert rep2.history("fdl_on") == [1.0, 1.0] and rep2.history("lambda")[1] > 1.0


def test_per_group_learning_rates_and_fdl_only_clipping(tmp_path):
    model = APHYNEP(APHYNEP.Config(step_size=0.5), {"sampling_interval": 1.0})
    opt = model.configure_optimizers(AphynTrainer.Config(lr=1e-4, physics_lr=0.07))
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 0.07]
    assert all(p is model.physics.log_tau_in or not any(p is q for q in opt.param_groups[0]["params"])
               for p in opt.param_groups[1]["params"])
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    model.clip_gradients(1.0)
    fdl_norm = torch.sqrt(sum((p.grad ** 2).sum() for n, p in model.named_parameters() if not n.startswith("physics.")))
    assert float(fdl_norm) == pytest.approx(1.0, rel=1e-4)
    assert float(model.physics.log_tau_close.grad) == 10.0  # τ are not clipped


def test_horizon_curriculum_grows_to_the_full_trace(tmp_path):
    traces = _ms_traces(60.0, n_samples=41)
    rep = RecordingReporter(tmp_path / "rep")
    cfg = AphynTrainer.Config(max_epochs=3, physics_warmup_epochs=0, batch_size=6, start_horizon=10.0,
                              curriculum_epochs=2)
    AphynTrainer(cfg, _ctx(tmp_path, "a")).fit_arrays(APHYNEP(APHYNEP.Config(step_size=0.5), {"sampling_interval": 1.0}),
                                                      traces, traces, rep)
    assert rep.history("horizon") == [10.0, 25.0]  # the third epoch forecasts the whole trace (no key)
    assert len(rep.metrics) == 3


def test_nothing_to_train_is_a_user_error(tmp_path):
    model = APHYNEP(APHYNEP.Config(use_fdl=False, learn_tau=[]), {"sampling_interval": 1.0})
    traces = _ms_traces(60.0, n_samples=11)
    with pytest.raises(sciml.UserError, match="no trainable parameter"):
        AphynTrainer(AphynTrainer.Config(max_epochs=1), _ctx(tmp_path, "a")).fit_arrays(model, traces, traces)


def test_early_stopping_on_the_validation_loss(tmp_path):
    """The baselines train until validation stops improving, not for a fixed budget."""
    traces = _ms_traces(60.0, n_samples=61)
    common = dict(max_epochs=6, batch_size=6, patience=2, min_delta=1e-3)
    # τ barely move at this lr: validation never improves by 0.1 %: stop after 1 + patience epochs
    stuck = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), {"sampling_interval": 1.0})
    rep = RecordingReporter(tmp_path / "stuck")
    best = AphynTrainer(AphynTrainer.Config(physics_lr=1e-7, **common), _ctx(tmp_path, "s")).fit_arrays(
        stuck, traces, traces, rep)
    assert best["epochs"] == 3.0 and best["stopped_early"] == 1.0 and len(rep.metrics) == 3
    # improving: runs to max_epochs
    moving = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), {"sampling_interval": 1.0})
    best = AphynTrainer(AphynTrainer.Config(physics_lr=0.05, **common), _ctx(tmp_path, "m")).fit_arrays(
        moving, traces, traces)
    assert best["epochs"] == 6.0 and best["stopped_early"] == 0.0 and best["best_epoch"] == 5.0
    # the validation split decides: the same training as above, but validation traces the model
    # cannot fit better (a flat line above the action potential, which training shortens) make it stop early
    flat = torch.full_like(traces, 1.2)
    other = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), {"sampling_interval": 1.0})
    best = AphynTrainer(AphynTrainer.Config(physics_lr=0.05, **common), _ctx(tmp_path, "f")).fit_arrays(
        other, traces, flat)
    assert best["stopped_early"] == 1.0 and best["epochs"] < 6.0
    # no stop inside the physics warm-up: F_dl must get its epochs
    hybrid = APHYNEP(APHYNEP.Config(step_size=0.5), {"sampling_interval": 1.0})
    best = AphynTrainer(AphynTrainer.Config(physics_lr=1e-7, physics_warmup_epochs=4, **common),
                        _ctx(tmp_path, "w")).fit_arrays(hybrid, traces, traces)
    assert best["epochs"] >= 5.0


def test_lbfgs_recovers_tau_close_of_mitchell_schaeffer_traces():
    """The converged baseline: L-BFGS finds the τ_close that made the traces (60 ms), from 150."""
    from sciml_aphyn.training import fit_lbfgs

    traces = _ms_traces(60.0, n_samples=121)
    model = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=0.5), {"sampling_interval": 1.0})
    history = []
    info = fit_lbfgs(model, traces, max_iter=30, history=history)
    assert model.taus()["tau_close"] == pytest.approx(60.0, rel=0.05)
    assert info["loss"] == min(h["train_traj"] for h in history) and info["loss"] < 1e-3
    assert not model.training
