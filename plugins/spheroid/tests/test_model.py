import numpy as np
import pytest
import sciml
import torch
from sciml_spheroid.encoder import ProjectionHead, ResNet18Encoder
from sciml_spheroid.model import SpheroidSimCLR
from sciml_spheroid.timeseries import TimeSeriesPredictor, deviation, fit_predictor

META = {"days": [7, 8, 9, 10], "image_size": 32, "in_channels": 1}


@pytest.mark.parametrize("stride,size", [(1, 32), (2, 48)])
def test_encoder_and_head_shapes(stride, size):
    enc = ResNet18Encoder(1, width=4, embedding_size=24, stem_stride=stride)
    h = enc(torch.rand(3, 1, size, size))
    assert h.shape == (3, 24)
    assert enc.feature_channels == 32  # 8 * width
    assert ProjectionHead(24, 10)(h).shape == (3, 10)
    # ResNet-18 layout: 4 stages x 2 basic blocks
    assert len(enc.layers) == 8


def test_model_embed_score_and_training_step_shapes():
    torch.manual_seed(0)
    m = SpheroidSimCLR(SpheroidSimCLR.Config(width=4, embedding_size=16, projection_dim=8), META)
    batch = {"images": torch.rand(3, 4, 1, 32, 32)}
    out = m.training_step(batch, 0)
    assert out["loss"].ndim == 0 and out["loss"].requires_grad
    reps = m.embed(np.random.rand(5, 4, 1, 32, 32))
    assert reps.shape == (5, 4, 16)
    m.fit_time_series(reps, epochs=5)
    assert bool(m.ts_fitted)
    assert m.score(reps).shape == (5,)
    assert m.score(reps, "cosine").shape == (5,)


def test_model_rejects_days_not_in_data():
    with pytest.raises(sciml.UserError, match="day 11"):
        SpheroidSimCLR(SpheroidSimCLR.Config(target_day=11), META)
    with pytest.raises(sciml.UserError, match="context_days"):
        SpheroidSimCLR(SpheroidSimCLR.Config(context_days=[7, 10]), META)


def test_deviation_values():
    p = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    q = torch.tensor([[0.0, 4.0], [2.0, 2.0]])
    assert deviation(p, q, "l2").tolist() == pytest.approx([5.0, 2**0.5])
    assert deviation(p, q, "cosine").tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match="unknown distance"):
        deviation(p, q, "manhattan")


def test_predictor_learns_untreated_dynamics_and_flags_deviants():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    start = torch.randn(40, 1, 4, generator=g)
    step = torch.tensor([0.5, -0.3, 0.2, 0.1])
    seq = start + step * torch.arange(4.0)[None, :, None]  # (40, 4 days, 4): steady "growth"
    pred = TimeSeriesPredictor(4, 16)
    hist = fit_predictor(pred, seq[:, :3], seq[:, 3], epochs=150, lr=1e-2)
    assert hist[-1] < 0.05 * hist[0]
    treated = seq.clone()
    treated[:, 3] -= 2 * step  # day-10 representation moves the other way
    with torch.no_grad():
        d_ok = deviation(pred(seq[:, :3]), seq[:, 3]).mean()
        d_bad = deviation(pred(treated[:, :3]), treated[:, 3]).mean()
    assert d_bad > 5 * d_ok
