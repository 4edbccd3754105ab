"""cgmap on the paper's four systems (ethane, ethylbenzene, CTA and PIM-1 units; paper Fig. 1).

For each molecule: Langevin equilibration + NVE production with MMFF94 (the plugin's default data
size, or the paper's 1 ns / 10^4 frames with --paper), then the VAE trained with the plugin's
default settings (the cgmap trainer: Lightning engine, no early stop before tau reaches its final
value, least-squares decoder refit) over several seeds and bead counts, in-process (no MLflow).
Prints the MD's measured temperature and energy drift, one line per trial, and one table: beads,
accepted/attempted, val and test RMSD of the accepted trial best on validation, the
mean-structure RMSD on the same blocks, mean CG force and wall time.

    .venv/bin/python bench/cgmap_paper.py [--paper] [--seeds 4] [--beads 2 3] \
        [--molecules ethane ethylbenzene cta pim1] [--set model.loss=rec ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _parse_sets(items):
    out: dict[str, dict] = {}
    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
        out.setdefault(section, {})[name] = value
    return out


def main() -> None:
    import sciml
    from sciml.testing import RecordingReporter
    from sciml_cgmap.data import PAPER_SETTINGS, MDTrajectoryDataset
    from sciml_cgmap.evaluation import MappingEvaluator
    from sciml_cgmap.model import CGVAE
    from sciml_cgmap.plugin import PIPELINE_DEFAULTS
    from sciml_cgmap.summary import distinct_mappings, plot_catalogue, summarize
    from sciml_cgmap.training import CGMapTrainer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="the paper's data size (1 ns, 10^4 frames)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--beads", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--molecules", nargs="+", default=["ethane", "ethylbenzene", "cta", "pim1"])
    ap.add_argument("--set", dest="sets", action="append", default=[],
                    help="section.key=value over the plugin defaults, e.g. model.loss=rec, dataset.n_frames=500")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training (the engine applies it)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "sciml-cgmap-bench"))
    ap.add_argument("--json", default=None, help="write all results to this file")
    ap.add_argument("--figures", default=None, help="write one mapping-catalogue figure per molecule into this directory")
    args = ap.parse_args()

    sets = _parse_sets(args.sets)
    data_cfg = {**PIPELINE_DEFAULTS["dataset"], **(PAPER_SETTINGS if args.paper else {}), **sets.get("dataset", {})}
    model_cfg = {**PIPELINE_DEFAULTS["model"], **sets.get("model", {})}
    trainer_cfg = {**PIPELINE_DEFAULTS["trainer"], "device": "cpu", **sets.get("trainer", {})}
    root = Path(args.cache)
    rows, out = [], {}
    for name in args.molecules:
        ctx = sciml.Context(run_dir=root / "run", cache_dir=root / "cache", threads=args.threads)
        data = MDTrajectoryDataset(MDTrajectoryDataset.Config(**{**data_cfg, "molecule": name}), ctx)
        t0 = time.perf_counter()
        data.prepare()
        t_data = time.perf_counter() - t0
        meta = data.metadata
        steps, wall = meta["md_steps"], meta["md_wall_time_s"]
        print(f"\n== {name} ({meta['smiles']}, {meta['n_atoms']} atoms, {meta['force_field']}): "
              f"{meta['md_equilibration_wall_time_s']:.1f} s Langevin equilibration "
              f"(mean {meta['md_equilibration_temperature_K']:.0f} K), {steps} NVE steps "
              f"({steps * data.config.timestep_fs / 1e6:.3g} ns) in {wall:.1f} s; production "
              f"{meta['md_temperature_K']:.0f} ± {meta['md_temperature_std_K']:.0f} K, energy drift "
              f"{meta['md_energy_drift_kcal_mol']:+.4f} kcal/mol over the run (total-energy std "
              f"{meta['md_total_energy_std_kcal_mol']:.3f}, potential std {meta['md_potential_energy_std_kcal_mol']:.2f}); "
              f"data ready in {t_data:.1f} s")
        base = MappingEvaluator(MappingEvaluator.Config(figures=False), ctx).baselines(None, data, {})["mean_structure"]
        trials = []
        for n_beads in args.beads:
            for seed in range(args.seeds):
                sciml_seed(seed)
                model = CGVAE(CGVAE.Config(**{**model_cfg, "n_beads": n_beads}), meta)
                with tempfile.TemporaryDirectory() as tmp:
                    tctx = sciml.Context(run_dir=Path(tmp), cache_dir=root / "cache", seed=seed, threads=args.threads)
                    rep = RecordingReporter(Path(tmp) / "rep")
                    t1 = time.perf_counter()
                    fit = CGMapTrainer(CGMapTrainer.Config(**trainer_cfg), tctx).fit(model, data, rep)
                    t_fit = time.perf_counter() - t1
                    ev = MappingEvaluator(MappingEvaluator.Config(figures=False), tctx)
                    res = ev.evaluate(model, data, rep)
                ok, why = ev.accept(res)
                trials.append({"config": {"n_beads": n_beads}, "seed": seed, "metrics": {}, "results": res,
                               "accepted": ok, "epochs": fit["epochs"], "fit_s": t_fit})
                print(f"   N={n_beads} seed={seed}: val/test RMSD {res['val_rmsd']:.3f}/{res['test_rmsd']:.3f} Å, "
                      f"beads used {res['n_used_beads']:.0f}, {'accepted' if ok else 'REJECTED: ' + why}, "
                      f"|F_CG| {res['test_mean_cg_force']:.1f} kcal/mol/Å, {fit['epochs']:.0f} epochs in {t_fit:.1f} s, "
                      f"beads {res['beads']}")
        for n_beads in args.beads:
            sel = [t for t in trials if t["config"]["n_beads"] == n_beads]
            acc = [t for t in sel if t["accepted"]]
            row = {"molecule": name, "n_atoms": meta["n_atoms"], "beads": n_beads, "accepted": len(acc),
                   "attempted": len(sel), "mean_val": base["val_rmsd"], "mean_test": base["test_rmsd"],
                   "wall_s": t_data + sum(t["fit_s"] for t in sel)}
            if acc:
                best = min(acc, key=lambda t: t["results"]["val_rmsd"])["results"]  # chosen on validation
                row.update(val=best["val_rmsd"], test=best["test_rmsd"], force=best["test_mean_cg_force"],
                           used=best["n_used_beads"])
            rows.append(row)
        for line in summarize(trials):
            print("   " + line)
        if args.figures:
            fig = plot_catalogue(distinct_mappings(trials), meta, title=f"{name}: distinct accepted mappings")
            if fig is not None:
                Path(args.figures).mkdir(parents=True, exist_ok=True)
                fig.savefig(Path(args.figures) / f"cgmap-catalogue-{name}.png", dpi=110)
                print(f"   catalogue figure: {Path(args.figures) / f'cgmap-catalogue-{name}.png'}")
        out[name] = {"md": {k: v for k, v in meta.items() if k.startswith("md_")},
                     "baseline_mean_structure": base, "trials": trials}
    print("\n| molecule | atoms | N | accepted | best accepted on val: val / test RMSD (Å) | mean structure "
          "val / test (Å) | beats it (test) | mean CG force (kcal/mol/Å) | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        got = f"{r['val']:.3f} / {r['test']:.3f}" if "val" in r else "—"
        beats = ("yes" if r["test"] < r["mean_test"] else "no") if "val" in r else "—"
        force = f"{r['force']:.1f}" if "val" in r else "—"
        print(f"| {r['molecule']} | {r['n_atoms']} | {r['beads']} | {r['accepted']}/{r['attempted']} | {got} | "
              f"{r['mean_val']:.3f} / {r['mean_test']:.3f} | {beats} | {force} | {r['wall_s']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "molecules": out}, indent=1, default=str))


def sciml_seed(seed: int) -> None:
    """Seed python, numpy and torch as the core does before a trial."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


if __name__ == "__main__":
    main()
