"""The composition-based peer (issue 15): Magpie descriptors + random forest as the evaluator's
``magpie_rf`` baseline on the model's own splits; without matminer it is left out with a warning."""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest
from sciml.testing import make_context
from sciml_ptrcnn.dataset import HeuslerPTRDataset
from sciml_ptrcnn.evaluation import RegressionEvaluator

from .conftest import write_oqmd_like


@pytest.fixture(scope="module")
def oqmd_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("magpie")
    ctx = make_context(tmp)
    data = HeuslerPTRDataset(HeuslerPTRDataset.Config(source="oqmd", path=str(write_oqmd_like(tmp / "o.txt", n=300))), ctx)
    data.prepare()
    return ctx, data


def test_without_matminer_the_baseline_is_left_out_with_a_warning(oqmd_data, monkeypatch, caplog):
    import sciml_ptrcnn.baseline as baseline

    ctx, data = oqmd_data
    monkeypatch.setattr(baseline, "magpie_available", lambda: False)
    with caplog.at_level(logging.WARNING):
        b = RegressionEvaluator(RegressionEvaluator.Config(krr=False), ctx).baselines(None, data, {})
    assert set(b) == {"train_mean"}
    assert "magpie_rf skipped: matminer is not installed" in caplog.text
    with pytest.raises(ModuleNotFoundError, match="matminer is not installed"):
        baseline.magpie_features(["Co2MnGa"])


def test_magpie_descriptors_offline(monkeypatch):
    pytest.importorskip("matminer", reason="matminer is not installed (optional extra [magpie])")
    from sciml_ptrcnn.baseline import magpie_features

    def no_network(*args, **kwargs):
        raise AssertionError("the Magpie preset tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    x = magpie_features(["Co2MnGa", "Fe2VAl"])
    assert x.shape == (2, 132) and np.isfinite(x).all()
    # atomic number (the first property): min, max, range, mean over Co, Co, Mn, Ga (Z = 27, 27, 25, 31)
    assert x[0, :4] == pytest.approx([25, 31, 6, (2 * 27 + 25 + 31) / 4])


def test_magpie_rf_baseline_on_the_model_split(oqmd_data):
    pytest.importorskip("matminer", reason="matminer is not installed (optional extra [magpie])")
    ctx, data = oqmd_data
    cfg = RegressionEvaluator.Config(krr=False, magpie_rf_trees=50)
    b = RegressionEvaluator(cfg, ctx).baselines(None, data, {})
    rf, mean = b["magpie_rf"], b["train_mean"]
    assert rf["n_train"] == data.metadata["n_train"]
    # the synthetic energies are a sum of per-element terms: the descriptors carry them, the mean does not
    for split in ("val", "test"):
        assert 0 < rf[f"{split}_mae_formation_energy"] < 0.9 * mean[f"{split}_mae_formation_energy"]
    assert "test_mape_lattice_parameter" not in rf  # OQMD: no lattice labels
    # a second evaluator (another trial of a sweep) reads the same predictions from the cache
    assert RegressionEvaluator(cfg, ctx).baselines(None, data, {})["magpie_rf"] == rf
