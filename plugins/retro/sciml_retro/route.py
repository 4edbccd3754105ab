"""Synthesis routes: a tree of molecule and reaction nodes, JSON round trip, text and an RDKit tree picture.

JSON layout (``Route.to_dict``): the reaction-tree dictionary of AiZynthFinder (``ReactionTree.to_dict`` /
``from_dict``: ``type``, ``smiles``, ``is_chemical``/``is_reaction``, ``in_stock``, ``hide``, ``metadata``,
``children``), so route tools of the field that read that layout read ours::

    {"target": SMILES, "n_steps": int, "log_prior": float, "score": float,
     "tree": {"type": "mol", "smiles": S, "is_chemical": true, "in_stock": bool, "hide": false,
              "children": [{"type": "reaction", "smiles": "A.B>>S", "is_reaction": true, "hide": false,
                            "template": SMARTS, "template_index": int, "prior": float, "step": int,
                            "metadata": {"template": SMARTS, "template_index": int, "policy_probability": float,
                                         "precedents": {...}},
                            "children": [{"type": "mol", ...}, ...]}]}}

A molecule node has at most one reaction child (the reaction chosen to make it); leaves are in stock
when the route is solved. Routes are ranked by ``score`` = log(product of template priors) - n_steps
(higher is better: fewer steps first, then the policy's confidence in them).

Precedents (``metadata.precedents`` of a reaction): the training reactions the step's template was
extracted from, ``{"n": count, "reactions": [{"id", "smiles"}, ...] (at most 5), "most_similar": {"id",
"smiles", "tanimoto"}}``; ``most_similar`` is, among those reactions, the one whose product is most similar
to the step's product (Tanimoto of Morgan fingerprints, radius 2, 2048 bits).
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

    def steps(self) -> list[dict]:
        """Reaction nodes in the order their step numbers give (target's reaction is step 1, depth first)."""
        out = []

        def walk(mol):
            for rx in mol.get("children", []):
                out.append(rx)
                for c in rx["children"]:
                    walk(c)

        walk(self.tree)
        return out

    def to_text(self) -> str:
        """Indented tree: each reaction (step number, template, prior, precedent) with its precursors under it;
        ``[stock]`` marks purchasable molecules, ``[made in step k]`` those made by a later step."""
        lines = [self.target]

        def walk(mol, pad):
            for rx in mol.get("children", []):
                prec = rx.get("metadata", {}).get("precedents") or {}
                sim = prec.get("most_similar")
                ptxt = (f"; precedent {sim['id']} (Tanimoto {sim['tanimoto']:.2f}) of {prec.get('n', 0)}"
                        if sim else "")
                lines.append(f"{pad}<= step {rx.get('step', '?')}: template #{rx['template_index']} "
                             f"(prior {rx['prior']:.3f}{ptxt})")
                if sim:
                    lines.append(f"{pad}   precedent: {sim['smiles']}")
                kids = rx["children"]
                for i, c in enumerate(kids):
                    last = i == len(kids) - 1
                    sub = c.get("children")
                    tag = " [stock]" if c.get("in_stock") else (
                        f" [made in step {sub[0].get('step', '?')}]" if sub else " [not in stock]")
                    lines.append(f"{pad}   {'└─' if last else '├─'} {c['smiles']}{tag}")
                    walk(c, pad + ("      " if last else "   │  "))

        walk(self.tree, "")
        return "\n".join(lines)


_FP_CACHE: dict[str, object] = {}


def _bitvect(smiles: str):
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    if smiles not in _FP_CACHE:
        mol = Chem.MolFromSmiles(smiles)
        gen = _FP_CACHE.setdefault("_gen", rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048))
        _FP_CACHE[smiles] = gen.GetFingerprint(mol) if mol is not None else None
    return _FP_CACHE[smiles]


def precedent_info(product: str, reactions: list, n_show: int = 5) -> dict:
    """Precedents of a step: ``reactions`` are the ``[id, "reactants>>product"]`` pairs its template came from.

    Returns ``{"n", "reactions" (first ``n_show``), "most_similar"}`` with ``most_similar`` the reaction whose
    product is closest to ``product`` (Tanimoto of Morgan fingerprints, radius 2, 2048 bits), or ``{}`` when
    there are none.
    """
    from rdkit import DataStructs

    if not reactions:
        return {}
    fp = _bitvect(product)
    best, best_sim = None, -1.0
    for rid, rxn in reactions:
        other = _bitvect(rxn.split(">")[-1])
        sim = DataStructs.TanimotoSimilarity(fp, other) if fp is not None and other is not None else 0.0
        if sim > best_sim:
            best, best_sim = (rid, rxn), sim
    return {"n": len(reactions), "reactions": [{"id": r, "smiles": x} for r, x in reactions[:n_show]],
            "most_similar": {"id": best[0], "smiles": best[1], "tanimoto": round(float(best_sim), 4)}}


def build_route(target: str, actions: list[dict], templates, in_stock, precedents=None) -> Route:
    """Route tree from MCTS actions ``[{"product", "precursors", "template_index", "prior"}, ...]``.

    ``precedents`` (optional): per template, the ``[id, reaction SMILES]`` training reactions it came from
    (:func:`sciml_retro.data.precedents`); each reaction node then carries :func:`precedent_info`.
    """
    by_product = {a["product"]: a for a in actions}
    counter = [0]

    def mol_node(smi, seen):
        node = {"type": "mol", "smiles": smi, "is_chemical": True, "in_stock": bool(in_stock(smi)), "hide": False,
                "children": []}
        a = by_product.get(smi)
        if a is not None and smi not in seen:
            counter[0] += 1
            j = int(a["template_index"])
            template = templates[j] if templates else ""
            meta = {"template": template, "template_index": j, "policy_probability": float(a["prior"])}
            if precedents:
                meta["precedents"] = precedent_info(smi, precedents[j] if j < len(precedents) else [])
            rx = {"type": "reaction", "smiles": ".".join(a["precursors"]) + ">>" + smi, "is_reaction": True,
                  "hide": False, "template": template, "template_index": j, "prior": float(a["prior"]),
                  "step": counter[0], "metadata": meta, "children": []}
            node["children"].append(rx)
            rx["children"] = [mol_node(p, seen | {smi}) for p in a["precursors"]]
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


def _layout(tree: dict):
    """Positions of a route tree drawn left (target) to right (leaves): ``(mols, reactions)`` where ``mols`` is
    ``[(x, y, node)]`` and ``reactions`` is ``[(x, y, node, parent_xy, children_xy)]``."""
    mols, reactions = [], []
    next_leaf = [0.0]

    def place(mol, depth):
        kids = mol.get("children", [])
        if not kids:
            y = next_leaf[0]
            next_leaf[0] += 1.0
            mols.append((2.0 * depth, y, mol))
            return y
        rx = kids[0]
        ys = [place(c, depth + 1) for c in rx["children"]]
        y = sum(ys) / len(ys)
        mols.append((2.0 * depth, y, mol))
        reactions.append((2.0 * depth + 1.0, y, rx, (2.0 * depth, y), [(2.0 * depth + 2.0, yc) for yc in ys]))
        return y

    place(tree, 0)
    return mols, reactions


def draw_route(route: Route, ax=None, mol_px: int = 300):
    """The route as an AND-OR tree: the target on the left, each reaction (OR choice, a dot labelled with its step
    and template) joined to all of its precursors (AND), leaves framed green when in stock, red when not.

    Returns a ``matplotlib.figure.Figure`` (Agg backend) — ``fig.savefig("route.png")``; with ``ax`` given,
    draws into it and returns its figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols, reactions = _layout(route.tree)
    width = max(x for x, _, _ in mols) + 1.0
    height = max(y for _, y, _ in mols) + 1.0
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.9 * width + 1.0, 1.9 * height + 0.6))
    else:
        fig = ax.figure
    ax.set_xlim(-0.9, width - 0.1)
    ax.set_ylim(height - 0.35, -0.65)
    ax.axis("off")
    for x, y, rx, (px, py), kids in reactions:
        ax.plot([px + 0.45, x], [py, y], color="0.4", lw=1)
        for kx, ky in kids:
            ax.plot([x, x, kx - 0.45], [y, ky, ky], color="0.4", lw=1)
        ax.plot([x], [y], "o", color="tab:blue", ms=6)
        ax.annotate(f"step {rx.get('step', '?')}\n#{rx['template_index']}", (x, y), xytext=(0, 8),
                    textcoords="offset points", ha="center", va="bottom", fontsize=7)
    for x, y, node in mols:
        mol = Chem.MolFromSmiles(node["smiles"])
        if mol is None:
            continue
        img = np.asarray(Draw.MolToImage(mol, size=(mol_px, mol_px)))
        leaf = not node.get("children")
        color = ("tab:green" if node.get("in_stock") else "tab:red") if leaf else "0.6"
        box = AnnotationBbox(OffsetImage(img, zoom=0.3), (x, y), frameon=True,
                             bboxprops={"edgecolor": color, "linewidth": 2 if leaf else 1})
        ax.add_artist(box)
    ax.set_title(f"{route.n_steps} step(s), score {route.score:.2f}   (green: in stock, red: not in stock)",
                 fontsize=8)
    return fig


def draw_routes(routes: list[Route], max_routes: int = 5):
    """All ``routes`` (at most ``max_routes``) as AND-OR trees, one panel per route, best first.

    Returns a ``matplotlib.figure.Figure``, or None when there is no route.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes = routes[:max_routes]
    if not routes:
        return None
    sizes = []
    for r in routes:
        mols, _ = _layout(r.tree)
        sizes.append((max(x for x, _, _ in mols) + 1.0, max(y for _, y, _ in mols) + 1.0))
    width = max(w for w, _ in sizes)
    fig, axes = plt.subplots(len(routes), 1, figsize=(1.9 * width + 1.0, sum(1.9 * h + 0.6 for _, h in sizes)),
                             gridspec_kw={"height_ratios": [h for _, h in sizes]}, squeeze=False)
    for k, (r, ax) in enumerate(zip(routes, axes[:, 0], strict=True), 1):
        draw_route(r, ax=ax)
        ax.set_xlim(-0.9, width - 0.1)
        title = ax.get_title()
        ax.set_title("")
        ax.set_title(f"route {k}: {title}", fontsize=9, loc="left")
    fig.tight_layout()
    return fig
