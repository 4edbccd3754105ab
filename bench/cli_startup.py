"""Wall time of `sciml --help` (must stay fast: no torch/ray/mlflow at import).

Prints the median of N runs and its ratio to a bare `python -c pass`.
"""

import statistics
import subprocess
import sys
import time


def timed(cmd, n=7):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    bare = timed([sys.executable, "-c", "pass"])
    help_ = timed([sys.executable, "-m", "sciml_cli.main", "--help"])
    plugins = timed([sys.executable, "-m", "sciml_cli.main", "plugins"])
    print(f"python -c pass      : {bare * 1000:7.0f} ms")
    print(f"sciml --help        : {help_ * 1000:7.0f} ms  (ratio to bare python {help_ / bare:.1f}x)")
    print(f"sciml plugins       : {plugins * 1000:7.0f} ms")
