"""Synthesis routes: a tree of molecule and reaction nodes, JSON round trip and an RDKit picture.

JSON layout (``Route.to_dict``)::

    {"target": SMILES, "n_steps": int, "log_prior": float, "score": float,
     "tree": {"type": "mol", "smiles": S, "in_stock": bool,
              "children": [{"type": "reaction", "smiles": "A.B>>S", "template": SMARTS,
                            "template_index": int, "prior": float,
                            "children": [{"type": "mol", ...}, ...]}]}}

A molecule node has at most one reaction child (the reaction chosen to make it); leaves are in stock
when the route is solved. ``score`` = log(product of template priors) - n_steps (higher is better).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from sciml import UserError


@dataclass
class Route:
    target: str
    tree: dict
    n_steps: int
    log_prior: float

    @property
    def score(self) -> float:
        return self.log_prior - self.n_steps

    def to_dict(self) -> dict:
        return {"target": self.target, "n_steps": self.n_steps, "log_prior": self.log_prior,
                "score": self.score, "tree": self.tree}

    @classmethod
    def from_dict(cls, d: dict) -> Route:
        """Inverse of :meth:`to_dict`. Raises UserError if keys are missing."""
        try:
            return cls(target=d["target"], tree=d["tree"], n_steps=int(d["n_steps"]), log_prior=float(d["log_prior"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"not a route JSON object (missing or bad {exc})") from None

    def reactions(self) -> list[tuple[str, str]]:
        """``[(product, dot-joined sorted precursors)]`` in depth-first order."""
        out = []

        def walk(mol):
            for rx in mol.get("children", []):
                out.append((mol["smiles"], ".".join(sorted(c["smiles"] for c in rx["children"]))))
                for c in rx["children"]:
                    walk(c)

        walk(self.tree)
        return out

    def signature(self) -> frozenset:
        return frozenset(self.reactions())

    def leaves(self) -> list[str]:
        out = []

        def walk(mol):
            if not mol.get("children"):
                out.append(mol["smiles"])
            for rx in mol.get("children", []):
                for c in rx["children"]:
                    walk(c)

        walk(self.tree)
        return out

    def to_text(self) -> str:
        """Indented text form: one line per molecule and reaction."""
        lines = []

        def walk(mol, ind):
            tag = " [stock]" if mol.get("in_stock") else ""
            lines.append(f"{'  ' * ind}{mol['smiles']}{tag}")
            for rx in mol.get("children", []):
                lines.append(f"{'  ' * ind}  <= template #{rx['template_index']} (prior {rx['prior']:.3f})")
                for c in rx["children"]:
                    walk(c, ind + 2)

        walk(self.tree, 0)
        return "\n".join(lines)


def build_route(target: str, actions: list[dict], templates, in_stock) -> Route:
    """Route tree from MCTS actions ``[{"product", "precursors", "template_index", "prior"}, ...]``."""
    by_product = {a["product"]: a for a in actions}

    def mol_node(smi, seen):
        node = {"type": "mol", "smiles": smi, "in_stock": bool(in_stock(smi)), "children": []}
        a = by_product.get(smi)
        if a is not None and smi not in seen:
            node["children"].append({
                "type": "reaction", "smiles": ".".join(a["precursors"]) + ">>" + smi,
                "template": templates[a["template_index"]] if templates else "",
                "template_index": int(a["template_index"]), "prior": float(a["prior"]),
                "children": [mol_node(p, seen | {smi}) for p in a["precursors"]]})
        return node

    log_prior = sum(math.log(max(a["prior"], 1e-12)) for a in actions)
    return Route(target=target, tree=mol_node(target, frozenset()), n_steps=len(actions), log_prior=log_prior)


def save_routes(routes: list[Route], path, extra: dict | None = None) -> None:
    """Write ``{"routes": [...], **extra}`` as JSON."""
    Path(path).write_text(json.dumps({**(extra or {}), "routes": [r.to_dict() for r in routes]}, indent=1))


def load_routes(path) -> list[Route]:
    """Read routes written by :func:`save_routes` (or one route object). Raises UserError on bad files."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"route file {str(path)!r} cannot be read as JSON ({exc})") from None
    items = data.get("routes", [data]) if isinstance(data, dict) else data
    return [Route.from_dict(d) for d in items]


def draw_route(route: Route, step_size=(700, 180)):
    """A matplotlib figure with one RDKit reaction drawing per step (target's step on top).

    Returns a ``matplotlib.figure.Figure`` (Agg backend) — ``fig.savefig("route.png")``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from rdkit.Chem import Draw, rdChemReactions

    steps = route.reactions()
    n = max(len(steps), 1)
    fig, axes = plt.subplots(n, 1, figsize=(step_size[0] / 100, step_size[1] / 100 * n + 0.4), squeeze=False)
    for ax, k in zip(axes[:, 0], range(n), strict=True):
        ax.axis("off")
        if not steps:
            img = Draw.MolToImage(__import__("rdkit.Chem", fromlist=["MolFromSmiles"]).MolFromSmiles(route.target),
                                  size=(step_size[1], step_size[1]))
            ax.set_title("target in stock", fontsize=8)
        else:
            prod, pre = steps[k]
            rxn = rdChemReactions.ReactionFromSmarts(f"{pre}>>{prod}", useSmiles=True)
            img = Draw.ReactionToImage(rxn, subImgSize=(step_size[1], step_size[1] - 20))
            ax.set_title(f"step {k + 1}: precursors >> product", fontsize=8)
        ax.imshow(np.asarray(img))
    fig.suptitle(f"route: {route.n_steps} steps, score {route.score:.2f}", fontsize=9)
    fig.tight_layout()
    return fig
