"""The stock: molecules taken as purchasable (leaves of a solved route), keyed by InChIKey.

Built-in stock (issue 4): the reactants that no reaction of the data set produces, plus a short list
of common reagents. Users may pass their own file: one SMILES or InChIKey per line (optionally
followed by whitespace and a name; ``#`` starts a comment; ``.gz`` accepted).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from pathlib import Path

from sciml import UserError

from sciml_retro.chem import inchikey

INCHIKEY_RE = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")

#: Common reagents and small building blocks added to every built-in stock (SMILES).
COMMON_REAGENTS = (
    "O", "Cl", "Br", "I", "F", "N", "C=O", "CO", "CCO", "CC(=O)O", "CC(C)=O", "O=C=O", "[Na+].[OH-]",
    "[K+].[OH-]", "[Li+].[OH-]", "OO", "O=S(=O)(O)O", "O=[N+]([O-])O", "ClCCl", "ClC(Cl)Cl", "C1CCOC1",
    "CN(C)C=O", "CS(C)=O", "CC#N", "c1ccccc1", "Cc1ccccc1", "CCN(CC)CC", "c1ccncc1", "CCOC(C)=O",
    "O=C(Cl)C(=O)Cl", "O=S(Cl)Cl", "CC(=O)OC(C)=O", "CI", "CBr", "BrBr", "ClCl", "II", "NN", "NO",
    "[H][H]", "CC(C)(C)OC(=O)OC(=O)OC(C)(C)C", "O=C(O)C(F)(F)F", "CS(=O)(=O)Cl", "Cc1ccc(S(=O)(=O)Cl)cc1",
    "O=C([O-])[O-].[K+].[K+]", "O=C([O-])[O-].[Cs+].[Cs+]", "O=C([O-])O.[Na+]", "[BH4-].[Na+]",
    "[Li][AlH4]", "CC(C)(C)O", "CC(C)O", "CCCCO", "OB(O)O", "N#N", "[C-]#[O+]",
)


class Stock:
    """A set of InChIKeys with SMILES membership tests: ``smiles in stock``.

    ``__contains__`` accepts a SMILES or an InChIKey; unparsable SMILES are not in stock.
    """

    def __init__(self, keys: Iterable[str] = ()):
        self.keys: set[str] = set(keys)

    def __contains__(self, item: str) -> bool:
        if INCHIKEY_RE.match(item):
            return item in self.keys
        key = inchikey(item)
        return key is not None and key in self.keys

    def __len__(self) -> int:
        return len(self.keys)

    def add_smiles(self, smiles: Iterable[str]) -> int:
        """Add molecules by SMILES; returns how many could not be parsed (and were skipped)."""
        bad = 0
        for smi in smiles:
            key = inchikey(smi)
            if key is None:
                bad += 1
            else:
                self.keys.add(key)
        return bad

    def save(self, path: str | Path) -> None:
        """Write one InChIKey per line (gzip if the name ends in .gz)."""
        path = Path(path)
        text = "".join(k + "\n" for k in sorted(self.keys))
        if path.suffix == ".gz":
            with gzip.open(path, "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            path.write_text(text)

    @classmethod
    def from_file(cls, path: str | Path) -> Stock:
        """Read a stock file: one SMILES or InChIKey per line.

        Raises:
            UserError: the file does not exist, is empty, or a line is neither an InChIKey nor a
                SMILES RDKit can parse (the message names the line).
        """
        path = Path(path)
        if not path.is_file():
            raise UserError(f"stock file {str(path)!r} does not exist; give a file with one SMILES or InChIKey per line")
        opener = gzip.open if path.suffix == ".gz" else open
        stock = cls()
        with opener(path, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                token = line.split()[0]
                if INCHIKEY_RE.match(token):
                    stock.keys.add(token)
                    continue
                key = inchikey(token)
                if key is None:
                    raise UserError(
                        f"stock file {str(path)!r} line {i}: {token!r} is neither an InChIKey nor a valid SMILES"
                    )
                stock.keys.add(key)
        if not stock.keys:
            raise UserError(f"stock file {str(path)!r} holds no molecules")
        return stock
