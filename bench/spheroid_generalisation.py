"""SimCLR on experiments never seen in development: the generalisation table of issue 18.

    .venv/bin/python bench/spheroid_generalisation.py [--preset treatment] [--augment efficacy]
        [--dev-seed 0] [--unseen-seeds 100 101 102 103 104] [--train-seeds 0] [--image-size 48]
        [--epochs 15] [--width 8] [--n-train-plates 3] [--n-eval-plates 2] [--n-layers 1]
        [--temperature 0.2] [--validation-only]

Development: experiment ``dev-seed`` — ``n_train_plates`` training plates (SimCLR and the
untreated time-series stage) and one validation plate (the acceptance gate: the trained
encoder must rank better than an untrained one there; validation only). Evaluation: for each
unseen experiment seed, ``n_eval_plates`` plates never used while developing, scored by the
trained model with each plate normalised to its own untreated wells. Next to SimCLR, on the
same plates: the untrained encoder (same scorer), the hand-crafted scorer (same time-series
model and normalisation), concentration, "was a drug added" (over wells only: constant over
treated conditions) and the oracle (the simulator's ceiling). Also the linear probe
(untreated / single / screening on the last day, fitted on the development training plates)
next to the majority class. Prints markdown, mean ± sd over the unseen seeds (and training seeds).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def concat(*arrays: dict) -> dict:
    keys = [k for k in arrays[0] if k != "days" and k in arrays[-1]]
    out = {k: np.concatenate([a[k] for a in arrays]) for k in keys}
    out["days"] = arrays[0]["days"]
    return out


def unseen_arrays(cfg, seed: int, n_plates: int, plate_offset: int) -> dict:
    from sciml_spheroid.data import simulate_plate

    cols = {k: [] for k in ("images", "plate", "plate_name", "well", "group", "drug", "concentration", "efficacy",
                            "oracle")}
    for p in range(n_plates):
        pl = simulate_plate(cfg, seed, p)
        n = len(pl.design)
        cols["images"].append(np.round(pl.images * 65535).astype(np.uint16).astype(np.float32) / 65535)
        cols["plate"].append(np.full(n, plate_offset + p))
        cols["plate_name"].append(np.array([f"e{seed}p{p}"] * n))
        cols["well"].append(np.array([w.well for w in pl.design]))
        cols["group"].append(np.array([w.group for w in pl.design]))
        cols["drug"].append(np.array([w.drug for w in pl.design]))
        cols["concentration"].append(np.array([w.concentration for w in pl.design], float))
        cols["efficacy"].append(pl.efficacy)
        cols["oracle"].append(pl.oracle if pl.oracle is not None else pl.efficacy)
    out = {k: np.concatenate(v) for k, v in cols.items()}
    out["days"] = np.asarray(pl.days)
    return out


def run(args, train_seed: int, log) -> list[dict]:
    import torch
    from sciml.testing import RecordingReporter, make_context
    from sciml_spheroid.data import SpheroidPlates
    from sciml_spheroid.evaluation import RankingEvaluator, handcrafted_scores
    from sciml_spheroid.handcrafted import features_stack
    from sciml_spheroid.metrics import ranking_metrics
    from sciml_spheroid.model import SpheroidSimCLR
    from sciml_spheroid.probe import linear_probe_scores
    from sciml_spheroid.training import SimCLRTrainer, fit_time_series_arrays

    tmp = tempfile.mkdtemp()
    dcfg = SpheroidPlates.Config(preset=args.preset, image_size=args.image_size, experiment_seed=args.dev_seed,
                                 n_train_plates=args.n_train_plates, n_val_plates=1, n_test_plates=0,
                                 n_layers=args.n_layers)
    ds = SpheroidPlates(dcfg, make_context(tmp))
    ds.prepare()
    torch.manual_seed(train_seed)
    mcfg = SpheroidSimCLR.Config(width=args.width, embedding_size=64, augment=args.augment,
                                 temperature=args.temperature)
    model = SpheroidSimCLR(mcfg, ds.metadata)
    t0 = time.time()
    SimCLRTrainer(SimCLRTrainer.Config(max_epochs=args.epochs, batch_size=128, lr=2e-3),
                  make_context(tmp + "/fit", seed=train_seed)).fit(model, ds, RecordingReporter(tmp + "/rep"))
    log(f"train seed {train_seed}: SimCLR {time.time() - t0:.0f} s")
    ev = RankingEvaluator(RankingEvaluator.Config(supervised=False, figures=False, probe_repeats=1),
                          make_context(tmp + "/ev", seed=train_seed))
    res = ev.evaluate(model, ds, None)
    ok, why = ev.accept(res)
    base = ev.baselines(model, ds, res)
    log(f"  validation (dev seed): SimCLR {res['val_spearman_treated']:.3f}, untrained "
        f"{base['random_init']['val_spearman_treated']:.3f}, hand-crafted {base['handcrafted']['val_spearman_treated']:.3f}"
        f" -> {'accepted' if ok else 'REJECTED: ' + why}")

    if args.validation_only:  # model selection: the unseen experiments are not looked at
        return [{"train_seed": train_seed, "val": res["val_spearman_treated"], "accepted": ok,
                 "val_untrained": base["random_init"]["val_spearman_treated"],
                 "val_handcrafted": base["handcrafted"]["val_spearman_treated"]}]
    dev = {k: ds.arrays[k] for k in ("images", "plate", "plate_name", "well", "group", "drug", "concentration",
                                     "efficacy", "oracle", "days")}
    tr = ds.indices("train")
    torch.manual_seed(train_seed + 1)
    ctrl = SpheroidSimCLR(mcfg, ds.metadata)
    fit_time_series_arrays(ctrl, ctrl.embed(dev["images"]), dev, tr, ds.indices("val"))
    dev_feats = features_stack(dev["images"], channel_axis=True)
    days = [int(d) for d in dev["days"]]
    rows = []
    for s in args.unseen_seeds:
        new = unseen_arrays(dcfg, s, args.n_eval_plates, plate_offset=1000)
        both = concat(dev, new)
        idx = np.arange(len(dev["group"]), len(both["group"]))
        scores = {"SimCLR": model.score_wells(model.embed(new["images"]), new["plate"], new["group"]),
                  "untrained encoder": ctrl.score_wells(ctrl.embed(new["images"]), new["plate"], new["group"])}
        feats = np.concatenate([dev_feats, features_stack(new["images"], channel_axis=True)])
        hc = handcrafted_scores(feats, tr[dev["group"][tr] == 0], days, model.context_days, model.target_day,
                                plate=both["plate"], group=both["group"], seed=train_seed)
        scores["hand-crafted"] = hc[idx]
        scores["concentration"] = np.where(new["group"] > 0, new["concentration"], 0.0)
        scores["drug added"] = (new["group"] > 0).astype(float)
        scores["oracle"] = new["oracle"]
        row = {"train_seed": train_seed, "seed": s, "accepted": ok}
        for name, sc in scores.items():
            m = ranking_metrics(sc, new["efficacy"], new["group"], new["drug"], new["concentration"], "x")
            row[f"{name}|treated"] = m["x_spearman_treated"]
            row[f"{name}|wells"] = m["x_spearman"]
        y = dev["group"]
        reps_dev = model.embed(dev["images"]).numpy()[:, -1]
        reps_new = model.embed(new["images"]).numpy()[:, -1]
        row["probe"] = linear_probe_scores(reps_dev[tr], y[tr], {"x": (reps_new, new["group"])}, None)["x"]
        row["majority"] = float(np.mean(new["group"] == np.bincount(y[tr]).argmax()))
        rows.append(row)
        log(f"  unseen seed {s}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if k.endswith("|treated")))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="treatment")
    ap.add_argument("--augment", default="efficacy")
    ap.add_argument("--dev-seed", type=int, default=0)
    ap.add_argument("--unseen-seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--image-size", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--n-train-plates", type=int, default=3)
    ap.add_argument("--n-eval-plates", type=int, default=2)
    ap.add_argument("--n-layers", type=int, default=1, help="simulated focal layers (channels)")
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--validation-only", action="store_true",
                    help="only the development validation plate (for choosing capacity and length)")
    a = ap.parse_args(argv)
    t0, load0 = time.time(), os.getloadavg()[0]

    def log(msg):
        print(msg, flush=True)

    rows = [r for ts in a.train_seeds for r in run(a, ts, log)]
    if a.validation_only:
        v = np.array([r["val"] for r in rows])
        print(f"validation (dev seed {a.dev_seed}) SimCLR rho treated conditions {v.mean():.3f} ± {v.std():.3f}; "
              f"width {a.width}, {a.epochs} epochs, {a.n_layers} layer(s), tau {a.temperature}, augment {a.augment}")
        return
    names = ["SimCLR", "untrained encoder", "hand-crafted", "concentration", "drug added", "oracle"]

    def ms(key):
        v = np.array([r[key] for r in rows], float)
        v = v[np.isfinite(v)]
        return f"{v.mean():.2f} ± {v.std():.2f}" if len(v) else "undefined"

    print(f"\npreset {a.preset}, augment {a.augment}: {len(a.unseen_seeds)} unseen experiment seeds x "
          f"{len(a.train_seeds)} training seed(s); accepted by the validation gate: "
          f"{sum(r['accepted'] for r in rows) // max(len(a.unseen_seeds), 1)}/{len(a.train_seeds)}\n")
    print("| scorer | Spearman over treated conditions | Spearman over wells |")
    print("| --- | --- | --- |")
    for n in names:
        print(f"| {n} | {ms(n + '|treated')} | {ms(n + '|wells')} |")
    print(f"| linear probe (SimCLR, 3 groups) | accuracy {ms('probe')} | majority class {ms('majority')} |")
    print(f"\n{a.image_size} px, width {a.width}, {a.epochs} epochs, {a.n_train_plates} training plates, "
          f"{a.n_eval_plates} plates per unseen seed; {time.time() - t0:.0f} s, load {load0:.1f}")


if __name__ == "__main__":
    main()
