"""Ranking quality against the hidden ground truth: Spearman rho and Kendall tau (scipy.stats),
over wells and over conditions (group x drug x concentration, mean of the replicate wells)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def rank_correlations(score: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``{"spearman": rho, "kendall": tau}`` of ``score`` vs ``truth`` (both ``(n,)``), ignoring
    non-finite pairs; NaN when fewer than 3 pairs remain or a side is constant."""
    score, truth = np.asarray(score, float), np.asarray(truth, float)
    ok = np.isfinite(score) & np.isfinite(truth)
    if ok.sum() < 3 or np.ptp(score[ok]) == 0 or np.ptp(truth[ok]) == 0:
        return {"spearman": float("nan"), "kendall": float("nan")}
    return {"spearman": float(stats.spearmanr(score[ok], truth[ok]).statistic),
            "kendall": float(stats.kendalltau(score[ok], truth[ok]).statistic)}


def condition_means(score, truth, group, drug, concentration):
    """Mean score and mean truth per condition (group, drug, concentration).

    Returns ``(keys, mean_score (n_cond,), mean_truth (n_cond,))``; all untreated wells form
    one condition."""
    keys = [(int(g), str(d) if g else "none", float(c) if g else 0.0) for g, d, c in zip(group, drug, concentration)]
    uniq = sorted(set(keys))
    idx = np.array([uniq.index(k) for k in keys])
    ms = np.array([np.mean(np.asarray(score)[idx == i]) for i in range(len(uniq))])
    mt = np.array([np.mean(np.asarray(truth)[idx == i]) for i in range(len(uniq))])
    return uniq, ms, mt
