"""Bench: parameter identification across two tissue regions (paper Fig. 4, made testable; issue 17).

Two TP06 slabs (paper §3.1, ``--n`` cells a side, stimulated in the corner) differ only in one
conductance: region A has the default G_Kr, region B G_Kr × ``--g-kr-scale`` (> 1 shortens the
action potential, like the paper's ischaemic ROI B). For each region and each noise seed (5 %
Gaussian noise as in §3.1, a new draw per seed) the Mitchell–Schaeffer model is fitted to the
region's traces; the bench prints, per region, the APD80 of the clean traces and τ_in, τ_out,
τ_close as mean ± std over the seeds, and the difference B − A of τ_close against the
spread over seeds. The fit is the physics-only model by L-BFGS (converged, seconds per fit);
``--hybrid-epochs N`` also trains APHYN-EP jointly from those τ for N epochs (F_dl in 1/
``--time-unit`` ms) and reports its τ_close.

    nice .venv/bin/python bench/aphyn_identify.py [--n 24] [--g-kr-scale 2] [--seeds 3] [--hybrid-epochs 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--g-kr-scale", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--step", type=float, default=0.1, help="Euler step (ms)")
    parser.add_argument("--hybrid-epochs", type=int, default=0)
    parser.add_argument("--time-unit", type=float, default=30.0)
    parser.add_argument("--cache", default="/tmp/aphyn_work/cache")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import numpy as np
    import sciml
    import torch
    from sciml_aphyn.data import TP06SlabDataset
    from sciml_aphyn.model import APHYNEP
    from sciml_aphyn.traces import add_noise
    from sciml_aphyn.training import AphynTrainer, fit_lbfgs

    results = {}
    for region, scale in (("A", 1.0), ("B", args.g_kr_scale)):
        ctx = sciml.Context(run_dir=Path(tempfile.mkdtemp(prefix="aphyn-id-")), cache_dir=Path(args.cache), seed=0)
        ds = TP06SlabDataset(TP06SlabDataset.Config(n=args.n, noise=0.0, g_kr_scale=scale), ctx)
        t0 = time.perf_counter()
        ds.prepare()
        clean = ds.arrays("train")["clean"]
        sim_s = time.perf_counter() - t0
        apd = apd80(clean, ds.config.record_interval)
        rows = []
        for seed in range(args.seeds):
            noisy = add_noise(clean, args.noise, 100 + seed)
            model = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=args.step), ds.metadata)
            t0 = time.perf_counter()
            info = fit_lbfgs(model, noisy)
            row = {"seed": seed, **model.taus(), "seconds": time.perf_counter() - t0, **info}
            if args.hybrid_epochs:
                torch.manual_seed(seed)
                hybrid = APHYNEP(APHYNEP.Config(step_size=args.step, time_unit=args.time_unit,
                                                **{k: v for k, v in model.taus().items()}), ds.metadata)
                cfg = AphynTrainer.Config(max_epochs=args.hybrid_epochs, physics_warmup_epochs=0, lr=1e-3,
                                          physics_lr=0.01, batch_size=len(noisy), patience=15, min_delta=1e-3)
                hctx = sciml.Context(run_dir=Path(tempfile.mkdtemp(prefix="aphyn-id-h-")), cache_dir=ctx.cache_dir,
                                     seed=seed)
                val = add_noise(ds.arrays("val")["clean"], args.noise, 200 + seed)
                AphynTrainer(cfg, hctx).fit_arrays(hybrid, noisy, val)
                row["hybrid_tau_close"] = hybrid.taus()["tau_close"]
            rows.append(row)
            print(region, json.dumps(row), flush=True)
        stats = {k: [float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))]
                 for k in ("tau_in", "tau_out", "tau_close", *(["hybrid_tau_close"] if args.hybrid_epochs else []))}
        results[region] = {"g_kr_scale": scale, "apd80_ms": float(np.nanmedian(apd)), "simulation_s": sim_s,
                           "fit_s": float(np.mean([r["seconds"] for r in rows])), **stats, "rows": rows}
    a, b = results["A"], results["B"]
    print(f"\nTP06 {args.n}x{args.n}, noise {args.noise}, {args.seeds} noise seeds, Mitchell–Schaeffer by L-BFGS")
    print("| region | G_Kr | APD80 clean (ms) | τ_in (ms) | τ_out (ms) | τ_close (ms) | fit (s) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | ×{r['g_kr_scale']:g} | {r['apd80_ms']:.0f} | {r['tau_in'][0]:.3f} ± {r['tau_in'][1]:.3f} | "
              f"{r['tau_out'][0]:.2f} ± {r['tau_out'][1]:.2f} | {r['tau_close'][0]:.1f} ± {r['tau_close'][1]:.1f} | "
              f"{r['fit_s']:.0f} |")
    diff = b["tau_close"][0] - a["tau_close"][0]
    spread = max(a["tau_close"][1], b["tau_close"][1], 1e-9)
    print(f"τ_close B − A = {diff:+.1f} ms ({diff / a['tau_close'][0]:+.1%}); APD80 B − A = "
          f"{b['apd80_ms'] - a['apd80_ms']:+.0f} ms; largest spread over seeds {spread:.2f} ms")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


def apd80(traces, dt: float):
    """APD80 (ms) of clean normalised traces ``(n, n_t)`` that start at the upstroke: from the first
    sample >= 0.5 to the first sample < 0.2 after the peak (NaN if it does not repolarise)."""
    import numpy as np

    out = np.full(len(traces), np.nan)
    for i, v in enumerate(traces):
        up = int(np.argmax(v >= 0.5))
        peak = int(np.argmax(v))
        down = np.flatnonzero(v[peak:] < 0.2)
        if len(down):
            out[i] = (peak + down[0] - up) * dt
    return out


if __name__ == "__main__":
    main()
