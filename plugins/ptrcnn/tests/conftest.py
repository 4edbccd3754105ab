import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if not any(Path(p).resolve() == ROOT / "core" for p in sys.path if p):
    try:
        import sciml  # noqa: F401
    except ImportError:  # core not installed yet: use the source tree
        sys.path.insert(0, str(ROOT / "core"))

from sciml.testing import sciml_store  # noqa: E402,F401  (fixture: temporary SCIML_HOME)

SHARED = ROOT / ".." / "shared" / "data"


def write_oqmd(tmp_path):
    """A small OQMD-style file (formation energies are made-up smooth values, eV/atom)."""
    from sciml_ptrcnn.elements import ELEMENTS

    lines = []
    els = list(ELEMENTS)
    k = 0
    for i, x in enumerate(els[:12]):
        for j, y in enumerate(els[12:24]):
            z = els[24 + (i + j) % 20]
            e = -0.3 + 0.02 * i - 0.015 * j + 0.001 * k
            lines.append(f"{x}2 {y}1 {z}1 {e:.4f}")
            k += 1
    p = tmp_path / "oqmd.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture
def oqmd_file(tmp_path):
    return write_oqmd(tmp_path)
