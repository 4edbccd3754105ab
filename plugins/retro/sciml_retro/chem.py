"""Molecule handling shared by the plugin: canonical SMILES, InChIKeys, Morgan fingerprints.

Stock membership and molecule identity are decided by InChIKey (standard InChI, 27 characters),
so tautomer-insensitive spelling differences of one SMILES do not matter. Fingerprints are the
Morgan/ECFP fingerprints the expansion policy of Segler & Waller (Nature 555, 604, 2018) reads:
radius 2 (ECFP4), folded to ``n_bits`` bits.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import rdFingerprintGenerator
from sciml import UserError

RDLogger.DisableLog("rdApp.*")


@lru_cache(maxsize=200_000)
def canonical_smiles(smiles: str) -> str | None:
    """RDKit canonical SMILES (atom-map numbers removed), or None if RDKit cannot parse it."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
    return Chem.MolToSmiles(mol)


@lru_cache(maxsize=200_000)
def inchikey(smiles: str) -> str | None:
    """Standard InChIKey of a SMILES, or None if it cannot be parsed / has no InChI."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    key = Chem.MolToInchiKey(mol)
    return key or None


def parse_target(smiles: str) -> str:
    """Canonical SMILES of a user's target molecule.

    Raises:
        UserError: if ``smiles`` is empty, is a reaction, or RDKit cannot parse it.
    """
    if not isinstance(smiles, str) or not smiles.strip():
        raise UserError("target SMILES is empty; give one molecule, e.g. 'CC(=O)Nc1ccc(O)cc1'")
    if ">" in smiles:
        raise UserError(f"target {smiles!r} is a reaction SMILES; give one molecule SMILES")
    can = canonical_smiles(smiles.strip())
    if can is None or not can:
        raise UserError(f"target {smiles!r} is not a valid SMILES (RDKit cannot parse it)")
    return can


_GENERATORS: dict[tuple[int, int], object] = {}


def morgan_fingerprint(smiles: str, radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Morgan fingerprint bits of a molecule, shape ``(n_bits,)``, dtype uint8 (0/1).

    Raises:
        UserError: if RDKit cannot parse ``smiles``.
    """
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise UserError(f"{smiles!r} is not a valid SMILES (RDKit cannot parse it)")
    key = (radius, n_bits)
    if key not in _GENERATORS:
        _GENERATORS[key] = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return _GENERATORS[key].GetFingerprintAsNumPy(mol).astype(np.uint8)


def reaction_fingerprint(product: str, reactants: list[str], radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Difference fingerprint ``fp(product) - sum(fp(reactants))`` (counts clipped to [-1, 1]),
    shape ``(n_bits,)`` float32 — the reaction representation of the in-scope filter network."""
    fp = morgan_fingerprint(product, radius, n_bits).astype(np.float32)
    for r in reactants:
        fp -= morgan_fingerprint(r, radius, n_bits)
    return np.clip(fp, -1.0, 1.0)


def heavy_atoms(smiles: str) -> int:
    """Number of heavy atoms (0 if unparsable)."""
    mol = Chem.MolFromSmiles(smiles)
    return mol.GetNumHeavyAtoms() if mol is not None else 0
