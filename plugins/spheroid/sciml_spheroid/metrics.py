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
    keys = [(int(g), str(d) if g else "none", float(c) if g else 0.0) for g, d, c in zip(group, drug, concentration, strict=False)]
    uniq = sorted(set(keys))
    idx = np.array([uniq.index(k) for k in keys])
    ms = np.array([np.mean(np.asarray(score)[idx == i]) for i in range(len(uniq))])
    mt = np.array([np.mean(np.asarray(truth)[idx == i]) for i in range(len(uniq))])
    return uniq, ms, mt


def ranking_metrics(score: np.ndarray, efficacy: np.ndarray, group: np.ndarray, drug: np.ndarray,
                    concentration: np.ndarray, prefix: str) -> dict[str, float]:
    """Rank correlations of an efficacy ``score`` with the true ``efficacy`` on one split's wells.

    All arguments are ``(n_wells,)`` arrays of that split; ``prefix`` is ``"val"`` or ``"test"``.

    Returns (NaN where undefined, see :func:`rank_correlations`):
        - ``{prefix}_spearman_treated`` / ``_kendall_treated``: the headline, over **treated
          conditions** (group x drug x concentration with group > 0, mean of the replicate
          wells). Untreated wells are excluded: that they are untreated is known by design,
          so separating them from treated wells is no evidence of ranking efficacy.
        - ``{prefix}_spearman`` / ``_kendall``: over all wells (untreated included);
        - ``{prefix}_spearman_treated_wells``: over treated wells;
        - ``{prefix}_spearman_conditions`` / ``_kendall_conditions``: over all conditions, the
          untreated wells pooled into one;
        - ``{prefix}_n_treated_conditions``: how many conditions the headline ranks.
    """
    score, efficacy, group = np.asarray(score, float), np.asarray(efficacy, float), np.asarray(group)
    out: dict[str, float] = {}
    rc = rank_correlations(score, efficacy)
    out[f"{prefix}_spearman"], out[f"{prefix}_kendall"] = rc["spearman"], rc["kendall"]
    t = group > 0
    out[f"{prefix}_spearman_treated_wells"] = rank_correlations(score[t], efficacy[t])["spearman"]
    _, ms, mt = condition_means(score, efficacy, group, drug, concentration)
    rc = rank_correlations(ms, mt)
    out[f"{prefix}_spearman_conditions"], out[f"{prefix}_kendall_conditions"] = rc["spearman"], rc["kendall"]
    if t.any():
        _, ms, mt = condition_means(score[t], efficacy[t], group[t], np.asarray(drug)[t], np.asarray(concentration)[t])
    else:
        ms = mt = np.zeros(0)
    rc = rank_correlations(ms, mt)
    out[f"{prefix}_spearman_treated"], out[f"{prefix}_kendall_treated"] = rc["spearman"], rc["kendall"]
    out[f"{prefix}_n_treated_conditions"] = float(len(mt))
    return out


def dose_spearman(score: np.ndarray, group: np.ndarray, drug: np.ndarray, concentration: np.ndarray) -> float:
    """Label-free ranking check: does the score rise with the dose? Mean over drugs of Spearman's
    rho over wells (the untreated wells at concentration 0 plus that drug's wells) of score vs
    concentration. Needs no efficacy, only the plate design. NaN when no drug has a defined rho.

    All arguments ``(n_wells,)``. A scorer that ignores treatment scores ~0; any monotone
    response to dose scores near 1 whether or not it tracks killing, so this selects between
    models when no efficacy is measured and is no evidence of ranking drugs correctly."""
    score, group = np.asarray(score, float), np.asarray(group)
    drug, concentration = np.asarray(drug), np.asarray(concentration, float)
    rhos = []
    for d in sorted(set(drug[group > 0].tolist())):
        m = (group == 0) | ((group > 0) & (drug == d))
        r = rank_correlations(score[m], np.where(group[m] == 0, 0.0, concentration[m]))["spearman"]
        if np.isfinite(r):
            rhos.append(r)
    return float(np.mean(rhos)) if rhos else float("nan")
