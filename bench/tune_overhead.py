"""The same K trials in-process, one after the other, vs under `--tune`.

Prints both wall times, their ratio, and the fixed overhead of Tune in seconds
((tune - sequential) when tune runs one trial at a time). Uses the cgmap pipeline with a
small budget (override with --set-like arguments: `python bench/tune_overhead.py K`).
"""

import os
import sys
import tempfile
import time

from sciml.runner import RunOptions, run

K = int(sys.argv[1]) if len(sys.argv) > 1 else 4
SETS = ["trainer.max_epochs=5", "dataset.n_frames=200"]
TARGET = os.environ.get("BENCH_TARGET", "cgmap")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SCIML_HOME"] = tmp
        # warm the dataset cache so both sides measure training, not MD
        run(RunOptions(target=TARGET, sets=SETS + ["seed=0"], register=False))
        t = time.perf_counter()
        for i in range(K):
            run(RunOptions(target=TARGET, sets=SETS + [f"seed={100 + i}"], register=False))
        sequential = time.perf_counter() - t
        t = time.perf_counter()
        run(RunOptions(target=TARGET, sets=SETS + ["seed=100"], tune=True, num_samples=1, seeds=K,
                       max_concurrent=1, register=False))
        serial_tune = time.perf_counter() - t
        t = time.perf_counter()
        run(RunOptions(target=TARGET, sets=SETS + ["seed=100"], tune=True, num_samples=1, seeds=K,
                       register=False))
        parallel_tune = time.perf_counter() - t
    print(f"{K} trials of {TARGET} ({' '.join(SETS)}) on {os.cpu_count()} cores")
    print(f"in-process, sequential : {sequential:7.1f} s")
    print(f"--tune, 1 at a time    : {serial_tune:7.1f} s  ratio {serial_tune / sequential:.2f}  "
          f"fixed overhead {serial_tune - sequential:+.1f} s")
    print(f"--tune, concurrent     : {parallel_tune:7.1f} s  ratio {parallel_tune / sequential:.2f}")


if __name__ == "__main__":
    main()
