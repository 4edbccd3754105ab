"""Bench: APHYN-EP training time to reach the physics-only baseline's validation MSE.

Trains the physics-only model (Mitchell–Schaeffer alone, F_dl off) and APHYN-EP with the
same trainer and budget on the 24×24 TP06 slab (paper §3.1), then prints
  - the baseline's best validation MSE and its training time,
  - the wall time (and epoch) at which APHYN-EP's validation MSE first reaches it,
  - the final forecast MSE on all validation pixels and the ratio APHYN-EP / physics-only
    (paper Table 1 reports ratios 0.57-0.86 on its ex-vivo data).

    nice .venv/bin/python bench/aphyn_training.py [--epochs 200] [--warmup 150] [--seed 0]

Both models get the same number of epochs; APHYN-EP's first ``--warmup`` epochs train F_p
alone, which is exactly the physics-only training, so the two share that part of the path.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=150, help="physics warm-up epochs of APHYN-EP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=None, help="Adam lr of F_dl (default: the trainer's)")
    parser.add_argument("--cache", default=None, help="sciml cache dir (default: $SCIML_CACHE or ~/.cache/sciml)")
    args = parser.parse_args()

    import torch

    from sciml.caching import default_cache_dir
    from sciml.components import Context
    from sciml.testing import RecordingReporter
    from sciml_aphyn.data import TP06SlabDataset
    from sciml_aphyn.model import APHYNEP
    from sciml_aphyn.training import AphynTrainer

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cache = Path(args.cache) if args.cache else default_cache_dir()
    ctx = Context(run_dir=Path("."), cache_dir=cache, seed=args.seed)
    ds = TP06SlabDataset(TP06SlabDataset.Config(), ctx)
    ds.prepare()
    train = ds.split("train").tensors[0]
    val = ds.split("val").tensors[0]
    cfg = AphynTrainer.Config(max_epochs=args.epochs, physics_warmup_epochs=args.warmup,
                              **({"lr": args.lr} if args.lr else {}))
    out = {}
    for name, use_fdl in (("physics-only", False), ("APHYN-EP", True)):
        torch.manual_seed(args.seed)
        model = APHYNEP(APHYNEP.Config(use_fdl=use_fdl), ds.metadata)
        rep = RecordingReporter(Path("/tmp") / f"aphyn-bench-{name}")
        t0 = time.perf_counter()
        best = AphynTrainer(cfg, ctx).fit_arrays(model, train, val, rep)
        seconds = time.perf_counter() - t0
        full = AphynTrainer.validation_mse(model, val)
        out[name] = {"rep": rep, "best": best, "seconds": seconds, "full_val_mse": full, "taus": model.taus()}
        print(f"{name:12s}: {args.epochs} epochs in {seconds:.0f} s, best val MSE (subset) {best['val_loss']:.3e}, "
              f"all 576 val pixels {full:.3e}, tau = " + ", ".join(f"{k} {v:.3g}" for k, v in model.taus().items()),
              flush=True)
    target = out["physics-only"]["best"]["val_loss"]
    rep = out["APHYN-EP"]["rep"]
    hit = [(step, m) for step, m in rep.metrics if m["val_loss"] <= target]
    if hit:
        step, m = hit[0]
        print(f"APHYN-EP reaches the physics-only validation MSE {target:.3e} at epoch {step} after "
              f"{m['time_s']:.0f} s (physics-only needed {out['physics-only']['seconds']:.0f} s for its best)")
    else:
        print(f"APHYN-EP did not reach the physics-only validation MSE {target:.3e} in {args.epochs} epochs")
    ratio = out["APHYN-EP"]["full_val_mse"] / out["physics-only"]["full_val_mse"]
    print(f"final validation MSE ratio APHYN-EP / physics-only = {ratio:.3f} "
          f"({'APHYN-EP better' if ratio < 1 else 'physics-only better'})")


if __name__ == "__main__":
    main()
