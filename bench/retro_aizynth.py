"""sciml-retro's 3N-MCTS and AiZynthFinder side by side: the same policy, templates, stock and targets.

AiZynthFinder 4.4.1 pins rdkit 2023.09 and numpy 1.26, so it cannot share the main environment: this script
makes its own virtualenv (``--venv``, created on first use with ``--python``; ``pip install aizynthfinder
"pyarrow<19" onnx`` from PyPI, about a minute) and runs AiZynthFinder there in a subprocess. Nothing is
downloaded at run time (no ``download_public_data``): AiZynthFinder gets

* the policy: our expansion network (ECFP4, 2048 bits -> dense ELU -> softmax over the library) written as an
  ONNX graph (Gemm, Elu, Gemm, Softmax) from its weights with ``onnx.helper`` inside that venv (the main
  environment has no ``onnx`` package, which ``torch.onnx.export`` needs); AiZynthFinder computes the same
  Morgan bit fingerprint (radius 2, 2048 bits) as we do;
* the templates: our library as its tab-separated template file (column ``retro_template``, row i = output i);
* the stock: our stock as an InChIKey file (one per line); the target is excluded from the stock on both sides
  (AiZynthFinder's ``exclude_target_from_stock``, our default);
* the same held-out targets (validation or test routes) and the same time limit per target, C = 1.5, at most
  10 reactions per route, 50 templates and 0.995 cumulative probability per expansion.

It prints solved rate and mean time to the first solution for both, and their ratios; it also loads one of our
route JSON files with AiZynthFinder's ``ReactionTree.from_dict`` (our routes follow its reaction-tree layout).

Usage::

    python bench/retro_aizynth.py --model DIR --split val --n-targets 20 --time-limit 5

``--model``: a model directory (``sciml.save_model_dir``, e.g. from ``bench/retro_template_filters.py
--save-model DIR``) or a model URI. Real sizes: ``--n-targets 384 --time-limit 60``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RUNNER = r'''
import json, sys, time
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

work = sys.argv[1]
spec = json.load(open(f"{work}/spec.json"))
w = np.load(f"{work}/policy_weights.npz")
n_layers = spec["n_layers"]
nodes, inits, x = [], [], "fp"
for i in range(n_layers + 1):
    inits += [numpy_helper.from_array(w[f"W{i}"].astype(np.float32), f"W{i}"),
              numpy_helper.from_array(w[f"b{i}"].astype(np.float32), f"b{i}")]
    nodes.append(helper.make_node("Gemm", [x, f"W{i}", f"b{i}"], [f"h{i}"], transB=1))
    x = f"h{i}"
    if i < n_layers:
        nodes.append(helper.make_node("Elu", [x], [f"e{i}"], alpha=1.0))
        x = f"e{i}"
nodes.append(helper.make_node("Softmax", [x], ["probs"], axis=1))
graph = helper.make_graph(nodes, "sciml_retro_policy",
                          [helper.make_tensor_value_info("fp", TensorProto.FLOAT, [None, spec["n_bits"]])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, spec["n_templates"]])],
                          inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(model)
onnx.save(model, f"{work}/policy.onnx")

# the ONNX graph reproduces our policy
import onnxruntime
sess = onnxruntime.InferenceSession(f"{work}/policy.onnx")
check = np.load(f"{work}/check.npz")
got = sess.run(["probs"], {"fp": check["x"].astype(np.float32)})[0]
max_diff = float(np.abs(got - check["p"]).max())

from aizynthfinder.aizynthfinder import AiZynthFinder
from aizynthfinder.reactiontree import ReactionTree

config = {
    "expansion": {"sciml": {"type": "template-based", "model": f"{work}/policy.onnx",
                            "template": f"{work}/templates.csv", "cutoff_number": 50,
                            "cutoff_cumulative": 0.995}},
    "stock": {"sciml": f"{work}/stock.txt"},
    "search": {"time_limit": spec["time_limit"], "iteration_limit": 100000, "max_transforms": 10,
               "return_first": False, "exclude_target_from_stock": True,
               "algorithm_config": {"C": 1.5}},
}
finder = AiZynthFinder(configdict=config)
finder.stock.select("sciml")
finder.expansion_policy.select("sciml")
rows = []
for smi in spec["targets"]:
    finder.target_smiles = smi
    t0 = time.time()
    finder.tree_search()
    finder.build_routes()
    stats = finder.extract_statistics()
    rows.append({"target": smi, "solved": bool(stats["is_solved"]),
                 "time_to_first_s": float(stats["first_solution_time"]) if stats["is_solved"] else None,
                 "elapsed_s": time.time() - t0, "iterations": int(stats.get("number_of_nodes", 0))})
loaded = []
for path in spec.get("route_files", []):
    for r in json.load(open(path))["routes"]:
        tree = ReactionTree.from_dict(r["tree"])
        loaded.append({"n_reactions": len(list(tree.reactions())), "leaves": sorted(m.smiles for m in tree.leafs()),
                       "in_stock": [bool(tree.in_stock(m)) for m in tree.leafs()]})
json.dump({"rows": rows, "onnx_max_abs_diff": max_diff, "loaded_routes": loaded}, open(f"{work}/aizynth.json", "w"))
'''


def ensure_venv(venv: Path, python: str) -> Path:
    """The AiZynthFinder virtualenv's python (created and filled from PyPI on first use)."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(py), "-c", "import aizynthfinder, onnx"], capture_output=True)
    if probe.returncode:
        print(f"installing aizynthfinder into {venv} ...", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "aizynthfinder==4.4.1", "pyarrow<19", "onnx"],
                       check=True)
    return py


def export(model, ds, targets, work: Path, time_limit: int, route_files) -> None:
    """Write the policy weights, a check batch, the templates, the stock and the spec for the runner."""
    import torch

    linears = [m for m in model.policy if isinstance(m, torch.nn.Linear)]
    arrays = {}
    for i, lin in enumerate(linears):
        arrays[f"W{i}"] = lin.weight.detach().numpy()
        arrays[f"b{i}"] = lin.bias.detach().numpy()
    np.savez(work / "policy_weights.npz", **arrays)
    from sciml_retro.chem import morgan_fingerprint

    x = np.stack([morgan_fingerprint(t, model.radius, model.n_bits) for t in targets[:8]]).astype(np.float32)
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(x)), -1).numpy()
    np.savez(work / "check.npz", x=x, p=p)
    with open(work / "templates.csv", "w") as fh:
        fh.write("\tretro_template\n")
        for i, t in enumerate(model.templates):
            fh.write(f"{i}\t{t}\n")
    (work / "stock.txt").write_text("".join(k + "\n" for k in sorted(ds.stock.keys)))
    (work / "spec.json").write_text(json.dumps({"n_layers": len(linears) - 1, "n_bits": model.n_bits,
                                                "n_templates": len(model.templates), "time_limit": int(time_limit),
                                                "targets": list(targets), "route_files": route_files}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory or URI (sciml.load_model)")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--n-targets", type=int, default=20)
    p.add_argument("--time-limit", type=int, default=5, help="seconds per target (AiZynthFinder takes whole seconds)")
    p.add_argument("--venv", default=str(Path.home() / ".cache" / "sciml-retro-bench" / "aizynth-venv"))
    p.add_argument("--python", default="python3.11", help="interpreter for the AiZynthFinder venv (3.10-3.12)")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "sciml-retro-bench"))
    p.add_argument("--work", default="", help="folder for the exported files (default: CACHE/aizynth-work)")
    p.add_argument("--json", default="")
    a = p.parse_args(argv)

    import sciml
    from sciml_retro.dataset import RetroDataset
    from sciml_retro.evaluate import plan_targets, summarize_rows
    from sciml_retro.route import save_routes
    from sciml_retro.search import SearchConfig, planner_from_model

    py = ensure_venv(Path(a.venv), a.python)
    work = Path(a.work or Path(a.cache) / "aizynth-work")
    work.mkdir(parents=True, exist_ok=True)
    (Path(a.cache) / "run").mkdir(parents=True, exist_ok=True)
    ctx = sciml.Context(run_dir=Path(a.cache) / "run", cache_dir=Path(a.cache), seed=0)
    ds = RetroDataset(RetroDataset.Config(template_min_count=1, filter_negatives=0), ctx)
    ds.prepare()
    model = sciml.load_model(a.model).module.eval()
    targets, _ = ds.benchmark(a.split)
    targets = targets[: a.n_targets]
    n = len(targets)

    t0 = time.time()
    cfg = SearchConfig(time_limit=float(a.time_limit), max_routes=3, max_depth=10, c_puct=1.5)
    ours = plan_targets(planner_from_model(model, ds.stock, cfg), targets)
    print(f"sciml-retro planned {n} targets in {time.time() - t0:.0f} s", flush=True)
    route_files = []
    for r in ours:
        if r["solved"] and r["_result"].routes[0].n_steps >= 2:
            path = work / "our_route.json"
            save_routes(r["_result"].routes, path)
            route_files = [str(path)]
            break
    export(model, ds, targets, work, a.time_limit, route_files)
    (work / "runner.py").write_text(RUNNER)
    t0 = time.time()
    proc = subprocess.run([str(py), str(work / "runner.py"), str(work)], capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    theirs = json.loads((work / "aizynth.json").read_text())
    print(f"AiZynthFinder planned {n} targets in {time.time() - t0:.0f} s; ONNX policy reproduces ours to "
          f"{theirs['onnx_max_abs_diff']:.1e} (max |p difference|)")
    if theirs["loaded_routes"]:
        lr = theirs["loaded_routes"]
        print(f"AiZynthFinder's ReactionTree.from_dict read {len(lr)} of our routes (first: "
              f"{lr[0]['n_reactions']} reactions, leaves in stock: {lr[0]['in_stock']})")
    s_ours = summarize_rows(ours)
    a_rows = theirs["rows"]
    a_solved = [r for r in a_rows if r["solved"]]
    s_theirs = {"solved_rate": len(a_solved) / max(n, 1),
                "time_to_first_s": float(np.mean([r["time_to_first_s"] for r in a_solved])) if a_solved else float("nan")}
    print(f"\n{a.split} targets: {n}, {a.time_limit} s each, target out of the stock, same policy/templates/stock")
    print("| planner | solved | solved rate | mean time to first route (s) |")
    print("| --- | --- | --- | --- |")
    print(f"| sciml-retro 3N-MCTS | {sum(r['solved'] for r in ours)}/{n} | {s_ours['solved_rate']:.2f} | "
          f"{s_ours['time_to_first_s']:.2f} |")
    print(f"| AiZynthFinder 4.4.1 | {len(a_solved)}/{n} | {s_theirs['solved_rate']:.2f} | "
          f"{s_theirs['time_to_first_s']:.2f} |")
    ratio = s_ours["solved_rate"] / s_theirs["solved_rate"] if s_theirs["solved_rate"] else float("inf")
    print(f"ratio ours / AiZynthFinder: solved rate {ratio:.2f}, time to first route "
          f"{s_ours['time_to_first_s'] / s_theirs['time_to_first_s']:.2f}" if a_solved else f"ratio: {ratio}")
    if a.json:
        Path(a.json).write_text(json.dumps({"ours": s_ours, "aizynthfinder": s_theirs, "n_targets": n,
                                            "time_limit": a.time_limit, "split": a.split,
                                            "onnx_max_abs_diff": theirs["onnx_max_abs_diff"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
