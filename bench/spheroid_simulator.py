"""Is the simulated experiment tailored to the hand-crafted baseline? Oracle vs hand-crafted per preset.

    .venv/bin/python bench/spheroid_simulator.py [--presets treatment legacy] [--experiment-seeds 100 101 102 103 104]
        [--image-size 48] [--n-train-plates 1] [--n-eval-plates 2]

For each preset and experiment seed: render ``n_train_plates + n_eval_plates`` plates, fit the
hand-crafted scorer (area, circularity, relative intensity through the untreated time-series
model, plate-normalised, exactly as the evaluator's ``handcrafted`` baseline) on the training
plates' untreated wells, and rank the evaluation plates' treated conditions (Spearman vs the
true efficacy, replicate means). Next to it: the oracle (knows every rendered mechanism effect,
misses only the invisible well-to-well scatter: the simulator's ceiling), the concentration
baseline, and "was a drug added" over wells (constant over treated conditions). No training of
a network: this measures the data, not the model. Prints a markdown table, mean ± sd over seeds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def evaluate_preset(preset: str, seed: int, size: int, n_train: int, n_eval: int) -> dict[str, float]:
    from sciml.testing import make_context
    from sciml_spheroid.data import SpheroidPlates
    from sciml_spheroid.evaluation import handcrafted_scores
    from sciml_spheroid.handcrafted import features_stack
    from sciml_spheroid.metrics import ranking_metrics

    with tempfile.TemporaryDirectory() as tmp:
        ds = SpheroidPlates(SpheroidPlates.Config(preset=preset, image_size=size, experiment_seed=seed,
                                                  n_train_plates=n_train, n_val_plates=n_eval, n_test_plates=0),
                            make_context(tmp))
        ds.prepare()
    a = ds.arrays
    tr, ev = ds.indices("train"), ds.indices("val")
    days = [int(d) for d in a["days"]]
    feats = features_stack(a["images"], channel_axis=True)
    hc = handcrafted_scores(feats, tr[a["group"][tr] == 0], days, days[:-1], days[-1], plate=a["plate"],
                            group=a["group"], seed=seed)
    scores = {"oracle": a["oracle"], "handcrafted": hc,
              "concentration": np.where(a["group"] > 0, a["concentration"], 0.0),
              "treated": (a["group"] > 0).astype(float)}
    out = {}
    for name, s in scores.items():
        m = ranking_metrics(s[ev], a["efficacy"][ev], a["group"][ev], a["drug"][ev], a["concentration"][ev], "x")
        out[f"{name}_treated"] = m["x_spearman_treated"]
        out[f"{name}_wells"] = m["x_spearman"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["treatment", "legacy"])
    ap.add_argument("--experiment-seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    ap.add_argument("--image-size", type=int, default=48)
    ap.add_argument("--n-train-plates", type=int, default=1)
    ap.add_argument("--n-eval-plates", type=int, default=2)
    a = ap.parse_args(argv)
    t0, load0 = time.time(), os.getloadavg()[0]
    names = ["oracle", "handcrafted", "concentration", "treated"]
    print("| preset | " + " | ".join(f"{n} (treated cond.)" for n in names) + " | " +
          " | ".join(f"{n} (wells)" for n in names) + " |")
    print("|" + " --- |" * (1 + 2 * len(names)))
    for preset in a.presets:
        rows = [evaluate_preset(preset, s, a.image_size, a.n_train_plates, a.n_eval_plates) for s in a.experiment_seeds]

        def ms(key, rows=rows):
            v = np.array([r[key] for r in rows], float)
            v = v[np.isfinite(v)]
            return f"{v.mean():.2f} ± {v.std():.2f}" if len(v) else "undefined"

        print(f"| {preset} | " + " | ".join(ms(f"{n}_treated") for n in names) + " | " +
              " | ".join(ms(f"{n}_wells") for n in names) + " |")
    print(f"\n{len(a.experiment_seeds)} experiment seeds {a.experiment_seeds}, {a.image_size} px, "
          f"{a.n_train_plates} training + {a.n_eval_plates} evaluation plates each; "
          f"{time.time() - t0:.0f} s, load {load0:.1f}")


if __name__ == "__main__":
    main()
