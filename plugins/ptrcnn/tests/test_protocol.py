"""The experiment protocol (issue 11: validation selects, test reports, trivial baselines) and the
OQMD source end to end (issue 19.1: no lattice labels must not fail a trial)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sciml.testing import make_context
from sciml_ptrcnn.dataset import HeuslerPTRDataset
from sciml_ptrcnn.evaluation import RegressionEvaluator
from sciml_ptrcnn.model import PTRCNN

from .conftest import drawing_reporter, write_oqmd_like

NAN = np.nan


class _Splits:
    """A data set reduced to what the mean baseline reads: labels per split (eV/atom, Å)."""

    def __init__(self, **splits):
        self.y = {k: np.asarray(v, dtype=float) for k, v in splits.items()}

    def prepare(self):
        pass

    def raw_targets(self, name):
        return self.y[name]


def test_train_mean_baseline_on_a_constructed_split():
    data = _Splits(train=[[1.0, 5.0], [3.0, 7.0], [2.0, NAN]],  # means: 2 eV/atom, 6 Å
                   val=[[2.0, NAN], [4.0, NAN]],
                   test=[[0.0, 6.6], [NAN, 5.0]])
    b = RegressionEvaluator(RegressionEvaluator.Config(krr=False, magpie_rf=False), None).baselines(None, data, {})
    assert set(b) == {"train_mean"}
    m = b["train_mean"]
    assert m["val_mae_formation_energy"] == pytest.approx(1000 * (0 + 2) / 2)
    assert m["test_mae_formation_energy"] == pytest.approx(1000 * 2)
    assert m["test_mape_lattice_parameter"] == pytest.approx(100 * (abs(6 / 6.6 - 1) + abs(6 / 5 - 1)) / 2)
    assert "val_mape_lattice_parameter" not in m  # no lattice label in validation: no figure, no NaN


def test_parity_figure_draws_the_panels_that_have_labels():
    from sciml_ptrcnn.evaluation import curve_figure, parity_figure

    y = np.c_[np.linspace(-1, 0, 5), np.full(5, NAN)]  # OQMD: no lattice parameter
    pred = {"formation_energy_per_atom": y[:, 0] + 0.1, "lattice_parameter": np.full(5, 6.0)}
    fig = parity_figure(y, pred, "t")
    assert len(fig.axes) == 1 and "formation_energy" in fig.axes[0].get_xlabel()
    assert parity_figure(np.full((3, 2), NAN), pred | {"formation_energy_per_atom": np.zeros(3),
                                                       "lattice_parameter": np.zeros(3)}, "t") is None
    assert curve_figure({"ptr": [{"n_train": 10, "test_mae_formation_energy": 1.0}]}).axes[0].get_ylabel().startswith("MAE")
    assert curve_figure({"ptr": [{"n_train": 10}]}) is None


@pytest.fixture(scope="module")
def oqmd_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oqmd")
    path = write_oqmd_like(tmp / "oqmd.txt", n=300)
    ctx = make_context(tmp)
    data = HeuslerPTRDataset(HeuslerPTRDataset.Config(source="oqmd", path=str(path)), ctx)
    data.prepare()
    torch.manual_seed(0)
    model = PTRCNN(PTRCNN.Config(task="multi", channels=4, hidden=16), data.metadata)  # the default task
    return ctx, data, model


def test_multi_task_on_oqmd_evaluates_and_a_broken_figure_fails_nothing(oqmd_setup, tmp_path, monkeypatch):
    ctx, data, model = oqmd_setup
    assert not np.isfinite(data.raw_targets("test")[:, 1]).any()
    ev = RegressionEvaluator(RegressionEvaluator.Config(learning_curve_epochs=0, stability=False, krr=False), ctx)
    rep = drawing_reporter(tmp_path / "a")
    r = ev.evaluate(model, data, rep)
    assert r["val_mae_formation_energy"] > 0 and r["test_mae_formation_energy"] > 0
    assert "test_mape_lattice_parameter" not in r
    assert {"parity.png", "parity_experimental.png"} <= set(rep.figures)

    def broken(*args):
        raise ValueError("zero-size array to reduction operation fmin which has no identity")

    monkeypatch.setattr("sciml_ptrcnn.evaluation.parity_figure", broken)
    rep = drawing_reporter(tmp_path / "b")
    assert ev.evaluate(model, data, rep)["test_mae_formation_energy"] == pytest.approx(r["test_mae_formation_energy"])
    assert "parity.png" not in rep.figures


def test_krr_is_fitted_once_for_curve_and_baseline(oqmd_setup, monkeypatch):
    import sciml_ptrcnn.baseline as baseline

    ctx, data, model = oqmd_setup
    calls = []
    real = baseline.fit_krr
    monkeypatch.setattr(baseline, "fit_krr", lambda x, y, seed=0: calls.append(len(x)) or real(x, y, seed))
    cfg = RegressionEvaluator.Config(learning_curve_sizes=[50], learning_curve_full=True, learning_curve_epochs=1,
                                     learning_curve_representations=["ptr"], stability=False, experimental=False,
                                     krr_max_train=100)
    ev = RegressionEvaluator(cfg, ctx)
    r = ev.evaluate(model, data, drawing_reporter(ctx.run_dir / "rep"))
    b = ev.baselines(model, data, r)
    n_full = data.metadata["n_train"]
    assert n_full > 100 and calls == [50, 100]  # one fit per training set; the full one capped at 100
    krr = b["krr"]
    assert krr["n_train"] == 100 and {"val_mae_formation_energy", "test_mae_formation_energy"} <= set(krr)
    full = r["learning_curve"]["krr_mendeleev_line"][-1]
    assert full["n_train"] == n_full and full["fit_n_train"] == 100
    assert full["test_mae_formation_energy"] == krr["test_mae_formation_energy"]
    # a second trial on the same data (a sweep) reads the fit from the cache
    again = RegressionEvaluator(cfg, ctx).baselines(model, data, {})
    assert calls == [50, 100] and again["krr"] == krr
    # the mean baseline uses the same splits as the model
    y_tr, y_te = data.raw_targets("train")[:, 0], data.raw_targets("test")[:, 0]
    assert b["train_mean"]["test_mae_formation_energy"] == pytest.approx(1000 * np.abs(y_te - y_tr.mean()).mean())


def test_oqmd_source_runs_end_to_end(sciml_store, tmp_path):
    """`sciml run ptrcnn --set dataset.source=oqmd ...` (issue 19.1): every trial used to fail in
    the parity figure's lattice panel."""
    pytest.importorskip("mlflow")
    from sciml.testing import run_tiny

    path = write_oqmd_like(tmp_path / "oqmd.txt", n=300)
    s = run_tiny("ptrcnn", "dataset.source=oqmd", f"dataset.path={path}", "model.channels=4", "model.hidden=16",
                 "trainer.max_epochs=2", "trainer.batch_size=32", "evaluator.learning_curve_epochs=0",
                 "evaluator.stability=false", seed=0)
    assert s.best is not None, [t.error for t in s.trials]
    m = s.best.metrics
    assert m["val_mae_formation_energy"] > 0 and m["test_mae_formation_energy"] > 0
    assert "test_mape_lattice_parameter" not in m
    for name in ("train_mean", "krr"):
        for split in ("val", "test"):
            assert f"baseline.{name}.{split}_mae_formation_energy" in m
    assert (s.best.run_dir / "artifacts" / "parity.png").exists()
