"""From well scores to an answer a biologist can use: conditions, dose–response, drug ranking.

Input: one efficacy score per well (the model's deviation from the untreated prediction, as a
z-score against the plate's own untreated wells, eq. N2), with the plate design.

- **Per condition** (drug x concentration; all untreated wells form one): the mean score of the
  replicate wells with a percentile bootstrap 95 % interval over those wells (``n_boot``
  resamples, scipy.stats.bootstrap), and the rank (1 = largest mean score = most effective).
- **Per drug** with >= 3 concentrations: a four-parameter Hill (log-logistic) fit
  (scipy.optimize.curve_fit) of well score vs concentration, the untreated wells at
  concentration 0 anchoring the bottom::

      s(c) = bottom + (top - bottom) * c**h / (EC50**h + c**h)                            (R1)

  reported as EC50 (µM) and E_max = top - bottom (score units) with 95 % intervals from the
  fit's covariance (EC50's on the log scale), and the area under the fitted curve above
  ``bottom`` averaged over the tested log10-dose range (``auc``, score units), which combines
  potency and maximal effect and stays defined when EC50 is poorly identified.
- **Drug ranking**: by ``auc`` (largest first); drugs with fewer than 3 doses by their mean
  score. A fit that fails is reported as such (NaN, ``fit`` column says why), never dropped.

Figures: a plate heat map of the scores (QC-flagged wells crossed) and one dose–response figure
per drug; :meth:`PlateReport.write` writes them with ``conditions.csv``, ``drugs.csv`` and
``report.html``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sciml_spheroid.plate import GROUPS, well_position


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` ``(n,)``; ``(nan, nan)`` when n < 2."""
    from scipy import stats

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) < 2 or np.ptp(v) == 0:
        m = float(v.mean()) if len(v) else math.nan
        return (m, m) if len(v) >= 2 else (math.nan, math.nan)
    r = stats.bootstrap((v,), np.mean, n_resamples=n_boot, confidence_level=level, method="percentile",
                        random_state=np.random.default_rng(seed))
    return float(r.confidence_interval.low), float(r.confidence_interval.high)


def hill4(c, bottom, top, log_ec50, h):
    """Eq. (R1) with ``log_ec50 = log10(EC50 / µM)``; ``c`` in µM (0 allowed)."""
    c = np.asarray(c, float)
    ch = np.power(np.clip(c, 0, None), h)
    return bottom + (top - bottom) * ch / (np.power(10.0, log_ec50 * h) + ch)


def fit_hill(conc: np.ndarray, score: np.ndarray) -> dict[str, float | str]:
    """Fit eq. (R1) to wells ``(n,)``: concentrations (µM, 0 = untreated) and scores.

    Returns ``ec50``, ``ec50_low``, ``ec50_high`` (µM), ``emax``, ``emax_low``, ``emax_high``,
    ``hill``, ``bottom``, ``auc`` and ``fit`` ("ok" or why not). Needs >= 3 positive doses."""
    from scipy.optimize import curve_fit

    conc, score = np.asarray(conc, float), np.asarray(score, float)
    ok = np.isfinite(conc) & np.isfinite(score)
    conc, score = conc[ok], score[ok]
    doses = np.unique(conc[conc > 0])
    nan = {k: math.nan for k in ("ec50", "ec50_low", "ec50_high", "emax", "emax_low", "emax_high", "hill",
                                 "bottom", "auc")}
    if len(doses) < 3:
        return {**nan, "fit": f"{len(doses)} concentration(s): a Hill fit needs >= 3"}
    lo, hi = np.log10(doses.min()), np.log10(doses.max())
    base = score[conc == 0]
    bottom0 = float(np.mean(base)) if len(base) else float(np.min(score))
    top0 = float(np.mean(score[conc == doses.max()]))
    p0 = [bottom0, top0 if top0 != bottom0 else bottom0 + 1.0, (lo + hi) / 2, 1.0]
    span = float(np.ptp(score)) + 1.0
    bounds = ([score.min() - span, score.min() - span, lo - 2, 0.3], [score.max() + span, score.max() + 4 * span, hi + 2, 5.0])
    try:
        p, cov = curve_fit(hill4, conc, score, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        return {**nan, "fit": f"failed: {exc}"}
    bottom, top, log_ec50, h = (float(x) for x in p)
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(4, math.nan)
    se_emax = float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0))) if np.all(np.isfinite(cov)) else math.nan
    grid = np.logspace(lo, hi, 64)
    auc = float(np.mean(hill4(grid, *p) - bottom))
    with np.errstate(over="ignore"):  # an unidentified EC50 has an infinite upper bound
        ec50_ci = (float(np.power(10.0, log_ec50 - 1.96 * se[2])), float(np.power(10.0, log_ec50 + 1.96 * se[2])))
    return {"ec50": float(10**log_ec50), "ec50_low": ec50_ci[0], "ec50_high": ec50_ci[1],
            "emax": top - bottom, "emax_low": top - bottom - 1.96 * se_emax, "emax_high": top - bottom + 1.96 * se_emax,
            "hill": h, "bottom": bottom, "auc": auc,
            "fit": ("EC50 above the tested range: E_max and EC50 not identified, rank by auc" if log_ec50 > hi
                    else "ok" if np.isfinite(se).all() and se[2] < 2 else "ok (parameters not identified: wide interval)")}


@dataclasses.dataclass
class PlateReport:
    """Per-condition and per-drug tables of one set of wells, and their figures."""

    conditions: pd.DataFrame
    drugs: pd.DataFrame
    wells: pd.DataFrame

    def figure_makers(self) -> dict:
        """``{file name: zero-argument callable returning a matplotlib figure}``."""
        out = {"plate_scores.png": lambda: heatmap_figure(self.wells)}
        for d in self.drugs["drug"]:
            out[f"dose_response_{_safe(d)}.png"] = (lambda d=d: dose_response_figure(self.wells, self.drugs, d))
        return out

    def write(self, folder: str | Path) -> Path:
        """Write ``conditions.csv``, ``drugs.csv``, ``wells.csv``, the figures and ``report.html`` to ``folder``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.conditions.to_csv(folder / "conditions.csv", index=False)
        self.drugs.to_csv(folder / "drugs.csv", index=False)
        self.wells.to_csv(folder / "wells.csv", index=False)
        figs = []
        for name, make in self.figure_makers().items():
            fig = make()
            fig.savefig(folder / name, dpi=110)
            plt.close(fig)
            figs.append(name)
        html = ["<html><head><meta charset='utf-8'><title>Spheroid efficacy report</title></head><body>",
                "<h1>Spheroid drug efficacy</h1>",
                "<p>Scores are deviations from the untreated prediction in units of the plate's own untreated "
                "wells (0 = like the controls). Intervals: 95 % bootstrap over replicate wells (conditions), "
                "95 % from the Hill fit (drugs).</p>",
                "<h2>Drug ranking</h2>", self.drugs.to_html(index=False, float_format=lambda v: f"{v:.3g}"),
                "<h2>Conditions</h2>", self.conditions.to_html(index=False, float_format=lambda v: f"{v:.3g}")]
        html += [f"<h3>{n}</h3><img src='{n}' style='max-width:900px'>" for n in figs]
        html.append("</body></html>")
        (folder / "report.html").write_text("\n".join(html))
        return folder


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(name)) or "drug"


def plate_report(a: dict, score: np.ndarray, idx: np.ndarray | None = None, seed: int = 0,
                 n_boot: int = 2000) -> PlateReport:
    """Condition table, drug table (Hill fits) and well table of wells ``idx`` of arrays ``a``
    (``plate_name``, ``well``, ``group``, ``drug``, ``concentration``, optional ``efficacy`` and
    ``qc``) with scores ``score`` ``(N,)`` over all wells."""
    idx = np.arange(len(score)) if idx is None else np.asarray(idx)
    g = np.asarray(a["group"])[idx]
    wells = pd.DataFrame({
        "plate": np.asarray(a["plate_name"])[idx], "well": np.asarray(a["well"])[idx],
        "group": [GROUPS[int(x)] for x in g], "drug": np.where(g > 0, np.asarray(a["drug"])[idx], "none"),
        "concentration": np.where(g > 0, np.asarray(a["concentration"], float)[idx], 0.0),
        "score": np.asarray(score, float)[idx],
        "qc": np.asarray(a["qc"])[idx] if "qc" in a else "",
    })
    eff = np.asarray(a["efficacy"], float)[idx] if "efficacy" in a else np.full(len(idx), np.nan)
    if np.isfinite(eff).any():
        wells["efficacy"] = eff
    rows = []
    for (grp, drug, conc), sub in wells.groupby(["group", "drug", "concentration"], sort=True):
        lo, hi = bootstrap_ci(sub["score"].to_numpy(), n_boot=n_boot, seed=seed)
        row = {"group": grp, "drug": drug, "concentration": conc, "n_wells": len(sub),
               "n_plates": sub["plate"].nunique(), "score": float(sub["score"].mean()), "ci_low": lo, "ci_high": hi,
               "qc_flagged": int((sub["qc"] != "").sum())}
        if "efficacy" in wells:
            row["efficacy"] = float(sub["efficacy"].mean())
        rows.append(row)
    conditions = pd.DataFrame(rows)
    conditions["rank"] = conditions["score"].rank(ascending=False, method="min").astype(int)
    conditions = conditions.sort_values("rank").reset_index(drop=True)
    unt = wells[wells["group"] == "untreated"]
    drows = []
    for drug, sub in wells[wells["drug"] != "none"].groupby("drug"):
        both = pd.concat([unt, sub])
        fit = fit_hill(both["concentration"].to_numpy(), both["score"].to_numpy())
        drows.append({"drug": drug, "n_concentrations": int(sub["concentration"].nunique()),
                      "max_concentration": float(sub["concentration"].max()),
                      "mean_score_top_dose": float(sub.loc[sub["concentration"] == sub["concentration"].max(), "score"].mean()),
                      **fit})
    drugs = pd.DataFrame(drows, columns=["drug", "n_concentrations", "max_concentration", "mean_score_top_dose",
                                         "ec50", "ec50_low", "ec50_high", "emax", "emax_low", "emax_high", "hill",
                                         "bottom", "auc", "fit"])
    if len(drugs):
        key = drugs["auc"].where(np.isfinite(drugs["auc"]), drugs["mean_score_top_dose"])
        drugs["rank"] = key.rank(ascending=False, method="min").astype(int)
        drugs = drugs.sort_values("rank").reset_index(drop=True)
    return PlateReport(conditions=conditions, drugs=drugs, wells=wells)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def heatmap_figure(wells: pd.DataFrame):
    """Scores on the 8 x 12 grid, one panel per plate; QC-flagged wells crossed."""
    plt = _plt()
    plates = list(dict.fromkeys(wells["plate"]))
    fig, axes = plt.subplots(1, len(plates), figsize=(4.6 * len(plates), 3.3), squeeze=False)
    vmax = float(np.nanmax(np.abs(wells["score"]))) if len(wells) else 1.0
    for ax, p in zip(axes[0], plates, strict=False):
        sub = wells[wells["plate"] == p]
        grid = np.full((8, 12), np.nan)
        for _, r in sub.iterrows():
            i, j = well_position(r["well"])
            grid[i, j] = r["score"]
            if r["qc"]:
                ax.plot(j, i, "x", color="k", ms=7)
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_xticks(range(12), [str(i + 1) for i in range(12)], fontsize=7)
        ax.set_yticks(range(8), list("ABCDEFGH"), fontsize=7)
        ax.set_title(f"plate {p}: score vs own controls (x = QC flag)", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def dose_response_figure(wells: pd.DataFrame, drugs: pd.DataFrame, drug: str):
    """Well scores vs concentration of ``drug`` (untreated at the left edge), condition means with
    bootstrap intervals, and the Hill fit (R1) with its EC50."""
    plt = _plt()
    sub = wells[wells["drug"] == drug]
    unt = wells[wells["group"] == "untreated"]
    doses = np.sort(sub["concentration"].unique())
    x0 = doses.min() / 10 if len(doses) else 0.01
    fig, ax = plt.subplots(figsize=(4.6, 3.5))
    ax.scatter(np.full(len(unt), x0), unt["score"], s=10, c="grey", alpha=0.6, label="untreated")
    ax.scatter(sub["concentration"], sub["score"], s=12, c="tab:red", alpha=0.6, label="wells")
    for c in doses:
        v = sub.loc[sub["concentration"] == c, "score"].to_numpy()
        lo, hi = bootstrap_ci(v, n_boot=500)
        ax.errorbar([c], [v.mean()], yerr=[[v.mean() - lo], [hi - v.mean()]] if np.isfinite(lo) else None,
                    fmt="D", color="k", ms=4, capsize=2)
    row = drugs[drugs["drug"] == drug]
    title = f"{drug}"
    if len(row) and np.isfinite(row["ec50"].iloc[0]):
        r = row.iloc[0]
        grid = np.logspace(np.log10(x0), np.log10(doses.max() * 3), 100)
        ax.plot(grid, hill4(grid, r["bottom"], r["bottom"] + r["emax"], np.log10(r["ec50"]), r["hill"]), "k-", lw=1)
        ax.axvline(r["ec50"], color="tab:blue", ls=":", lw=1)
        title += f": EC50 {r['ec50']:.3g} µM [{r['ec50_low']:.2g}, {r['ec50_high']:.2g}], E_max {r['emax']:.2f}"
    ax.set_xscale("log")
    ax.set_xlabel("concentration (µM); untreated at the left")
    ax.set_ylabel("score (z vs own controls)")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
