"""Loading users' reaction files (reaction SMILES, CSV, JSON) into one list of records.

Every loader returns a list of dicts ``{"id": str, "reactants": list[str], "product": str}``
(SMILES strings, one product per reaction). Files may be gzip-compressed (``.gz``).

Accepted layouts:

* ``.smi`` / ``.txt`` / ``.rsmi``: one reaction SMILES ``A.B>reagents>P`` (or ``A.B>>P``) per line,
  optionally followed by whitespace and an identifier.
* ``.csv`` / ``.tsv``: a header with either a reaction column (``reaction_smiles``, ``rxn_smiles``,
  ``reaction``, ``mapped_rxn``, ``smiles``) or a ``reactants`` + ``product`` column pair;
  optional ``id`` column.
* ``.json`` / ``.jsonl``: a list (or one object per line) of objects with ``reactants_smiles`` (list
  or dot-joined string) and ``product_smiles`` (the path-finder-retrosynthesis / ORD export layout),
  or with a reaction SMILES key as for CSV.

Errors: :class:`sciml.UserError` naming the file and the bad line / column.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

from sciml import UserError

REACTION_KEYS = ("reaction_smiles", "rxn_smiles", "reaction", "mapped_rxn", "rxn", "smiles")


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def split_reaction_smiles(rxn: str, where: str) -> tuple[list[str], str]:
    """Split ``reactants>agents>product`` (or ``reactants>>product``) into (reactants, product).

    Agents (the middle field) are dropped: templates are extracted from reactants and product
    only. Raises UserError when the string has no two '>' or an empty side, or several products.
    """
    parts = rxn.strip().split(">")
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise UserError(
            f"{where}: {rxn!r} is not a reaction SMILES; expected 'reactants>>product' "
            "(or 'reactants>agents>product')"
        )
    products = [p for p in parts[2].split(".") if p]
    if len(products) != 1:
        raise UserError(
            f"{where}: reaction {rxn!r} has {len(products)} products; one product per reaction is accepted"
        )
    return [r for r in parts[0].split(".") if r], products[0]


def _record(rid: str, reactants, product, where: str) -> dict:
    if isinstance(reactants, str):
        reactants = [r for r in reactants.split(".") if r]
    reactants = [r for r in (reactants or []) if r]
    if not reactants or not product or not isinstance(product, str):
        raise UserError(f"{where}: needs non-empty reactants and one product SMILES, got {reactants!r} >> {product!r}")
    return {"id": str(rid), "reactants": list(reactants), "product": product}


def _from_mapping(obj: dict, default_id: str, where: str) -> dict:
    rid = obj.get("id", default_id)
    if "product_smiles" in obj or "product" in obj:
        reactants = obj.get("reactants_smiles", obj.get("reactants"))
        product = obj.get("product_smiles", obj.get("product"))
        return _record(rid, reactants, product, where)
    for key in REACTION_KEYS:
        if obj.get(key):
            reactants, product = split_reaction_smiles(str(obj[key]), where)
            return _record(rid, reactants, product, where)
    raise UserError(
        f"{where}: no reaction found; expected keys 'reactants_smiles'+'product_smiles', "
        f"'reactants'+'product' or one of {', '.join(REACTION_KEYS)}; got keys {sorted(obj)}"
    )


def load_reactions(path: str | Path) -> list[dict]:
    """Read a reaction file into ``[{"id", "reactants", "product"}, ...]`` (see module doc for layouts).

    Raises UserError if the file does not exist, has an unknown extension, or a record is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"reaction file {str(path)!r} does not exist")
    kind = _suffix(path)
    records: list[dict] = []
    if kind in (".smi", ".txt", ".rsmi", ".smiles"):
        with _open_text(path) as fh:
            for i, line in enumerate(fh, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                fields = line.split()
                reactants, product = split_reaction_smiles(fields[0], f"{path}:{i}")
                rid = fields[1] if len(fields) > 1 else f"{path.stem}-{i}"
                records.append(_record(rid, reactants, product, f"{path}:{i}"))
    elif kind in (".csv", ".tsv"):
        with _open_text(path) as fh:
            reader = csv.DictReader(fh, delimiter="\t" if kind == ".tsv" else ",")
            cols = set(reader.fieldnames or [])
            if not (cols & set(REACTION_KEYS)) and not {"reactants", "product"} <= cols:
                raise UserError(
                    f"{path}: CSV header {sorted(cols)} has no reaction column; expected one of "
                    f"{', '.join(REACTION_KEYS)} or the pair 'reactants','product'"
                )
            for i, row in enumerate(reader, 2):
                records.append(_from_mapping(row, f"{path.stem}-{i}", f"{path}:{i}"))
    elif kind == ".json":
        with _open_text(path) as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(data, dict):
            data = data.get("reactions", [data])
        if not isinstance(data, list):
            raise UserError(f"{path}: expected a JSON list of reaction objects")
        for i, obj in enumerate(data):
            if not isinstance(obj, dict):
                raise UserError(f"{path}: item {i} is not an object")
            records.append(_from_mapping(obj, f"{path.stem}-{i}", f"{path}[{i}]"))
    elif kind == ".jsonl":
        with _open_text(path) as fh:
            for i, line in enumerate(fh, 1):
                if line.strip():
                    records.append(_from_mapping(json.loads(line), f"{path.stem}-{i}", f"{path}:{i}"))
    else:
        raise UserError(
            f"reaction file {str(path)!r} has extension {kind!r}; accepted: .smi .txt .rsmi .csv .tsv .json .jsonl (optionally .gz)"
        )
    if not records:
        raise UserError(f"reaction file {str(path)!r} contains no reactions")
    return records


def reaction_smiles(record: dict) -> str:
    """``reactants>>product`` for a record from :func:`load_reactions`."""
    return ".".join(record["reactants"]) + ">>" + record["product"]
