"""The paper's rho study (Fig. 2, §3.2) and its thresholded force term (§2.3).

For each rho of a log grid: the VAE with the un-normalised loss of Eq. 2, L = L_rec + rho L_force,
trained with the plugin's defaults over a few seeds; prints the final training loss and its two
parts (L_rec in Å², rho L_force), the beads the mapping uses, the validation RMSD next to the
mean-structure baseline and the CG force, and draws them against rho (``--figure``). With
``--threshold T`` every rho is run a second time with the force term switched on only once a
batch's L_rec < T Å² (§2.3: "no systematic effect", the paper's finding to check).

    .venv/bin/python bench/cgmap_rho.py [--molecule ethane] [--rhos 1e-2 1e-1 1] [--beads 3] \
        [--seeds 2] [--threshold 0.05] [--figure rho.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    import random

    import sciml
    import torch
    from sciml.testing import RecordingReporter
    from sciml_cgmap.data import MDTrajectoryDataset
    from sciml_cgmap.evaluation import MappingEvaluator
    from sciml_cgmap.model import CGVAE
    from sciml_cgmap.plugin import PIPELINE_DEFAULTS
    from sciml_cgmap.training import CGMapTrainer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molecule", default="ethane")
    ap.add_argument("--rhos", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1, 1.0])
    ap.add_argument("--beads", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=None, help="also run the §2.3 variant (Å²)")
    ap.add_argument("--n-frames", type=int, default=PIPELINE_DEFAULTS["dataset"]["n_frames"])
    ap.add_argument("--max-epochs", type=int, default=PIPELINE_DEFAULTS["trainer"]["max_epochs"])
    ap.add_argument("--figure", default=None, help="write the rho plot here (.png)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "sciml-cgmap-bench"))
    args = ap.parse_args()

    root = Path(args.cache)
    ctx = sciml.Context(run_dir=root / "run", cache_dir=root / "cache", threads=1)
    data = MDTrajectoryDataset(MDTrajectoryDataset.Config(
        **{**PIPELINE_DEFAULTS["dataset"], "n_frames": args.n_frames, "molecule": args.molecule}), ctx)
    data.prepare()
    ev = MappingEvaluator(MappingEvaluator.Config(figures=False), ctx)
    base = ev.baselines(None, data, {})["mean_structure"]
    print(f"{args.molecule}, N={args.beads}, Eq. 2, {args.seeds} seeds per row; mean structure val RMSD "
          f"{base['val_rmsd']:.3f} Å")
    print("| rho | force term | final train loss | L_rec (Å²) | rho L_force | beads used | val RMSD (Å) | "
          "mean CG force (kcal/mol/Å) | accepted |")
    print("|---|---|---|---|---|---|---|---|---|")
    variants = [None] + ([args.threshold] if args.threshold else [])
    rows = []
    for thr in variants:
        for rho in args.rhos:
            got = []
            for seed in range(args.seeds):
                random.seed(seed)
                np.random.seed(seed)
                torch.manual_seed(seed)
                model = CGVAE(CGVAE.Config(**{**PIPELINE_DEFAULTS["model"], "n_beads": args.beads, "loss": "force",
                                              "rho": rho, "force_threshold": thr}), data.metadata)
                with tempfile.TemporaryDirectory() as tmp:
                    tctx = sciml.Context(run_dir=Path(tmp), cache_dir=root / "cache", seed=seed, threads=1)
                    rep = RecordingReporter(Path(tmp) / "rep")
                    cfg = {**PIPELINE_DEFAULTS["trainer"], "device": "cpu", "max_epochs": args.max_epochs}
                    CGMapTrainer(CGMapTrainer.Config(**cfg), tctx).fit(model, data, rep)
                    res = ev.evaluate(model, data, rep)
                    hist = {k: rep.history(k)[-1] for k in ("train_loss", "train_rec", "train_force")}
                got.append([hist["train_loss"], hist["train_rec"], rho * hist["train_force"], res["n_used_beads"],
                            res["val_rmsd"], res["val_mean_cg_force"], float(ev.accept(res)[0])])
            m = np.mean(got, axis=0)
            rows.append((thr, rho, m))
            print(f"| {rho:g} | {'from the start' if thr is None else f'after L_rec < {thr:g} Å²'} | {m[0]:.4g} | "
                  f"{m[1]:.4g} | {m[2]:.4g} | {m[3]:.2f} | {m[4]:.3f} | {m[5]:.1f} | {int(m[6] * args.seeds)}/{args.seeds} |")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.4))
        for thr, style in zip(variants, ("-", "--"), strict=False):
            sel = [(rho, m) for t, rho, m in rows if t == thr]
            r = [x for x, _ in sel]
            tag = "" if thr is None else f" (threshold {thr:g})"
            ax.loglog(r, [m[0] for _, m in sel], "k" + style, marker="o", label="total" + tag)
            ax.loglog(r, [m[1] for _, m in sel], "C0" + style, marker="s", label="L_rec" + tag)
            ax.loglog(r, [max(m[2], 1e-12) for _, m in sel], "C1" + style, marker="^", label="rho L_force" + tag)
        ax.set_xlabel("rho (Å²/(kcal/mol/Å)²)")
        ax.set_ylabel("final training loss")
        ax2 = ax.twinx()
        ax2.plot([rho for t, rho, _ in rows if t is None], [m[3] for t, _, m in rows if t is None], "C2:", marker="x")
        ax2.set_ylabel("beads used", color="C2")
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
