"""Issue 18: the treatment simulator, plate normalisation, augmentations that keep size, the
acceptance gate, the label-free metric, and the per-condition / dose–response report."""

import numpy as np
import pytest
import torch
from sciml_spheroid.metrics import dose_spearman
from sciml_spheroid.normalise import centre_on_controls, standardise_scores
from sciml_spheroid.report import bootstrap_ci, fit_hill, hill4, plate_report
from sciml_spheroid.simulate import MECHANISMS, TREATMENT_DRUGS, WellDesign, kill_fraction, render_treatment_plate


def test_treatment_plate_is_deterministic_with_layers_oracle_and_effects():
    a = render_treatment_plate(3, 1, size=24, n_layers=3)
    b = render_treatment_plate(3, 1, size=24, n_layers=3)
    assert a.images.shape == (60, 4, 3, 24, 24) and np.array_equal(a.images, b.images)
    assert a.effects.shape == (60, len(MECHANISMS)) and a.oracle.shape == (60,)
    g = np.array([w.group for w in a.design])
    assert (g == 0).sum() == 12 and np.all(a.efficacy[g == 0] == 0) and np.all(a.oracle[g == 0] == 0)
    np.testing.assert_allclose(a.oracle, kill_fraction(a.effects))  # eq. (S4) of the rendered effects
    assert np.corrcoef(a.oracle[g > 0], a.efficacy[g > 0])[0, 1] > 0.9
    # focal layers differ (blur), and the plates differ
    assert not np.allclose(a.images[:, :, 0], a.images[:, :, 1])
    assert not np.array_equal(a.images, render_treatment_plate(3, 2, size=24, n_layers=3).images)


def test_cytostatic_drug_shrinks_more_than_the_killer_but_kills_less():
    """Size is the wrong guide: D4 (growth arrest) keeps spheroids small but alive."""
    from sciml_spheroid.handcrafted import features_stack

    design = ([WellDesign(f"B{i + 2}", 0, "none", 0.0) for i in range(4)]
              + [WellDesign(f"C{i + 2}", 2, "D4", 10.0) for i in range(4)]
              + [WellDesign(f"D{i + 2}", 2, "D2", 10.0) for i in range(4)])
    pl = render_treatment_plate(0, 0, size=48, design=design, noise_level=0.3)
    f = features_stack(pl.images, channel_axis=True)
    growth = (f[:, -1, 0] - f[:, 0, 0]).reshape(3, 4).mean(1)  # log-area change, untreated / D4 / D2
    eff = pl.efficacy.reshape(3, 4).mean(1)
    assert growth[1] < growth[0] - 0.2 and growth[1] < growth[2]  # D4 grows least
    assert eff[1] < 0.25 < 0.5 < eff[2]  # but kills least
    assert [d.name for d in TREATMENT_DRUGS] == ["D1", "D2", "D3", "D4"]
    assert TREATMENT_DRUGS[3].efficacy(10.0) < 0.2 < TREATMENT_DRUGS[0].efficacy(10.0)


def test_plate_normalisation_removes_a_plate_day_offset():
    rng = np.random.default_rng(0)
    plate = np.repeat([0, 1], 6)
    group = np.tile([0, 0, 0, 2, 2, 2], 2)
    x = rng.normal(size=(12, 3, 2))
    shifted = x + np.where(plate == 1, 5.0, 0.0)[:, None, None] * np.array([1.0, 2.0, 3.0])[None, :, None]
    np.testing.assert_allclose(centre_on_controls(shifted, plate, group), centre_on_controls(x, plate, group))
    c = centre_on_controls(x, plate, group)
    np.testing.assert_allclose(c[group == 0].reshape(2, 3, 3, 2).mean(1), 0, atol=1e-12)
    s = standardise_scores(3.0 * np.arange(12.0) + 7 * plate, plate, group)
    np.testing.assert_allclose(s[[0, 1, 2]], [-1, 0, 1])
    np.testing.assert_allclose(s[[6, 7, 8]], [-1, 0, 1])
    with pytest.raises(ValueError, match="untreated"):
        centre_on_controls(x, plate, np.full(12, 2))


def test_efficacy_augmentations_keep_size_and_darkness_legacy_do_not():
    from sciml_spheroid.augment import simclr_augment

    torch.manual_seed(0)
    yy, xx = np.mgrid[:48, :48]
    disc = np.where(np.hypot(yy - 23.5, xx - 23.5) < 10, 0.3, 0.85).astype(np.float32)
    x = torch.from_numpy(disc)[None, None].repeat(64, 1, 1, 1)

    def area_and_dark(v):
        dark = v < 0.575
        return dark.float().sum((1, 2, 3)), (v * dark).sum((1, 2, 3)) / dark.float().sum((1, 2, 3)).clamp_min(1)

    a0, d0 = area_and_dark(x)
    a_new, d_new = area_and_dark(simclr_augment(48, 0.5, "efficacy")(x).clamp(0, 1))
    a_old, d_old = area_and_dark(simclr_augment(48, 0.5, "legacy")(x).clamp(0, 1))
    rel_new, rel_old = (a_new / a0 - 1).abs(), (a_old / a0 - 1).abs()
    assert rel_new.max() < 0.3 and rel_new.mean() < 0.1
    assert rel_old.mean() > 2 * rel_new.mean()  # legacy crops change apparent size
    assert (d_new - d0).abs().max() < 0.1
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        simclr_augment(48, 0.5, "imagenet")


def test_dose_spearman_is_label_free_and_defined_per_drug():
    group = np.array([0, 0, 2, 2, 2, 2, 2, 2])
    drug = np.array(["none", "none", "A", "A", "A", "B", "B", "B"])
    conc = np.array([0, 0, 1, 3, 10, 1, 3, 10.0])
    assert dose_spearman(conc, group, drug, conc) == pytest.approx(1.0)
    assert dose_spearman(-conc, group, drug, conc) == pytest.approx(-1.0)
    assert np.isnan(dose_spearman(np.ones(8), group, drug, conc))


def test_acceptance_gate_rejects_a_model_worse_than_the_untrained_encoder(tmp_path):
    from sciml.testing import make_context
    from sciml_spheroid.evaluation import RankingEvaluator

    ev = RankingEvaluator(RankingEvaluator.Config(), make_context(tmp_path))
    ev._baselines = {"random_init": {"val_spearman_treated": 0.7, "val_dose_spearman": 0.2}}
    ok, why = ev.accept({"val_spearman_treated": 0.5, "test_spearman_treated": 0.99})
    assert not ok and "untrained encoder" in why and "0.700" in why
    assert ev.accept({"val_spearman_treated": 0.8, "test_spearman_treated": -1.0})[0]
    # without efficacy: the label-free metric decides
    assert not ev.accept({"val_spearman_treated": float("nan"), "val_dose_spearman": 0.1})[0]
    assert ev.accept({"val_dose_spearman": 0.3})[0]
    ev.config = RankingEvaluator.Config(gate=False)
    assert ev.accept({"val_spearman_treated": 0.5})[0]


def test_hill_fit_recovers_ec50_and_emax_within_intervals():
    rng = np.random.default_rng(0)
    c = np.repeat([0, 0, 0, 0.1, 0.3, 1, 3, 10, 30], 4)
    y = hill4(c, 0.0, 4.0, np.log10(1.2), 1.3) + rng.normal(0, 0.3, len(c))
    f = fit_hill(c, y)
    assert f["fit"] == "ok"
    assert f["ec50_low"] < 1.2 < f["ec50_high"] and f["ec50_high"] / f["ec50_low"] < 3
    assert f["emax_low"] < 4.0 < f["emax_high"]
    assert "needs >= 3" in fit_hill([0, 1, 1], [0, 1, 1])["fit"]


def test_bootstrap_interval_and_plate_report(tmp_path):
    lo, hi = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    assert np.isnan(bootstrap_ci(np.array([1.0]))[0])
    rng = np.random.default_rng(1)
    doses = [0.1, 0.3, 1.0, 3.0, 10.0]
    rows = [("none", 0.0, 0)] * 8 + [(d, c, 2) for d in ("strong", "weak") for c in doses for _ in range(3)]
    drug = np.array([r[0] for r in rows])
    conc = np.array([r[1] for r in rows])
    group = np.array([r[2] for r in rows])
    truth = np.where(drug == "strong", hill4(conc, 0, 5, 0.0, 1.5), np.where(drug == "weak", hill4(conc, 0, 1.5, 0.5, 1.0), 0))
    score = truth + rng.normal(0, 0.3, len(rows))
    a = {"plate_name": np.array(["P"] * len(rows)), "well": np.array([f"{r}{c}" for r in "BCDEFG" for c in range(2, 12)][:len(rows)]),
         "group": group, "drug": drug, "concentration": conc, "efficacy": np.full(len(rows), np.nan),
         "qc": np.array([""] * len(rows))}
    rep = plate_report(a, score, seed=0, n_boot=500)
    assert rep.drugs["drug"].tolist() == ["strong", "weak"] and rep.drugs["rank"].tolist() == [1, 2]
    top = rep.conditions.iloc[0]
    assert top["drug"] == "strong" and top["concentration"] == 10.0 and top["ci_low"] <= top["score"] <= top["ci_high"]
    assert len(rep.conditions) == 11 and "efficacy" not in rep.wells
    out = rep.write(tmp_path / "r")
    assert {"conditions.csv", "drugs.csv", "wells.csv", "report.html", "plate_scores.png",
            "dose_response_strong.png", "dose_response_weak.png"} <= {p.name for p in out.iterdir()}
