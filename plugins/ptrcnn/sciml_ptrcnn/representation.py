"""Periodic table representation (PTR) and the paper's control representations.

Paper §Representations (Zheng, Zheng & Zhang 2018, Fig. 1b and Figs. s2a-e): a compound is drawn
as an image in which every element has a fixed pixel and the pixel value is the number of atoms
of that element per formula unit (X2YZ: 2 at X, 1 at Y, 1 at Z, 0 elsewhere).

Layouts (the Methods text describing the drawing is missing from our copy of the paper; choices):

- ``ptr`` with ``layout="compact"`` (default): rows = periods 2-6, columns = groups 1-16 of the
  standard 18-column table, i.e. an image of 5 x 16 pixels. This is the tightest box around the
  paper's 52 elements (no H/He, no period 7, nothing in groups 17-18) and it is the only layout
  that reproduces the paper's feature-map sizes: 16x5 padded to 18x7 -> 3x3 conv -> 16x5, padded
  to 18x7 -> 5x5 conv -> 14x3 -> 3x3 conv -> 12x1 (paper §CNNs).
- ``ptr`` with ``layout="full"``: the whole 7 x 18 table (periods 1-7, groups 1-18).
- ``random_table_1`` / ``random_table_2``: the same pixel grid, the 52 elements placed at random
  pixels (seeds 1 and 2), so the order of the table is lost (Figs. s2a, b).
- ``mendeleev_line``: a 1 x 52 line, elements in descending Mendeleev number (pymatgen's
  ``Element.mendeleev_no``) (Fig. s2c); also the kernel ridge regression input.
- ``random_line_1`` / ``random_line_2``: a 1 x 52 line in a random order (seeds 1, 2) (Figs. s2d, e).

Pixel values (:class:`Encoding`; the paper does not print them). The default draws the atom
count on the compound's pixels and 0 everywhere else. The authors' public PyTorch port
(repository ``zhangrz1983/ConvNet_PeriodicTable``, ``PTR_PyTorch.py``) instead gives the cells
of the 52 elements -0.1, the cells without an element 0, and the compound's elements 1.4 per
atom (1.4 / 2.8); their Keras port uses -0.01 and 0.2 per atom; their README says the original
paper initialised the table at -20. :data:`AUTHORS_PYTORCH` is the PyTorch port's encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from sciml import UserError

from sciml_ptrcnn.elements import ELEMENTS, Heusler

REPRESENTATIONS = ("ptr", "random_table_1", "random_table_2", "mendeleev_line",
                   "random_line_1", "random_line_2")
LAYOUTS = ("compact", "full")


def _group_period(el: str) -> tuple[int, int]:
    from pymatgen.core import Element

    e = Element(el)
    return int(e.group), int(e.row)


def positions(representation: str = "ptr", layout: str = "compact",
              elements: Sequence[str] = ELEMENTS) -> tuple[tuple[int, int], dict[str, tuple[int, int]]]:
    """Pixel of every element: ``((height, width), {element: (row, col)})``.

    Raises:
        UserError: unknown ``representation`` or ``layout``.
    """
    if representation not in REPRESENTATIONS:
        raise UserError(f"unknown representation {representation!r}; accepted: {', '.join(REPRESENTATIONS)}")
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; accepted: {', '.join(LAYOUTS)}")
    elements = list(elements)
    if representation in ("ptr", "random_table_1", "random_table_2"):
        gp = {el: _group_period(el) for el in elements}
        if layout == "compact":
            p0, p1 = min(p for _, p in gp.values()), max(p for _, p in gp.values())
            g1 = max(g for g, _ in gp.values())
            shape = (p1 - p0 + 1, g1)
            pos = {el: (p - p0, g - 1) for el, (g, p) in gp.items()}
        else:
            shape = (7, 18)
            pos = {el: (p - 1, g - 1) for el, (g, p) in gp.items()}
        if representation != "ptr":
            seed = int(representation.rsplit("_", 1)[1])
            cells = np.random.default_rng(seed).permutation(shape[0] * shape[1])[: len(elements)]
            pos = {el: (int(c // shape[1]), int(c % shape[1])) for el, c in zip(elements, cells, strict=True)}
        return shape, pos
    if representation == "mendeleev_line":
        from pymatgen.core import Element

        order = sorted(elements, key=lambda el: -Element(el).mendeleev_no)
    else:
        seed = int(representation.rsplit("_", 1)[1])
        order = [elements[i] for i in np.random.default_rng(seed).permutation(len(elements))]
    return (1, len(order)), {el: (0, i) for i, el in enumerate(order)}


class Encoding(NamedTuple):
    """Pixel values of a PTR image (dimensionless).

    - ``background``: cells that hold no element of the representation (e.g. the transition-metal
      gap of periods 2-3 in the compact layout; lines have none);
    - ``element_value``: cells of elements that are not in the compound;
    - ``count_scale``: a compound's element gets ``count_scale`` x its atoms per formula unit
      (X2YZ: 2 x scale at X, 1 x scale at Y and Z).
    """

    background: float = 0.0
    element_value: float = 0.0
    count_scale: float = 1.0


#: The authors' PyTorch port (PTR_PyTorch.py): element cells -0.1, empty cells 0, 1.4 per atom.
AUTHORS_PYTORCH = Encoding(background=0.0, element_value=-0.1, count_scale=1.4)


def encoding_of(metadata: dict) -> Encoding:
    """The :class:`Encoding` a dataset's ``metadata["encoding"]`` records (default when absent:
    models trained before the encoding was configurable used the default)."""
    return Encoding(**(metadata.get("encoding") or {}))


def encode(compounds: Sequence[Heusler | dict], representation: str = "ptr", layout: str = "compact",
           elements: Sequence[str] = ELEMENTS, encoding: Encoding | None = None) -> np.ndarray:
    """Images of compounds, shape ``(n, 1, height, width)``, float32.

    ``compounds`` are :class:`Heusler` or ``{element: count}`` dicts. A compound's element pixel
    holds ``encoding.count_scale`` x its atoms per formula unit; the other element pixels hold
    ``encoding.element_value``, pixels without an element ``encoding.background``
    (:class:`Encoding`; default: counts on a background of 0).

    Raises:
        UserError: an element without a pixel in this representation.
    """
    enc = encoding or Encoding()
    shape, pos = positions(representation, layout, elements)
    base = np.full(shape, enc.background, dtype=np.float32)
    for r, col in pos.values():
        base[r, col] = enc.element_value
    out = np.repeat(base[None, None], len(compounds), axis=0)
    for i, c in enumerate(compounds):
        counts = c.counts if isinstance(c, Heusler) else c
        for el in counts:
            if el not in pos:
                raise UserError(f"element {el} has no pixel in representation {representation!r}")
        for el, n in counts.items():
            r, col = pos[el]
            out[i, 0, r, col] = enc.count_scale * n
    return out
