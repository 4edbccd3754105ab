"""``spheroid:ranking`` evaluator: efficacy ranking on held-out plates, baselines, linear probe, figures.

The protocol (issue 11): train, validation and test are disjoint sets of plates. Every metric
is computed per held-out split, ``val_*`` (selects: the pipeline's metric is
``val_spearman_treated``) and ``test_*`` (reported only); a split without plates gets no
metrics and ``results["split_note"]`` says why. Training wells are never scored as held-out.

Metrics per split ``p`` (see :func:`sciml_spheroid.metrics.ranking_metrics`):
- ``p_spearman_treated`` / ``p_kendall_treated``: the headline, the model's deviation score vs
  hidden true efficacy over **treated conditions** (mean of replicate wells; untreated wells are
  known by design and excluded);
- secondary: ``p_spearman`` / ``p_kendall`` over wells, ``p_spearman_treated_wells``,
  ``p_spearman_conditions`` / ``p_kendall_conditions`` (untreated pooled into one condition),
  ``p_score_gap_treated_untreated`` (mean score of treated minus untreated wells);
- ``p_dose_spearman``: label-free (no efficacy needed), the score's rank correlation with dose
  per drug (:func:`sciml_spheroid.metrics.dose_spearman`); the ``spheroid:unlabelled`` pipeline
  selects on it;
- ``p_oracle_spearman_treated`` / ``p_oracle_spearman`` (simulated data): the ceiling, a scorer
  that knows the rendered mechanism effects (everything but the invisible scatter);
- ``p_probe_acc_10|20|30|all``: linear probe fitted on the **training** plates' day-10
  representations (thesis §6.2.1); ``p_probe_majority_acc`` (always the most frequent training
  class) and ``p_supervised_acc`` (§6.2.2, trained on the training plates) for comparison.

Baselines (:meth:`RankingEvaluator.baselines`, the same splits and metrics): ``concentration``
(score = concentration, 0 for untreated), ``treated`` (1 if a drug was added: constant over
treated conditions, so its headline is undefined and reported as such), ``handcrafted`` (area,
circularity, relative intensity through the same untreated time-series model and the same
plate normalisation) and ``random_init`` (the same scorer on an untrained encoder). The
acceptance gate (:meth:`RankingEvaluator.accept`) rejects a model that ranks worse than
``random_init`` on validation. With figures on, a per-condition / per-drug report
(:mod:`sciml_spheroid.report`: bootstrap intervals, Hill fits, heat map, dose–response figures)
is made for the shown plates.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import sciml
import torch
from pydantic import Field

from sciml_spheroid.metrics import condition_means, dose_spearman, ranking_metrics
from sciml_spheroid.plate import GROUPS, well_position


def handcrafted_scores(feats: np.ndarray, fit_idx: np.ndarray, days: list[int], context_days: list[int],
                       target_day: int, distance: str = "l2", epochs: int = 300, hidden: int = 16,
                       seed: int = 0, val_idx: np.ndarray | None = None, plate: np.ndarray | None = None,
                       group: np.ndarray | None = None) -> np.ndarray:
    """Hand-crafted baseline scored like Methodology 1: a time-series model fitted on the
    standardised ``(N, n_days, 3)`` features of the untreated wells ``fit_idx`` predicts the
    target day; the deviation is the score ``(N,)``; untreated ``val_idx`` wells pick the best
    epoch. With ``plate`` and ``group`` ``(N,)`` it gets the model's plate normalisation too:
    features centred on the plate's own untreated wells per day (eq. N1), scores as z-scores
    against them (eq. N2)."""
    from sciml_spheroid.normalise import centre_on_controls, standardise_scores
    from sciml_spheroid.timeseries import TimeSeriesPredictor, deviation, fit_predictor

    torch.manual_seed(seed)
    if plate is not None:
        feats = centre_on_controls(feats, plate, group)
    f = torch.as_tensor(feats, dtype=torch.float32)
    ref = f[fit_idx].reshape(-1, f.shape[-1])
    z = (f - ref.mean(0)) / ref.std(0).clamp_min(1e-6)
    ctx = [days.index(d) for d in context_days]
    tgt = days.index(target_day)
    pred = TimeSeriesPredictor(f.shape[-1], hidden)
    val = None if val_idx is None or not len(val_idx) else (z[val_idx][:, ctx], z[val_idx][:, tgt])
    fit_predictor(pred, z[fit_idx][:, ctx], z[fit_idx][:, tgt], epochs=epochs, val=val)
    with torch.no_grad():
        p, t = pred(z[:, ctx]), z[:, tgt]
        if distance == "cosine":  # as SpheroidSimCLR.score: angle in the uncentred feature space
            mu, sd = ref.mean(0), ref.std(0).clamp_min(1e-6)
            p, t = p * sd + mu, t * sd + mu
        s = deviation(p, t, distance).numpy().astype(np.float64)
    return s if plate is None else standardise_scores(s, plate, group)


class RankingEvaluator(sciml.Evaluator):
    """Ranks held-out wells by efficacy score and compares with the hidden ground truth and baselines."""

    class Config(sciml.ComponentConfig):
        probe_day: int | None = Field(None, description=(
            "day whose images the linear probe / supervised baseline classify (default: the model's target day)"))
        probe_labels: list[int] = Field([10, 20, 30], description="labelled examples per class for the probe (plus 'all')")
        probe_repeats: int = Field(5, ge=1, le=100, description="random draws averaged per probe budget")
        supervised: bool = Field(True, description="train the supervised from-scratch baseline (§6.2.2)")
        supervised_epochs: int = Field(20, ge=1, le=10000, description=(
            "most epochs of the supervised baseline (early stopping on the validation plates' accuracy)"))
        supervised_patience: int = Field(5, ge=1, description="epochs without validation improvement before it stops")
        handcrafted: bool = Field(True, description="compute the hand-crafted baseline ranking")
        random_init: bool = Field(True, description="control: the same scorer on an untrained (random) encoder")
        gate: bool = Field(True, description=(
            "acceptance gate: reject a model that ranks worse than the untrained encoder on validation "
            "(val_spearman_treated, or val_dose_spearman when no efficacy is measured)"))
        ts_epochs: int = Field(300, ge=1, description="time-series epochs (hand-crafted baseline; SimCLR if unfitted)")
        distance: Literal["model", "l2", "cosine"] = Field("model", description="score distance ('model' = model.distance)")
        figures: bool = Field(True, description="log the figures")

    def __init__(self, config, context):
        super().__init__(config, context)
        self._baselines: dict[str, dict[str, float]] | None = None

    def baselines(self, model, data, results) -> dict[str, dict[str, float]]:
        """``{name: {val_/test_ metrics}}`` of the comparators, on the model's splits (computed in
        :meth:`evaluate`; NaN where undefined — the core logs finite values only)."""
        if self._baselines is None:
            self.evaluate(model, data, None)
        return self._baselines

    def accept(self, results) -> tuple[bool, str]:
        """Reject a model whose validation ranking is worse than the untrained encoder's (same scorer,
        same plates): SimCLR training then did harm. On ``val_spearman_treated`` when efficacy is
        measured on the validation plates, else on the label-free ``val_dose_spearman``. Never test."""
        if not self.config.gate or not self._baselines or "random_init" not in self._baselines:
            return True, ""
        ctrl = self._baselines["random_init"]
        for key in ("val_spearman_treated", "val_dose_spearman"):
            m, b = results.get(key, np.nan), ctrl.get(key, np.nan)
            if isinstance(m, float) and np.isfinite(m) and np.isfinite(b):
                if m < b:
                    return False, (f"{key} {m:.3f} is below the untrained encoder's {b:.3f} on the validation "
                                   "plates: SimCLR training did not help")
                return True, ""
        return True, ""

    def evaluate(self, model, data, reporter) -> dict:
        c = self.config
        a = data.arrays
        days = [int(d) for d in a["days"]]
        tr = data.indices("train")
        held = {p: idx for p, idx in (("val", data.indices("val")), ("test", data.indices("test"))) if len(idx)}
        model.eval()
        if not bool(model.ts_fitted):
            from sciml_spheroid.training import fit_time_series

            fit_time_series(model, data, epochs=c.ts_epochs)
        distance = model.config.distance if c.distance == "model" else c.distance
        reps = model.embed(a["images"])  # (N, n_days, D)
        score = model.score_wells(reps, a["plate"], a["group"], distance)
        eff = a["efficacy"]
        plate_norm = model.config.normalise == "plate"
        res: dict = {"distance": distance, "normalise": model.config.normalise}
        notes = [getattr(data, "split_note", "")]
        if held and not any(np.isfinite(eff[idx]).any() for idx in held.values()):
            notes.append("the held-out plates have no efficacy values, so no efficacy ranking metric is reported; "
                         "val_dose_spearman (score rising with dose) selects instead: run spheroid:unlabelled")
        res["split_note"] = " ".join(n for n in notes if n)

        def ranking(s: np.ndarray, dose: bool = True) -> dict[str, float]:
            out: dict[str, float] = {}
            for p, idx in held.items():
                if np.isfinite(eff[idx]).any():
                    out.update(ranking_metrics(s[idx], eff[idx], a["group"][idx], a["drug"][idx],
                                               a["concentration"][idx], p))
                if dose:
                    out[f"{p}_dose_spearman"] = dose_spearman(s[idx], a["group"][idx], a["drug"][idx],
                                                              a["concentration"][idx])
            return out

        res.update(ranking(score))
        for p, idx in held.items():
            g = a["group"][idx]
            if np.any(g == 0) and np.any(g > 0):
                res[f"{p}_score_gap_treated_untreated"] = float(np.mean(score[idx][g > 0]) - np.mean(score[idx][g == 0]))
        if "oracle" in a:  # simulated: the ceiling, a scorer that knows the rendered effects
            for k, v in ranking(np.asarray(a["oracle"], float), dose=False).items():
                if k.endswith(("_spearman_treated", "_spearman")):
                    res[k.replace("val_", "val_oracle_").replace("test_", "test_oracle_")] = v

        # -- comparators on the same splits (Evaluator.baselines)
        scores = {"concentration": np.where(a["group"] > 0, a["concentration"], 0.0).astype(float),
                  "treated": (a["group"] > 0).astype(float)}
        untreated_tr = tr[a["group"][tr] == 0]
        va = held.get("val", np.zeros(0, dtype=int))
        untreated_va = va[a["group"][va] == 0]
        feats = reps_ctrl = None
        pg = (a["plate"], a["group"]) if plate_norm else (None, None)
        if c.handcrafted:
            from sciml_spheroid.handcrafted import features_stack

            feats = features_stack(a["images"], channel_axis=True)
            scores["handcrafted"] = handcrafted_scores(
                feats, untreated_tr, days, list(model.context_days), model.target_day, distance,
                epochs=c.ts_epochs, seed=self.context.seed, val_idx=untreated_va, plate=pg[0], group=pg[1])
        if c.random_init:
            # control: does SimCLR training help over random convolutional features?
            from sciml_spheroid.training import fit_time_series_arrays

            torch.manual_seed(self.context.seed + 1)
            ctrl = type(model)(model.config, {"days": days, "image_size": int(a["images"].shape[-1]),
                                              "in_channels": int(a["images"].shape[2])})
            reps_ctrl = ctrl.embed(a["images"])
            fit_time_series_arrays(ctrl, reps_ctrl, a, tr, va, epochs=c.ts_epochs)
            scores["random_init"] = ctrl.score_wells(reps_ctrl, a["plate"], a["group"], distance)
        base = {name: {k: v for k, v in ranking(s, dose=name not in ("concentration", "treated")).items()
                       if not k.endswith("_n_treated_conditions")}
                for name, s in scores.items()}

        # -- linear probe and supervised baseline (§6.2): fitted on training plates, scored on held-out ones
        probe_day = model.target_day if c.probe_day is None else c.probe_day
        pd_i = days.index(probe_day) if probe_day in days else len(days) - 1
        reps_np = reps.numpy()
        y = a["group"]
        if held and len(np.unique(y[tr])) >= 2:
            from sciml_spheroid.probe import linear_probe_scores, supervised_baseline

            def probe(x, per_class, repeats):
                evals = {p: (x[idx, pd_i], y[idx]) for p, idx in held.items()}
                return linear_probe_scores(x[tr, pd_i], y[tr], evals, per_class, repeats, self.context.seed)

            for k in list(c.probe_labels) + [None]:
                for p, acc in probe(reps_np, k, c.probe_repeats).items():
                    res[f"{p}_probe_acc_{'all' if k is None else k}"] = acc
            majority = np.bincount(y[tr]).argmax()
            for p, idx in held.items():
                res[f"{p}_probe_majority_acc"] = float(np.mean(y[idx] == majority))
            if feats is not None:  # the same probe on the 3 hand-crafted features of the same day
                for p, acc in probe(feats, None, 1).items():
                    base["handcrafted"][f"{p}_probe_acc_all"] = acc
            if reps_ctrl is not None:
                for p, acc in probe(reps_ctrl.numpy(), None, 1).items():
                    base["random_init"][f"{p}_probe_acc_all"] = acc
            if c.supervised:
                sup = supervised_baseline(
                    a["images"][tr, pd_i], y[tr], width=model.config.width, embedding_size=model.config.embedding_size,
                    stem_stride=model.config.stem_stride, epochs=c.supervised_epochs, seed=self.context.seed,
                    evals={p: (a["images"][idx, pd_i], y[idx]) for p, idx in held.items()},
                    patience=c.supervised_patience, device=self.context.device)
                res["supervised_train_acc"] = sup["train_acc"]
                res["supervised_epochs_trained"] = sup["epochs_trained"]
                for p in held:
                    res[f"{p}_supervised_acc"] = sup[f"{p}_acc"]
        self._baselines = base
        undefined = undefined_baseline_notes(res, base, scores, a["group"], held)
        if undefined:
            res["baseline_notes"] = undefined
        order = np.argsort(-score)
        split_name = np.array(["train", "val", "test"])[a["split"]]
        res["ranking"] = [
            {"split": str(split_name[j]), "plate": str(a["plate_name"][j]), "well": str(a["well"][j]),
             "group": GROUPS[int(a["group"][j])], "drug": str(a["drug"][j]),
             "concentration": float(a["concentration"][j]), "score": float(score[j]),
             "score_handcrafted": float(scores["handcrafted"][j]) if "handcrafted" in scores else None,
             "true_efficacy": float(eff[j])}
            for j in order
        ]
        if c.figures and reporter is not None:
            shown = held.get("test", held.get("val", tr))
            shown_name = "test" if "test" in held else ("validation" if "val" in held else "training")
            hc = scores.get("handcrafted")
            reporter.draw_figure("plate_heatmap.png", plate_heatmap, a, shown, shown_name, score, hc)
            reporter.draw_figure("example_wells.png", example_wells, a, shown, score)
            if held and np.isfinite(eff[shown]).any():
                series = [("SimCLR", score)] + ([("hand-crafted", hc)] if hc is not None else []) + [
                    ("concentration only", scores["concentration"])]
                reporter.draw_figure("ranking_vs_truth.png", ranking_vs_truth, a, shown, shown_name, series)
            if held:
                reporter.draw_figure("embedding_pca.png", embedding_pca, a, shown, shown_name, reps_np)
            from sciml_spheroid.report import plate_report

            report = plate_report(a, score, shown, seed=self.context.seed)
            res["conditions"] = report.conditions.to_dict(orient="records")
            res["drugs"] = report.drugs.to_dict(orient="records")
            for fname, fig_fn in report.figure_makers().items():
                reporter.draw_figure(fname, fig_fn)
        return res


def undefined_baseline_notes(res: dict, base: dict[str, dict[str, float]], scores: dict[str, np.ndarray],
                             group: np.ndarray, held: dict[str, np.ndarray]) -> list[str]:
    """One line per baseline whose rank correlation is undefined (NaN) where the model's is defined.

    A constant score has no ranks, so Spearman's rho (and Kendall's tau) are undefined: reported
    as such, never as 0 (``treated`` is constant over treated conditions by construction)."""
    notes = []
    for name, values in base.items():
        bad = sorted(k for k, v in values.items() if not np.isfinite(v) and np.isfinite(res.get(k, np.nan)))
        if not bad:
            continue
        why = "no defined rank correlation"
        for idx in held.values():
            t = idx[group[idx] > 0]
            if len(t) and np.ptp(scores[name][t]) == 0:
                why = "its score is constant over treated wells, so it has no ranks and Spearman/Kendall are undefined"
        notes.append(f"baseline {name}: {', '.join(bad)} undefined ({why}); reported as undefined, not 0")
    return notes


# -- figures (each returns a matplotlib figure; drawn through reporter.draw_figure) ---------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plate_heatmap(a, idx, split_name, score, hc):
    """SimCLR score, hand-crafted score and true efficacy on the 8x12 grid of the first plate of ``idx``."""
    plt = _plt()
    wells = idx[a["plate"][idx] == a["plate"][idx[0]]]
    panels = [("SimCLR score", score)] + ([("hand-crafted score", hc)] if hc is not None else []) + [("true efficacy", a["efficacy"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
    for ax, (title, v) in zip(np.atleast_1d(axes), panels, strict=False):
        grid = np.full((8, 12), np.nan)
        for j in wells:
            r, col = well_position(a["well"][j])
            grid[r, col] = v[j]
        im = ax.imshow(grid, cmap="viridis")
        ax.set_xticks(range(12), [str(i + 1) for i in range(12)], fontsize=7)
        ax.set_yticks(range(8), list("ABCDEFGH"), fontsize=7)
        ax.set_title(f"{title} — {split_name} plate {a['plate_name'][wells[0]]}", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def example_wells(a, idx, score):
    """Days 7-10 of five wells of the first plate of ``idx`` spanning the efficacy range."""
    plt = _plt()
    wells = idx[a["plate"][idx] == a["plate"][idx[0]]]
    order = np.argsort(np.nan_to_num(a["efficacy"][wells], nan=0.0))
    pick = wells[order[np.linspace(0, len(order) - 1, min(5, len(order))).round().astype(int)]]
    days = a["days"]
    fig, axes = plt.subplots(len(pick), len(days), figsize=(1.8 * len(days), 1.9 * len(pick)), squeeze=False)
    for i, j in enumerate(pick):
        for d in range(len(days)):
            ax = axes[i, d]
            ax.imshow(a["images"][j, d].mean(0), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"day {days[d]}", fontsize=9)
        axes[i, 0].set_ylabel(f"{a['well'][j]} {a['drug'][j]} {a['concentration'][j]:g}µM\n"
                              f"E={a['efficacy'][j]:.2f} s={score[j]:.2f}", fontsize=7)
    fig.tight_layout()
    return fig


def ranking_vs_truth(a, idx, split_name, series):
    """Score vs true efficacy on the wells ``idx`` for each ``(name, score)`` in ``series``;
    treated-condition means marked, titled with the headline Spearman over treated conditions."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.8))
    colors = np.array(["tab:blue", "tab:orange", "tab:red"])
    g = a["group"][idx]
    for ax, (name, s) in zip(np.atleast_1d(axes), series, strict=False):
        m = ranking_metrics(s[idx], a["efficacy"][idx], g, a["drug"][idx], a["concentration"][idx], "x")
        ax.scatter(a["efficacy"][idx], s[idx], c=colors[g], s=12, alpha=0.6)
        t = idx[g > 0]
        _, ms, mt = condition_means(s[t], a["efficacy"][t], a["group"][t], a["drug"][t], a["concentration"][t])
        ax.scatter(mt, ms, marker="D", facecolor="none", edgecolor="k", s=40, label="treated condition mean")
        ax.set_title(f"{name} ({split_name}): ρ treated cond. {m['x_spearman_treated']:.2f}, "
                     f"wells {m['x_spearman']:.2f}", fontsize=9)
        ax.set_xlabel("true efficacy (fraction killed)")
        ax.set_ylabel("score")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def embedding_pca(a, idx, split_name, reps):
    """PCA of the day-10 representations of wells ``idx``, coloured by group and by true efficacy."""
    from sklearn.decomposition import PCA

    plt = _plt()
    colors = np.array(["tab:blue", "tab:orange", "tab:red"])
    last = reps[idx, -1]
    xy = PCA(2).fit_transform((last - last.mean(0)) / (last.std(0) + 1e-9))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for gi, gname in enumerate(GROUPS):
        m = a["group"][idx] == gi
        axes[0].scatter(xy[m, 0], xy[m, 1], s=12, c=colors[gi], label=gname)
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"PCA of day-10 representations ({split_name} plates)", fontsize=9)
    sc = axes[1].scatter(xy[:, 0], xy[:, 1], s=12, c=a["efficacy"][idx], cmap="magma")
    fig.colorbar(sc, ax=axes[1], label="true efficacy")
    axes[1].set_title("coloured by true efficacy", fontsize=9)
    fig.tight_layout()
    return fig
