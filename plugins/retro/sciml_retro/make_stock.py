"""Write the built-in stock (InChIKeys of never-produced reactants + common reagents) of a mapped reaction file.

Usage: ``python -m sciml_retro.make_stock [MAPPED.jsonl.gz] [OUT.txt.gz]`` (defaults: the committed data).
"""

from __future__ import annotations

import sys

from sciml_retro.chem import canonical_smiles
from sciml_retro.data import BUILTIN_REACTIONS, DATA_DIR, builtin_stock, load_mapped


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    src = argv[0] if argv else BUILTIN_REACTIONS
    out = argv[1] if len(argv) > 1 else DATA_DIR / "stock_inchikeys.txt.gz"
    prods, reacs = [], []
    for row in load_mapped(src):
        r, _, p = row["mapped"].split(">")
        cp = canonical_smiles(p)
        cr = [canonical_smiles(s) for s in r.split(".")]
        if cp and "." not in cp and all(cr):
            prods.append(cp)
            reacs.append(".".join(cr))
    stock = builtin_stock(prods, reacs)
    stock.save(out)
    print(len(stock), "molecules written to", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
