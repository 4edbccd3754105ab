"""Each plugin's headline metric, mean ± std over seeds, from single default runs (``sciml run PLUGIN --seed S``).

Run it once per source tree to compare two versions of sciml side by side, e.g. before and after
the training engine (issue 12)::

    git worktree add --detach /tmp/before <commit>
    python bench/engine_headline.py --tree /tmp/before --plugins cgmap retro --seeds 0 1 2
    python bench/engine_headline.py --tree . --plugins cgmap retro --seeds 0 1 2

``--tree`` puts that checkout's packages first on ``PYTHONPATH`` (the venv's editable installs
come after it), so the same venv runs either version. Each run gets its own ``SCIML_HOME``; the
dataset cache is shared. Prints the pipeline's selection metric (validation) and its test
counterpart, and the wall time per run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(tree: Path, plugin: str, seed: int, sets: list[str]) -> tuple[dict[str, float], float]:
    paths = [tree / "core", tree / "cli", *sorted((tree / "plugins").glob("*")), tree / "tests" / "toy_plugin"]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "SCIML_HOME": home,
               "PYTHONPATH": os.pathsep.join(str(p) for p in paths if p.is_dir())}
        cmd = [str(Path(sys.executable).with_name("sciml")), "run", plugin, "--seed", str(seed)]
        for s in sets:
            cmd += ["--set", s]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        outcomes = sorted(Path(home).rglob("outcome.json"), key=lambda p: p.stat().st_mtime)
        if not outcomes:
            raise SystemExit(f"{plugin} seed {seed}: no outcome (exit {proc.returncode})\n{proc.stderr[-2000:]}")
        return json.loads(outcomes[-1].read_text())["metrics"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=".", help="the sciml checkout to run (default: this one)")
    parser.add_argument("--plugins", nargs="+", default=["cgmap", "retro"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], dest="sets", help="extra --set for every run")
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    from sciml.registry import get_registry

    print(f"tree {tree} ({commit}), seeds {args.seeds}\n")
    print("| plugin | metric | validation | test | wall s/run |")
    print("| --- | --- | --- | --- | --- |")
    for plugin in args.plugins:
        metric = get_registry().pipeline(plugin).metric
        test = "test_" + metric[len("val_"):]
        runs = [run_one(tree, plugin, s, args.sets) for s in args.seeds]
        val = [m[metric] for m, _ in runs]
        tst = [m.get(test, float("nan")) for m, _ in runs]

        def fmt(xs):
            return f"{statistics.mean(xs):.4g} ± {statistics.stdev(xs):.2g}" if len(xs) > 1 else f"{xs[0]:.4g}"

        print(f"| {plugin} | {metric} | {fmt(val)} | {fmt(tst)} | {statistics.mean(w for _, w in runs):.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
