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


def write_oqmd_like(path, n=300, seed=0):
    """``n`` distinct X2YZ lines in the shared OQMD file's format (``Ba1 In1 Sc2 0.105927833``: element
    tokens sorted by symbol, formation energy in eV/atom, no lattice parameter). Energies are
    synthetic: a per-element term (X counted twice) plus noise."""
    import numpy as np
    from sciml_ptrcnn.elements import ELEMENTS

    rng = np.random.default_rng(seed)
    w = dict(zip(ELEMENTS, rng.normal(0, 0.15, len(ELEMENTS)), strict=True))
    seen, lines = set(), []
    while len(lines) < n:
        x, y, z = rng.choice(len(ELEMENTS), 3, replace=False)
        x, y, z = ELEMENTS[x], ELEMENTS[y], ELEMENTS[z]
        key = (x, *sorted((y, z)))
        if key in seen:
            continue
        seen.add(key)
        e = (2 * w[x] + w[y] + w[z]) / 4 + rng.normal(0, 0.02)
        tokens = sorted([f"{x}2", f"{y}1", f"{z}1"], key=lambda t: t.rstrip("12"))
        lines.append(" ".join(tokens) + f" {e:.9f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def drawing_reporter(root):
    """The core's in-memory reporter with the file reporter's ``draw_figure`` (warn, never raise)."""
    from sciml.testing import RecordingReporter

    return RecordingReporter(root)


@pytest.fixture
def oqmd_file(tmp_path):
    return write_oqmd(tmp_path)
