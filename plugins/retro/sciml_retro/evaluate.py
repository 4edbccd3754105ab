"""The ``retro:planning`` Evaluator: template top-k accuracy and MCTS solved rate on held-out targets.

Metrics (keys as logged), each for the validation (``val_``) and the test (``test_``) split; both are
held out on whole reference routes (:func:`sciml_retro.data.route_split`). The pipeline selects on
``val_solved_rate``; the ``test_`` figures are reported, never used to choose.

* ``{split}_top{k}_accuracy`` — fraction of held-out reactions whose recorded template is among
  the policy's top k; reactions whose template is not in the library count as misses.
  ``{split}_template_coverage`` is the fraction that is in the library at all.
* ``{split}_solved_rate`` — fraction of the first ``n_targets`` held-out benchmark targets for which
  3N-MCTS finds a route to stock within ``time_limit`` seconds each (Segler & Waller 2018 report solved
  rates at fixed time limits per target). The target itself is taken out of the stock
  (``keep_target_in_stock`` keeps it).
* ``{split}_time_to_first_s`` — mean wall time (s) to the first solution over solved targets.
* ``{split}_reference_found_rate`` — fraction of targets for which one of the returned routes has exactly
  the reactions of the reference route in the data.

Baseline (:meth:`PlanningEvaluator.baselines`): ``template_frequency``, the same search, limits, targets,
stock and template library with the policy network replaced by the training frequency of the templates
that match the molecule (:class:`sciml_retro.search.FrequencyExpander`).
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


def solved_vs_time_figure(curves, time_limit):
    """Fraction of targets solved against search time (s), one step line per ``{label: rows}`` entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for label, rows in curves.items():
        times = np.sort([r["time_to_first_s"] for r in rows if r["solved"]])
        xs = np.concatenate([[0.0], times, [time_limit]])
        ys = np.concatenate([[0.0], np.arange(1, len(times) + 1), [len(times)]]) / max(len(rows), 1)
        ax.step(xs, ys, where="post", label=f"{label} ({len(rows)} targets)",
                linestyle="--" if "frequency" in label else "-")
    ax.set_xlabel("search time per target (s)")
    ax.set_ylabel("fraction of targets solved")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("3N-MCTS on held-out targets (target not in stock)", fontsize=9)
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
    """Top-k template accuracy + MCTS solved rate on the validation and test benchmark targets, and the
    template-frequency baseline (see module doc)."""

    SPLITS = (("val", 1), ("test", 2))

    class Config(sciml.ComponentConfig):
        n_targets: int = Field(20, ge=0, le=100000, description="held-out benchmark targets searched per split "
                               "(validation and test), for the model and for the baseline")
        time_limit: float = Field(2.0, gt=0.0, description="search time limit per target (s)")
        max_iterations: int = Field(100000, ge=1, description="MCTS iteration limit per target")
        max_depth: int = Field(10, ge=1, le=30, description="maximum reactions on a route")
        max_routes: int = Field(3, ge=1, description="stop after this many routes")
        c_puct: float = Field(1.5, ge=0.0, description="UCT exploration constant c of the PUCT score")
        expansion_top_k: int = Field(50, ge=1, description="templates applied per expansion")
        rollout_depth: int = Field(0, ge=0, le=10, description="rollout steps (0: partial stock reward, no rollout)")
        use_filter: bool = Field(False, description="prune expansions with the in-scope filter network")
        filter_threshold: float = Field(0.5, ge=0.0, le=1.0, description="in-scope filter cut-off (probability)")
        keep_target_in_stock: bool = Field(False, description="let a target that is in the stock count as solved "
                                           "with 0 steps (default: the target is taken out of the stock)")
        baseline: bool = Field(True, description="also search with the template-frequency prior (baseline)")
        seed: int = Field(0, ge=0, description="search seed (rollouts)")

    def search_config(self):
        from sciml_retro.search import SearchConfig

        c = self.config
        return SearchConfig(time_limit=c.time_limit, max_iterations=c.max_iterations, max_depth=c.max_depth,
                            max_routes=c.max_routes, c_puct=c.c_puct, expansion_top_k=c.expansion_top_k,
                            rollout_depth=c.rollout_depth, use_filter=c.use_filter,
                            filter_threshold=c.filter_threshold, seed=c.seed,
                            keep_target_in_stock=c.keep_target_in_stock)

    def _plan_split(self, planner, data, split: str) -> list[dict]:
        targets, _ = data.benchmark(split)
        n = min(self.config.n_targets, len(targets))
        refs = [data.reference_route(i, split) for i in range(n)]
        return plan_targets(planner, targets[:n], refs)

    def evaluate(self, model, data, reporter) -> dict:
        from sciml_retro.route import draw_routes
        from sciml_retro.search import planner_from_model

        a = data.arrays
        out: dict = {}
        for split, code in self.SPLITS:
            idx = np.flatnonzero(a["split"] == code)
            acc = topk_accuracy(model, a["fps"][idx], a["labels"][idx])
            out.update({f"{split}_top{k}_accuracy": v for k, v in acc.items()})
            out[f"{split}_template_coverage"] = float((a["labels"][idx] >= 0).mean()) if len(idx) else 0.0
        out.update({f"data_{k}": v for k, v in data.summary().items()})
        out.update(filter_metrics(model, a))
        self._rows = {}
        if self.config.n_targets:
            planner = planner_from_model(model, data.stock, self.search_config())
            for split, _ in self.SPLITS:
                rows = self._plan_split(planner, data, split)
                self._rows[split] = rows
                out.update({f"{split}_{k}": v for k, v in summarize_rows(rows).items()})
                out[f"{split}_targets"] = [{k: v for k, v in r.items() if k != "_result"} for r in rows]
            self._reporter = reporter
            reporter.draw_figure("solved_vs_time.png", solved_vs_time_figure,
                                 {f"policy, {s}": r for s, r in self._rows.items()}, self.config.time_limit)
            solved = [r["_result"] for r in self._rows.get("test", []) if r["solved"]]
            if solved:
                best = max(solved, key=lambda res: res.routes[0].n_steps)
                reporter.draw_figure("route.png", draw_routes, best.routes)
                out["example_route"] = best.routes[0].to_dict()
        return out

    def baselines(self, model, data, results) -> dict:
        """``template_frequency``: the same search (limits, targets, stock, library) with the prior of each
        template set to its training frequency among the templates matching the molecule, no network.

        Returns ``{"template_frequency": {"val_solved_rate", "test_solved_rate", "{split}_time_to_first_s",
        "{split}_reference_found_rate", "{split}_mean_iterations"}}``; empty when ``n_targets`` is 0 or
        ``baseline`` is off.
        """
        from sciml_retro.search import frequency_planner

        if not self.config.n_targets or not self.config.baseline:
            return {}
        planner = frequency_planner(data.library, data.template_counts(), data.stock, self.search_config())
        values: dict[str, float] = {}
        rows_by_split = {}
        for split, _ in self.SPLITS:
            rows = self._plan_split(planner, data, split)
            rows_by_split[split] = rows
            values.update({f"{split}_{k}": v for k, v in summarize_rows(rows).items()})
        reporter = getattr(self, "_reporter", None)
        if reporter is not None and getattr(self, "_rows", None):
            curves = {f"policy, {s}": r for s, r in self._rows.items()}
            curves.update({f"template frequency, {s}": r for s, r in rows_by_split.items()})
            reporter.draw_figure("solved_vs_time.png", solved_vs_time_figure, curves, self.config.time_limit)
        return {"template_frequency": values}
