"""96-well plate layout: the 60 inner wells the thesis analyses and the three groups.

Thesis (Babu 2024, §1): spheroids are grown in 96-well plates; because of the edge effect
(evaporation, temperature) only the 60 inner wells (rows B–G, columns 2–11) are analysed.
Drug is applied on day 7 and the response is read on day 10.
"""

from __future__ import annotations

import re

import sciml

ROWS = "ABCDEFGH"
INNER_ROWS = "BCDEFG"
INNER_COLUMNS = tuple(range(2, 12))
#: The 60 inner wells in column-major order (B2, C2, ..., G2, B3, ...).
INNER_WELLS: tuple[str, ...] = tuple(f"{r}{c}" for c in INNER_COLUMNS for r in INNER_ROWS)
#: Imaging days: drug applied on day 7 (first image), read-out on day 10 (thesis §1).
DAYS: tuple[int, ...] = (7, 8, 9, 10)

#: Group codes used in arrays; names as the thesis uses them (§1: "untreated", "treated").
GROUPS: tuple[str, ...] = ("untreated", "single", "screening")
_GROUP_ALIASES = {
    "untreated": 0, "control": 0, "ctrl": 0, "0": 0,
    "single": 1, "single_dose": 1, "single dose": 1, "single_concentration": 1, "recommended": 1, "1": 1,
    "screening": 2, "drug_screening": 2, "drug screening": 2, "screen": 2, "2": 2,
}

_WELL_RE = re.compile(r"^\s*([A-Za-z])\s*0*(\d{1,2})\s*$")


def parse_well(name: str) -> str:
    """Normalise a well name (``"b02"`` -> ``"B2"``) and check it is one of the 60 inner wells.

    Raises:
        sciml.UserError: not a 96-well name (e.g. ``"Q99"``), or an edge well (row A/H, column 1/12).
    """
    m = _WELL_RE.match(str(name))
    if not m or m.group(1).upper() not in ROWS or not 1 <= int(m.group(2)) <= 12:
        raise sciml.UserError(
            f"unknown well {name!r}: a 96-well plate has wells A1..H12; the analysed wells are the "
            f"60 inner wells B2..G11"
        )
    well = f"{m.group(1).upper()}{int(m.group(2))}"
    if well not in INNER_WELLS:
        raise sciml.UserError(
            f"well {well!r} is an edge well; only the 60 inner wells B2..G11 are analysed "
            f"(edge wells are excluded because of the edge effect)"
        )
    return well


def parse_group(name: str) -> int:
    """Group code 0/1/2 of ``"untreated"`` (alias ``"control"``), ``"single"``, ``"screening"``.

    Raises:
        sciml.UserError: any other name.
    """
    key = str(name).strip().lower()
    if key not in _GROUP_ALIASES:
        raise sciml.UserError(
            f"unknown group {name!r}: accepted are 'untreated' (or 'control'), 'single' "
            f"(single recommended concentration) and 'screening' (drug screening)"
        )
    return _GROUP_ALIASES[key]


def well_position(well: str) -> tuple[int, int]:
    """(row index 0..7, column index 0..11) of a well name on the 8x12 plate."""
    well = parse_well(well)
    return ROWS.index(well[0]), int(well[1:]) - 1
