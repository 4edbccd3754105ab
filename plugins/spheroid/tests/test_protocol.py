"""The experiment protocol of issue 11 in spheroid: splits by plate, no test metric from training
wells, the headline over treated conditions, and baselines on the same splits."""

import math

import numpy as np
import pytest
import sciml
from sciml.testing import make_context

TINY_MODEL = {"width": 2, "embedding_size": 8, "projection_dim": 4}
FAST_EVAL = {"supervised": False, "probe_repeats": 1, "probe_labels": [2], "ts_epochs": 5}


def _dataset(tmp_path, **cfg):
    from sciml_spheroid.data import SpheroidPlates

    ds = SpheroidPlates(SpheroidPlates.Config(source="platemap", image_size=16, **cfg), make_context(tmp_path / "ctx"))
    ds.prepare()
    return ds


def _train_and_evaluate(ds, tmp_path, reporter, **eval_cfg):
    import torch
    from sciml_spheroid.evaluation import RankingEvaluator
    from sciml_spheroid.model import SpheroidSimCLR
    from sciml_spheroid.training import SimCLRTrainer

    torch.manual_seed(0)
    model = SpheroidSimCLR(SpheroidSimCLR.Config(**TINY_MODEL), ds.metadata)
    fit = SimCLRTrainer(SimCLRTrainer.Config(max_epochs=1, batch_size=16, ts_epochs=5),
                        make_context(tmp_path / "fit")).fit(model, ds, reporter)
    ev = RankingEvaluator(RankingEvaluator.Config(**{**FAST_EVAL, **eval_cfg}), make_context(tmp_path / "ev"))
    res = ev.evaluate(model, ds, reporter)
    return fit, res, ev.baselines(model, ds, res)


def _numbers(d):
    return {k: v for k, v in d.items() if isinstance(v, float) and math.isfinite(v)}


def test_single_plate_reports_no_test_metric_from_training_wells(tmp_path, reporter, write_plate_map):
    """Old code: train = val = test = all wells of the one plate, so test_spearman (and the
    probe's "test" accuracy) were training figures. Now: no val/test metric, one line why."""
    ds = _dataset(tmp_path, plate_map=str(write_plate_map(tmp_path)))
    assert len(ds.indices("train")) == 12
    assert len(ds.indices("val")) == 0 and len(ds.indices("test")) == 0
    assert "no validation and no test plate" in ds.split_note and "1 plate(s)" in ds.split_note
    fit, res, base = _train_and_evaluate(ds, tmp_path, reporter)
    assert "val_loss" not in {k for _, m in reporter.metrics for k in m} and "best_val_loss" not in fit
    assert not [k for k in _numbers(res) if k.startswith(("test_", "val_"))]
    assert not [k for b in base.values() for k in _numbers(b) if k.startswith(("test_", "val_"))]
    assert "no test_* metric" in res["split_note"]
    assert {r["split"] for r in res["ranking"]} == {"train"} and len(res["ranking"]) == 12
    assert "plate_heatmap.png" in reporter.figures  # the plate is still shown, labelled as training


def test_three_plates_split_disjoint_and_baselines_on_the_same_splits(tmp_path, reporter, monkeypatch, write_plate_map):
    import sciml_spheroid.probe as probe

    ds = _dataset(tmp_path, plate_map=str(write_plate_map(tmp_path, plates=("A", "B", "C"))))
    tr, va, te = (ds.indices(n) for n in ("train", "val", "test"))
    plates = [set(ds.arrays["plate_name"][i]) for i in (tr, va, te)]
    assert plates == [{"A"}, {"B"}, {"C"}] and ds.split_note == ""
    fitted_on = []
    real = probe.linear_probe_scores
    monkeypatch.setattr(probe, "linear_probe_scores",
                        lambda x, y, evals, *a, **k: fitted_on.append((len(y), set(evals))) or real(x, y, evals, *a, **k))
    _, res, base = _train_and_evaluate(ds, tmp_path, reporter)
    # the probe is fitted on the training plate only and scored on each held-out plate
    assert fitted_on and all(n == len(tr) and names == {"val", "test"} for n, names in fitted_on)
    for p in ("val", "test"):
        for key in (f"{p}_spearman_treated", f"{p}_spearman", f"{p}_spearman_conditions", f"{p}_probe_acc_all",
                    f"{p}_probe_acc_2", f"{p}_probe_majority_acc"):
            assert key in res and -1 <= res[key] <= 1, key
        assert res[f"{p}_n_treated_conditions"] == 7  # single D1 1 µM and 6 screening conditions
    assert set(base) == {"concentration", "treated", "handcrafted", "random_init"}
    for name in ("concentration", "handcrafted", "random_init"):
        assert math.isfinite(base[name]["val_spearman_treated"]) and math.isfinite(base[name]["test_spearman_treated"])
    # "was a drug added" is constant over treated conditions: undefined, said so, never 0
    assert math.isnan(base["treated"]["test_spearman_treated"]) and base["treated"]["test_spearman"] > 0
    assert any(n.startswith("baseline treated:") and "undefined" in n for n in res["baseline_notes"])
    from sciml.testing import flatten_baselines

    assert flatten_baselines(base).get("baseline.treated.test_spearman_treated") is None
    assert {"plate_heatmap.png", "example_wells.png", "ranking_vs_truth.png", "embedding_pca.png"} <= set(reporter.figures)


def test_assign_plates_defaults_and_errors():
    from sciml_spheroid.data import assign_plates

    assert assign_plates(["a"], [], []) == ([], [])
    assert assign_plates(["a", "b"], [], []) == (["b"], [])  # validate, but no test plate
    assert assign_plates(["a", "b", "c", "d"], [], []) == (["c"], ["d"])
    assert assign_plates(["a", "b", "c"], ["c"], []) == (["c"], ["b"])
    assert assign_plates(["a", "b", "c"], [], ["a"]) == (["c"], ["a"])
    with pytest.raises(sciml.UserError, match="in both dataset.val_plates and dataset.test_plates"):
        assign_plates(["a", "b", "c"], ["b"], ["b"])
    with pytest.raises(sciml.UserError, match="no plate left for training"):
        assign_plates(["a", "b"], ["a"], ["b"])
    with pytest.raises(sciml.UserError, match="not in the plate map"):
        assign_plates(["a", "b"], ["z"], [])


def test_headline_ranks_treated_conditions_only():
    from sciml_spheroid.metrics import ranking_metrics

    # two drugs x three concentrations x two replicates, plus four untreated wells
    drug = np.array(["A"] * 6 + ["B"] * 6 + ["none"] * 4)
    conc = np.array([1, 1, 2, 2, 3, 3] * 2 + [0] * 4, float)
    truth = np.array([0.1, 0.1, 0.5, 0.5, 0.9, 0.9, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0, 0, 0, 0])
    group = np.array([2] * 12 + [0] * 4)
    treated = ranking_metrics((group > 0).astype(float), truth, group, drug, conc, "test")
    assert math.isnan(treated["test_spearman_treated"]) and math.isnan(treated["test_kendall_treated"])
    assert treated["test_spearman"] > 0.6  # over wells, knowing the design already "ranks" well
    assert treated["test_n_treated_conditions"] == 6
    by_conc = ranking_metrics(conc, truth, group, drug, conc, "test")
    # condition ranks: score (1.5, 3.5, 5.5, 1.5, 3.5, 5.5), truth (1, 5, 6, 2, 3, 4): rho = 14 / sqrt(16 * 17.5)
    assert by_conc["test_spearman_treated"] == pytest.approx(14 / math.sqrt(280))
    perfect = ranking_metrics(truth + 5 * (group == 0), truth, group, drug, conc, "val")
    assert perfect["val_spearman_treated"] == pytest.approx(1.0)  # untreated wells cannot spoil it...
    assert perfect["val_spearman"] < 0.5  # ...while the over-wells figure punishes them


def test_simulated_plates_without_test_plates_report_no_test_metric(tmp_path):
    from sciml_spheroid.data import SpheroidPlates

    ds = SpheroidPlates(SpheroidPlates.Config(image_size=16, n_train_plates=1, n_val_plates=1, n_test_plates=0),
                        make_context(tmp_path))
    ds.prepare()
    assert len(ds.indices("test")) == 0 and len(ds.indices("val")) == 60
    assert "no test plate" in ds.split_note and "no test_* metric" in ds.split_note


def test_pipeline_selects_on_validation_over_treated_conditions():
    from sciml.testing import get_registry

    pipe = get_registry().pipeline("spheroid")
    assert pipe.metric == "val_spearman_treated" and pipe.mode == "max"
