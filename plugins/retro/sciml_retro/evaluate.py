"""The ``retro:planning`` Evaluator: template top-k accuracy and MCTS solved rate on held-out targets.

Metrics (keys as logged):

* ``test_top{k}_accuracy`` — fraction of held-out (test-split) reactions whose recorded template is among
  the policy's top k; reactions whose template is not in the library count as misses.
  ``test_template_coverage`` is the fraction that is in the library at all.
* ``test_solved_rate`` — fraction of the first ``n_targets`` held-out benchmark targets for which 3N-MCTS
  finds a route to stock within ``time_limit`` seconds each (Segler & Waller 2018 report solved rates at
  fixed time limits per target).
* ``test_time_to_first_s`` — mean wall time (s) to the first solution over solved targets.
* ``test_reference_found_rate`` — fraction of targets for which one of the returned routes has exactly the
  reactions of the reference route in the data.
"""

from __future__ import annotations

import numpy as np
import sciml
from pydantic import Field


def topk_accuracy(model, fps_packed, labels, ks=(1, 10, 50), batch=1024) -> dict[int, float]:
    """Top-k accuracy of the policy on packed fingerprints ``(n, n_bits/8)`` uint8 and labels ``(n,)`` (-1 = miss)."""
    import torch

    model.eval()
    hits = {k: 0 for k in ks}
    n = len(labels)
    with torch.no_grad():
        for s in range(0, n, batch):
            x = torch.from_numpy(np.unpackbits(fps_packed[s:s + batch], axis=1).astype(np.float32))
            logits = model(x)
            y = torch.from_numpy(np.asarray(labels[s:s + batch]))
            for k in ks:
                top = logits.topk(min(k, logits.shape[-1]), -1).indices
                hits[k] += int(((top == y[:, None]).any(-1) & (y >= 0)).sum())
    return {k: hits[k] / max(n, 1) for k in ks}


def filter_metrics(model, arrays) -> dict[str, float]:
    """Accuracy and ROC AUC of the in-scope filter on the validation filter examples (positives: recorded
    reactions; negatives: other templates' outcomes). Empty when there are none."""
    import torch
    from sklearn.metrics import roc_auc_score

    sel = np.flatnonzero(arrays["filter_split"] == 1)
    y = arrays["filter_y"][sel].astype(float)
    if len(sel) == 0 or len(set(y)) < 2:
        return {}
    with torch.no_grad():
        pfp = torch.from_numpy(np.unpackbits(arrays["filter_fp"][sel], axis=1).astype(np.float32))
        rfp = torch.from_numpy(arrays["filter_x"][sel].astype(np.float32))
        logit = model.feasibility_logit(pfp, rfp).numpy()
    return {"val_filter_accuracy": float(((logit > 0) == (y > 0.5)).mean()),
            "val_filter_auc": float(roc_auc_score(y, logit))}


def solved_vs_time_figure(rows, time_limit):
    """Fraction of targets solved as a function of search time (s): a step plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.sort([r["time_to_first_s"] for r in rows if r["solved"]])
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    xs = np.concatenate([[0.0], times, [time_limit]])
    ys = np.concatenate([[0.0], np.arange(1, len(times) + 1), [len(times)]]) / max(len(rows), 1)
    ax.step(xs, ys, where="post")
    ax.set_xlabel("search time per target (s)")
    ax.set_ylabel("fraction of targets solved")
    ax.set_ylim(0, 1)
    ax.set_title(f"3N-MCTS on {len(rows)} held-out targets", fontsize=9)
    fig.tight_layout()
    return fig


def plan_targets(planner, targets, references=None, log=None):
    """Run the planner on each target; returns per-target dicts (solved, time_to_first_s, reference_found, ...)."""
    rows = []
    for i, t in enumerate(targets):
        res = planner.search(t)
        ref = frozenset(references[i]) if references is not None else None
        found = bool(ref) and any(r.signature() == ref for r in res.routes)
        rows.append({"target": t, "solved": res.solved, "time_to_first_s": res.time_to_first,
                     "iterations": res.iterations, "elapsed_s": res.elapsed, "reference_found": found,
                     "n_routes": len(res.routes), "best_steps": res.routes[0].n_steps if res.routes else None,
                     "_result": res})
        if log:
            log(f"[{i + 1}/{len(targets)}] solved={res.solved} t_first={res.time_to_first} it={res.iterations}")
    return rows


def summarize_rows(rows) -> dict[str, float]:
    solved = [r for r in rows if r["solved"]]
    return {"solved_rate": len(solved) / max(len(rows), 1),
            "time_to_first_s": float(np.mean([r["time_to_first_s"] for r in solved])) if solved else float("nan"),
            "reference_found_rate": sum(r["reference_found"] for r in rows) / max(len(rows), 1),
            "mean_iterations": float(np.mean([r["iterations"] for r in rows])) if rows else 0.0}


class PlanningEvaluator(sciml.Evaluator):
    """Top-k template accuracy + MCTS solved rate on the held-out benchmark targets (see module doc)."""

    class Config(sciml.ComponentConfig):
        n_targets: int = Field(20, ge=0, le=100000, description="held-out benchmark targets searched")
        time_limit: float = Field(2.0, gt=0.0, description="search time limit per target (s)")
        max_iterations: int = Field(100000, ge=1, description="MCTS iteration limit per target")
        max_depth: int = Field(10, ge=1, le=30, description="maximum reactions on a route")
        max_routes: int = Field(3, ge=1, description="stop after this many routes")
        c_puct: float = Field(1.5, ge=0.0, description="UCT exploration constant c of the PUCT score")
        expansion_top_k: int = Field(50, ge=1, description="templates applied per expansion")
        rollout_depth: int = Field(0, ge=0, le=10, description="rollout steps (0: partial stock reward, no rollout)")
        use_filter: bool = Field(False, description="prune expansions with the in-scope filter network")
        filter_threshold: float = Field(0.5, ge=0.0, le=1.0, description="in-scope filter cut-off (probability)")
        seed: int = Field(0, ge=0, description="search seed (rollouts)")

    def search_config(self):
        from sciml_retro.search import SearchConfig

        c = self.config
        return SearchConfig(time_limit=c.time_limit, max_iterations=c.max_iterations, max_depth=c.max_depth,
                            max_routes=c.max_routes, c_puct=c.c_puct, expansion_top_k=c.expansion_top_k,
                            rollout_depth=c.rollout_depth, use_filter=c.use_filter,
                            filter_threshold=c.filter_threshold, seed=c.seed)

    def evaluate(self, model, data, reporter) -> dict:
        from sciml_retro.route import draw_route
        from sciml_retro.search import planner_from_model

        a = data.arrays
        test = np.flatnonzero(a["split"] == 2)
        acc = topk_accuracy(model, a["fps"][test], a["labels"][test])
        out: dict = {f"test_top{k}_accuracy": v for k, v in acc.items()}
        out["test_template_coverage"] = float((a["labels"][test] >= 0).mean()) if len(test) else 0.0
        out.update({f"data_{k}": v for k, v in data.summary().items()})
        out.update(filter_metrics(model, a))
        n = min(self.config.n_targets, len(data.targets))
        if n:
            planner = planner_from_model(model, data.stock, self.search_config())
            refs = [data.reference_route(i) for i in range(n)]
            rows = plan_targets(planner, data.targets[:n], refs)
            out.update({f"test_{k}": v for k, v in summarize_rows(rows).items()})
            out["targets"] = [{k: v for k, v in r.items() if k != "_result"} for r in rows]
            reporter.log_figure(solved_vs_time_figure(rows, self.config.time_limit), "solved_vs_time.png")
            solved = [r["_result"] for r in rows if r["solved"]]
            if solved:
                best = max(solved, key=lambda res: res.routes[0].n_steps)
                reporter.log_figure(draw_route(best.routes[0]), "route.png")
                out["example_route"] = best.routes[0].to_dict()
        return out
