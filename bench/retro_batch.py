"""Batch planning throughput: targets per minute of ``sciml retro plan --targets`` with 1 and 2 worker processes.

Plans the same target file with each worker count (``sciml_retro.cli.batch_command``: a process pool on this
machine, each worker loads the model and the stock once), prints wall time, targets per minute, the solved count
and the ratio to one worker, and checks that no target overran its time limit by more than one expansion
(``elapsed_s`` of the summary against ``--time-limit``).

Usage::

    python bench/retro_batch.py --model DIR --targets plugins/retro/sciml_retro/data/drugs.smi --time-limit 2

Real sizes: a few hundred targets (e.g. the validation targets written one per line) at 5 s and 60 s.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory or URI (sciml.load_model)")
    p.add_argument("--targets", required=True, help="target file (SMILES name per line, or CSV with 'smiles')")
    p.add_argument("--time-limit", type=float, default=2.0)
    p.add_argument("--workers", default="1,2", help="worker counts to compare")
    p.add_argument("--stock", default=None)
    a = p.parse_args(argv)

    from sciml_retro.cli import batch_command

    base = None
    print("| workers | wall time (s) | targets / minute | solved | ratio to 1 worker | slowest target (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for w in [int(x) for x in a.workers.split(",")]:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            batch_command(a.targets, out, time_limit=a.time_limit, model=a.model, stock=a.stock, workers=w,
                          progress=lambda it, total: it, echo=lambda m: None)
            wall = time.perf_counter() - t0
            rows = list(csv.DictReader(open(Path(out) / "summary.csv")))
        rate = 60.0 * len(rows) / wall
        base = base or rate
        slowest = max(float(r["elapsed_s"] or 0) for r in rows)
        print(f"| {w} | {wall:.1f} | {rate:.1f} | {sum(r['solved'] == 'True' for r in rows)}/{len(rows)} | "
              f"{rate / base:.2f} | {slowest:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
