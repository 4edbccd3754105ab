"""CHGNet labelling of X2YZ full-Heusler (L2_1) compounds: lattice parameter and formation energy.

These labels are computed with the universal interatomic potential CHGNet (model 0.3.0, weights
shipped in the ``chgnet`` wheel, CPU, offline). They are CHGNet-computed, NOT DFT; they stand in
for the paper's OQMD labels so that the plugin has an embedded data set it can regenerate.

Per compound X2YZ (paper §Data; L2_1, Fm-3m, X at 8c (1/4,1/4,1/4), Y at 4a (0,0,0), Z at 4b
(1/2,1/2,1/2)):

1. the 4-atom primitive cell is built with pymatgen at a0 = (4 (2 v_X + v_Y + v_Z))^(1/3) Å,
   v_i the CHGNet volume per atom (Å^3) of element i in its reference structure;
2. E(a) is scanned at a = a0 * f, f in ``scan_fractions`` (default 0.92 ... 1.08 in steps of
   0.04; re-scanned once beyond the edge if the minimum sits at an edge), a Birch-Murnaghan EOS
   (pymatgen) is fitted to the 5 points around the minimum: a (Å) from its equilibrium volume,
   a = (4 V0)^(1/3) (a parabola through 3 points if the fit fails or leaves the scan), and E is
   CHGNet's energy at that a (or the lowest scanned point if lower);
3. the formation energy (eV/atom) is

       ΔH_f = E(X2YZ)/atom - (2 μ_X + μ_Y + μ_Z) / 4

   with μ_i (eV/atom) the CHGNet energy of element i relaxed (cell + positions, FIRE with a
   Frechet cell filter) in its ground-state structure (ASE's reference state, hand-built α-Mn,
   α-B, α-Ga, trigonal Te, α-/β-Sn; see :func:`reference_candidates`).

Results are appended chunk by chunk to a CSV (resumable: rows already present are skipped), the
settings and elemental references are written to a JSON beside it.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from sciml_ptrcnn.elements import ELEMENTS, Heusler, all_heuslers

#: Default E(a) scan: fractions of the initial guess a0.
SCAN_FRACTIONS = (0.92, 0.96, 1.00, 1.04, 1.08)
COLUMNS = ("formula", "x", "y", "z", "lattice_parameter", "energy_per_atom",
           "formation_energy_per_atom", "scan_ok")


def _load_model(model_name: str = "0.3.0"):
    from chgnet.model import CHGNet

    return CHGNet.load(model_name=model_name, verbose=False)


def heusler_structure(h: Heusler, a: float, primitive: bool = True):
    """pymatgen Structure of X2YZ in L2_1 with cubic lattice parameter ``a`` (Å).

    Returns the 4-atom primitive fcc cell (``primitive=True``; lattice vectors a/2 (0,1,1),
    a/2 (1,0,1), a/2 (1,1,0); Cartesian sites Y (0,0,0), Z a(1/2,1/2,1/2), X a(1/4,1/4,1/4) and
    a(3/4,3/4,3/4)) or the 16-atom conventional cell (Fm-3m; X 8c, Y 4a, Z 4b).
    """
    from pymatgen.core import Lattice, Structure

    if not primitive:
        return Structure.from_spacegroup(
            "Fm-3m", Lattice.cubic(a), [h.x, h.y, h.z], [[0.25, 0.25, 0.25], [0, 0, 0], [0.5, 0.5, 0.5]])
    lat = Lattice(0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float))
    cart = a * np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
    return Structure(lat, [h.y, h.z, h.x, h.x], cart, coords_are_cartesian=True)


def reference_candidates(el: str) -> dict:
    """Ground-state structure(s) of element ``el`` -> {name: pymatgen Structure}.

    ASE's reference state (``ase.build.bulk(el)``: fcc/bcc/hcp metals, diamond Si/Ge, A7 As/Sb/Bi,
    bct In, rhombohedral Hg, ...), replaced or complemented by hand-built structures where ASE has
    none or where the 0 K ground state differs: α-Mn (I-43m, 29-atom primitive cell), α-B
    (R-3m, 12 atoms), α-Ga (Cmce), trigonal Te (P3_121), α-Sn (diamond) next to β-Sn.
    The lowest CHGNet energy among the candidates of an element is its reference.
    """
    from ase.build import bulk
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    out = {}
    try:
        out["ase_reference"] = AseAtomsAdaptor.get_structure(bulk(el))
    except Exception:  # ASE cannot build every reference state (needs a basis)
        pass
    if el == "Sn":
        out["alpha_Sn"] = AseAtomsAdaptor.get_structure(bulk(el, "diamond", a=6.49))
    if el == "Mn":  # alpha-Mn (Bradley & Thewlis)
        out["alpha_Mn"] = Structure.from_spacegroup(
            "I-43m", Lattice.cubic(8.91), ["Mn"] * 4,
            [[0, 0, 0], [0.317, 0.317, 0.317], [0.357, 0.357, 0.034], [0.090, 0.090, 0.282]])
    if el == "B":  # alpha-B12, hexagonal setting
        out["alpha_B"] = Structure.from_spacegroup(
            "R-3m", Lattice.hexagonal(4.908, 12.567), ["B"] * 2,
            [[0.1187, -0.1187, 0.8911], [0.1965, -0.1965, 0.0243]])
    if el == "Ga":  # alpha-Ga
        out["alpha_Ga"] = Structure.from_spacegroup(
            "Cmce", Lattice.orthorhombic(4.52, 7.66, 4.53), ["Ga"], [[0, 0.1549, 0.081]])
    if el == "Te":  # trigonal Te
        out["trigonal_Te"] = Structure.from_spacegroup(
            "P3_121", Lattice.hexagonal(4.45, 5.93), ["Te"], [[0.2636, 0, 1 / 3]])
    if not out:
        raise ValueError(f"no reference structure for {el}")
    return {k: v.get_primitive_structure() if len(v) > 8 else v for k, v in out.items()}


def relax_references(model, elements=ELEMENTS, fmax: float = 0.05, steps: int = 150,
                     progress: bool = True, partial: dict | None = None, on_element=None) -> dict:
    """Relax every candidate of every element with CHGNet; keep the lowest energy per atom.

    Returns:
        {element: {"structure": name, "energy_per_atom": eV/atom, "volume_per_atom": Å^3,
        "candidates": {name: eV/atom}}}
    """
    from chgnet.model import StructOptimizer
    from tqdm.auto import tqdm

    opt = StructOptimizer(model=model, optimizer_class="FIRE")
    refs = dict(partial or {})
    for el in tqdm([e for e in elements if e not in refs], desc="elemental references", disable=not progress):
        cands = {}
        best = None
        for name, s in reference_candidates(el).items():
            try:
                res = opt.relax(s, fmax=fmax, steps=steps, relax_cell=True, verbose=False)
            except Exception as exc:  # a candidate that blows up is simply not the ground state
                cands[name] = f"failed: {exc}"
                continue
            fs = res["final_structure"]
            e = float(model.predict_structure(fs, task="e")["e"])
            cands[name] = e
            if best is None or e < best[1]:
                best = (name, e, fs.volume / len(fs))
        refs[el] = {"structure": best[0], "energy_per_atom": best[1], "volume_per_atom": best[2],
                    "candidates": cands}
        if on_element is not None:
            on_element(refs)
    return refs


def _predict_energies(model, structs, batch_size: int = 64) -> np.ndarray:
    """CHGNet energies (eV/atom) of ``structs``; NaN for a structure CHGNet refuses (e.g. isolated
    atoms in a far too large cell)."""
    try:
        pred = model.predict_structure(structs, task="e", batch_size=batch_size)
        if isinstance(pred, dict):  # CHGNet returns a bare dict for a one-structure list
            pred = [pred]
        return np.array([float(p["e"]) for p in pred])
    except ValueError:
        out = []
        for s in structs:
            try:
                out.append(float(model.predict_structure(s, task="e")["e"]))
            except ValueError:
                out.append(np.nan)
        return np.array(out)


def _fit_minimum(a_values: np.ndarray, energies: np.ndarray) -> tuple[float, float]:
    """Equilibrium (a in Å, E in eV/atom) from E(a): Birch-Murnaghan on the 5 points around the minimum.

    Falls back to a parabola through the 3 points around the minimum if the EOS fit fails or
    its minimum lies far outside the fitted points.
    """
    from pymatgen.analysis.eos import EOS

    ok = np.isfinite(energies)
    a_values, energies = np.asarray(a_values)[ok], np.asarray(energies)[ok]
    if len(a_values) < 3:
        return (float(a_values[np.argmin(energies)]), float(np.min(energies))) if len(a_values) else (np.nan, np.nan)
    i = int(np.argmin(energies))
    lo, hi = max(0, i - 2), min(len(a_values), i + 3)
    if hi - lo < 5:  # keep 5 points where the scan allows
        lo, hi = (0, min(5, len(a_values))) if lo == 0 else (max(0, len(a_values) - 5), len(a_values))
    a, e = a_values[lo:hi], energies[lo:hi]
    try:
        fit = EOS("birch_murnaghan").fit(a**3 / 4.0, e)
        a_eq = float((4.0 * fit.v0) ** (1 / 3))
        if a.min() <= a_eq <= a.max() and e.min() - 0.05 <= fit.e0 <= e.min() + 1e-3:
            return a_eq, float(fit.e0)
    except Exception:
        pass
    j = min(max(i, 1), len(a_values) - 2)
    c = np.polyfit(a_values[j - 1:j + 2], energies[j - 1:j + 2], 2)
    if c[0] > 0:
        x = float(-c[1] / (2 * c[0]))
        if a_values[j - 1] <= x <= a_values[j + 1]:
            return x, float(np.polyval(c, x))
    return float(a_values[i]), float(energies[i])


def label_chunk(model, heuslers: list[Heusler], refs: dict, scan_fractions=SCAN_FRACTIONS,
                batch_size: int = 64) -> list[dict]:
    """Label a chunk of compounds (batched CHGNet calls). Returns one row dict per compound."""
    f = np.asarray(scan_fractions, dtype=float)
    a0 = np.array([(4 * (2 * refs[h.x]["volume_per_atom"] + refs[h.y]["volume_per_atom"]
                         + refs[h.z]["volume_per_atom"])) ** (1 / 3) for h in heuslers])

    def energies(a_grid):
        structs = [heusler_structure(h, float(a)) for h, row in zip(heuslers, a_grid, strict=True) for a in row]
        return _predict_energies(model, structs, batch_size).reshape(a_grid.shape)

    grid = a0[:, None] * f[None, :]
    e = energies(grid)
    # re-centre once where the minimum sits on an edge of the scan
    edge = [k for k in range(len(heuslers)) if np.nanargmin(e[k]) in (0, len(f) - 1)]
    ok = np.ones(len(heuslers), dtype=bool)
    fits = np.array([_fit_minimum(grid[k], e[k]) for k in range(len(heuslers))])
    if edge:
        span = f[-1] - f[0]
        shift = np.array([-span if np.nanargmin(e[k]) == 0 else span for k in edge])
        g2 = grid[edge] * (1 + 0.8 * shift[:, None])
        e2 = energies(g2)
        for j, k in enumerate(edge):
            a_all = np.concatenate([grid[k], g2[j]])
            e_all = np.concatenate([e[k], e2[j]])
            order = np.argsort(a_all)
            a_k, e_k = a_all[order], e_all[order]
            ok[k] = np.nanargmin(e_k) not in (0, len(e_k) - 1)
            fits[k] = _fit_minimum(a_k, e_k)
    a_eq = fits[:, 0]
    # the reported energy is CHGNet's at the fitted a (never an extrapolated EOS value), or the
    # lowest scanned energy if that is lower
    e_eq = energies(np.nan_to_num(a_eq, nan=1.0)[:, None])[:, 0]
    e_scan_min = np.nanmin(e, axis=1)
    for j, k in enumerate(edge):
        e_scan_min[k] = min(e_scan_min[k], float(np.min(e2[j])))
    use_scan = ~(e_eq <= e_scan_min)  # also where e_eq is NaN
    if use_scan.any():
        for k in np.flatnonzero(use_scan):
            a_all = np.concatenate([grid[k], g2[edge.index(k)]]) if k in edge else grid[k]
            e_all = np.concatenate([e[k], e2[edge.index(k)]]) if k in edge else e[k]
            a_eq[k], e_eq[k] = a_all[np.nanargmin(e_all)], np.nanmin(e_all)
    rows = []
    for h, a, ee, good in zip(heuslers, a_eq, e_eq, ok, strict=True):
        mu = (2 * refs[h.x]["energy_per_atom"] + refs[h.y]["energy_per_atom"] + refs[h.z]["energy_per_atom"]) / 4
        rows.append({"formula": h.formula, "x": h.x, "y": h.y, "z": h.z,
                     "lattice_parameter": round(float(a), 5), "energy_per_atom": round(float(ee), 6),
                     "formation_energy_per_atom": round(float(ee - mu), 6), "scan_ok": int(bool(good))})
    return rows


def repair_rows(model, out_csv: str | Path, refs: dict, tol: float = 0.005, batch_size: int = 64) -> tuple[int, int]:
    """Re-check rows written by an older version that stored the EOS-fit energy E0.

    For every row, CHGNet's energy at the stored a replaces the stored energy; rows where they
    differ by more than ``tol`` eV/atom (a bad EOS extrapolation) are dropped so that a resumed run
    labels them again. Returns ``(kept, dropped)``.
    """
    import pandas as pd

    from sciml_ptrcnn.elements import parse_formula

    df = pd.read_csv(out_csv)
    hs = [parse_formula(f) for f in df["formula"]]
    a = df["lattice_parameter"].to_numpy()
    sane = (a > 3.5) & (a < 12.0)
    e = np.full(len(df), np.nan)
    structs = [heusler_structure(h, float(x)) for h, x, s in zip(hs, a, sane, strict=True) if s]
    e[sane] = _predict_energies(model, structs, batch_size)
    good = np.abs(e - df["energy_per_atom"].to_numpy()) <= tol  # NaN -> False
    mu = np.array([(2 * refs[h.x]["energy_per_atom"] + refs[h.y]["energy_per_atom"] + refs[h.z]["energy_per_atom"]) / 4
                   for h in hs])
    df["energy_per_atom"] = np.round(e, 6)
    df["formation_energy_per_atom"] = np.round(e - mu, 6)
    df[good].to_csv(out_csv, index=False)
    return int(good.sum()), int((~good).sum())


def select_compounds(n: int | None, seed: int = 0, elements=ELEMENTS) -> list[Heusler]:
    """The deterministic random order of all X2YZ compositions (numpy permutation with ``seed``); first ``n``."""
    allh = all_heuslers(elements)
    order = np.random.default_rng(seed).permutation(len(allh))
    chosen = [allh[i] for i in order]
    return chosen if n is None else chosen[:n]


def experimental_compounds() -> list[Heusler]:
    """The X2YZ compositions of pymatgen's experimental formation enthalpies (120), sorted."""
    from sciml_ptrcnn.elements import parse_formula
    from sciml_ptrcnn.sources import load_experimental

    return sorted(parse_formula(f) for f in load_experimental()["formula"])


def run_label(out_csv: str | Path, n: int | None = 3000, seed: int = 0, chunk: int = 32,
              model_name: str = "0.3.0", threads: int = 1, progress: bool = True,
              elements=ELEMENTS, scan_fractions=SCAN_FRACTIONS, include_experimental: bool = True) -> Path:
    """Label the first ``n`` compounds of the seeded random order into ``out_csv`` (resumable).

    With ``include_experimental`` the 120 X2YZ compositions of pymatgen's experimental formation
    enthalpies are labelled first (to measure CHGNet against experiment).

    Writes ``out_csv`` (columns :data:`COLUMNS`; lattice parameter Å, energies eV/atom) and
    ``<out_csv>.settings.json`` (settings, versions, elemental references). Rows already in
    ``out_csv`` are skipped; references are read back from the settings file when present
    and the settings match.
    """
    import chgnet
    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(threads)
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    settings_path = out_csv.with_name(out_csv.name + ".settings.json")
    settings = {
        "potential": "CHGNet", "chgnet_version": chgnet.__version__, "model_name": model_name,
        "seed": seed, "n": n, "include_experimental": include_experimental, "scan_fractions": list(scan_fractions), "eos": "birch_murnaghan (5 points)",
        "cell": "L2_1 primitive (4 atoms), X 8c, Y 4a, Z 4b",
        "reference_relaxation": "FIRE + FrechetCellFilter, fmax 0.05 eV/A, at most 150 steps; ground states: ASE reference state, alpha-Mn, alpha-B, alpha-Ga, trigonal Te, alpha- and beta-Sn (lowest wins)",
        "elements": list(elements), "labels": "CHGNet-computed, NOT DFT",
    }
    model = _load_model(model_name)
    refs = {}
    if settings_path.exists():
        old = json.loads(settings_path.read_text())
        if old.get("model_name") == model_name and old.get("elements") == list(elements):
            refs = old.get("references") or {}

    def save(r):
        settings["references"] = r
        settings_path.write_text(json.dumps(settings, indent=1))

    refs = relax_references(model, elements, progress=progress, partial=refs, on_element=save)
    save(refs)

    done = set()
    if out_csv.exists():
        with open(out_csv) as fh:
            done = {row["formula"] for row in csv.DictReader(fh)}
    queue = (experimental_compounds() if include_experimental else []) + select_compounds(n, seed, elements)
    todo, seen = [], set(done)
    for h in queue:
        if h.formula not in seen:
            seen.add(h.formula)
            todo.append(h)
    new_file = not out_csv.exists() or out_csv.stat().st_size == 0
    t0 = time.time()
    with open(out_csv, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new_file:
            w.writeheader()
        bar = tqdm(total=len(todo), desc="CHGNet labelling", disable=not progress, mininterval=5)
        for i in range(0, len(todo), chunk):
            rows = label_chunk(model, list(todo[i:i + chunk]), refs, scan_fractions)
            w.writerows(rows)
            fh.flush()
            bar.update(len(rows))
        bar.close()
    settings["seconds_last_run"] = round(time.time() - t0, 1)
    settings["n_new_last_run"] = len(todo)
    settings_path.write_text(json.dumps(settings, indent=1))
    return out_csv


def main(argv=None):  # python -m sciml_ptrcnn.label OUT.csv --n 3000
    import argparse

    p = argparse.ArgumentParser(description="CHGNet labels for X2YZ full-Heusler compounds")
    p.add_argument("out")
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-experimental", action="store_true", help="do not label pymatgen's 120 experimental X2YZ first")
    a = p.parse_args(argv)
    run_label(a.out, n=a.n, seed=a.seed, chunk=a.chunk, threads=a.threads, include_experimental=not a.no_experimental)


if __name__ == "__main__":
    main()
