"""Reaction data for retrosynthesis: templates, stock, reference routes and the route split.

From atom-mapped reactions (the committed USPTO/ORD set, or a user's file) this module builds:

* one rdchiral retro template per reaction (:mod:`sciml_retro.templates`);
* the stock: reactants that no reaction produces, plus common reagents (:mod:`sciml_retro.stock`);
* the shortest route inside the data of every product (number of reactions of the route tree,
  found by a Bellman-Ford style fixed point over ``cost(m) = 0`` for stock molecules and
  ``cost(p) = min_r 1 + sum_{m in reactants(r)} cost(m)``);
* the built-in benchmark: products whose shortest route has ``min_steps``..``max_steps`` steps;
* a split on routes: whole reference routes of randomly drawn benchmark targets go to ``test``, then
  the whole routes of other targets, sharing no reaction with ``test``, go to ``val``; neither their
  reactions nor templates seen only there reach training. The template library (classes of the
  expansion policy, Segler & Waller 2018: rules occurring >= K times) is counted on the training
  reactions only.

Duplicates are removed before the split (:func:`deduplicate`): the same reaction recorded under
several IDs (USPTO holds many: the same example in several patents) would otherwise sit on both
sides of it, and a held-out reaction would have an identical copy in training.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
from sciml import UserError

from sciml_retro.chem import canonical_smiles, inchikey
from sciml_retro.stock import COMMON_REAGENTS, Stock

DATA_DIR = Path(__file__).resolve().parent / "data"
BUILTIN_REACTIONS = DATA_DIR / "uspto_ord_mapped.jsonl.gz"


def load_mapped(path: str | Path | None = None) -> list[dict]:
    """Mapped reactions ``[{"id", "mapped", "confidence"}]`` from a JSON-lines file (``.gz`` accepted) as written
    by :mod:`sciml_retro.mapping`; default: the committed USPTO/ORD set. Rows whose mapping failed are dropped.

    ``confidence`` is RXNMapper's confidence of the atom mapping (the ``confidence`` field that
    ``RXNMapper.get_attention_guided_atom_maps`` returns, written by :mod:`sciml_retro.mapping`), in [0, 1];
    NaN when the file carries none. A plain reaction file (any layout of
    :func:`sciml_retro.reactions.load_reactions`) whose reaction SMILES already carry atom maps is accepted
    too; its confidences are NaN (unknown: the confidence filter keeps such reactions).

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
                    conf = row.get("confidence")
                    rows.append({"id": str(row.get("id", i)), "mapped": row["mapped"],
                                 "confidence": float(conf) if conf is not None else float("nan")})
    else:
        from sciml_retro.reactions import load_reactions, reaction_smiles

        for rec in load_reactions(path):
            rxn = reaction_smiles(rec)
            if ":" in rxn:
                rows.append({"id": rec["id"], "mapped": rxn, "confidence": float("nan")})
    if not rows:
        raise UserError(
            f"{str(path)!r} holds no atom-mapped reaction; map it first with "
            "'python -m sciml_retro.mapping INPUT OUTPUT.jsonl'"
        )
    return rows


def reaction_key(rxn: str) -> str | None:
    """Canonical reaction SMILES ``reactants>>product`` used to find duplicate reactions.

    Atom maps are removed, the agents field (``a>agents>p``) is dropped and, in an atom-mapped
    reaction, so are reactant-side molecules without any mapped atom (reagents, solvents, catalysts:
    they contribute no atom to the product). Each molecule is written as RDKit canonical SMILES and
    the reactants are sorted, so the key does not depend on molecule order or SMILES spelling.
    Returns None when RDKit cannot parse a molecule or the string is not ``reactants>agents>product``.
    """
    parts = rxn.split(">")
    if len(parts) != 3 or not parts[0] or not parts[2]:
        return None
    mols = [m for m in parts[0].split(".") if m]
    if ":" in rxn:
        mapped = [m for m in mols if _has_atom_map(m)]
        mols = mapped or mols
    reac = [canonical_smiles(m) for m in mols]
    prod = canonical_smiles(parts[2])
    if prod is None or any(r is None for r in reac):
        return None
    return ".".join(sorted(reac)) + ">>" + prod


def _has_atom_map(smiles: str) -> bool:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    return mol is not None and any(a.GetAtomMapNum() > 0 for a in mol.GetAtoms())


def deduplicate(table: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """Keep one reaction per canonical reaction SMILES (``table["keys"]``, see :func:`reaction_key`).

    The kept copy is the first in file order that has a template (else the first). Must run before
    any split: copies under other record IDs would otherwise land on both sides of it.

    Returns:
        ``(table without the duplicates, number of rows removed)``; row order is kept.
    """
    keys = table["keys"]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        j = first.get(k)
        if j is None or (not table["templates"][j] and table["templates"][i]):
            first[k] = i
    keep = np.array(sorted(first.values()), dtype=np.int64)
    return {name: col[keep] for name, col in table.items()}, int(len(keys) - len(keep))


def mapped_reactants(mapped_rxn: str) -> tuple[str, ...] | None:
    """Sorted canonical SMILES of the reactant-side molecules that give at least one atom to the product
    (the molecules a retro template regenerates; reagents and solvents give none), or None if unparsable."""
    from rdkit import Chem

    parts = mapped_rxn.split(">")
    if len(parts) != 3:
        return None
    prod = Chem.MolFromSmiles(parts[2])
    if prod is None:
        return None
    pmaps = {a.GetAtomMapNum() for a in prod.GetAtoms() if a.GetAtomMapNum()}
    out = []
    for smi in parts[0].split("."):
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            return None
        if any(a.GetAtomMapNum() in pmaps for a in mol.GetAtoms()):
            out.append(canonical_smiles(smi))
    return tuple(sorted(out)) if out else None


def _flat(smiles: tuple[str, ...]) -> tuple[str, ...]:
    """Stereo-free canonical SMILES of each molecule, sorted."""
    from rdkit import Chem

    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        out.append(Chem.MolToSmiles(mol, isomericSmiles=False) if mol is not None else s)
    return tuple(sorted(out))


def roundtrip_check(template: str, mapped_rxn: str) -> int:
    """rdchiral round trip of a template against the reaction it was extracted from.

    The retro template is applied to the recorded product (:func:`sciml_retro.templates.apply_template`);
    it passes when one outcome equals the recorded reactants that give atoms to the product
    (:func:`mapped_reactants`). Returns 2 = exact match, 1 = match only after removing stereo marks (the record
    gives stereo on one side only), 0 = the template does not regenerate its own reaction (a mis-mapping, an
    incomplete record or an extraction failure), -1 = no template.
    """
    from sciml_retro.templates import apply_template

    if not template:
        return -1
    recorded = mapped_reactants(mapped_rxn)
    product = canonical_smiles(mapped_rxn.split(">")[-1])
    if recorded is None or product is None:
        return 0
    outcomes = apply_template(template, product)
    if recorded in outcomes:
        return 2
    flat = _flat(recorded)
    return 1 if any(_flat(o) == flat for o in outcomes) else 0


def extract_table(rows: list[dict], progress=lambda it, **kw: it) -> dict[str, np.ndarray]:
    """Per reaction: canonical product, dot-joined canonical reactants, retro template ('' if none), the
    canonical reaction SMILES (:func:`reaction_key`), RXNMapper's mapping confidence (NaN if unknown) and
    the rdchiral round trip of the template (:func:`roundtrip_check`: 2, 1, 0 or -1).

    Returns arrays ``ids``, ``products``, ``reactants``, ``templates``, ``keys`` (str), ``confidence``
    (float64) and ``roundtrip`` (int8), each of shape ``(n_reactions,)``. Reactions whose product or
    reactants RDKit cannot parse are dropped.
    """
    from sciml_retro.templates import extract_template

    ids, prods, reacs, tpls, keys, conf, rt = [], [], [], [], [], [], []
    for row in progress(rows, total=len(rows), desc="templates"):
        parts = row["mapped"].split(">")
        if len(parts) != 3:
            continue
        prod = canonical_smiles(parts[2])
        reac = [canonical_smiles(s) for s in parts[0].split(".")]
        key = reaction_key(row["mapped"])
        if not prod or "." in prod or not reac or any(r is None for r in reac) or key is None:
            continue
        tpl = extract_template(row["mapped"], row["id"]) or ""
        ids.append(row["id"])
        prods.append(prod)
        reacs.append(".".join(sorted(reac)))
        tpls.append(tpl)
        keys.append(key)
        c = row.get("confidence")
        conf.append(float(c) if c is not None else float("nan"))
        rt.append(roundtrip_check(tpl, row["mapped"]))
    return {"ids": np.array(ids, dtype=str), "products": np.array(prods, dtype=str),
            "reactants": np.array(reacs, dtype=str), "templates": np.array(tpls, dtype=str),
            "keys": np.array(keys, dtype=str), "confidence": np.array(conf, dtype=np.float64),
            "roundtrip": np.array(rt, dtype=np.int8)}


def template_trust(table: dict, min_confidence: float = 0.0, roundtrip: bool = True) -> np.ndarray:
    """Boolean mask ``(n_reactions,)``: reactions whose template may enter the library.

    A reaction is kept when it has a template, its RXNMapper confidence is >= ``min_confidence`` (an unknown,
    NaN, confidence passes) and, with ``roundtrip``, its template regenerates its recorded reactants
    (:func:`roundtrip_check` >= 1).
    """
    has = np.array([bool(t) for t in table["templates"]], dtype=bool)
    conf = np.asarray(table.get("confidence", np.full(len(has), np.nan)), dtype=np.float64)
    keep = has & (np.isnan(conf) | (conf >= min_confidence))
    if roundtrip:
        keep &= np.asarray(table.get("roundtrip", np.full(len(has), 2)), dtype=np.int64) >= 1
    return keep


def filter_counts(table: dict, split, min_confidence: float, roundtrip: bool, min_count: int = 1) -> dict:
    """What each template filter removes from the training library (counted on training reactions, split 0).

    Returns ``{"library_unfiltered", "library", "removed_by_roundtrip", "removed_by_confidence",
    "reactions_failing_roundtrip", "reactions_below_confidence"}``: library sizes (templates with >= ``min_count``
    kept training reactions) and, per filter applied alone, the library templates it removes and the training
    reactions (with a template) it rejects.
    """
    train = np.asarray(split) == 0
    has = np.array([bool(t) for t in table["templates"]], dtype=bool) & train

    def lib(mask):
        return len(template_library(table["templates"], split, min_count, keep=mask)[0])

    full = lib(has)
    rt_only = template_trust(table, 0.0, True) & train
    conf_only = template_trust(table, min_confidence, False) & train
    both = template_trust(table, min_confidence, roundtrip) & train
    return {"library_unfiltered": full, "library": lib(both),
            "removed_by_roundtrip": full - lib(rt_only), "removed_by_confidence": full - lib(conf_only),
            "reactions_failing_roundtrip": int((has & ~rt_only).sum()),
            "reactions_below_confidence": int((has & ~conf_only).sum())}


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

    Benchmark targets are drawn in a seeded random order. The whole reference route of each goes to
    test until test holds ``test_fraction`` of the reactions; then the routes of the next targets whose
    reactions are all still unassigned go to validation until it holds ``val_fraction``. The rest is
    training. So validation targets are held out the way test targets are, and no reaction is shared
    between the validation and test routes.

    Returns ``{"split": int8 array (0 train, 1 val, 2 test), "targets"/"val_targets": [smiles...] (test /
    validation benchmark targets), "target_routes"/"val_target_routes": [[reaction idx...]...],
    "n_benchmark": int}``.
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
    order = list(rng.permutation(len(bench)))
    split = np.zeros(n, dtype=np.int8)
    chosen: dict[int, tuple[list, list]] = {2: ([], []), 1: ([], [])}
    pos = 0
    for code, fraction in ((2, test_fraction), (1, val_fraction)):
        goal = int(round(fraction * n))
        targets, routes = chosen[code]
        while pos < len(order) and int((split == code).sum()) < goal:
            k = bench[order[pos]]
            pos += 1
            route = route_reactions(k, best, pkeys, rkeys, stock)
            if code == 1 and (split[route] != 0).any():
                continue  # shares a reaction with a test route: not a separate validation target
            split[route] = code
            targets.append(key_to_smiles[k])
            routes.append(sorted(int(i) for i in route))
    return {"split": split, "targets": chosen[2][0], "target_routes": chosen[2][1],
            "val_targets": chosen[1][0], "val_target_routes": chosen[1][1], "n_benchmark": len(bench),
            "route_steps": [len(r) for r in chosen[2][1]]}


def template_library(templates, split, min_count: int, keep=None) -> tuple[list[str], np.ndarray, dict]:
    """Templates occurring >= ``min_count`` times among training reactions (most frequent first).

    ``keep`` (bool, shape ``(n_reactions,)``, optional; see :func:`template_trust`) restricts the count to the
    reactions whose template is trusted; a template is a class only through trusted training reactions.
    Returns ``(library, labels, counts)``: ``labels[i]`` = library index of reaction i's template or -1.
    """
    keep = np.ones(len(templates), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    counts = Counter(t for t, s, k in zip(templates, split, keep, strict=True) if t and s == 0 and k)
    library = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    index = {t: i for i, t in enumerate(library)}
    labels = np.array([index.get(t, -1) for t in templates], dtype=np.int64)
    return library, labels, counts


def precedents(table: dict, split, labels, library) -> list[list[list[str]]]:
    """Per library template, the training reactions it came from: ``[[[id, "reactants>>product"], ...], ...]``
    (canonical SMILES, no atom maps). Reactions are those of split 0 whose label is the template."""
    out: list[list[list[str]]] = [[] for _ in library]
    for i in np.flatnonzero((np.asarray(split) == 0) & (np.asarray(labels) >= 0)):
        out[int(labels[i])].append([str(table["ids"][i]), f"{table['reactants'][i]}>>{table['products'][i]}"])
    return out
