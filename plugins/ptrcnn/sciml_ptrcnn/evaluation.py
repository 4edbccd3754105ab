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
- parity plots;
- trivial baselines (:meth:`RegressionEvaluator.baselines`) on the model's own splits: the
  training-mean predictor and kernel ridge regression on the Mendeleev line.

Protocol (issue 11): the validation split chooses (the epoch of every model trained here, the
pipeline's trial and champion on ``val_mae_formation_energy``); the test split is only reported.
Every figure goes through ``reporter.draw_figure``: one that cannot be drawn (e.g. a panel
without labels) logs a warning and never fails the trial (issue 19.1).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import sciml
import torch
from pydantic import Field, field_validator

from sciml_ptrcnn.dataset import TARGETS, HeuslerPTRDataset, denormalize
from sciml_ptrcnn.elements import ELEMENTS

log = logging.getLogger(__name__)
UNITS = {"formation_energy_per_atom": "eV/atom", "lattice_parameter": "Å"}

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


def constant_metrics(value: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    """:func:`regression_metrics` of a predictor that answers ``value`` ``(n_targets,)`` for every
    compound of a split with labels ``y`` ``(n, n_targets)`` (targets whose value is NaN are skipped)."""
    pred = {t: np.full(len(y), value[j]) for j, t in enumerate(TARGETS) if np.isfinite(value[j])}
    return regression_metrics(pred, y, prefix)


def parity_figure(y: np.ndarray, pred: dict, title: str):
    """Parity plot (label vs prediction) with one panel per target that has labels in ``y``
    ``(n, 2)``; ``None`` when no target has any (nothing to draw)."""
    panels = []
    for t in pred:
        j = TARGETS.index(t)
        ok = np.isfinite(y[:, j]) & np.isfinite(pred[t])
        if ok.any():
            panels.append((t, y[ok, j], pred[t][ok]))
    if not panels:
        return None
    plt = _agg()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for ax, (t, lab, prd) in zip(axes[0], panels, strict=True):
        ax.scatter(lab, prd, s=4, alpha=0.5)
        lo, hi = float(min(lab.min(), prd.min())), float(max(lab.max(), prd.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"label {t} ({UNITS[t]})")
        ax.set_ylabel(f"CNN {t} ({UNITS[t]})")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def experimental_figure(exp_y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None, source: str):
    """CNN predictions (and the data set's own labels, ``labels`` ``(k, 2)`` of (label, experiment))
    against the experimental formation enthalpies ``exp_y`` (eV/atom); ``None`` if there are none."""
    if len(exp_y) == 0:
        return None
    plt = _agg()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(exp_y, pred, s=10, label="CNN")
    if labels is not None and len(labels):
        ax.scatter(labels[:, 1], labels[:, 0], s=10, marker="x", label=f"{source} label")
    lo, hi = float(np.min(exp_y)), float(np.max(exp_y))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("experimental ΔH_f (eV/atom)")
    ax.set_ylabel("predicted ΔH_f (eV/atom)")
    ax.legend()
    fig.tight_layout()
    return fig


def curve_figure(curve: dict):
    """Error vs training-set size (paper Fig. 2): one panel per metric that any representation has;
    ``None`` if none has any."""
    keys = [(k, lab) for k, lab in (("test_mae_formation_energy", "MAE formation energy (meV/atom)"),
                                    ("test_mape_lattice_parameter", "MAPE lattice parameter (%)"))
            if any(k in p for pts in curve.values() for p in pts)]
    if not keys:
        return None
    plt = _agg()
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    for ax, (k, lab) in zip(axes[0], keys, strict=True):
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
    return fig


def stability_figure(grid: np.ndarray, others: list[str], xel: str, threshold: float):
    """Heatmap of the predicted stability of ``xel``2YZ over (Y, Z) (paper Fig. 3c)."""
    plt = _agg()
    fig, ax = plt.subplots(figsize=(9, 8))
    im = ax.imshow(grid, cmap="coolwarm", vmin=0, vmax=1)
    above = np.nan_to_num(grid) > threshold
    if above.any() and not above.all():
        ax.contour(above, levels=[0.5], colors="k", linewidths=0.5)
    ax.set_xticks(range(len(others)), others, rotation=90, fontsize=6)
    ax.set_yticks(range(len(others)), others, fontsize=6)
    ax.set_xlabel("Z")
    ax.set_ylabel("Y")
    ax.set_title(f"Predicted stability of {xel}2YZ (red: stable; contour: p > {threshold})")
    fig.colorbar(im, ax=ax, label="stability probability")
    fig.tight_layout()
    return fig


class RegressionEvaluator(sciml.Evaluator):
    class Config(sciml.ComponentConfig):
        experimental: bool = Field(True, description="MAE against pymatgen's experimental X2YZ formation enthalpies")
        learning_curve_sizes: list[int] = Field([500, 2000], description="training-set sizes (compounds) of the error-vs-size curve")
        learning_curve_full: bool = Field(False, description="also train every curve representation on the full training set")
        learning_curve_representations: list[str] = Field(["ptr", "random_table_1"], description="representations compared (paper Fig. 2b, d)")
        learning_curve_epochs: int = Field(10, ge=0, description="epochs of every learning-curve training (0 = no curve)")
        lr: float = Field(0.01, gt=0, description="lr of the auxiliary trainings (curve, stability)")
        batch_size: int = Field(64, ge=1, description="batch size of the auxiliary trainings")
        krr: bool = Field(True, description="kernel ridge regression on the Mendeleev line: a baseline and a curve line")
        krr_max_train: int = Field(5000, ge=10, description="KRR fits on at most this many training compounds (a seeded subset; O(n^3))")
        magpie_rf: bool = Field(True, description="baseline magpie_rf: Magpie descriptors + random forest (skipped, with a warning, without matminer)")
        magpie_rf_trees: int = Field(200, ge=1, description="trees of the magpie_rf random forest")
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

    def __init__(self, config=None, context=None):
        super().__init__(config or self.Config(), context)
        self._krr_memo: dict[int, dict] = {}
        self._magpie_memo: dict | None = None

    # ---- helpers -------------------------------------------------------------------------
    def _aux_fit(self, model, train, val, epochs: int, stage: str):
        """Train an auxiliary model (learning-curve point, stability classifier) with the paper's
        recipe for ``epochs`` epochs through the core's engine: its own ``stage`` (checkpoint and
        resume in the trial directory), the weights of the best validation epoch kept, its epochs
        not reported into the trial's metrics."""
        from sciml_ptrcnn.training import paper_config

        cfg = paper_config(epochs, batch_size=self.config.batch_size, lr=self.config.lr)
        return sciml.fit(model, train, val, cfg, self.context, sciml.SilentReporter(), stage=stage)

    def _krr(self, data, n_train: int | None = None) -> dict:
        """KRR on the Mendeleev line of ``data``'s compounds (the first ``n_train`` training
        compounds; all when None), at most ``krr_max_train`` of them (a seeded subset).

        Returns ``{"n_train": k, "val_...": .., "test_...": ..}`` (:func:`regression_metrics` keys).
        Hyperparameters are chosen by cross-validation inside the training split; the validation
        and test splits are only predicted. Fitted once per training set: kept on the evaluator and
        in ``context.cache_dir`` (keyed by the arrays' content), so the learning curve, the
        baselines and the trials of a sweep on the same data share one fit.
        """
        import hashlib

        from sciml_ptrcnn.baseline import fit_krr, krr_predict

        n = data.metadata["n_train"] if n_train is None else int(n_train)
        if n in self._krr_memo:
            return self._krr_memo[n]
        base = data.config.model_dump()
        # the baseline keeps the plain atom counts whatever pixel encoding the CNN uses
        plain = {"background": 0.0, "element_value": 0.0, "count_scale": 1.0}
        d = HeuslerPTRDataset(HeuslerPTRDataset.Config(**{**base, **plain, "representation": "mendeleev_line", "n_train": n}),
                              self.context)
        d.prepare()
        seed = int(data.config.split_seed)
        x_tr, y_tr = d.images("train"), d.raw_targets("train")
        if len(x_tr) > self.config.krr_max_train:
            keep = np.sort(np.random.default_rng(seed).choice(len(x_tr), self.config.krr_max_train, replace=False))
            x_tr, y_tr = x_tr[keep], y_tr[keep]
        splits = {s: (d.images(s), d.raw_targets(s)) for s in ("val", "test")}

        def build():
            out = {}  # predictions only: the validation and test labels are never seen here
            for j in range(len(TARGETS)):
                ok = np.isfinite(y_tr[:, j])
                if ok.sum() < 10:
                    continue
                krr = fit_krr(x_tr[ok], y_tr[ok, j], seed)
                for s, (x, _) in splits.items():
                    out[f"{s}_{j}"] = krr_predict(krr, x)
            return out, {}

        h = hashlib.sha256(b"krr-v1")
        for a in (x_tr, y_tr, splits["val"][0], splits["test"][0]):
            h.update(np.ascontiguousarray(a).tobytes())
            h.update(str(a.shape).encode())
        if self.context is not None:
            path = Path(self.context.cache_dir) / "ptrcnn" / f"krr_{h.hexdigest()[:20]}.npz"
            preds, _ = sciml.cached_arrays(path, build)
        else:
            preds, _ = build()
        met: dict = {"n_train": int(len(x_tr))}
        for s, (_, y) in splits.items():
            pred = {t: preds[f"{s}_{j}"] for j, t in enumerate(TARGETS) if f"{s}_{j}" in preds}
            met.update(regression_metrics(pred, y, s))
        self._krr_memo[n] = met
        return met

    def _magpie_rf(self, data) -> dict | None:
        """Magpie descriptors + random forest (the composition-based peer) on ``data``'s training
        split, predicted on its validation and test splits: ``{"n_train": n, "val_...": .., "test_...": ..}``
        (:func:`regression_metrics` keys), one forest per target with labels. ``None`` (and a warning)
        when matminer is not installed. Cached by content in ``context.cache_dir`` like :meth:`_krr`."""
        import hashlib

        from sciml_ptrcnn.baseline import MAGPIE_MISSING, fit_random_forest, magpie_available, magpie_features

        if self._magpie_memo is not None:
            return self._magpie_memo
        if not magpie_available():
            log.warning(MAGPIE_MISSING)
            return None
        seed = int(data.config.split_seed)
        f_tr, y_tr = data.formulas("train"), data.raw_targets("train")
        splits = {s: (data.formulas(s), data.raw_targets(s)) for s in ("val", "test")}

        def build():
            out = {}  # predictions only: the validation and test labels are never seen here
            x_tr = magpie_features(f_tr)
            xs = {s: magpie_features(f) for s, (f, _) in splits.items()}
            for j in range(len(TARGETS)):
                ok = np.isfinite(y_tr[:, j])
                if ok.sum() < 10:
                    continue
                rf = fit_random_forest(x_tr[ok], y_tr[ok, j], seed, self.config.magpie_rf_trees)
                for s, x in xs.items():
                    out[f"{s}_{j}"] = rf.predict(x) if len(x) else np.zeros(0)
            return out, {}

        h = hashlib.sha256(f"magpie-rf-v1-{self.config.magpie_rf_trees}-{seed}".encode())
        for a in (f_tr, y_tr, splits["val"][0], splits["test"][0]):
            h.update(np.ascontiguousarray(a).tobytes())
            h.update(str(a.shape).encode())
        if self.context is not None:
            path = Path(self.context.cache_dir) / "ptrcnn" / f"magpie_rf_{h.hexdigest()[:20]}.npz"
            preds, _ = sciml.cached_arrays(path, build)
        else:
            preds, _ = build()
        met: dict = {"n_train": int(len(f_tr))}
        for s, (_, y) in splits.items():
            pred = {t: preds[f"{s}_{j}"] for j, t in enumerate(TARGETS) if f"{s}_{j}" in preds}
            met.update(regression_metrics(pred, y, s))
        self._magpie_memo = met
        return met

    def _learning_curve(self, model, data, reporter, results):
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
                torch.manual_seed(seed)
                m = PTRCNN(model.config, d.metadata)
                t0 = time.time()  # the epoch is chosen on validation
                self._aux_fit(m, d.split("train"), d.split("val"), c.learning_curve_epochs, f"curve_{rep}_{n}")
                met = regression_metrics(predict_physical(m, d.images("test"), d.normalization), d.raw_targets("test"), "test")
                curve.setdefault(rep, []).append({"n_train": n, **met, "seconds": round(time.time() - t0, 1)})
        if c.krr and "formation_energy_per_atom" in data.metadata["targets_present"]:
            for n in sizes:
                met = self._krr(data, n)
                point = {"n_train": n, **{k: v for k, v in met.items() if k.startswith("test_")}}
                if met["n_train"] != n:
                    point["fit_n_train"] = met["n_train"]  # capped by krr_max_train
                curve.setdefault("krr_mendeleev_line", []).append(point)
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
        reporter.draw_figure("error_vs_training_size.png", curve_figure, curve)

    def _stability(self, model, data, reporter, results):
        """Transfer learning to a stability classifier. Known compositions vs random ones are split
        60/20/20 (stratified): the validation part chooses the fine-tuning epoch, the test part is
        reported (``stability_test_*``); ``stability_val_auc`` is the figure the epoch was chosen on."""
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import train_test_split

        from sciml_ptrcnn.elements import all_heuslers, make_heusler, parse_formula
        from sciml_ptrcnn.model import StabilityCNN
        from sciml_ptrcnn.representation import encode
        from sciml_ptrcnn.sources import load_stability_positives
        c = self.config
        rep, lay, enc = data.metadata["representation"], data.metadata["layout"], data.encoding
        pos = sorted(set(load_stability_positives()["formula"]))
        seed = getattr(self.context, "seed", 0)
        rng = np.random.default_rng(seed)
        pos_set = set(pos)
        pool = [h for h in all_heuslers() if h.formula not in pos_set]
        neg = [pool[i] for i in rng.choice(len(pool), size=min(len(pool), int(c.negatives_per_positive * len(pos))), replace=False)]
        comps = [parse_formula(f) for f in pos] + neg
        x = encode(comps, rep, lay, encoding=enc)
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.float32)
        idx = np.arange(len(y))
        tr, rest = train_test_split(idx, test_size=0.4, stratify=y, random_state=seed)
        va, te = train_test_split(rest, test_size=0.5, stratify=y[rest], random_state=seed)
        def ds(idx):
            return torch.utils.data.TensorDataset(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))

        torch.manual_seed(seed)
        clf = StabilityCNN(model)
        self._aux_fit(clf, ds(tr), ds(va), c.stability_epochs, "stability")
        for name, part in (("val", va), ("test", te)):
            p = clf.probability(torch.from_numpy(x[part])).numpy()
            if len(set(y[part].tolist())) == 2:
                results[f"stability_{name}_auc"] = float(roc_auc_score(y[part], p))
            if (y[part] == 1).any():
                results[f"stability_{name}_recall_at_threshold"] = float((p[y[part] == 1] > c.stable_threshold).mean())
        for xel in c.heatmap_x:
            others = [e for e in ELEMENTS if e != xel]
            grid = np.full((len(others), len(others)), np.nan)
            pairs = [(i, j) for i in range(len(others)) for j in range(i + 1, len(others))]
            hs = [make_heusler(xel, others[i], others[j]) for i, j in pairs]
            prob = clf.probability(torch.from_numpy(encode(hs, rep, lay, encoding=enc))).numpy()
            for (i, j), p in zip(pairs, prob, strict=True):
                grid[i, j] = grid[j, i] = p
            results[f"stability_n_stable_{xel}2YZ"] = int((prob > c.stable_threshold).sum())
            reporter.draw_figure(f"stability_{xel}2YZ.png", stability_figure, grid, others, xel, c.stable_threshold)

    # ---- main --------------------------------------------------------------------------------
    def evaluate(self, model, data, reporter):
        """Metrics of ``model`` on ``data``'s validation and test splits (``val_*`` / ``test_*``:
        MAE formation energy in meV/atom, MAPE lattice parameter in %, each where the split has
        labels), the experimental comparison, the learning curve and the stability transfer.
        Nothing here is chosen on the test split."""
        data.prepare()
        norm = data.normalization
        results: dict = {}
        preds = {}
        for split in ("val", "test"):
            preds[split] = predict_physical(model, data.images(split), norm)
            results.update(regression_metrics(preds[split], data.raw_targets(split), split))
        reporter.draw_figure("parity.png", parity_figure, data.raw_targets("test"), preds["test"],
                             f"Test parity ({data.metadata['source']} labels, {data.metadata['representation']})")
        # experimental formation enthalpies
        if self.config.experimental and "formation_energy_per_atom" in model.tasks:
            from sciml_ptrcnn.elements import parse_formula
            from sciml_ptrcnn.representation import encode
            from sciml_ptrcnn.sources import load_experimental

            exp = load_experimental()
            x = encode([parse_formula(f) for f in exp["formula"]], data.metadata["representation"], data.metadata["layout"],
                       encoding=data.encoding)
            p = predict_physical(model, x, norm)["formation_energy_per_atom"]
            exp_y = exp["formation_energy_per_atom"].to_numpy()
            if len(exp_y):
                results["experimental_mae_formation_energy"] = float(1000 * np.abs(p - exp_y).mean())
            results["n_experimental"] = int(len(exp))
            labels = dict(zip(data._arrays["formula"], data._arrays["y"][:, 0], strict=True))
            both = [(labels[f], e) for f, e in zip(exp["formula"], exp_y, strict=True) if f in labels and np.isfinite(labels[f])]
            a = np.array(both).reshape(-1, 2)
            if len(a):
                results["label_vs_experiment_mae_formation_energy"] = float(1000 * np.abs(a[:, 0] - a[:, 1]).mean())
                results["n_label_vs_experiment"] = len(a)
            reporter.draw_figure("parity_experimental.png", experimental_figure, exp_y, p, a, data.metadata["source"])
        in_tune = bool(getattr(self.context, "in_tune", False))
        if not in_tune or self.config.extras_in_tune:
            if self.config.learning_curve_epochs > 0 and self.config.learning_curve_representations:
                self._learning_curve(model, data, reporter, results)
            if self.config.stability:
                self._stability(model, data, reporter, results)
        return results

    def baselines(self, model, data, results):
        """Trivial baselines on the model's own splits, with the model's metric names (``val_*``,
        ``test_*``: MAE formation energy meV/atom, MAPE lattice parameter % where labelled):

        - ``train_mean``: every compound gets the training split's mean label;
        - ``krr``: kernel ridge regression on the Mendeleev line (paper Fig. S4), the same fit as
          the learning curve's full-size KRR point when that exists (``evaluator.krr``; trained on
          at most ``evaluator.krr_max_train`` compounds, logged as ``baseline.krr.n_train``);
        - ``magpie_rf``: Magpie composition descriptors + random forest (matminer + scikit-learn;
          ``evaluator.magpie_rf``), the standard composition-based peer rather than a trivial
          baseline; left out, with a warning naming the install, when matminer is absent.
        """
        from sciml_ptrcnn.baseline import mean_predictor

        data.prepare()
        mean = mean_predictor(data.raw_targets("train"))
        out = {"train_mean": {s_k: v for s in ("val", "test")
                              for s_k, v in constant_metrics(mean, data.raw_targets(s), s).items()}}
        if self.config.krr:
            out["krr"] = self._krr(data)
        if self.config.magpie_rf:
            met = self._magpie_rf(data)
            if met is not None:
                out["magpie_rf"] = met
        return out
