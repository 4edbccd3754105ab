"""The element set and X2YZ composition handling.

The paper's element set is the one of its OQMD full-Heusler data (the 52 elements of the
authors' ``Heusler_energy`` file): alkali and alkaline-earth metals, transition metals of
periods 4-6 (no lanthanides), and the p-block metals/metalloids B, Al, Si, Ga, Ge, As, In,
Sn, Sb, Te, Tl, Pb, Bi.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sciml import UserError

#: The 52 elements of the paper's data set (OQMD full-Heusler X2YZ), sorted by symbol.
ELEMENTS: tuple[str, ...] = (
    "Ag", "Al", "As", "Au", "B", "Ba", "Be", "Bi", "Ca", "Cd", "Co", "Cr", "Cs", "Cu",
    "Fe", "Ga", "Ge", "Hf", "Hg", "In", "Ir", "K", "Li", "Mg", "Mn", "Mo", "Na", "Nb",
    "Ni", "Os", "Pb", "Pd", "Pt", "Rb", "Re", "Rh", "Ru", "Sb", "Sc", "Si", "Sn", "Sr",
    "Ta", "Tc", "Te", "Ti", "Tl", "V", "W", "Y", "Zn", "Zr",
)
_ELEMENT_SET = frozenset(ELEMENTS)


@dataclass(frozen=True, order=True)
class Heusler:
    """An X2YZ full-Heusler composition. Y and Z are equivalent in L2_1 and stored sorted."""

    x: str
    y: str
    z: str

    @property
    def formula(self) -> str:
        """``"Co2MnGa"``-style formula, X first, then Y, Z in symbol order."""
        return f"{self.x}2{self.y}{self.z}"

    @property
    def counts(self) -> dict[str, int]:
        """Element -> atoms per formula unit (4 atoms)."""
        return {self.x: 2, self.y: 1, self.z: 1}


def make_heusler(x: str, y: str, z: str, *, elements=_ELEMENT_SET) -> Heusler:
    """Build a canonical :class:`Heusler` (Y, Z sorted).

    Raises:
        UserError: if an element is outside ``elements`` or X, Y, Z are not all different.
    """
    bad = [e for e in (x, y, z) if e not in elements]
    if bad:
        raise UserError(
            f"unknown element(s) {', '.join(bad)} in {x}2{y}{z}: accepted are the paper's 52 "
            f"elements {', '.join(sorted(elements))}"
        )
    if len({x, y, z}) != 3:
        raise UserError(f"{x}2{y}{z} is not an X2YZ compound: X, Y and Z must be three different elements")
    y, z = sorted((y, z))
    return Heusler(x, y, z)


_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")


def parse_formula(text: str, *, elements=_ELEMENT_SET) -> Heusler:
    """Parse an X2YZ formula in any element order: ``"Co2MnGa"``, ``"GaCo2Mn"``, ``"Co2 Ga1 Mn1"``.

    Raises:
        UserError: names the formula when it does not parse, is not X2YZ (counts 2, 1, 1 of
            three different elements; multiples such as ``Co4Mn2Ga2`` are reduced), or holds an
            element outside the paper's set.
    """
    s = "".join(str(text).split())
    pos, counts = 0, {}
    for m in _TOKEN.finditer(s):
        if m.start() != pos:
            break
        el, n = m.group(1), int(m.group(2) or 1)
        counts[el] = counts.get(el, 0) + n
        pos = m.end()
    if not s or pos != len(s):
        raise UserError(f"cannot parse formula {text!r}: expected element symbols with counts, e.g. 'Co2MnGa'")
    unknown = [e for e in counts if e not in elements]
    if unknown:
        raise UserError(
            f"formula {text!r} has element(s) {', '.join(unknown)} outside the paper's 52-element set "
            f"({', '.join(sorted(elements))})"
        )
    vals = sorted(counts.values())
    if len(counts) != 3 or vals[0] == 0 or vals != [vals[0], vals[0], 2 * vals[0]]:
        raise UserError(
            f"formula {text!r} is not an X2YZ full-Heusler composition (need three different elements "
            "with counts 2:1:1)"
        )
    unit = vals[0]
    x = next(e for e, n in counts.items() if n == 2 * unit)
    y, z = (e for e, n in counts.items() if n == unit)
    return make_heusler(x, y, z, elements=elements)


def all_heuslers(elements=ELEMENTS) -> list[Heusler]:
    """Every X2YZ over ``elements`` with X, Y, Z distinct and Y < Z: 52 * C(51, 2) = 66,300."""
    out = []
    for x in elements:
        rest = [e for e in elements if e != x]
        for i, y in enumerate(rest):
            for z in rest[i + 1:]:
                out.append(Heusler(x, *sorted((y, z))))
    return sorted(out)
