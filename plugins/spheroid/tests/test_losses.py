import math

import pytest
import torch
from sciml_spheroid.losses import nt_xent


def test_nt_xent_hand_computed_two_orthogonal_pairs():
    # views [1,0],[0,1] | [1,0],[0,1], tau = 1. Anchor 0 sees k=1 (cos 0), k=2 (its positive,
    # cos 1), k=3 (cos 0): l = -log(e / (e + 1 + 1)); all four anchors are alike.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = math.log((math.e + 2.0) / math.e)
    assert nt_xent(z, z.clone(), temperature=1.0).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_temperature_scales_logits():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tau = 0.5
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 2.0))
    assert nt_xent(z, z, temperature=tau).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_is_smallest_for_identical_pairs():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 8, generator=g)
    same = nt_xent(z, z.clone(), 0.2).item()
    noisy = nt_xent(z, z + 0.5 * torch.randn(16, 8, generator=g), 0.2).item()
    shuffled = nt_xent(z, z[torch.randperm(16, generator=g)], 0.2).item()
    assert same < noisy < shuffled


def test_nt_xent_tends_to_zero_for_separated_identical_pairs():
    z = torch.eye(4)
    assert nt_xent(z, z, temperature=0.01).item() < 1e-6


def test_nt_xent_rejects_bad_input():
    with pytest.raises(ValueError, match="equal shape"):
        nt_xent(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(3, 2), torch.randn(3, 2), temperature=0.0)
