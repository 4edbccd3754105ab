"""Bench: APHYN-EP forecast of 350 ms for all 576 pixels of the 24×24 slab at once.

Paper (Kashtanova et al. 2022, §3.1): "less than 10 sec to compute 350 ms of forecasting"
(GPU). Here: CPU, torch threads as given, Euler at 0.1 ms (3500 steps), batch = 576 pixels.
Prints the wall time and the ratio paper_limit / measured (> 1: faster than the paper's bound).

    nice .venv/bin/python bench/aphyn_forecast.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

PAPER_LIMIT_S = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", default=None, help="sciml cache dir (default: $SCIML_CACHE or ~/.cache/sciml)")
    args = parser.parse_args()

    import torch
    from sciml.caching import default_cache_dir
    from sciml.components import Context
    from sciml_aphyn.data import TP06SlabDataset
    from sciml_aphyn.model import APHYNEP

    torch.set_num_threads(args.threads)
    cache = Path(args.cache) if args.cache else default_cache_dir()
    ds = TP06SlabDataset(TP06SlabDataset.Config(), Context(run_dir=Path("."), cache_dir=cache))
    ds.prepare()  # simulates TP06 once (~40 s per slab) or reads the cache
    val = torch.from_numpy(ds.arrays("val")["noisy"])
    print(f"slab: {val.shape[0]} pixels, {(val.shape[1] - 1) * ds.metadata['sampling_interval']:g} ms horizon")
    for method in ("euler", "rk4"):
        model = APHYNEP(APHYNEP.Config(method=method), ds.metadata).eval()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with torch.no_grad():
                states = model.forecast(val[:, 0], val.shape[1])
            times.append(time.perf_counter() - t0)
        assert states.shape == (val.shape[1], val.shape[0], 2)
        med = statistics.median(times)
        print(f"{method:5s} dt=0.1 ms, 576 pixels, 350 ms: median {med:.2f} s (min {min(times):.2f}, "
              f"{args.threads} thread(s)); paper < {PAPER_LIMIT_S:g} s -> ratio paper/measured = "
              f"{PAPER_LIMIT_S / med:.1f}x")


if __name__ == "__main__":
    main()
