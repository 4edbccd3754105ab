"""Loaders of labelled X2YZ data: the committed CHGNet table, OQMD-style files, users' CSV files,
pymatgen's experimental formation enthalpies, and the stability (transfer-learning) list.

Every loader returns a :class:`pandas.DataFrame` with columns ``formula`` (canonical ``X2YZ``),
``x``, ``y``, ``z``, ``formation_energy_per_atom`` (eV/atom) and ``lattice_parameter`` (Å, NaN
when the source has none).
"""

from __future__ import annotations

import gzip
import io
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from sciml import UserError

from sciml_ptrcnn.elements import parse_formula

COLUMNS = ["formula", "x", "y", "z", "formation_energy_per_atom", "lattice_parameter"]
CHGNET_TABLE = "chgnet_heusler.csv.gz"
STABILITY_TABLE = "stability_positives.csv.gz"


def data_path(name: str) -> Path:
    """Path of a file committed in ``sciml_ptrcnn/data``."""
    return Path(str(resources.files("sciml_ptrcnn") / "data" / name))


def _rows(records) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    return df.drop_duplicates("formula", keep="first").reset_index(drop=True)


def _open_text(path: Path):
    if not path.exists():
        raise UserError(f"data file {str(path)!r} does not exist")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return io.StringIO(raw.decode("utf-8"))


#: CHGNet has unphysical deep minima ("holes") for some exotic compositions (e.g. Na2NiSc at
#: -5.6 eV/atom). Below this formation energy (eV/atom) a label is treated as such an artefact: the
#: most negative of the 60,710 OQMD X2YZ values is -1.56 eV/atom.
MIN_PLAUSIBLE_FORMATION_ENERGY = -1.6


def load_chgnet_table(path: str | Path | None = None, only_converged: bool = True,
                      min_formation_energy: float | None = MIN_PLAUSIBLE_FORMATION_ENERGY) -> pd.DataFrame:
    """The committed CHGNet-labelled table (or a CSV written by ``sciml ptrcnn label``).

    Args:
        path: CSV(.gz) with the columns of :data:`sciml_ptrcnn.label.COLUMNS`; default: the
            committed ``data/chgnet_heusler.csv.gz``.
        only_converged: drop compounds whose E(a) minimum stayed at the scan edge (``scan_ok == 0``).
        min_formation_energy: drop labels below this (eV/atom; CHGNet artefacts), None keeps all.
    """
    path = Path(path) if path is not None else data_path(CHGNET_TABLE)
    df = pd.read_csv(_open_text(path))
    missing = {"formula", "formation_energy_per_atom", "lattice_parameter"} - set(df.columns)
    if missing:
        raise UserError(f"{str(path)!r} lacks column(s) {', '.join(sorted(missing))}")
    if only_converged and "scan_ok" in df:
        df = df[df["scan_ok"] == 1]
    if min_formation_energy is not None:
        df = df[df["formation_energy_per_atom"] >= min_formation_energy]
    recs = []
    for f, e, a in zip(df["formula"], df["formation_energy_per_atom"], df["lattice_parameter"], strict=True):
        h = parse_formula(f)
        recs.append((h.formula, h.x, h.y, h.z, float(e), float(a)))
    return _rows(recs)


def load_oqmd(path: str | Path) -> pd.DataFrame:
    """OQMD-style lines ``Co2 Ga1 Mn1 -0.2354`` (formula tokens, formation energy in eV/atom,
    optionally a lattice parameter in Å as a 5th field). Blank lines and ``#`` comments are skipped.

    Raises:
        UserError: names the file and line number of the first line that does not parse, or an
            element outside the paper's set / a non-X2YZ composition.
    """
    path = Path(path)
    recs = []
    for lineno, line in enumerate(_open_text(path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (4, 5):
            raise UserError(f"{path}:{lineno}: expected 'X2 Y1 Z1 <eV/atom> [a/Å]', got {line!r}")
        try:
            values = [float(v) for v in parts[3:]]
        except ValueError:
            raise UserError(f"{path}:{lineno}: formation energy {parts[3]!r} is not a number") from None
        try:
            h = parse_formula(" ".join(parts[:3]))
        except UserError as exc:
            raise UserError(f"{path}:{lineno}: {exc}") from None
        recs.append((h.formula, h.x, h.y, h.z, values[0], values[1] if len(values) > 1 else math.nan))
    if not recs:
        raise UserError(f"{path} holds no compound lines")
    return _rows(recs)


def load_csv(path: str | Path) -> pd.DataFrame:
    """A user's CSV with a ``formula`` column and ``formation_energy_per_atom`` (eV/atom) and/or
    ``lattice_parameter`` (Å) columns.

    Raises:
        UserError: an empty file, missing columns, or a formula that is not X2YZ over the paper's elements.
    """
    path = Path(path)
    try:
        df = pd.read_csv(_open_text(path))
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty: expected a header with a 'formula' column and rows") from None
    if "formula" not in df:
        raise UserError(f"{path} has no 'formula' column (columns: {', '.join(map(str, df.columns))})")
    if not {"formation_energy_per_atom", "lattice_parameter"} & set(df.columns):
        raise UserError(f"{path} needs a 'formation_energy_per_atom' (eV/atom) or 'lattice_parameter' (Å) column")
    e = df.get("formation_energy_per_atom", pd.Series([np.nan] * len(df)))
    a = df.get("lattice_parameter", pd.Series([np.nan] * len(df)))
    recs = []
    for f, ee, aa in zip(df["formula"], e, a, strict=True):
        h = parse_formula(f)
        recs.append((h.formula, h.x, h.y, h.z, float(ee), float(aa)))
    return _rows(recs)


def load_experimental() -> pd.DataFrame:
    """Experimental formation enthalpies of X2YZ compositions shipped with pymatgen.

    Source: ``pymatgen/analysis/compatibility/exp_compounds.json.gz`` (2,135 compounds, "exp energy"
    in eV per formula unit as written, e.g. Ag2CO3 -5.24); the entries whose formula is X2YZ over
    the paper's 52 elements (120) are kept and converted to eV/atom (/ 4 atoms). Lattice parameter NaN.
    These are compositions: not every one crystallises as L2_1.
    """
    import pymatgen.analysis.compatibility as compat

    with gzip.open(Path(compat.__file__).parent / "exp_compounds.json.gz", "rt") as fh:
        data = json.load(fh)
    recs = []
    for r in data:
        try:
            h = parse_formula(r["formula"])
        except UserError:
            continue
        recs.append((h.formula, h.x, h.y, h.z, float(r["exp energy"]) / 4.0, math.nan))
    return _rows(recs)


def build_stability_positives() -> pd.DataFrame:
    """Positives of the stability classifier (paper §Transfer learning): X2YZ compositions known to exist.

    Union of (a) the 120 experimental X2YZ formation enthalpies of pymatgen (``source=pymatgen_exp``)
    and (b) the X2YZ ``pretty_formula`` of matminer's ``mp_transport/transport_database.tar.xz``
    (Materials Project entries, ``source=mp_transport``). Columns ``formula, x, y, z, source``.
    """
    import tarfile

    import matminer

    rows: dict[str, set] = {}
    for f in load_experimental()["formula"]:
        rows.setdefault(f, set()).add("pymatgen_exp")
    tar = Path(matminer.__file__).parent / "utils" / "data_files" / "mp_transport" / "transport_database.tar.xz"
    if tar.exists():
        with tarfile.open(tar) as t:
            df = pd.read_csv(t.extractfile("transport_database.csv"))
        for f in df["pretty_formula"]:
            try:
                h = parse_formula(f)
            except UserError:
                continue
            rows.setdefault(h.formula, set()).add("mp_transport")
    out = []
    for f, src in sorted(rows.items()):
        h = parse_formula(f)
        out.append({"formula": f, "x": h.x, "y": h.y, "z": h.z, "source": "+".join(sorted(src))})
    return pd.DataFrame(out)


def load_stability_positives() -> pd.DataFrame:
    """The committed positives list (``data/stability_positives.csv.gz``), built by
    :func:`build_stability_positives`; rebuilt on the fly if the file is missing."""
    p = data_path(STABILITY_TABLE)
    if p.exists():
        return pd.read_csv(p)
    return build_stability_positives()


def load_source(source: str, path: str | Path | None = None) -> pd.DataFrame:
    """Dispatch on ``source``: ``chgnet`` (default table, or ``path``), ``oqmd`` / ``csv`` (``path``
    required), ``experimental``.

    Raises:
        UserError: unknown source, or ``path`` missing where required.
    """
    if source == "chgnet":
        return load_chgnet_table(path)
    if source in ("oqmd", "csv"):
        if path is None:
            raise UserError(f"dataset.source={source!r} needs dataset.path (a file of yours)")
        return load_oqmd(path) if source == "oqmd" else load_csv(path)
    if source == "experimental":
        return load_experimental()
    raise UserError(f"unknown dataset.source {source!r}; accepted: chgnet, oqmd, csv, experimental")
