"""Evaluator ``ptrcnn:regression``: the paper's metrics and figures.

- MAE (meV/atom) of the formation energy and MAPE (%) of the lattice parameter on the test split
  (paper Fig. 2a, c), and the same on the validation split (the tuning metric);
- MAE (meV/atom) against pymatgen's experimental formation enthalpies of X2YZ compositions
  (kept out of training by the dataset), and the MAE of the data set's own labels against them
  (for the default data: CHGNet vs experiment);
- error vs training-set size for PTR and the control representations with an identical training
  budget, plus the kernel ridge regression baseline on the Mendeleev line (paper Fig. 2, Fig. S4);
- transfer learning to a stability classifier and heatmaps of predicted stability for X2YZ with
  the X elements named in ``heatmap_x`` (paper §Transfer learning, Fig. 3c for W2YZ);
- parity plots.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from pydantic import Field, field_validator

import sciml
from sciml_ptrcnn.dataset import TARGETS, HeuslerPTRDataset, denormalize
from sciml_ptrcnn.elements import ELEMENTS


def _agg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def predict_physical(model, x: np.ndarray, normalization: dict) -> dict[str, np.ndarray]:
    """Model predictions in physical units: {target: (n,)} (eV/atom, Å)."""
    model.eval()
    with torch.no_grad():
        p = torch.cat([model(torch.from_numpy(x[i:i + 2048]).float()) for i in range(0, len(x), 2048)]).numpy()
    cols = [TARGETS.index(t) for t in model.tasks]
    phys = denormalize(p, normalization, cols)
    return {t: phys[:, i] for i, t in enumerate(model.tasks)}


def regression_metrics(pred: dict, y: np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix}_mae_formation_energy`` (meV/atom) and ``{prefix}_mape_lattice_parameter`` (%) where labels exist."""
    out = {}
    if "formation_energy_per_atom" in pred:
        m = np.isfinite(y[:, 0])
        if m.any():
            out[f"{prefix}_mae_formation_energy"] = float(1000 * np.abs(pred["formation_energy_per_atom"][m] - y[m, 0]).mean())
    if "lattice_parameter" in pred:
        m = np.isfinite(y[:, 1])
        if m.any():
            out[f"{prefix}_mape_lattice_parameter"] = float(100 * np.abs(pred["lattice_parameter"][m] / y[m, 1] - 1).mean())
    return out


class RegressionEvaluator(sciml.Evaluator):
    class Config(sciml.ComponentConfig):
        experimental: bool = Field(True, description="MAE against pymatgen's experimental X2YZ formation enthalpies")
        learning_curve_sizes: list[int] = Field([500, 2000], description="training-set sizes (compounds) of the error-vs-size curve")
        learning_curve_full: bool = Field(False, description="also train every curve representation on the full training set")
        learning_curve_representations: list[str] = Field(["ptr", "random_table_1"], description="representations compared (paper Fig. 2b, d)")
        learning_curve_epochs: int = Field(10, ge=0, description="epochs of every learning-curve training (0 = no curve)")
        lr: float = Field(0.01, gt=0, description="lr of the auxiliary trainings (curve, stability)")
        batch_size: int = Field(64, ge=1, description="batch size of the auxiliary trainings")
        krr: bool = Field(True, description="kernel ridge regression baseline on the Mendeleev line")
        stability: bool = Field(True, description="transfer learning to a stability classifier")
        stability_epochs: int = Field(10, ge=1, description="fine-tuning epochs of the stability classifier")
        negatives_per_positive: float = Field(3.0, gt=0, description="unlabelled compositions drawn as negatives per known X2YZ")
        stable_threshold: float = Field(0.99, gt=0, lt=1, description="probability above which a compound is called stable (paper: 0.99)")
        heatmap_x: list[str] = Field(["W"], description="X elements of the X2YZ stability heatmaps (paper Fig. 3c: W)")
        extras_in_tune: bool = Field(False, description="also run curve/stability inside Ray Tune trials")

        @field_validator("heatmap_x")
        @classmethod
        def _known_x(cls, v):
            bad = [e for e in v if e not in ELEMENTS]
            if bad:
                raise ValueError(f"heatmap_x element(s) {bad} are not among the 52 elements {', '.join(ELEMENTS)}")
            return v

        @field_validator("learning_curve_representations")
        @classmethod
        def _known_rep(cls, v):
            from sciml_ptrcnn.representation import REPRESENTATIONS

            bad = [r for r in v if r not in REPRESENTATIONS]
            if bad:
                raise ValueError(f"unknown representation(s) {bad}; accepted: {', '.join(REPRESENTATIONS)}")
            return v

    # ---- helpers -------------------------------------------------------------------------
    def _aux_fit(self, model, data, epochs, seed):
        from sciml_ptrcnn.training import fit

        torch.manual_seed(seed)
        return fit(model, data.split("train"), data.split("val"), max_epochs=epochs, batch_size=self.config.batch_size,
                   lr=self.config.lr, patience=0, seed=seed)

    def _learning_curve(self, model, data, reporter, results):
        from sciml_ptrcnn.baseline import fit_krr, krr_predict
        from sciml_ptrcnn.model import PTRCNN

        c = self.config
        n_full = data.metadata["n_train"]
        sizes = sorted({s for s in c.learning_curve_sizes if s < n_full} | ({n_full} if c.learning_curve_full else set()))
        if not sizes:
            sizes = [n_full]
        base = data.config.model_dump()
        seed = getattr(self.context, "seed", 0)
        curve = {}
        for rep in c.learning_curve_representations:
            for n in sizes:
                cfg = HeuslerPTRDataset.Config(**{**base, "representation": rep, "n_train": n})
                d = HeuslerPTRDataset(cfg, self.context)
                d.prepare()
                m = PTRCNN(model.config, d.metadata)
                t0 = time.time()
                self._aux_fit(m, d, c.learning_curve_epochs, seed)
                met = regression_metrics(predict_physical(m, d.images("test"), d.normalization), d.raw_targets("test"), "test")
                curve.setdefault(rep, []).append({"n_train": n, **met, "seconds": round(time.time() - t0, 1)})
        if c.krr and "formation_energy_per_atom" in data.metadata["targets_present"]:
            for n in sizes:
                d = HeuslerPTRDataset(HeuslerPTRDataset.Config(**{**base, "representation": "mendeleev_line", "n_train": n}), self.context)
                d.prepare()
                met = {}
                for j, t in enumerate(TARGETS):
                    y = d.raw_targets("train")[:, j]
                    ok = np.isfinite(y)
                    if ok.sum() < 10:
                        continue
                    krr = fit_krr(d.images("train")[ok], y[ok], seed)
                    met.update(regression_metrics({t: krr_predict(krr, d.images("test"))}, d.raw_targets("test"), "test"))
                curve.setdefault("krr_mendeleev_line", []).append({"n_train": n, **met})
        results["learning_curve"] = curve
        for rep, pts in curve.items():
            last = pts[-1]
            for k, v in last.items():
                if k.startswith("test_"):
                    results[f"curve_{rep}_{k}"] = v
        if "ptr" in curve and "random_table_1" in curve:
            a = curve["ptr"][-1].get("test_mae_formation_energy")
            b = curve["random_table_1"][-1].get("test_mae_formation_energy")
            if a and b:
                results["mae_ratio_random_table_1_over_ptr"] = b / a
        plt = _agg()
        keys = [("test_mae_formation_energy", "MAE formation energy (meV/atom)"),
                ("test_mape_lattice_parameter", "MAPE lattice parameter (%)")]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, (k, lab) in zip(axes, keys):
            for rep, pts in curve.items():
                xs = [p["n_train"] for p in pts if k in p]
                ys = [p[k] for p in pts if k in p]
                if xs:
                    ax.plot(xs, ys, "o-" if rep != "krr_mendeleev_line" else "s--", label=rep)
            ax.set_xscale("log")
            ax.set_xlabel("training compounds")
            ax.set_ylabel(lab)
            ax.legend(fontsize=7)
        fig.suptitle("Error vs training-set size (paper Fig. 2)")
        fig.tight_layout()
        reporter.log_figure(fig, "error_vs_training_size.png")
        plt.close(fig)

    def _stability(self, model, data, reporter, results):
        from sklearn.metrics import roc_auc_score

        from sciml_ptrcnn.elements import all_heuslers, make_heusler
        from sciml_ptrcnn.model import StabilityCNN
        from sciml_ptrcnn.representation import encode
        from sciml_ptrcnn.sources import load_stability_positives
        from sciml_ptrcnn.training import fit

        c = self.config
        rep, lay = data.metadata["representation"], data.metadata["layout"]
        pos = sorted(set(load_stability_positives()["formula"]))
        rng = np.random.default_rng(getattr(self.context, "seed", 0))
        pos_set = set(pos)
        pool = [h for h in all_heuslers() if h.formula not in pos_set]
        neg = [pool[i] for i in rng.choice(len(pool), size=min(len(pool), int(c.negatives_per_positive * len(pos))), replace=False)]
        from sciml_ptrcnn.elements import parse_formula

        comps = [parse_formula(f) for f in pos] + neg
        x = encode(comps, rep, lay)
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.float32)
        perm = rng.permutation(len(y))
        n_val = len(y) // 5
        va, tr = perm[:n_val], perm[n_val:]
        ds = lambda idx: torch.utils.data.TensorDataset(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))
        clf = StabilityCNN(model)
        bce = torch.nn.BCEWithLogitsLoss()
        fit(clf, ds(tr), ds(va), max_epochs=c.stability_epochs, batch_size=c.batch_size, lr=c.lr, patience=0,
            loss_fn=lambda m, b: {"loss": bce(m(b[0]), b[1])})
        p_val = clf.probability(torch.from_numpy(x[va])).numpy()
        results["stability_val_auc"] = float(roc_auc_score(y[va], p_val))
        results["stability_val_recall_at_threshold"] = float((p_val[y[va] == 1] > c.stable_threshold).mean())
        plt = _agg()
        for xel in c.heatmap_x:
            others = [e for e in ELEMENTS if e != xel]
            grid = np.full((len(others), len(others)), np.nan)
            pairs = [(i, j) for i in range(len(others)) for j in range(i + 1, len(others))]
            hs = [make_heusler(xel, others[i], others[j]) for i, j in pairs]
            prob = clf.probability(torch.from_numpy(encode(hs, rep, lay))).numpy()
            for (i, j), p in zip(pairs, prob):
                grid[i, j] = grid[j, i] = p
            results[f"stability_n_stable_{xel}2YZ"] = int((prob > c.stable_threshold).sum())
            fig, ax = plt.subplots(figsize=(9, 8))
            im = ax.imshow(grid, cmap="coolwarm", vmin=0, vmax=1)
            ax.contour(np.nan_to_num(grid) > c.stable_threshold, levels=[0.5], colors="k", linewidths=0.5)
            ax.set_xticks(range(len(others)), others, rotation=90, fontsize=6)
            ax.set_yticks(range(len(others)), others, fontsize=6)
            ax.set_xlabel("Z")
            ax.set_ylabel("Y")
            ax.set_title(f"Predicted stability of {xel}2YZ (red: stable; contour: p > {c.stable_threshold})")
            fig.colorbar(im, ax=ax, label="stability probability")
            fig.tight_layout()
            reporter.log_figure(fig, f"stability_{xel}2YZ.png")
            plt.close(fig)

    # ---- main --------------------------------------------------------------------------------
    def evaluate(self, model, data, reporter):
        data.prepare()
        norm = data.normalization
        results: dict = {}
        preds = {}
        for split in ("val", "test"):
            preds[split] = predict_physical(model, data.images(split), norm)
            results.update(regression_metrics(preds[split], data.raw_targets(split), split))
        # parity plots
        plt = _agg()
        y = data.raw_targets("test")
        fig, axes = plt.subplots(1, len(model.tasks), figsize=(5 * len(model.tasks), 4.5), squeeze=False)
        for ax, t in zip(axes[0], model.tasks):
            j = TARGETS.index(t)
            ok = np.isfinite(y[:, j])
            ax.scatter(y[ok, j], preds["test"][t][ok], s=4, alpha=0.5)
            lo, hi = np.nanmin(y[ok, j]), np.nanmax(y[ok, j])
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
            unit = "eV/atom" if j == 0 else "Å"
            ax.set_xlabel(f"label {t} ({unit})")
            ax.set_ylabel(f"CNN {t} ({unit})")
        fig.suptitle(f"Test parity ({data.metadata['source']} labels, {data.metadata['representation']})")
        fig.tight_layout()
        reporter.log_figure(fig, "parity.png")
        plt.close(fig)
        # experimental formation enthalpies
        if self.config.experimental and "formation_energy_per_atom" in model.tasks:
            from sciml_ptrcnn.elements import parse_formula
            from sciml_ptrcnn.representation import encode
            from sciml_ptrcnn.sources import load_experimental

            exp = load_experimental()
            x = encode([parse_formula(f) for f in exp["formula"]], data.metadata["representation"], data.metadata["layout"])
            p = predict_physical(model, x, norm)["formation_energy_per_atom"]
            results["experimental_mae_formation_energy"] = float(1000 * np.abs(p - exp["formation_energy_per_atom"]).mean())
            results["n_experimental"] = int(len(exp))
            labels = dict(zip(data._arrays["formula"], data._arrays["y"][:, 0]))
            both = [(labels[f], e) for f, e in zip(exp["formula"], exp["formation_energy_per_atom"]) if f in labels and np.isfinite(labels[f])]
            if both:
                a = np.array(both)
                results["label_vs_experiment_mae_formation_energy"] = float(1000 * np.abs(a[:, 0] - a[:, 1]).mean())
                results["n_label_vs_experiment"] = len(both)
            fig, ax = plt.subplots(figsize=(5, 4.5))
            ax.scatter(exp["formation_energy_per_atom"], p, s=10, label="CNN")
            if both:
                ax.scatter(a[:, 1], a[:, 0], s=10, marker="x", label=f"{data.metadata['source']} label")
            lo, hi = float(exp["formation_energy_per_atom"].min()), float(exp["formation_energy_per_atom"].max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
            ax.set_xlabel("experimental ΔH_f (eV/atom)")
            ax.set_ylabel("predicted ΔH_f (eV/atom)")
            ax.legend()
            fig.tight_layout()
            reporter.log_figure(fig, "parity_experimental.png")
            plt.close(fig)
        in_tune = bool(getattr(self.context, "in_tune", False))
        if not in_tune or self.config.extras_in_tune:
            if self.config.learning_curve_epochs > 0 and self.config.learning_curve_representations:
                self._learning_curve(model, data, reporter, results)
            if self.config.stability:
                self._stability(model, data, reporter, results)
        return results
