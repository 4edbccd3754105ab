"""The spheroid pipeline under the experiment protocol (issue 11), over experiment seeds.

    .venv/bin/python bench/spheroid_protocol.py [--experiment-seeds 0 1 2] [--seed 0] [--set KEY=VALUE ...]

Runs ``sciml run spheroid --seed SEED --set dataset.experiment_seed=E`` (the default pipeline
otherwise) once per experiment seed, each in its own temporary store, and prints three
markdown tables: the headline (Spearman over treated conditions on validation and test plates)
next to the best trivial baseline (concentration only; "was a drug added" is constant over
treated conditions, so its Spearman is undefined) and the comparators (hand-crafted scorer,
untrained encoder); the secondary over-wells figures; and the linear probe. Last rows: mean
± sd over the experiment seeds. Wall time and load average are printed per run. Not a test.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

import numpy as np


def fmt(v) -> str:
    return "undefined" if v is None or not math.isfinite(v) else f"{v:.3f}"


def mean_sd(vals) -> str:
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return f"{np.mean(vals):.3f} ± {np.std(vals):.3f}" if vals else "undefined"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="more --set overrides")
    a = ap.parse_args(argv)

    from sciml.runner import RunOptions, run
    from sciml.testing import isolated_store

    rows = []
    for e in a.experiment_seeds:
        t0, load0 = time.time(), os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp, isolated_store(tmp):
            s = run(RunOptions(target="spheroid", seed=a.seed, progress=False,
                               sets=[f"dataset.experiment_seed={e}", *a.sets]))
            trial = s.trials[0]
        m = dict(trial.metrics)
        m["_seconds"], m["_load"] = time.time() - t0, (load0 + os.getloadavg()[0]) / 2
        print(f"experiment seed {e}: {trial.status}, {m['_seconds']:.0f} s, load ~{m['_load']:.1f}", flush=True)
        rows.append((e, m))

    def b(m, name, key):
        return m.get(f"baseline.{name}.{key}", math.nan)

    print("\n| experiment seed | val ρ treated cond. | test ρ treated cond. | concentration only (test) "
          "| treated/untreated (test) | beats best trivial? | hand-crafted (test) | untrained encoder (test) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    cols = {k: [] for k in ("val", "test", "conc", "hc", "ri")}
    for e, m in rows:
        val, test = m.get("val_spearman_treated", math.nan), m.get("test_spearman_treated", math.nan)
        conc, hc, ri = (b(m, n, "test_spearman_treated") for n in ("concentration", "handcrafted", "random_init"))
        beats = "n/a" if not (math.isfinite(test) and math.isfinite(conc)) else ("yes" if test > conc else "**no**")
        print(f"| {e} | {fmt(val)} | {fmt(test)} | {fmt(conc)} | {fmt(b(m, 'treated', 'test_spearman_treated'))} "
              f"| {beats} | {fmt(hc)} | {fmt(ri)} |")
        for k, v in zip(cols, (val, test, conc, hc, ri), strict=True):
            cols[k].append(v)
    print(f"| mean ± sd | {mean_sd(cols['val'])} | {mean_sd(cols['test'])} | {mean_sd(cols['conc'])} | undefined "
          f"| | {mean_sd(cols['hc'])} | {mean_sd(cols['ri'])} |")

    print("\n| experiment seed | test ρ wells | test ρ conditions (untreated pooled) | concentration only ρ wells "
          "| treated/untreated ρ wells | hand-crafted ρ wells | untrained encoder ρ wells |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for e, m in rows:
        print(f"| {e} | {fmt(m.get('test_spearman', math.nan))} | {fmt(m.get('test_spearman_conditions', math.nan))} "
              f"| {fmt(b(m, 'concentration', 'test_spearman'))} | {fmt(b(m, 'treated', 'test_spearman'))} "
              f"| {fmt(b(m, 'handcrafted', 'test_spearman'))} | {fmt(b(m, 'random_init', 'test_spearman'))} |")

    print("\n| experiment seed | probe 10 / class | 20 / class | 30 / class | all | majority class "
          "| probe on hand-crafted | probe on untrained encoder | supervised from scratch (train acc.) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for e, m in rows:
        print(f"| {e} | " + " | ".join(fmt(m.get(f"test_probe_acc_{k}", math.nan)) for k in (10, 20, 30, "all"))
              + f" | {fmt(m.get('test_probe_majority_acc', math.nan))} | {fmt(b(m, 'handcrafted', 'test_probe_acc_all'))}"
              f" | {fmt(b(m, 'random_init', 'test_probe_acc_all'))} | {fmt(m.get('test_supervised_acc', math.nan))}"
              f" ({fmt(m.get('supervised_train_acc', math.nan))}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
