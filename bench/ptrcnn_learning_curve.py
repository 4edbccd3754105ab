"""Error vs training-set size for PTR and every control representation (paper Fig. 2b, d), on the
committed CHGNet labels, plus the whitening-vs-bound and multi- vs single-task comparisons
(Fig. 2a, c) and the kernel ridge regression baseline (Fig. S4).

    .venv/bin/python bench/ptrcnn_learning_curve.py [--sizes 500 2000] [--epochs 15] [--channels 32]

Every model gets the same budget (epochs, batch, SGD recipe) and the same fixed test set.
Prints MAE (meV/atom), MAPE (%) and the ratio of each control's MAE to PTR's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import torch


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    p.add_argument("--full", action="store_true", help="add the full training set for ptr and random_table_1")
    p.add_argument("--representations", nargs="+",
                   default=["ptr", "random_table_1", "random_table_2", "mendeleev_line", "random_line_1", "random_line_2"])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--ablations", action="store_true", help="bound normalisation and single-task at the largest size")
    p.add_argument("--path", default=None, help="another CHGNet table (default: the committed one)")
    p.add_argument("--json", default=None, help="write the results here")
    a = p.parse_args(argv)
    import sciml
    from sciml_ptrcnn.baseline import fit_krr, krr_predict
    from sciml_ptrcnn.dataset import HeuslerPTRDataset
    from sciml_ptrcnn.evaluation import predict_physical, regression_metrics
    from sciml_ptrcnn.model import PTRCNN
    from sciml_ptrcnn.training import paper_config

    root = tempfile.mkdtemp(prefix="ptrcnn_lc_")
    ctx = sciml.Context(run_dir=root, cache_dir=root, seed=0, threads=1)
    rows = []

    def run(rep, n, norm="whitening", task="multi"):
        d = HeuslerPTRDataset(HeuslerPTRDataset.Config(path=a.path, representation=rep, n_train=n, normalization=norm), ctx)
        d.prepare()
        torch.manual_seed(0)
        m = PTRCNN(PTRCNN.Config(channels=a.channels, task=task), d.metadata)
        t0 = time.time()
        sciml.fit(m, d.split("train"), d.split("val"), paper_config(a.epochs, batch_size=a.batch_size, device="cpu"),
                  ctx, sciml.SilentReporter(), stage=f"{rep}_{n}_{norm}_{task}")
        met = regression_metrics(predict_physical(m, d.images("test"), d.normalization), d.raw_targets("test"), "test")
        row = {"model": f"cnn/{task}/{norm}", "representation": rep, "n_train": d.metadata["n_train"], **met,
               "seconds": round(time.time() - t0)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        return d

    d = None
    for n in a.sizes:
        for rep in a.representations:
            d = run(rep, n)
    if a.full:
        for rep in ("ptr", "random_table_1"):
            d = run(rep, None)
    n_max = d.metadata["n_train"] if d is not None else max(a.sizes)
    if a.ablations:
        run("ptr", n_max if a.full else max(a.sizes), norm="bound")
        run("ptr", n_max if a.full else max(a.sizes), task="formation_energy")
        run("ptr", n_max if a.full else max(a.sizes), task="lattice_parameter")
    for n in a.sizes + ([None] if a.full else []):
        dl = HeuslerPTRDataset(HeuslerPTRDataset.Config(path=a.path, representation="mendeleev_line", n_train=n), ctx)
        dl.prepare()
        met = {}
        for j, t in enumerate(("formation_energy_per_atom", "lattice_parameter")):
            k = fit_krr(dl.images("train"), dl.raw_targets("train")[:, j])
            met.update(regression_metrics({t: krr_predict(k, dl.images("test"))}, dl.raw_targets("test"), "test"))
        row = {"model": "krr", "representation": "mendeleev_line", "n_train": dl.metadata["n_train"], **met}
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\n{'model':24s} {'representation':16s} {'n_train':>7s} {'MAE meV/at':>10s} {'MAPE %':>7s} {'MAE/PTR':>8s}")
    ptr = {r["n_train"]: r["test_mae_formation_energy"] for r in rows
           if r["representation"] == "ptr" and r["model"] == "cnn/multi/whitening"}
    for r in rows:
        mae = r.get("test_mae_formation_energy", float("nan"))
        ratio = mae / ptr[r["n_train"]] if r["n_train"] in ptr else float("nan")
        print(f"{r['model']:24s} {r['representation']:16s} {r['n_train']:7d} {mae:10.1f} "
              f"{r.get('test_mape_lattice_parameter', float('nan')):7.2f} {ratio:8.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
