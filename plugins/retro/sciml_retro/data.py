"""Reaction data for retrosynthesis: templates, stock, reference routes and the route split.

From atom-mapped reactions (the committed USPTO/ORD set, or a user's file) this module builds:

* one rdchiral retro template per reaction (:mod:`sciml_retro.templates`);
* the stock: reactants that no reaction produces, plus common reagents (:mod:`sciml_retro.stock`);
* the shortest route inside the data of every product (number of reactions of the route tree,
  found by a Bellman-Ford style fixed point over ``cost(m) = 0`` for stock molecules and
  ``cost(p) = min_r 1 + sum_{m in reactants(r)} cost(m)``);
* the built-in benchmark: products whose shortest route has ``min_steps``..``max_steps`` steps;
* a split on routes: whole reference routes of randomly drawn benchmark targets go to ``test``,
  so neither their reactions nor templates seen only there reach training; the template library
  (classes of the expansion policy, Segler & Waller 2018: rules occurring >= K times) is counted on
  the training reactions only.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
from sciml.errors import UserError

from sciml_retro.chem import canonical_smiles, inchikey
from sciml_retro.stock import COMMON_REAGENTS, Stock

DATA_DIR = Path(__file__).resolve().parent / "data"
BUILTIN_REACTIONS = DATA_DIR / "uspto_ord_mapped.jsonl.gz"


def load_mapped(path: str | Path | None = None) -> list[dict]:
    """Mapped reactions ``[{"id", "mapped", ...}]`` from a JSON-lines file (``.gz`` accepted) as written by
    :mod:`sciml_retro.mapping`; default: the committed USPTO/ORD set. Rows whose mapping failed are dropped.

    A plain reaction file (any layout of :func:`sciml_retro.reactions.load_reactions`) whose reaction SMILES
    already carry atom maps is accepted too.

    Raises:
        UserError: missing file or no mapped reaction in it.
    """
    path = Path(path) if path else BUILTIN_REACTIONS
    if not path.is_file():
        raise UserError(f"mapped reaction file {str(path)!r} does not exist")
    rows: list[dict] = []
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise UserError(f"{path}:{i} is not a JSON line") from None
                if row.get("mapped"):
                    rows.append({"id": str(row.get("id", i)), "mapped": row["mapped"]})
    else:
        from sciml_retro.reactions import load_reactions, reaction_smiles

        for rec in load_reactions(path):
            rxn = reaction_smiles(rec)
            if ":" in rxn:
                rows.append({"id": rec["id"], "mapped": rxn})
    if not rows:
        raise UserError(
            f"{str(path)!r} holds no atom-mapped reaction; map it first with "
            "'python -m sciml_retro.mapping INPUT OUTPUT.jsonl'"
        )
    return rows


def extract_table(rows: list[dict], progress=lambda it, **kw: it) -> dict[str, np.ndarray]:
    """Per reaction: canonical product, dot-joined canonical reactants, retro template ('' if none).

    Returns string arrays ``ids``, ``products``, ``reactants``, ``templates`` of shape ``(n_reactions,)``.
    Reactions whose product or reactants RDKit cannot parse are dropped.
    """
    from sciml_retro.templates import extract_template

    ids, prods, reacs, tpls = [], [], [], []
    for row in progress(rows, total=len(rows), desc="templates"):
        parts = row["mapped"].split(">")
        if len(parts) != 3:
            continue
        prod = canonical_smiles(parts[2])
        reac = [canonical_smiles(s) for s in parts[0].split(".")]
        if not prod or "." in prod or not reac or any(r is None for r in reac):
            continue
        tpl = extract_template(row["mapped"], row["id"]) or ""
        ids.append(row["id"])
        prods.append(prod)
        reacs.append(".".join(sorted(reac)))
        tpls.append(tpl)
    return {"ids": np.array(ids), "products": np.array(prods), "reactants": np.array(reacs), "templates": np.array(tpls)}


def builtin_stock(products, reactants, extra=COMMON_REAGENTS) -> Stock:
    """Reactants that no reaction produces (by InChIKey), plus ``extra`` SMILES."""
    produced = {inchikey(p) for p in products}
    stock = Stock()
    for rs in reactants:
        for r in rs.split("."):
            k = inchikey(r)
            if k is not None and k not in produced:
                stock.keys.add(k)
    stock.add_smiles(extra)
    return stock


def shortest_routes(products, reactants, stock: Stock, max_rounds: int = 50) -> tuple[dict, dict]:
    """Shortest route inside the data of every product.

    Returns ``(cost, best)``: ``cost[inchikey]`` = number of reactions of the cheapest route tree
    (0 for stock, missing when no route exists) and ``best[inchikey]`` = index of the reaction that
    makes it on that route.
    """
    pkeys = [inchikey(p) for p in products]
    rkeys = [[inchikey(r) for r in rs.split(".")] for rs in reactants]
    inf = float("inf")
    cost: dict[str, float] = {}

    def c(k):
        if k in stock.keys:
            return 0.0
        return cost.get(k, inf)

    best: dict[str, int] = {}
    for _ in range(max_rounds):
        changed = False
        for i, (pk, rks) in enumerate(zip(pkeys, rkeys, strict=True)):
            if pk is None or pk in stock.keys or any(k is None or k == pk for k in rks):
                continue
            total = 1.0 + sum(c(k) for k in rks)
            if total < cost.get(pk, inf):
                cost[pk] = total
                best[pk] = i
                changed = True
        if not changed:
            break
    return {k: int(v) for k, v in cost.items() if v < inf}, best


def route_reactions(key: str, best: dict, pkeys: list, rkeys: list, stock: Stock) -> list[int]:
    """Reaction indices of the reference route of the molecule with InChIKey ``key`` (depth first, deduplicated)."""
    out: list[int] = []
    stack, seen = [key], set()
    while stack:
        k = stack.pop()
        if k in seen or k in stock.keys or k not in best:
            continue
        seen.add(k)
        i = best[k]
        out.append(i)
        stack.extend(rkeys[i])
    return out


def route_split(table: dict, stock: Stock, *, min_steps=2, max_steps=10, test_fraction=0.1,
                val_fraction=0.1, seed=0) -> dict:
    """Split reactions on routes (see module doc).

    Returns ``{"split": int8 array (0 train, 1 val, 2 test), "targets": [smiles...], "target_routes":
    [[reaction idx...]...], "n_benchmark": int}``; ``targets`` are the held-out benchmark targets (all of
    whose reference-route reactions are in test).
    """
    products, reactants = list(table["products"]), list(table["reactants"])
    n = len(products)
    cost, best = shortest_routes(products, reactants, stock)
    pkeys = [inchikey(p) for p in products]
    rkeys = [[inchikey(r) for r in rs.split(".")] for rs in reactants]
    key_to_smiles = {}
    for p, k in zip(products, pkeys, strict=True):
        key_to_smiles.setdefault(k, p)
    bench = sorted(k for k, v in cost.items() if min_steps <= v <= max_steps)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(bench))
    split = np.zeros(n, dtype=np.int8)
    n_test_goal = int(round(test_fraction * n))
    targets, target_routes = [], []
    for j in order:
        if int((split == 2).sum()) >= n_test_goal:
            break
        k = bench[j]
        route = route_reactions(k, best, pkeys, rkeys, stock)
        split[route] = 2
        targets.append(key_to_smiles[k])
        target_routes.append(sorted(int(i) for i in route))
    rest = np.flatnonzero(split == 0)
    val = rng.choice(rest, size=int(round(val_fraction * n)), replace=False) if len(rest) else rest
    split[val] = 1
    return {"split": split, "targets": targets, "target_routes": target_routes, "n_benchmark": len(bench),
            "route_steps": [len(r) for r in target_routes]}


def template_library(templates, split, min_count: int) -> tuple[list[str], np.ndarray, dict]:
    """Templates occurring >= ``min_count`` times among training reactions (most frequent first).

    Returns ``(library, labels, counts)``: ``labels[i]`` = library index of reaction i's template or -1.
    """
    counts = Counter(t for t, s in zip(templates, split, strict=True) if t and s == 0)
    library = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    index = {t: i for i, t in enumerate(library)}
    labels = np.array([index.get(t, -1) for t in templates], dtype=np.int64)
    return library, labels, counts
