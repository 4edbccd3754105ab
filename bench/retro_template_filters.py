"""Retro template filters: what the rdchiral round trip and the RXNMapper-confidence cut remove, what that does
to the solved rate and to route plausibility on the validation routes, and the threshold that validation picks.

One policy is trained (through the core's trainer, ``sciml:default``) on the unfiltered library of the built-in
USPTO/ORD reactions, then the same MCTS plans the same validation targets (whole reference routes held out,
target out of the stock) with the library restricted to the templates each setting keeps (the policy's
probabilities renormalised over them):

* ``none``: every template of the training reactions;
* ``roundtrip``: only templates that regenerate the recorded reactants from the recorded product;
* ``roundtrip + confidence >= t`` for each ``t`` of ``--thresholds``: also only templates from reactions whose
  RXNMapper confidence is >= t.

Printed per setting: library size, templates each filter removes, validation solved rate (with the number of
targets), mean steps of the best routes, and three plausibility figures of the steps of the best routes:
``untrusted`` (share of steps whose template comes only from reactions that fail the round trip or have an
RXNMapper confidence below 0.5), ``infeasible`` (share of steps the in-scope filter network scores below 0.5)
and ``precedent`` (mean Tanimoto similarity, Morgan radius 2, between the step's product and the most similar
product of the training reactions its template came from). The threshold is chosen on validation: the highest
``t`` whose validation solved rate equals the best solved rate among the ``roundtrip + confidence`` settings.
The test split is not touched.

Usage::

    python bench/retro_template_filters.py --save-model /tmp/policy --max-epochs 8 --skip-plan   # train only
    python bench/retro_template_filters.py --model /tmp/policy --n-targets 40 --time-limit 2

Real sizes: ``--n-targets 384`` (all validation targets), ``--time-limit 5``, ``--max-epochs 20``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def make_context(cache):
    import sciml

    run = Path(cache) / "run"
    run.mkdir(parents=True, exist_ok=True)
    return sciml.Context(run_dir=run, cache_dir=Path(cache), seed=0)


def train(ds, ctx, max_epochs):
    """The policy trained by the core's default trainer (early stopping on the validation routes' loss)."""
    import sciml
    import torch
    from sciml.testing import RecordingReporter
    from sciml_retro.model import RetroPolicy

    torch.manual_seed(0)
    model = RetroPolicy(RetroPolicy.Config(), ds.metadata)
    cfg = sciml.DefaultTrainer.Config(max_epochs=max_epochs, batch_size=128, lr=1e-3, patience=4)
    sciml.DefaultTrainer(cfg, ctx).fit(model, ds, RecordingReporter(Path(ctx.run_dir) / "reporter"))
    return model.eval()


def allowed_mask(ds, min_confidence, roundtrip):
    """Library templates (of the unfiltered library) that have >= 1 trusted training reaction."""
    from sciml_retro import data as D

    keep = D.template_trust(ds.table, min_confidence, roundtrip) & (ds.arrays["split"] == 0)
    labels = ds.arrays["labels"]
    allowed = np.zeros(len(ds.library), dtype=bool)
    allowed[labels[keep & (labels >= 0)]] = True
    return allowed


def step_plausibility(routes, model, strict_allowed, trusted_precedents):
    """Plausibility figures over the steps of ``routes`` (see module doc)."""
    from sciml_retro.route import precedent_info
    from sciml_retro.search import model_functions

    _, feas = model_functions(model)
    untrusted, infeasible, prec = [], [], []
    for r in routes:
        for rx in r.steps():
            j = rx["template_index"]
            prod = rx["smiles"].split(">>")[1]
            pre = [c["smiles"] for c in rx["children"]]
            untrusted.append(not strict_allowed[j])
            infeasible.append(feas(prod, pre) < 0.5)
            info = precedent_info(prod, trusted_precedents[j] or model.precedents[j])
            prec.append(info["most_similar"]["tanimoto"] if info else 0.0)
    n = len(untrusted)
    mean = (lambda xs: float(np.mean(xs)) if xs else float("nan"))  # noqa: E731
    return {"n_steps_total": n, "untrusted": mean(untrusted), "infeasible": mean(infeasible),
            "precedent_tanimoto": mean(prec)}


def plan_drugs(a, ds, model, strict, chosen):
    """Plan the targets of ``a.drugs`` without filters and with round trip + confidence >= ``chosen``."""
    from sciml_retro.chem import parse_target
    from sciml_retro.predict import read_named_targets
    from sciml_retro.search import SearchConfig, planner_from_model

    cfg = SearchConfig(time_limit=a.drug_time_limit, max_routes=3)
    drugs = read_named_targets(a.drugs)
    for name, thr, rtrip in (("none", 0.0, False), (f"roundtrip + confidence >= {chosen:g}", chosen, True)):
        planner = planner_from_model(model, ds.stock, cfg, allowed=allowed_mask(ds, thr, rtrip))
        print(f"\n## drugs, {a.drug_time_limit:g} s each, filters: {name}")
        n_solved = n_one = n_steps = n_untrusted = 0
        for dname, smi in drugs:
            target = parse_target(smi)
            res = planner.search(target)
            best = res.routes[0] if res.routes else None
            if best is None:
                print(f"- {dname}: no route ({res.iterations} iterations)")
                continue
            n_solved += 1
            n_one += best.n_steps >= 1
            untrusted = sum(not strict[rx["template_index"]] for rx in best.steps())
            n_steps += best.n_steps
            n_untrusted += untrusted
            print(f"- {dname}: {best.n_steps} step(s), first route after {res.time_to_first:.2f} s, "
                  f"{untrusted} step(s) from untrusted templates")
            print("  " + best.to_text().replace("\n", "\n  "))
        print(f"summary ({name}): {n_solved}/{len(drugs)} solved, {n_one} with >= 1 step, "
              f"{n_untrusted}/{n_steps} steps of the best routes from untrusted templates")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="", help="a model URI or model directory (sciml.load_model) of a policy trained "
                   "on the unfiltered library")
    p.add_argument("--save-model", default="", help="save the trained policy in this directory (sciml.save_model_dir)")
    p.add_argument("--max-epochs", type=int, default=8)
    p.add_argument("--n-targets", type=int, default=40, help="validation targets planned per setting")
    p.add_argument("--time-limit", type=float, default=2.0, help="seconds per target")
    p.add_argument("--thresholds", default="0.3,0.5,0.7", help="RXNMapper confidence cuts to compare")
    p.add_argument("--filter-negatives", type=int, default=1000)
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "sciml-retro-bench"))
    p.add_argument("--json", default="")
    p.add_argument("--skip-plan", action="store_true", help="only train (and save) the policy")
    p.add_argument("--skip-val", action="store_true", help="skip the validation comparison (use --min-confidence)")
    p.add_argument("--min-confidence", type=float, default=None, help="with --skip-val: the cut to use for --drugs")
    p.add_argument("--drugs", default="", help="also plan these targets (SMILES name per line, e.g. "
                   "plugins/retro/sciml_retro/data/drugs.smi) without filters and with the chosen ones, and print the routes")
    p.add_argument("--drug-time-limit", type=float, default=5.0)
    a = p.parse_args(argv)

    import sciml
    from sciml_retro import data as D
    from sciml_retro.dataset import RetroDataset
    from sciml_retro.evaluate import plan_targets, summarize_rows
    from sciml_retro.search import SearchConfig, planner_from_model

    ctx = make_context(a.cache)
    t0 = time.time()
    ds = RetroDataset(RetroDataset.Config(template_min_count=1, template_min_confidence=0.0,
                                          template_roundtrip=False, filter_negatives=a.filter_negatives), ctx)
    ds.prepare()
    split = ds.arrays["split"]
    print(f"data ({time.time() - t0:.0f} s): {len(split)} reactions, library {len(ds.library)} (unfiltered)")
    rt = ds.table["roundtrip"]
    has = rt >= 0
    print(f"round trip over {int(has.sum())} reactions with a template: {int((rt == 2).sum())} exact, "
          f"{int((rt == 1).sum())} only without stereo, {int((rt == 0).sum())} fail")
    if a.model:
        model = sciml.load_model(a.model).module.eval()
    else:
        t1 = time.time()
        model = train(ds, ctx, a.max_epochs)
        print(f"trained in {time.time() - t1:.0f} s")
        if a.save_model:
            sciml.save_model_dir(a.save_model, model, {"pipeline": "retro:default",
                                                       "model": {"name": "retro:policy", **model.config.model_dump()}},
                                 ds.metadata)
    if a.skip_plan:
        return 0
    thresholds = [float(t) for t in a.thresholds.split(",") if t.strip()]
    settings = [("none", 0.0, False), ("roundtrip", 0.0, True)] + [
        (f"roundtrip + confidence >= {t:g}", t, True) for t in thresholds]
    strict = allowed_mask(ds, 0.5, True)
    targets, _ = ds.benchmark("val")
    n = min(a.n_targets, len(targets))
    refs = [ds.reference_route(i, "val") for i in range(n)]
    cfg = SearchConfig(time_limit=a.time_limit, max_routes=3)
    rows = []
    if a.skip_val:
        settings = []
    print(f"\nvalidation: {n} targets x {a.time_limit:g} s, target out of the stock; library restricted per setting")
    print("| setting | library | removed by round trip | removed by confidence | val solved | mean steps | "
          "untrusted steps | infeasible steps (filter net) | precedent Tanimoto |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, thr, rtrip in settings:
        allowed = allowed_mask(ds, thr, rtrip)
        keep = D.template_trust(ds.table, thr, rtrip)
        trusted_prec = D.precedents(ds.table, np.where(keep, split, -1), ds.arrays["labels"], ds.library)
        counts = D.filter_counts(ds.table, split, thr, rtrip, 1)
        planner = planner_from_model(model, ds.stock, cfg, allowed=allowed)
        res_rows = plan_targets(planner, targets[:n], refs)
        s = summarize_rows(res_rows)
        best_routes = [r["_result"].routes[0] for r in res_rows if r["solved"]]
        steps = float(np.mean([r.n_steps for r in best_routes])) if best_routes else float("nan")
        pl = step_plausibility(best_routes, model, strict, trusted_prec)
        row = {"setting": name, "min_confidence": thr, "roundtrip": rtrip, "library": int(allowed.sum()),
               "removed_by_roundtrip": counts["removed_by_roundtrip"] if rtrip else 0,
               "removed_by_confidence": counts["removed_by_confidence"],
               "val_solved": int(sum(r["solved"] for r in res_rows)), "n_targets": n,
               "val_solved_rate": s["solved_rate"], "mean_steps": steps, **pl}
        rows.append(row)
        print(f"| {name} | {row['library']} | {row['removed_by_roundtrip']} | {row['removed_by_confidence']} | "
              f"{row['val_solved']}/{n} = {row['val_solved_rate']:.2f} | {steps:.2f} | {pl['untrusted']:.2f} | "
              f"{pl['infeasible']:.2f} | {pl['precedent_tanimoto']:.2f} |", flush=True)
    conf_rows = [r for r in rows if r["min_confidence"] > 0]
    if conf_rows:
        best = max(r["val_solved"] for r in conf_rows)
        chosen = max(r["min_confidence"] for r in conf_rows if r["val_solved"] == best)
        print(f"\nchosen on validation: dataset.template_min_confidence = {chosen:g} (highest cut with the best "
              f"validation solved rate among the confidence settings, {best}/{n})")
    else:
        chosen = a.min_confidence
    if a.drugs and chosen is not None:
        plan_drugs(a, ds, model, strict, chosen)
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "chosen_min_confidence": chosen, "n_targets": n,
                                            "time_limit": a.time_limit}, indent=1, default=float))
    return 0 if all(math.isfinite(r["val_solved_rate"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
