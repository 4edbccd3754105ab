"""``spheroid:ranking`` evaluator: efficacy ranking on unseen plates, linear probe, baselines, figures.

Metrics (test plates, whose seeds were never used for training):
- ``test_spearman`` / ``test_kendall``: SimCLR deviation score vs hidden true efficacy over wells;
  ``test_spearman_conditions`` / ``test_kendall_conditions``: over conditions (mean of replicates);
- the same with suffix ``_handcrafted`` for the hand-crafted baseline (area, circularity, relative
  intensity per image, ranked the same way: untreated-only time-series model, deviation on day 10);
- ``probe_acc_10|20|30|all``: linear-probe accuracy (thesis §6.2.1), ``supervised_acc`` (§6.2.2).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

import sciml
from sciml_spheroid.metrics import condition_means, rank_correlations
from sciml_spheroid.plate import GROUPS, well_position


def handcrafted_scores(feats: np.ndarray, fit_idx: np.ndarray, days: list[int], context_days: list[int],
                       target_day: int, distance: str = "l2", epochs: int = 300, hidden: int = 16,
                       seed: int = 0, val_idx: np.ndarray | None = None) -> np.ndarray:
    """Hand-crafted baseline scored like Methodology 1: a time-series model fitted on the
    standardised ``(N, n_days, 3)`` features of the untreated wells ``fit_idx`` predicts day 10;
    the deviation is the score ``(N,)``; untreated ``val_idx`` wells pick the best epoch."""
    from sciml_spheroid.timeseries import TimeSeriesPredictor, deviation, fit_predictor

    torch.manual_seed(seed)
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
        return deviation(p, t, distance).numpy()


class RankingEvaluator(sciml.Evaluator):
    """Ranks test wells by efficacy score and compares with the hidden ground truth."""

    class Config(sciml.ComponentConfig):
        probe_day: int = Field(10, description="day whose images the linear probe / supervised baseline classify")
        probe_labels: list[int] = Field([10, 20, 30], description="labelled examples per class for the probe (plus 'all')")
        probe_repeats: int = Field(5, ge=1, le=100, description="random draws averaged per probe budget")
        supervised: bool = Field(True, description="train the supervised from-scratch baseline (§6.2.2)")
        supervised_epochs: int = Field(20, ge=1, le=10000, description="epochs of the supervised baseline")
        handcrafted: bool = Field(True, description="compute the hand-crafted baseline ranking")
        random_init: bool = Field(True, description="control: the same scorer on an untrained (random) encoder")
        ts_epochs: int = Field(300, ge=1, description="time-series epochs (hand-crafted baseline; SimCLR if unfitted)")
        distance: Literal["model", "l2", "cosine"] = Field("model", description="score distance ('model' = model.distance)")
        figures: bool = Field(True, description="log the figures")
        num_threads: int = Field(1, ge=0, le=256, description="torch CPU threads (0 = leave torch's setting)")

    def evaluate(self, model, data, reporter) -> dict:
        from sciml_spheroid.training import torch_threads

        with torch_threads(self.config.num_threads):
            return self._evaluate(model, data, reporter)

    def _evaluate(self, model, data, reporter) -> dict:
        c = self.config
        a = data.arrays
        days = [int(d) for d in a["days"]]
        tr, te = data.indices("train"), data.indices("test")
        model.eval()
        if not bool(model.ts_fitted):
            from sciml_spheroid.training import fit_time_series

            fit_time_series(model, data, epochs=c.ts_epochs)
        distance = model.config.distance if c.distance == "model" else c.distance
        reps = model.embed(a["images"])  # (N, n_days, D)
        score = model.score(reps, distance).numpy()
        eff = a["efficacy"]
        res: dict = {"distance": distance}

        def add(prefix_suffix: str, s: np.ndarray):
            rc = rank_correlations(s[te], eff[te])
            _, ms, mt = condition_means(s[te], eff[te], a["group"][te], a["drug"][te], a["concentration"][te])
            rcc = rank_correlations(ms, mt)
            res[f"test_spearman{prefix_suffix}"] = rc["spearman"]
            res[f"test_kendall{prefix_suffix}"] = rc["kendall"]
            res[f"test_spearman_conditions{prefix_suffix}"] = rcc["spearman"]
            res[f"test_kendall_conditions{prefix_suffix}"] = rcc["kendall"]

        add("", score)
        untreated_tr = tr[a["group"][tr] == 0]
        va = data.indices("val")
        untreated_va = va[a["group"][va] == 0]
        hc = feats = None
        if c.handcrafted:
            from sciml_spheroid.handcrafted import features_stack

            feats = features_stack(a["images"])
            hc = handcrafted_scores(feats, untreated_tr, days, list(model.config.context_days),
                                    model.config.target_day, distance, epochs=c.ts_epochs, seed=self.context.seed,
                                    val_idx=untreated_va)
            add("_handcrafted", hc)
        if c.random_init:
            # control: does SimCLR training help over random convolutional features?
            torch.manual_seed(self.context.seed + 1)
            ctrl = type(model)(model.config, {"days": days, "image_size": int(a["images"].shape[-1])})
            reps_ctrl = ctrl.embed(a["images"])
            ctrl.fit_time_series(reps_ctrl[untreated_tr], epochs=c.ts_epochs, reps_val=reps_ctrl[untreated_va])
            add("_random_init", ctrl.score(reps_ctrl, distance).numpy())
        # untreated vs treated separation (mean score ratio) on the test plates
        g = a["group"][te]
        if np.any(g == 0) and np.any(g > 0):
            res["test_score_ratio_treated_untreated"] = float(np.mean(score[te][g > 0]) / max(np.mean(score[te][g == 0]), 1e-12))

        # -- linear probe and supervised baseline (§6.2)
        pd_i = days.index(c.probe_day) if c.probe_day in days else len(days) - 1
        reps_np = reps.numpy()
        probe_tr = np.unique(np.concatenate([tr, data.indices("val")]))  # labelled pool: train + val plates
        y_tr, y_te = a["group"][probe_tr], a["group"][te]
        if len(np.unique(y_tr)) >= 2:
            from sciml_spheroid.probe import linear_probe, supervised_baseline

            for k in list(c.probe_labels) + [None]:
                res[f"probe_acc_{'all' if k is None else k}"] = linear_probe(
                    reps_np[probe_tr, pd_i], y_tr, reps_np[te, pd_i], y_te, k, c.probe_repeats, self.context.seed)
            if feats is not None:  # the same probe on the 3 hand-crafted features of the same day
                res["probe_acc_all_handcrafted"] = linear_probe(
                    feats[probe_tr, pd_i], y_tr, feats[te, pd_i], y_te, None, 1, self.context.seed)
            if c.random_init:
                rc = reps_ctrl.numpy()
                res["probe_acc_all_random_init"] = linear_probe(
                    rc[probe_tr, pd_i], y_tr, rc[te, pd_i], y_te, None, 1, self.context.seed)
            if c.supervised:
                sup = supervised_baseline(a["images"][probe_tr, pd_i], y_tr, a["images"][te, pd_i], y_te,
                                          width=model.config.width, embedding_size=model.config.embedding_size,
                                          stem_stride=model.config.stem_stride, epochs=c.supervised_epochs,
                                          seed=self.context.seed)
                res["supervised_acc"] = sup["test_acc"]
                res["supervised_train_acc"] = sup["train_acc"]
        res["ranking"] = [
            {"plate": str(a["plate_name"][j]), "well": str(a["well"][j]), "group": GROUPS[int(a["group"][j])],
             "drug": str(a["drug"][j]), "concentration": float(a["concentration"][j]), "score": float(score[j]),
             "score_handcrafted": None if hc is None else float(hc[j]), "true_efficacy": float(eff[j])}
            for j in te[np.argsort(-score[te])]
        ]
        if c.figures:
            self._figures(reporter, a, te, score, hc, reps_np)
        return res

    # -- figures ----------------------------------------------------------------------------
    def _figures(self, reporter, a, te, score, hc, reps):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plate0 = a["plate"][te[0]]
        wells = te[a["plate"][te] == plate0]
        panels = [("SimCLR score", score)] + ([("hand-crafted score", hc)] if hc is not None else []) + [("true efficacy", a["efficacy"])]
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
        for ax, (title, v) in zip(np.atleast_1d(axes), panels):
            grid = np.full((8, 12), np.nan)
            for j in wells:
                r, col = well_position(a["well"][j])
                grid[r, col] = v[j]
            im = ax.imshow(grid, cmap="viridis")
            ax.set_xticks(range(12), [str(i + 1) for i in range(12)], fontsize=7)
            ax.set_yticks(range(8), list("ABCDEFGH"), fontsize=7)
            ax.set_title(f"{title} — plate {a['plate_name'][wells[0]]}", fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.8)
        fig.tight_layout()
        reporter.log_figure(fig, "plate_heatmap.png")
        plt.close(fig)

        eff_w = a["efficacy"][wells]
        order = np.argsort(np.nan_to_num(eff_w, nan=0.0))
        pick = wells[order[np.linspace(0, len(order) - 1, 5).round().astype(int)]]
        days = a["days"]
        fig, axes = plt.subplots(len(pick), len(days), figsize=(1.8 * len(days), 1.9 * len(pick)))
        for i, j in enumerate(pick):
            for d in range(len(days)):
                ax = axes[i, d]
                ax.imshow(a["images"][j, d], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]); ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"day {days[d]}", fontsize=9)
            axes[i, 0].set_ylabel(f"{a['well'][j]} {a['drug'][j]} {a['concentration'][j]:g}µM\nE={a['efficacy'][j]:.2f} s={score[j]:.2f}", fontsize=7)
        fig.tight_layout()
        reporter.log_figure(fig, "example_wells.png")
        plt.close(fig)

        series = [("SimCLR", score)] + ([("hand-crafted", hc)] if hc is not None else [])
        fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.8))
        colors = np.array(["tab:blue", "tab:orange", "tab:red"])
        for ax, (name, s) in zip(np.atleast_1d(axes), series):
            ax.scatter(a["efficacy"][te], s[te], c=colors[a["group"][te]], s=12, alpha=0.6)
            _, ms, mt = condition_means(s[te], a["efficacy"][te], a["group"][te], a["drug"][te], a["concentration"][te])
            ax.scatter(mt, ms, marker="D", facecolor="none", edgecolor="k", s=40, label="condition mean")
            rc = rank_correlations(s[te], a["efficacy"][te])
            ax.set_title(f"{name}: Spearman {rc['spearman']:.2f}, Kendall {rc['kendall']:.2f}", fontsize=9)
            ax.set_xlabel("true efficacy (fraction killed)")
            ax.set_ylabel("score (deviation from untreated prediction)")
            ax.legend(fontsize=7)
        fig.tight_layout()
        reporter.log_figure(fig, "ranking_vs_truth.png")
        plt.close(fig)

        from sklearn.decomposition import PCA

        last = reps[te, -1]
        xy = PCA(2).fit_transform((last - last.mean(0)) / (last.std(0) + 1e-9))
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        for gi, gname in enumerate(GROUPS):
            m = a["group"][te] == gi
            axes[0].scatter(xy[m, 0], xy[m, 1], s=12, c=colors[gi], label=gname)
        axes[0].legend(fontsize=7)
        axes[0].set_title("PCA of day-10 representations (test plates)", fontsize=9)
        sc = axes[1].scatter(xy[:, 0], xy[:, 1], s=12, c=a["efficacy"][te], cmap="magma")
        fig.colorbar(sc, ax=axes[1], label="true efficacy")
        axes[1].set_title("coloured by true efficacy", fontsize=9)
        fig.tight_layout()
        reporter.log_figure(fig, "embedding_pca.png")
        plt.close(fig)
