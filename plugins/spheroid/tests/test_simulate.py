import numpy as np
import pytest
import sciml
from sciml_spheroid.handcrafted import features_stack, segment
from sciml_spheroid.plate import DAYS, INNER_WELLS, parse_well
from sciml_spheroid.simulate import DEFAULT_DRUGS, Drug, WellDesign, design_plate, render_plate


def test_inner_wells_and_default_design():
    assert len(INNER_WELLS) == 60 and len(set(INNER_WELLS)) == 60
    assert all(w[0] in "BCDEFG" and 2 <= int(w[1:]) <= 11 for w in INNER_WELLS)
    d = design_plate()
    assert [w.well for w in d] == list(INNER_WELLS)
    groups = np.array([w.group for w in d])
    assert (groups == 0).sum() == 18 and (groups == 1).sum() == 12 and (groups == 2).sum() == 30
    screen = {(w.drug, w.concentration) for w in d if w.group == 2}
    assert len(screen) == 15  # 3 drugs x 5 concentrations, 2 replicates each


def test_design_that_does_not_fit_is_a_user_error():
    with pytest.raises(sciml.UserError, match="needs 75 wells"):
        design_plate(n_untreated=18, n_single=12, replicates=3, drugs=DEFAULT_DRUGS)
    with pytest.raises(sciml.UserError, match="single_drug"):
        design_plate(single_drug="ZZ")


def test_hill_curve_is_monotone_and_bounded():
    c = np.array([0.0, 0.01, 0.1, 1.0, 10.0, 1000.0])
    for d in DEFAULT_DRUGS:
        e = d.efficacy(c)
        assert e[0] == 0.0 and np.all(np.diff(e) > 0) and e[-1] <= d.emax
        assert d.efficacy(d.ec50) == pytest.approx(d.emax / 2)


def test_render_is_deterministic_and_laid_out_like_the_thesis():
    a = render_plate(3, 1, size=24)
    b = render_plate(3, 1, size=24)
    c = render_plate(3, 2, size=24)
    assert a.images.shape == (60, len(DAYS), 24, 24) and tuple(a.days) == (7, 8, 9, 10)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.efficacy, b.efficacy)
    assert not np.array_equal(a.images, c.images)
    assert a.images.min() >= 0 and a.images.max() <= 1
    groups = np.array([w.group for w in a.design])
    assert np.all(a.efficacy[groups == 0] == 0) and np.all(a.efficacy[groups > 0] >= 0)


def test_handcrafted_features_follow_efficacy():
    # one drug, no scatter: efficacy 0, 0.2, 0.5, 0.8, ~1 at these doses; 4 replicates each
    drug = Drug("X", ec50=1.0, hill=1.0, emax=1.0)
    doses = [0.0, 0.25, 1.0, 4.0, 100.0]
    design = [WellDesign(INNER_WELLS[i * 4 + r], 0 if c == 0 else 2, "X", c) for i, c in enumerate(doses) for r in range(4)]
    pl = render_plate(0, 0, size=48, design=design, drugs=[drug], efficacy_noise=0.0)
    f = features_stack(pl.images)
    change = (f[:, -1] - f[:, 0]).reshape(len(doses), 4, 3).mean(1)  # day 10 - day 7, replicate mean
    assert np.all(np.diff(change[:, 0]) < 0)  # area grows less / shrinks more with efficacy
    assert change[0, 0] > 0.3 and change[-1, 0] < 0  # untreated grow (Gompertz), killed shrink
    assert np.all(change[1:, 1] < change[0, 1] - 0.02)  # treated lose circularity
    assert np.all(change[1:, 2] < change[0, 2] - 0.02)  # and darken relative to the background


def test_segmentation_finds_a_disc():
    yy, xx = np.mgrid[:40, :40]
    img = np.where(np.hypot(yy - 20, xx - 20) < 8, 0.3, 0.8)
    m = segment(img)
    assert abs(m.sum() - np.pi * 64) < 0.15 * np.pi * 64


def test_parse_well():
    assert parse_well(" c05 ") == "C5"
    with pytest.raises(sciml.UserError, match="unknown well 'Q99'"):
        parse_well("Q99")
    with pytest.raises(sciml.UserError, match="edge well"):
        parse_well("A1")
