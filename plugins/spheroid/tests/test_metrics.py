import numpy as np
import pytest
from sciml_spheroid.metrics import condition_means, rank_correlations


def test_rank_correlations_on_known_permutation():
    truth = np.arange(5.0)
    score = np.array([0.0, 1.0, 2.0, 4.0, 3.0])  # one adjacent swap
    rc = rank_correlations(score, truth)
    assert rc["spearman"] == pytest.approx(1 - 6 * 2 / (5 * 24))  # 0.9
    assert rc["kendall"] == pytest.approx((9 - 1) / 10)  # 0.8
    rev = rank_correlations(-truth, truth)
    assert rev["spearman"] == pytest.approx(-1.0) and rev["kendall"] == pytest.approx(-1.0)


def test_rank_correlations_ignores_nan_and_degenerate():
    assert np.isnan(rank_correlations(np.ones(5), np.arange(5.0))["spearman"])
    rc = rank_correlations(np.array([0.0, 1.0, 2.0, np.nan]), np.array([0.0, 1.0, 2.0, 9.0]))
    assert rc["spearman"] == pytest.approx(1.0)


def test_condition_means_pool_replicates_and_untreated():
    score = np.array([1.0, 3.0, 5.0, 7.0, 0.0, 2.0])
    truth = np.array([0.2, 0.4, 0.6, 0.8, 0.0, 0.0])
    group = np.array([2, 2, 2, 2, 0, 0])
    drug = np.array(["A", "A", "B", "B", "none", "x"])
    conc = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    keys, ms, mt = condition_means(score, truth, group, drug, conc)
    assert keys == [(0, "none", 0.0), (2, "A", 1.0), (2, "B", 1.0)]
    assert ms.tolist() == [1.0, 2.0, 6.0]
    assert mt.tolist() == pytest.approx([0.0, 0.3, 0.7])


def test_handcrafted_scores_rank_deviation_from_untreated_dynamics():
    from sciml_spheroid.evaluation import handcrafted_scores

    rng = np.random.default_rng(0)
    n_unt, n_trt = 30, 20
    eff = np.concatenate([np.zeros(n_unt), np.linspace(0.05, 1.0, n_trt)])
    days = np.arange(4.0)
    base = rng.normal(0, 0.3, (n_unt + n_trt, 1, 3)) + np.array([0.2, -0.01, 0.0]) * days[None, :, None]
    feats = base + rng.normal(0, 0.01, base.shape)
    feats[:, 3] -= eff[:, None] * np.array([1.0, 0.3, 0.5])  # treated wells depart on day 10
    s = handcrafted_scores(feats, np.arange(0, n_unt, 2), [7, 8, 9, 10], [7, 8, 9], 10, epochs=200,
                           val_idx=np.arange(1, n_unt, 2))
    assert s.shape == (n_unt + n_trt,)
    assert rank_correlations(s[n_unt:], eff[n_unt:])["spearman"] > 0.9
    assert np.median(s[:n_unt]) < np.median(s[n_unt:])
