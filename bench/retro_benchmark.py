"""Retro benchmark: 3N-MCTS solved rates at fixed time limits on held-out targets, and a peer.

Prints, on the same held-out benchmark targets (whole reference routes held out of training), the same
stock and the same template library + expansion policy:

* sciml-retro 3N-MCTS (PUCT with the policy prior, Segler & Waller 2018);
* syntheseus (pip install syntheseus==0.9.0): its MolSetMCTS with a P-UCB bound and the same policy
  prior, and its Retro*-0 best-first AND-OR search (cost -log p, zero value function);

solved rate, mean time to the first solution and how often the reference route is found, at 5 s and
60 s per target, and the ratio sciml / peer.

Usage::

    python bench/retro_benchmark.py [--model policy.pt] [--n5 100] [--n60 20] [--epochs 15]

Without ``--model`` a policy is trained first on the built-in data (default pipeline settings).
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


def train_policy(ds, epochs, seed=0, log=print):
    import torch
    from sciml_retro.model import RetroPolicy

    torch.manual_seed(seed)
    model = RetroPolicy(RetroPolicy.Config(), ds.metadata)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    dl = torch.utils.data.DataLoader(ds.split("train"), batch_size=128, shuffle=True)
    for ep in range(epochs):
        model.train()
        for b in dl:
            out = model.training_step(b, ep)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
        log(f"epoch {ep}: policy_loss {float(out['policy_loss']):.3f}")
    return model.eval()


def syntheseus_planners(model, stock, time_limit, c=1.5, top_k=50):
    """Factories of the peer searches, each given a fresh reaction model wrapping our expander."""
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
        def is_purchasable(self, mol):
            return mol.smiles in stock

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

    common = dict(mol_inventory=Inventory(), time_limit_s=time_limit, stop_on_first_solution=True,
                  max_expansion_depth=10, limit_iterations=10**9)

    def mcts():
        return MolSetMCTS(reaction_model=TemplateModel(default_num_results=top_k), reward_function=HasSolutionValueFunction(),
                          value_function=ConstantNodeEvaluator(0.0), policy=ReactionModelProbPolicy(),
                          bound_function=pucb_bound, bound_constant=c, **common)

    def retro_star():
        return RetroStarSearch(reaction_model=TemplateModel(default_num_results=top_k),
                               and_node_cost_fn=ReactionModelLogProbCost(), value_function=ConstantNodeEvaluator(0.0),
                               **common)

    return {"syntheseus-MCTS": mcts, "syntheseus-Retro*0": retro_star}


def run_syntheseus(factory, targets, refs):
    from syntheseus import Molecule
    from syntheseus.search.analysis.route_extraction import iter_routes_time_order

    rows = []
    for t, ref in zip(targets, refs, strict=True):
        alg = factory()
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
    from sciml.testing import make_context
    from sciml_retro.dataset import RetroDataset
    from sciml_retro.evaluate import plan_targets, summarize_rows, topk_accuracy
    from sciml_retro.model import load_policy, save_policy
    from sciml_retro.search import SearchConfig, planner_from_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="")
    p.add_argument("--save-model", default="")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--n5", type=int, default=100, help="targets at the 5 s limit")
    p.add_argument("--n60", type=int, default=20, help="targets at the 60 s limit")
    p.add_argument("--limits", default="5,60")
    p.add_argument("--peers", default="syntheseus-MCTS,syntheseus-Retro*0")
    p.add_argument("--with-filter", action="store_true", help="also run 3N-MCTS with the in-scope filter on")
    p.add_argument("--min-count", type=int, default=3, help="K: template library = templates seen >= K times")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "sciml-retro-bench"))
    p.add_argument("--json", default="")
    a = p.parse_args(argv)

    ctx = make_context(a.cache)
    t0 = time.time()
    ds = RetroDataset(RetroDataset.Config(template_min_count=a.min_count), ctx)
    ds.prepare()
    summ = ds.summary()
    print(f"data ({time.time() - t0:.0f} s):", json.dumps(summ))
    model = load_policy(a.model) if a.model else train_policy(ds, a.epochs)
    if a.save_model:
        save_policy(model, a.save_model)
    test = np.flatnonzero(ds.arrays["split"] == 2)
    acc = topk_accuracy(model, ds.arrays["fps"][test], ds.arrays["labels"][test])
    print("template accuracy on held-out reactions:", {f"top{k}": round(v, 3) for k, v in acc.items()},
          f"(library coverage {float((ds.arrays['labels'][test] >= 0).mean()):.3f})")
    report = {"data": summ, "topk": acc, "limits": {}}
    limits = [float(x) for x in a.limits.split(",")]
    counts = {5.0: a.n5, 60.0: a.n60}
    for lim in limits:
        n = min(counts.get(lim, a.n60), len(ds.targets))
        targets = ds.targets[:n]
        refs = [ds.reference_route(i) for i in range(n)]
        res, per_target = {}, {}
        variants = {"sciml-retro 3N-MCTS": False}
        if a.with_filter:
            variants["sciml-retro 3N-MCTS+filter"] = True
        print(f"\n== {n} held-out targets, {lim:g} s per target")
        for name, use_filter in variants.items():
            rows = []
            t1 = time.time()
            for t, ref in zip(targets, refs, strict=True):  # a fresh planner (and expansion cache) per target
                cfg = SearchConfig(time_limit=lim, max_routes=1, use_filter=use_filter)
                rows += plan_targets(planner_from_model(model, ds.stock, cfg), [t], [ref])
            res[name], per_target[name] = summarize_rows(rows), rows
            print(f"   ({name} took {time.time() - t1:.0f} s)")
        try:
            peers = syntheseus_planners(model, ds.stock, lim)
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
            if name.startswith("syntheseus"):
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
