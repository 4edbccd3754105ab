"""Bench: APHYN-EP against its converged baselines, on validation (chooses) and test (reported).

Trains APHYN-EP with the default trainer on the 24×24 TP06 slab (paper §3.1) and takes the
two baselines of the ``aphyn:table1`` evaluator (physics-only and physics + one constant
dv/dt, each trained until its validation loss stops improving; cached by content hash, so a
``sciml run aphyn`` with the same seed and cache shares them). Prints
  - each baseline's epochs, training time, validation and test MSE,
  - the wall time (and epoch) at which APHYN-EP's per-epoch validation loss first reaches
    the converged physics-only model's on the same validation pixels,
  - the validation and test MSE on all pixels and the ratios APHYN-EP / baseline
    (paper Table 1 reports ratios 0.57-0.86 on its ex-vivo data).

    nice .venv/bin/python bench/aphyn_training.py [--epochs 200] [--warmup 150] [--seed 0]
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
    from sciml_aphyn.evaluation import BASELINES, Table1Evaluator
    from sciml_aphyn.model import APHYNEP
    from sciml_aphyn.training import AphynTrainer

    torch.set_num_threads(args.threads)
    cache = Path(args.cache) if args.cache else default_cache_dir()
    ctx = Context(run_dir=Path("."), cache_dir=cache, seed=args.seed)
    ds = TP06SlabDataset(TP06SlabDataset.Config(), ctx)
    ds.prepare()
    val = ds.split("val").tensors[0]
    test = ds.split("test").tensors[0]
    cfg = AphynTrainer.Config(max_epochs=args.epochs, physics_warmup_epochs=args.warmup,
                              **({"lr": args.lr} if args.lr else {}))
    # the trainer's validation subset (same seed, same draw) for the per-epoch comparison
    sub = val[torch.randperm(len(val), generator=torch.Generator().manual_seed(args.seed))[: cfg.val_pixels]]

    torch.manual_seed(args.seed)
    model = APHYNEP(APHYNEP.Config(), ds.metadata)
    evaluator = Table1Evaluator(Table1Evaluator.Config(), ctx)
    scores = {}
    for name in BASELINES:
        base, info = evaluator.baseline(name, model, ds)
        scores[name] = {"val": AphynTrainer.validation_mse(base, val), "test": AphynTrainer.validation_mse(base, test),
                        "sub": AphynTrainer.validation_mse(base, sub)}
        print(f"{name:15s}: {info.get('epochs', 0):.0f} epochs (best {info.get('best_epoch', -1):.0f}, "
              f"stopped early: {bool(info.get('stopped_early'))}) in {info.get('train_seconds', 0):.0f} s "
              f"(first run); val MSE {scores[name]['val']:.4e}, test MSE {scores[name]['test']:.4e}; "
              + ", ".join(f"{k} {v:.4g}" for k, v in base.taus().items() if k in base.physics.learned), flush=True)

    rep = RecordingReporter(Path("/tmp") / "aphyn-bench-APHYN-EP")
    t0 = time.perf_counter()
    AphynTrainer(cfg, ctx).fit_arrays(model, ds.split("train").tensors[0], val, rep)
    seconds = time.perf_counter() - t0
    ours = {"val": AphynTrainer.validation_mse(model, val), "test": AphynTrainer.validation_mse(model, test)}
    print(f"{'APHYN-EP':15s}: {args.epochs} epochs ({args.warmup} warm-up) in {seconds:.0f} s; "
          f"val MSE {ours['val']:.4e}, test MSE {ours['test']:.4e}; "
          + ", ".join(f"{k} {v:.4g}" for k, v in model.taus().items() if k in model.physics.learned))

    target = scores["physics_only"]["sub"]
    hit = [(step, m) for step, m in rep.metrics if m["val_loss"] <= target]
    if hit:
        step, m = hit[0]
        print(f"APHYN-EP reaches the converged physics-only validation loss {target:.4e} at epoch {step} "
              f"after {m['time_s']:.0f} s")
    else:
        print(f"APHYN-EP never reaches the converged physics-only validation loss {target:.4e} in {args.epochs} epochs")
    for name in BASELINES:
        rv, rt = ours["val"] / scores[name]["val"], ours["test"] / scores[name]["test"]
        print(f"ratio APHYN-EP / {name}: val {rv:.3f}, test {rt:.3f} "
              f"({'APHYN-EP better' if rt < 1 else name + ' better'} on test)")


if __name__ == "__main__":
    main()
