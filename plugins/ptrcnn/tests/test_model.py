import math

import pytest
import torch
from sciml import UserError
from sciml_ptrcnn.model import PTRCNN, StabilityCNN


def test_paper_feature_map_sizes():
    m = PTRCNN(PTRCNN.Config(), {"input_shape": (1, 5, 16)})
    assert m.feature_shape == (96, 1, 12)  # paper: 16x5 -> 14x3 -> 12x1 maps, 96 of them
    convs = [layer for layer in m.features if isinstance(layer, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (5, 5), (3, 3)]
    assert [c.padding for c in convs] == [(1, 1), (1, 1), (0, 0)]
    fcs = [layer for layer in m.predictor if isinstance(layer, torch.nn.Linear)]
    assert [f.out_features for f in fcs] == [192, 192]
    assert m(torch.zeros(3, 1, 5, 16)).shape == (3, 2)


def test_line_input_uses_1d_filters():
    m = PTRCNN(PTRCNN.Config(channels=8, task="formation_energy"), {"input_shape": (1, 1, 52)})
    assert m.feature_shape == (8, 1, 48)
    assert m(torch.zeros(2, 1, 1, 52)).shape == (2, 1)


def test_smooth_l1_masks_missing_targets():
    torch.manual_seed(0)
    m = PTRCNN(PTRCNN.Config(channels=4, hidden=8), {"input_shape": (1, 5, 16)})
    x = torch.rand(4, 1, 5, 16)
    y = torch.zeros(4, 2)
    mask = torch.tensor([[True, False]] * 4)
    with torch.no_grad():
        pred = m(x)
        out = m.loss((x, y, mask))
    d = pred[:, 0]
    expected = torch.where(d.abs() < 1, 0.5 * d**2, d.abs() - 0.5).mean()
    assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-5)
    y2 = y.clone()
    y2[:, 1] = 1e6  # masked values must not matter
    with torch.no_grad():
        assert float(m.loss((x, y2, mask))["loss"]) == pytest.approx(float(out["loss"]), rel=1e-6)


def test_single_task_needs_target():
    with pytest.raises(UserError, match="lattice_parameter"):
        PTRCNN(PTRCNN.Config(task="lattice_parameter"), {"targets": ["formation_energy_per_atom"]})


def test_stability_transfer_copies_weights_and_outputs_probabilities():
    m = PTRCNN(PTRCNN.Config(channels=4, hidden=8))
    s = StabilityCNN(m)
    assert torch.equal(s.features[0].weight, m.features[0].weight)
    s.features[0].weight.data += 1  # a copy, not shared
    assert not torch.equal(s.features[0].weight, m.features[0].weight)
    p = s.probability(torch.rand(5, 1, 5, 16) * 3)
    assert p.shape == (5,) and bool(((p >= 0) & (p <= 1)).all())
    assert not math.isnan(float(p.sum()))


def test_authors_fc_layout_has_one_hidden_layer():
    m = PTRCNN(PTRCNN.Config(channels=4, hidden=8, hidden_layers=1), {"input_shape": (1, 5, 16)})
    fcs = [layer for layer in m.predictor if isinstance(layer, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(4 * 12, 8)]
    assert m(torch.zeros(2, 1, 5, 16)).shape == (2, 2)


def test_step_decay_options_moved_to_the_trainer():
    from pydantic import ValidationError

    # a model saved before issue 12 carries the old defaults: it still loads
    assert PTRCNN.Config(lr_step_fraction=0.1, lr_gamma=0.7, channels=4) == PTRCNN.Config(channels=4)
    with pytest.raises(ValidationError, match="trainer.lr_gamma"):
        PTRCNN.Config(lr_gamma=0.5)
