"""Issue 12: the evaluator-side fits (the baselines' time-series models, the supervised
baseline) run on the core's engine, and do what the plain loops they replace did."""

import copy

import numpy as np
import pytest
import torch
from sciml_spheroid.probe import supervised_baseline
from sciml_spheroid.timeseries import TimeSeriesPredictor, fit_predictor


def _reference_fit(model, ctx, tgt, val, epochs, lr, weight_decay):
    """The full-batch Adam loop fit_predictor ran before the engine, keeping the best val step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, hist = float("inf"), None, []
    for _ in range(epochs):
        model.train()
        loss = torch.mean((model(ctx) - tgt) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss.detach()))
        with torch.no_grad():
            v = float(torch.mean((model(val[0]) - val[1]) ** 2))
        if v < best:
            best, best_state = v, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return hist, best


def test_fit_predictor_on_the_engine_matches_the_plain_full_batch_loop_and_keeps_the_best_val_step():
    g = torch.Generator().manual_seed(3)
    seq, vs = torch.randn(12, 4, 5, generator=g), torch.randn(5, 4, 5, generator=g)
    torch.manual_seed(0)
    ref = TimeSeriesPredictor(5, 8)
    eng = copy.deepcopy(ref)
    hist_ref, best = _reference_fit(ref, seq[:, :3], seq[:, 3], (vs[:, :3], vs[:, 3]), 40, 3e-2, 1e-3)
    hist = fit_predictor(eng, seq[:, :3], seq[:, 3], epochs=40, lr=3e-2, val=(vs[:, :3], vs[:, 3]))
    assert hist == pytest.approx(hist_ref, rel=1e-5, abs=1e-6)
    with torch.no_grad():
        val_mse = float(torch.mean((eng(vs[:, :3]) - vs[:, 3]) ** 2))
    assert val_mse == pytest.approx(best, rel=1e-5)
    assert val_mse < hist_ref[0]  # the weights kept are not the last step's (validation overfits here)
    for a, b in zip(ref.state_dict().values(), eng.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    assert not eng.training


def test_fit_predictor_steps_per_epoch_groups_steps_and_rejects_empty_input():
    g = torch.Generator().manual_seed(0)
    seq = torch.randn(6, 4, 3, generator=g)
    hist = fit_predictor(TimeSeriesPredictor(3, 4), seq[:, :3], seq[:, 3], epochs=25, steps_per_epoch=10)
    assert len(hist) == 3  # ceil(25 / 10) engine epochs
    with pytest.raises(ValueError, match="at least one training well"):
        fit_predictor(TimeSeriesPredictor(3, 4), seq[:0, :3], seq[:0, 3])


def _images(n, rng):
    """Class 0: dark discs, class 1: bright discs, 16 x 16."""
    y = np.arange(n) % 2
    yy, xx = np.mgrid[:16, :16]
    disc = ((yy - 8) ** 2 + (xx - 8) ** 2 < 25).astype(np.float32)
    img = np.clip(disc[None] * np.where(y, 0.9, 0.3)[:, None, None] + 0.05 * rng.standard_normal((n, 16, 16)), 0, 1)
    return img.astype(np.float32), y


def test_supervised_baseline_on_the_engine_learns_a_separable_task_then_stops_on_val_acc():
    rng = np.random.default_rng(0)
    x, y = _images(33, rng)  # 33 = 32 + 1: the last batch of one image is avoided
    xv, yv = _images(16, rng)
    xt, yt = _images(16, rng)
    out = supervised_baseline(x, y, xt, yt, width=2, embedding_size=8, epochs=60, lr=1e-2, batch_size=32,
                              n_classes=2, evals={"val": (xv, yv)}, patience=20)
    assert out["val_acc"] == 1.0 and out["test_acc"] >= 0.9 and out["train_acc"] >= 0.9
    assert 21 <= out["epochs_trained"] < 60  # stopped 20 epochs after val_acc stopped improving
    assert set(out) == {"train_acc", "epochs_trained", "val_acc", "test_acc"}
    # flat validation accuracy at the start: stopped after 1 + patience epochs
    early = supervised_baseline(x, y, width=2, embedding_size=8, epochs=60, lr=1e-2, batch_size=32,
                                n_classes=2, evals={"val": (xv, yv)}, patience=3)
    assert early["epochs_trained"] == 4 and early["val_acc"] == 0.5


def test_supervised_baseline_rejects_a_single_image():
    x, y = _images(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 2 training images"):
        supervised_baseline(x, y, n_classes=2)
