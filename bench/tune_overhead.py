"""Sweep wall time against the ideal, and where the rest goes (issue 13).

For K trials of a pipeline (default: 8 cgmap trials, small budget) run as one `--tune` sweep at each
concurrency C (default 1 and 2), in one process:

    ideal = (sum of the trials' own compute) / C

where a trial's own compute is what its outcome.json records (data preparation, fit, evaluation).
The wall time is then split into what the driver timed: its set-up before Tune (plugin and config
resolution, MLflow client and parent run), Ray start-up (ray.init) and shut-down, every MLflow write
(the driver is the only writer), and the time in Tuner.fit. A trial's wall time in its worker
(resources.json: started .. ended, which includes hooks and checkpoint reports) is set against its
compute; the cold import of what a Ray worker loads before its first trial (sciml.run.worker, torch,
Lightning, the plugin) is measured in a fresh interpreter.

    python bench/tune_overhead.py                       # 8 trials, concurrency 1 and 2
    python bench/tune_overhead.py --trials 4 --epochs 3 --frames 200 --concurrency 1,2

Goal (issue 13): wall <= 1.10 x ideal + 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="cgmap")
    p.add_argument("--trials", type=int, default=8, help="trials per sweep (seeds of one config)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--frames", type=int, default=200, help="cgmap's dataset.n_frames")
    p.add_argument("--concurrency", default="1,2", help="comma-separated concurrent trial slots")
    p.add_argument("--set", dest="sets", action="append", default=[], help="extra --set KEY=VALUE")
    return p.parse_args()


TIMERS: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def timed(owner, name: str, key: str) -> None:
    """Wrap ``owner.name`` so that the time spent in it adds up under ``key``."""
    func = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            TIMERS[key] += time.perf_counter() - t
            COUNTS[key] += 1

    setattr(owner, name, wrapper)


def instrument() -> None:
    import ray
    from ray import tune
    from sciml import tracking
    from sciml.run import ray_executor

    timed(ray_executor, "init_ray", "ray start-up (ray.init)")
    timed(ray, "shutdown", "ray shut-down")
    timed(tracking.Tracker, "__init__", "MLflow client + experiment")
    timed(tracking.Tracker, "_apply", "MLflow writes (metrics, tags, params, artifacts)")
    timed(tracking.Tracker, "start_run", "MLflow run creation")
    timed(tracking.Tracker, "log_model", "MLflow model logging")
    timed(tune.Tuner, "fit", "Tuner.fit")


def worker_import_seconds(target: str) -> float:
    """Cold import, in a fresh interpreter, of what a Ray worker loads before its first trial."""
    code = ("import time; t = time.perf_counter(); import torch, lightning, sciml.run.worker; "
            "from sciml.registry import get_registry; r = get_registry(); "
            f"p = r.pipeline({target!r}); [r.get(k, getattr(p, k)).load() for k in ('dataset', 'model', 'trainer', 'evaluator')]; "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")


def trial_seconds(summary) -> tuple[float, float]:
    """(sum of the trials' own compute, sum of their wall time in the worker)."""
    compute = wall = 0.0
    for t in summary.trials:
        outcome = json.loads((t.run_dir / "outcome.json").read_text())
        compute += sum(outcome["seconds"].values())
        res = t.run_dir / "artifacts" / "resources.json"
        if res.exists():
            seen = json.loads(res.read_text())
            wall += seen.get("ended", seen["started"]) - seen["started"]
    return compute, wall


def main() -> None:
    args = parse_args()
    from sciml.run.driver import run
    from sciml.run.options import RunOptions

    sets = [f"trainer.max_epochs={args.epochs}", *args.sets]
    if args.target == "cgmap":
        sets.append(f"dataset.n_frames={args.frames}")
    slots = [int(c) for c in args.concurrency.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SCIML_HOME"] = tmp
        os.environ.setdefault("SCIML_CACHE", str(Path(tmp) / "cache"))
        imports = worker_import_seconds(args.target)
        # warm the dataset cache so the sweeps measure training, not the data (e.g. cgmap's MD)
        run(RunOptions(target=args.target, sets=[*sets, "seed=0", "trainer.max_epochs=1"], register=False))
        instrument()
        for c in slots:
            TIMERS.clear()
            COUNTS.clear()
            t = time.perf_counter()
            s = run(RunOptions(target=args.target, sets=[*sets, "seed=100"], tune=True, num_samples=1,
                               seeds=args.trials, max_concurrent=c, cpus_per_trial=1, register=False))
            wall = time.perf_counter() - t
            compute, in_worker = trial_seconds(s)
            rows.append((c, wall, compute, in_worker, dict(TIMERS), dict(COUNTS), len(s.trials)))
    print(f"{args.trials} trials of {args.target} ({' '.join(sets)}) per sweep, on {os.cpu_count()} cores")
    print(f"cold import of a worker's modules (torch, lightning, sciml.run.worker, the plugin): {imports:.1f} s "
          "(once per worker process: trials reuse their actor)")
    for c, wall, compute, in_worker, timers, counts, n in rows:
        ideal = compute / c
        fit = timers.get("Tuner.fit", 0.0)
        print(f"\n--max-concurrent {c}: {n} trials, wall {wall:.1f} s, ideal {ideal:.1f} s "
              f"(compute {compute:.1f} s / {c}); ratio {wall / ideal:.2f}, excess {wall - ideal:+.1f} s")
        print(f"  trials' wall in their workers (hooks, checkpoints, reports included): {in_worker:.1f} s "
              f"= compute + {in_worker - compute:.1f} s")
        for key, seconds in sorted(timers.items(), key=lambda kv: -kv[1]):
            print(f"  {key:<50s} {seconds:7.2f} s  ({counts[key]} calls)")
        outside = wall - fit - timers.get("ray start-up (ray.init)", 0.0) - timers.get("ray shut-down", 0.0)
        print(f"  {'driver outside Tune and Ray (set-up, selection, summary)':<50s} {outside:7.2f} s")
        print(f"  {'Tuner.fit beyond the ideal (scheduling, worker start, reports)':<50s} {fit - ideal:7.2f} s")
        print("  (the MLflow writes of the sweep happen in the driver's callback, inside Tuner.fit)")


if __name__ == "__main__":
    main()
