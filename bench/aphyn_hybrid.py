"""Bench: does the APHYN-EP hybrid earn its gain? Joint training, weighted ‖F_dl‖, converged baselines.

Issue 17. On TP06 slabs (paper §3.1; ``--n`` cells a side, 24 in the paper) it trains, all
from the same initial Mitchell–Schaeffer parameters and on the same training pixels:

  - ``physics_only``: Mitchell–Schaeffer alone, until the validation loss plateaus
    (``--patience`` epochs without a relative gain of ``--min-delta``, cap ``--base-epochs``);
  - ``physics_offset``: the same plus one learnable constant dv/dt (the constant-offset control);
  - ``APHYN-EP``: F_p and the ResNet F_dl trained jointly from epoch 0 (no physics warm-up),
    F_dl in units of 1/``--time-unit`` ms, so Eq. 3's ‖F_dl‖² is weighted by time_unit²
    (``--time-unit 1`` is the norm in 1/ms; ~300 ms is the action-potential duration), Adam
    lr ``--lr`` for F_dl (paper 1e-3), early-stopped on validation like the baselines.

and prints, per model, the forecast MSE on all validation (chooses) and test (reported)
pixels against the noisy traces (as the paper) and against the clean TP06 traces, the
ratios to the converged physics-only model, F_dl's share of the dynamics
(∫|F_dl,v|dt / ∫|dv/dt|dt along the forecasts), the final ‖F_dl‖² / (λ·L_traj), τ, epochs
and seconds per epoch. With noise σ the noisy MSE is ≈ σ² + the clean MSE, so the noisy
ratio cannot go below σ² / (σ² + clean MSE of physics-only): the clean ratio is the one
that can show a gain.

    nice .venv/bin/python bench/aphyn_hybrid.py [--n 24] [--epochs 300] [--time-unit 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="slab size (cells); 24 in the paper")
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=300, help="cap on APHYN-EP's epochs")
    parser.add_argument("--base-epochs", type=int, default=2000, help="cap on the baselines' epochs")
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--min-delta", type=float, default=1e-3)
    parser.add_argument("--time-unit", type=float, default=300.0, help="time unit of F_dl (ms)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam lr of F_dl")
    parser.add_argument("--physics-lr", type=float, default=3e-2, help="Adam lr of the log τ")
    parser.add_argument("--gamma", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=0, help="physics warm-up epochs of APHYN-EP (0 = joint)")
    parser.add_argument("--models", default="physics_only,physics_offset,APHYN-EP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="/tmp/aphyn_work/cache", help="sciml cache dir of the slabs")
    parser.add_argument("--base-optimizer", choices=["adam", "lbfgs"], default="adam",
                        help="lbfgs: fit the baselines' 3-4 parameters by L-BFGS (strong Wolfe) on all training "
                             "pixels until the loss stops changing, instead of Adam epochs")
    parser.add_argument("--lbfgs-iter", type=int, default=60, help="L-BFGS iterations (each a few evaluations)")
    parser.add_argument("--init-from", default=None,
                        help="start the other models' τ from this baseline's fitted τ (read from --out), e.g. "
                             "physics_only (the offset control then starts at the converged physics-only model)")
    parser.add_argument("--tag", default="", help="suffix of the APHYN-EP entry in --out (several variants)")
    parser.add_argument("--step", type=float, default=0.1, help="Euler step (ms; paper 0.1) of every model")
    parser.add_argument("--out", default=None,
                        help="JSON file of results: models run earlier with the same settings are read from it "
                             "(so the models can be trained in separate jobs), new ones are added")
    args = parser.parse_args()

    import numpy as np
    import sciml
    import torch
    from sciml_aphyn.data import TP06SlabDataset
    from sciml_aphyn.evaluation import fdl_share, forecast_all
    from sciml_aphyn.model import APHYNEP
    from sciml_aphyn.training import AphynTrainer

    ctx = sciml.Context(run_dir=Path(tempfile.mkdtemp(prefix="aphyn-hybrid-")), cache_dir=Path(args.cache),
                        seed=args.seed)
    ds = TP06SlabDataset(TP06SlabDataset.Config(n=args.n, noise=args.noise), ctx)
    ds.prepare()
    train, val = ds.split("train").tensors[0], ds.split("val").tensors[0]
    n_pix = len(train)
    specs = {
        "physics_only": (dict(use_fdl=False), dict(max_epochs=args.base_epochs)),
        "physics_offset": (dict(fdl_kind="constant"), dict(max_epochs=args.base_epochs, lr=3e-5)),
        "APHYN-EP": (dict(time_unit=args.time_unit),
                     dict(max_epochs=args.epochs, lr=args.lr, gamma=args.gamma)),
    }
    results = {}
    if args.out and Path(args.out).is_file():
        results = json.loads(Path(args.out).read_text())
    for name in args.models.split(","):
        model_kw, trainer_kw = specs[name]
        torch.manual_seed(args.seed)
        if name != args.init_from and args.init_from in results:  # start from that model's fitted τ
            model_kw = {**model_kw, **results[args.init_from]["tau_all"]}
        model = APHYNEP(APHYNEP.Config(step_size=args.step, **model_kw), ds.metadata)
        cfg = AphynTrainer.Config(**{"physics_warmup_epochs": args.warmup if name == "APHYN-EP" else 0,
                                     "physics_lr": args.physics_lr, "patience": args.patience,
                                     "min_delta": args.min_delta, "batch_size": n_pix, **trainer_kw})
        history = []

        class _Rep:
            def __init__(self, history):
                self.history = history

            def report(self, step, metrics):
                self.history.append(dict(metrics))

            def checkpoint_written(self, path):
                pass

        run_dir = Path(tempfile.mkdtemp(prefix=f"aphyn-hybrid-{name}-"))
        t0 = time.perf_counter()
        if name != "APHYN-EP" and args.base_optimizer == "lbfgs":
            best = lbfgs_fit(model, train, args.lbfgs_iter, history)
        else:
            best = AphynTrainer(cfg, sciml.Context(run_dir=run_dir, cache_dir=Path(args.cache), seed=args.seed)
                                ).fit_arrays(model, train, val, _Rep(history))
        seconds = time.perf_counter() - t0
        row = {"epochs": int(best["epochs"]), "best_epoch": int(best["best_epoch"]),
               "stopped_early": bool(best["stopped_early"]), "s_per_epoch": seconds / best["epochs"],
               "tau": {k: round(v, 4) for k, v in model.taus().items() if k in model.physics.learned},
               "tau_all": model.taus(), "optimizer": "lbfgs" if "lbfgs" in best else "adam",
               "seconds": seconds}
        for split in ("val", "test"):
            arrays = ds.arrays(split)
            states = forecast_all(model, arrays["noisy"])
            row[f"{split}_mse"] = float(np.mean((states[..., 0] - arrays["noisy"]) ** 2))
            row[f"{split}_mse_clean"] = float(np.mean((states[..., 0] - arrays["clean"]) ** 2))
            row[f"{split}_fdl_share"] = fdl_share(model, states, model.sampling_interval)
        last = history[int(best["best_epoch"])]  # the restored epoch
        row["fdl_norm2_over_lambda_traj"] = last["train_fdl_norm2"] / max(last["lambda"] * last["train_traj"], 1e-30)
        row["args"] = {k: v for k, v in vars(args).items() if k not in ("models", "out")}
        name = name + args.tag if name == "APHYN-EP" else name
        results[name] = row
        print(name, json.dumps(row), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1))
    if "physics_only" in results:
        ref = results["physics_only"]
        for row in results.values():
            for split in ("val", "test"):
                row[f"{split}_ratio"] = row[f"{split}_mse"] / ref[f"{split}_mse"]
                row[f"{split}_ratio_clean"] = row[f"{split}_mse_clean"] / ref[f"{split}_mse_clean"]
        floor = args.noise ** 2 / (args.noise ** 2 + ref["test_mse_clean"])
        print(f"\nslab {args.n}x{args.n}, noise {args.noise}, seed {args.seed}; lowest reachable noisy test ratio "
              f"(perfect model) ~ {floor:.3f}")
        print("| model | val MSE (clean) | test MSE (clean) | test ratio noisy / clean | F_dl share (test) "
              "| ‖F_dl‖²/(λ L_traj) | τ_in / τ_out / τ_close (ms) | epochs (best) | s/epoch |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, r in results.items():
            tau = " / ".join(f"{r['tau'].get(k, float('nan')):.3g}" for k in ("tau_in", "tau_out", "tau_close"))
            print(f"| {name} | {r['val_mse']:.3e} ({r['val_mse_clean']:.2e}) | {r['test_mse']:.3e} "
                  f"({r['test_mse_clean']:.2e}) | {r['test_ratio']:.3f} / {r['test_ratio_clean']:.3f} | "
                  f"{r['test_fdl_share']:.3f} | {r['fdl_norm2_over_lambda_traj']:.2e} | {tau} | "
                  f"{r['epochs']} ({r['best_epoch']}) | {r['s_per_epoch']:.2f} |")


def lbfgs_fit(model, train, iterations: int, history: list) -> dict:
    """The baselines by L-BFGS (:func:`sciml_aphyn.training.fit_lbfgs`), in the trainer's result format."""
    from sciml_aphyn.training import fit_lbfgs

    for entry in history:
        entry.setdefault("train_fdl_norm2", 0.0)
    info = fit_lbfgs(model, train, iterations, history)
    for entry in history:
        entry.setdefault("train_fdl_norm2", 0.0)
        entry.setdefault("lambda", 1.0)
    return {"epochs": len(history), "best_epoch": len(history) - 1, "stopped_early": 1.0,
            "lbfgs": info["iterations"]}

if __name__ == "__main__":
    main()
