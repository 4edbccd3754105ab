"""Retro reaction rules (templates) from atom-mapped reactions, with rdchiral.

Segler & Waller (Nature 555, 604, 2018; "Training the policies": rules extracted from reactions —
the reaction centre plus first neighbours, kept if they occur at least K times) is implemented with
rdchiral's extractor (Coley et al. 2019), which writes retro templates ``product>>reactants``.

Gotcha handled here: atoms that carry a map number in the reactants but do not appear in the
product (leaving groups) make rdchiral fail later (KeyError in ``rdchiralRun``), so their map
numbers are cleared before extraction. Extraction and application never raise for chemistry
reasons: failures return None / an empty list.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rdkit import Chem

from sciml_retro.chem import canonical_smiles

_MAP_RE = re.compile(r":(\d+)\]")


def clear_unmapped_reactant_maps(mapped_rxn: str) -> str | None:
    """``reactants>>product`` with the map numbers of reactant atoms absent from the product set to 0.

    Returns None if a side cannot be parsed. Agents (middle field) are dropped.
    """
    parts = mapped_rxn.split(">")
    if len(parts) != 3:
        return None
    reac = Chem.MolFromSmiles(parts[0])
    prod = Chem.MolFromSmiles(parts[2])
    if reac is None or prod is None:
        return None
    prod_maps = {a.GetAtomMapNum() for a in prod.GetAtoms() if a.GetAtomMapNum()}
    for atom in reac.GetAtoms():
        if atom.GetAtomMapNum() not in prod_maps:
            atom.SetAtomMapNum(0)
    return Chem.MolToSmiles(reac) + ">>" + Chem.MolToSmiles(prod)


def extract_template(mapped_rxn: str, rid: str = "0") -> str | None:
    """rdchiral retro template (SMARTS ``product>>reactants``) of one atom-mapped reaction, or None.

    None when the reaction cannot be parsed, has no changed atoms, or rdchiral fails.
    """
    from rdchiral.template_extractor import extract_from_reaction

    cleaned = clear_unmapped_reactant_maps(mapped_rxn)
    if cleaned is None:
        return None
    reactants, product = cleaned.split(">>")
    try:
        out = extract_from_reaction({"reactants": reactants, "products": product, "_id": rid})
    except Exception:  # noqa: BLE001 - rdchiral raises assorted errors on odd reactions
        return None
    if not isinstance(out, dict):
        return None
    smarts = out.get("reaction_smarts")
    if not smarts or ">>" not in smarts:
        return None
    # templates must be usable: rdchiral must accept them
    if _rdchiral_reaction(smarts) is None:
        return None
    return smarts


@lru_cache(maxsize=50_000)
def _rdchiral_reaction(template: str):
    from rdchiral.main import rdchiralReaction

    try:
        return rdchiralReaction(template)
    except Exception:  # noqa: BLE001
        return None


@lru_cache(maxsize=20_000)
def _rdchiral_reactants(smiles: str):
    from rdchiral.main import rdchiralReactants

    try:
        return rdchiralReactants(smiles)
    except Exception:  # noqa: BLE001
        return None


@lru_cache(maxsize=50_000)
def _product_query(template: str):
    """Product side of a retro template as an RDKit query (substructure pre-screen), or None."""
    return Chem.MolFromSmarts(template.split(">>")[0])


@lru_cache(maxsize=20_000)
def _mol(smiles: str):
    mol = Chem.MolFromSmiles(smiles)
    if mol is not None:
        mol.UpdatePropertyCache(strict=False)
    return mol


def apply_template(template: str, product: str) -> list[tuple[str, ...]]:
    """Apply a retro template to a product SMILES.

    Returns the distinct precursor sets, each a sorted tuple of canonical SMILES (``[]`` if the
    template does not match or rdchiral fails). Outcomes containing the product itself are dropped.
    """
    from rdchiral.main import rdchiralRun

    query, mol = _product_query(template), _mol(product)
    if query is None or mol is None or not mol.HasSubstructMatch(query):
        return []  # cheap pre-screen: rdchiral would find no match either
    rxn = _rdchiral_reaction(template)
    reactants = _rdchiral_reactants(product)
    if rxn is None or reactants is None:
        return []
    try:
        outcomes = rdchiralRun(rxn, reactants, combine_enantiomers=True)
    except Exception:  # noqa: BLE001 - rdchiral raises on some template/molecule pairs
        return []
    product_can = canonical_smiles(product)
    results: list[tuple[str, ...]] = []
    for outcome in outcomes:
        mols = []
        for smi in outcome.split("."):
            can = canonical_smiles(smi)
            if can is None:
                mols = None
                break
            mols.append(can)
        if not mols or product_can in mols:
            continue
        tup = tuple(sorted(mols))
        if tup not in results:
            results.append(tup)
    return results
