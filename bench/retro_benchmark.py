"""Retro benchmark: 3N-MCTS solved rates at fixed time limits on held-out targets, a trivial baseline and a peer.

Prints, on the same held-out benchmark targets (whole reference routes held out of training, duplicate
reactions removed before the split), the same stock with each target taken out of it (unless
``--keep-target-in-stock``) and the same template library:

* sciml-retro 3N-MCTS (PUCT with the policy prior, Segler & Waller 2018);
* template-frequency: the same MCTS with the policy network replaced by the training frequency of the
  templates that match the molecule (the trivial baseline of ``sciml run retro``);
* syntheseus (pip install syntheseus==0.9.0), if installed: its MolSetMCTS with a P-UCB bound and the same
  policy prior, and its Retro*-0 best-first AND-OR search (cost -log p, zero value function);

solved rate, mean time to the first solution and how often the reference route is found, at 5 s and
60 s per target, on the validation targets (``--split val``) or the test targets (default), and the
ratio sciml / others.

Usage::

    python bench/retro_benchmark.py [--model MODEL_DIR_OR_URI] [--n5 100] [--n60 20] [--max-epochs 20] [--split test]

Without ``--model`` a policy is trained first on the built-in data (default pipeline settings, early
stopping on the validation routes' loss).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np


def train_policy(ds, ctx, max_epochs, patience=4, seed=0):
    """Train as the default pipeline does, through the core's trainer (``sciml.DefaultTrainer``: Adam 1e-3,
    batch 128, early stopping on the validation routes' loss, best weights restored)."""
    import sciml
    import torch
    from sciml.testing import RecordingReporter
    from sciml_retro.model import RetroPolicy

    torch.manual_seed(seed)
    model = RetroPolicy(RetroPolicy.Config(), ds.metadata)
    cfg = sciml.DefaultTrainer.Config(max_epochs=max_epochs, batch_size=128, lr=1e-3, patience=patience)
    sciml.DefaultTrainer(cfg, ctx).fit(model, ds, RecordingReporter(Path(ctx.run_dir) / "reporter"))
    return model.eval()


def syntheseus_planners(model, stock, time_limit, c=1.5, top_k=50, keep_target_in_stock=False):
    """Factories ``factory(target)`` of the peer searches, each given a fresh reaction model wrapping our expander
    and an inventory without the target (unless ``keep_target_in_stock``)."""
    from sciml_retro.chem import inchikey
    from sciml_retro.search import Expander, model_functions
    from syntheseus import Bag, Molecule, SingleProductReaction
    from syntheseus.interface.models import BackwardReactionModel
    from syntheseus.search.algorithms.best_first.retro_star import RetroStarSearch
    from syntheseus.search.algorithms.mcts.base import pucb_bound
    from syntheseus.search.algorithms.mcts.molset import MolSetMCTS
    from syntheseus.search.mol_inventory import BaseMolInventory
    from syntheseus.search.node_evaluation.common import (
        ConstantNodeEvaluator,
        HasSolutionValueFunction,
        ReactionModelLogProbCost,
        ReactionModelProbPolicy,
    )

    class Inventory(BaseMolInventory):
        def __init__(self, excluded=None):
            self.excluded = excluded

        def is_purchasable(self, mol):
            return mol.smiles in stock and (self.excluded is None or inchikey(mol.smiles) != self.excluded)

    class TemplateModel(BackwardReactionModel):
        def __init__(self, **kw):
            super().__init__(**kw)
            policy, _ = model_functions(model)
            self.expander = Expander(model.templates, policy, model.radius, model.n_bits)

        def _get_reactions(self, inputs, num_results):
            out = []
            for mol in inputs:
                rxns = []
                for j, prior, pre in self.expander.expand(mol.smiles, top_k):
                    rxns.append(SingleProductReaction(
                        product=mol, reactants=Bag([Molecule(s) for s in pre]),
                        metadata={"probability": prior, "log_probability": math.log(max(prior, 1e-12)),
                                  "template": str(j)}))
                out.append(rxns[:num_results])
            return out

        def get_parameters(self):
            return []

    def common(target):
        inv = Inventory(None if keep_target_in_stock else inchikey(target))
        return dict(mol_inventory=inv, time_limit_s=time_limit, stop_on_first_solution=True,
                    max_expansion_depth=10, limit_iterations=10**9)

    def mcts(target):
        return MolSetMCTS(reaction_model=TemplateModel(default_num_results=top_k), reward_function=HasSolutionValueFunction(),
                          value_function=ConstantNodeEvaluator(0.0), policy=ReactionModelProbPolicy(),
                          bound_function=pucb_bound, bound_constant=c, **common(target))

    def retro_star(target):
        return RetroStarSearch(reaction_model=TemplateModel(default_num_results=top_k),
                               and_node_cost_fn=ReactionModelLogProbCost(), value_function=ConstantNodeEvaluator(0.0),
                               **common(target))

    return {"syntheseus-MCTS": mcts, "syntheseus-Retro*0": retro_star}


def run_syntheseus(factory, targets, refs):
    from syntheseus import Molecule
    from syntheseus.search.analysis.route_extraction import iter_routes_time_order

    rows = []
    for t, ref in zip(targets, refs, strict=True):
        alg = factory(t)
        t0 = time.perf_counter()
        graph, _ = alg.run_from_mol(Molecule(t))
        elapsed = time.perf_counter() - t0
        solved = bool(graph.root_node.has_solution)
        found = False
        if solved:
            for route in iter_routes_time_order(graph, max_routes=1):
                rx = set()
                nodes = set(route)
                for node in nodes:
                    reactions = [getattr(node, "reaction", None)]  # AND-OR graphs: reactions are AND nodes
                    for pred in graph.predecessors(node):  # MolSet graphs: reactions label the edges
                        if pred in nodes:
                            reactions.append(graph._graph.edges[pred, node].get("reaction"))
                    for r in reactions:
                        if r is not None:
                            rx.add((r.product.smiles, ".".join(sorted(m.smiles for m in r.reactants))))
                found = rx == set(ref) if rx else False
        rows.append({"solved": solved, "time_to_first_s": elapsed if solved else None, "reference_found": found,
                     "iterations": 0})  # stop_on_first_solution: the elapsed time is the time to the first solution
    return rows


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    import sciml
    from sciml.testing import make_context
    from sciml_retro.dataset import RetroDataset
    from sciml_retro.evaluate import plan_targets, summarize_rows, topk_accuracy
    from sciml_retro.search import SearchConfig, frequency_planner, planner_from_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="", help="a model URI or a trial's model directory (sciml.load_model); "
                   "default: train one here")
    p.add_argument("--save-model", default="", help="directory to save the trained policy in (sciml.save_model_dir)")
    p.add_argument("--max-epochs", type=int, default=20, help="epoch cap; early stopping on the validation loss")
    p.add_argument("--n5", type=int, default=100, help="targets at the 5 s limit")
    p.add_argument("--n60", type=int, default=20, help="targets at the 60 s limit")
    p.add_argument("--limits", default="5,60")
    p.add_argument("--peers", default="syntheseus-MCTS,syntheseus-Retro*0")
    p.add_argument("--with-filter", action="store_true", help="also run 3N-MCTS with the in-scope filter on")
    p.add_argument("--no-baseline", action="store_true", help="skip the template-frequency baseline")
    p.add_argument("--keep-target-in-stock", action="store_true",
                   help="let a target in the stock count as solved with 0 steps (default: taken out)")
    p.add_argument("--split", choices=("val", "test"), default="test", help="benchmark targets of this split")
    p.add_argument("--min-count", type=int, default=1, help="K: template library = templates seen >= K times "
                   "(the pipeline's default, 1)")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "sciml-retro-bench"))
    p.add_argument("--json", default="")
    a = p.parse_args(argv)

    ctx = make_context(a.cache)
    t0 = time.time()
    ds = RetroDataset(RetroDataset.Config(template_min_count=a.min_count), ctx)
    ds.prepare()
    summ = ds.summary()
    print(f"data ({time.time() - t0:.0f} s):", json.dumps(summ))
    model = sciml.load_model(a.model).module if a.model else train_policy(ds, ctx, a.max_epochs)
    if a.save_model:
        sciml.save_model_dir(a.save_model, model, {"pipeline": "retro:default",
                                                  "model": {"name": "retro:policy", **model.config.model_dump()}},
                             ds.metadata)
    code = {"val": 1, "test": 2}[a.split]
    held = np.flatnonzero(ds.arrays["split"] == code)
    acc = topk_accuracy(model, ds.arrays["fps"][held], ds.arrays["labels"][held])
    print(f"template accuracy on held-out {a.split} reactions:", {f"top{k}": round(v, 3) for k, v in acc.items()},
          f"(library coverage {float((ds.arrays['labels'][held] >= 0).mean()):.3f})")
    report = {"data": summ, "split": a.split, "topk": acc, "limits": {}}
    bench_targets, _ = ds.benchmark(a.split)
    tcounts = ds.template_counts()
    limits = [float(x) for x in a.limits.split(",")]
    counts = {5.0: a.n5, 60.0: a.n60}
    for lim in limits:
        n = min(counts.get(lim, a.n60), len(bench_targets))
        targets = bench_targets[:n]
        refs = [ds.reference_route(i, a.split) for i in range(n)]
        res, per_target = {}, {}
        variants = {"sciml-retro 3N-MCTS": False}
        if a.with_filter:
            variants["sciml-retro 3N-MCTS+filter"] = True
        if not a.no_baseline:
            variants["template-frequency MCTS"] = None
        print(f"\n== {n} held-out {a.split} targets, {lim:g} s per target")
        for name, use_filter in variants.items():
            rows = []
            t1 = time.time()
            for t, ref in zip(targets, refs, strict=True):  # a fresh planner (and expansion cache) per target
                cfg = SearchConfig(time_limit=lim, max_routes=1, use_filter=bool(use_filter),
                                   keep_target_in_stock=a.keep_target_in_stock)
                planner = (frequency_planner(ds.library, tcounts, ds.stock, cfg) if use_filter is None
                           else planner_from_model(model, ds.stock, cfg))
                rows += plan_targets(planner, [t], [ref])
            res[name], per_target[name] = summarize_rows(rows), rows
            print(f"   ({name} took {time.time() - t1:.0f} s)")
        try:
            peers = syntheseus_planners(model, ds.stock, lim, keep_target_in_stock=a.keep_target_in_stock)
            for name in [x for x in a.peers.split(",") if x]:
                t1 = time.time()
                rows = run_syntheseus(peers[name], targets, refs)
                res[name], per_target[name] = summarize_rows(rows), rows
                print(f"   ({name} took {time.time() - t1:.0f} s)")
        except ImportError as exc:
            print(f"peer syntheseus unavailable: {exc}")
        both = [i for i in range(n) if all(per_target[k][i]["solved"] for k in per_target)]
        for k in res:
            res[k]["time_to_first_common_s"] = (float(np.mean([per_target[k][i]["time_to_first_s"] for i in both]))
                                                if both else float("nan"))
        print(f"targets solved by every planner: {len(both)}")
        print(f"{'planner':28s} {'solved':>7s} {'t_first (s)':>12s} {'t_first common':>15s} {'ref found':>10s}")
        for name, r in res.items():
            print(f"{name:28s} {r['solved_rate']:7.3f} {r['time_to_first_s']:12.3f} "
                  f"{r['time_to_first_common_s']:15.3f} {r['reference_found_rate']:10.3f}")
        ours = res["sciml-retro 3N-MCTS"]
        for name, r in res.items():
            if name != "sciml-retro 3N-MCTS" and not name.startswith("sciml-retro"):
                ratio = ours["solved_rate"] / r["solved_rate"] if r["solved_rate"] else float("inf")
                tr = r["time_to_first_common_s"] / ours["time_to_first_common_s"] if both else float("nan")
                print(f"ratio solved rate sciml/{name}: {ratio:.2f}; "
                      f"time to first solution on commonly solved targets {name}/sciml: {tr:.2f}")
        report["limits"][str(lim)] = {"n_targets": n, **res}
        sys.stdout.flush()
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
