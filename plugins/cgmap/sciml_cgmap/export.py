"""``sciml cgmap export``: a learned CG mapping in the files MD engines and CG tools read.

Written into one directory, for a mapping of ``n_atoms`` atoms (the order of the training data:
RDKit's ``AddHs(MolFromSmiles(smiles))`` or the user's trajectory) onto its used beads:

* ``index.ndx`` — GROMACS index file, one group ``[ B<i> ]`` per bead with its atoms' 1-based
  indices (``gmx traj -n``, ``gmx select`` and friends read it);
* ``mapping.xml`` — a VOTCA ``csg_map`` mapping (``cg_molecule``: ``name``, ``ident``,
  ``topology/cg_beads/cg_bead`` with ``name``, ``type``, ``mapping``, ``beads`` given as
  ``resid:resname:atomname``; ``topology/cg_bonded/bond`` with the CG bonds; ``maps/map`` with
  one ``weights`` list per bead = the atoms' masses, so bead positions are centres of mass);
* ``cg_bonds.txt`` — the CG bond list from the CG connectivity matrix (paper §2.4), bead pairs;
* ``beads.json`` — beads with their atoms (0-based), symbols and masses (amu, sums of the
  atoms' masses), the CG bonds and the atom names used in the other files;
* ``cg_traj.extxyz`` and ``cg_traj.pdb`` — CG trajectories of the given frames (the test block
  by default), one pseudo-atom per bead at its centre of mass, with the beads' masses (extxyz)
  and the CG bonds as CONECT records (PDB).

Atom names are the element symbol plus a 1-based running number per element (``C1``, ``H3``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import sciml

#: Element names of the VOTCA mapping file written here (VOTCA csg manual, "Mapping files").
VOTCA_ELEMENTS = {"cg_molecule", "name", "ident", "topology", "cg_beads", "cg_bead", "type", "mapping",
                  "beads", "cg_bonded", "bond", "maps", "map", "weights"}


def atom_names(symbols: list[str]) -> list[str]:
    """Unique atom names: element symbol + 1-based count per element (``C1, C2, H1, ...``)."""
    seen: dict[str, int] = {}
    names = []
    for s in symbols:
        seen[s] = seen.get(s, 0) + 1
        names.append(f"{s}{seen[s]}")
    return names


def bead_table(bead_of_atom: list[int], symbols: list[str], masses: list[float],
               bonds: list[list[int]]) -> dict[str, Any]:
    """The used beads of a mapping, renumbered 0.. in order of their first atom.

    Returns:
        ``{"beads": [{"name", "atoms" (0-based), "symbols", "mass" (amu)}], "cg_bonds": [[s, t]],
        "atom_names": [...]}``; CG bonds join beads whose atoms are bonded (paper §2.4).

    Raises:
        sciml.UserError: lengths of ``bead_of_atom``, ``symbols`` and ``masses`` differ.
    """
    from sciml_cgmap.mapping import cg_connectivity, relabel_beads

    if not (len(bead_of_atom) == len(symbols) == len(masses)):
        raise sciml.UserError(f"mapping of {len(bead_of_atom)} atoms, {len(symbols)} symbols and "
                              f"{len(masses)} masses: one of each per atom is needed")
    labels = relabel_beads(bead_of_atom)
    n_beads = max(labels) + 1
    beads = []
    for b in range(n_beads):
        atoms = [j for j, x in enumerate(labels) if x == b]
        beads.append({"name": f"B{b + 1}", "atoms": atoms, "symbols": [symbols[j] for j in atoms],
                      "mass": float(sum(masses[j] for j in atoms))})
    cg = cg_connectivity(labels, bonds, n_beads)
    cg_bonds = [[int(s), int(t)] for s in range(n_beads) for t in range(s + 1, n_beads) if cg[s, t]]
    return {"beads": beads, "cg_bonds": cg_bonds, "atom_names": atom_names(list(symbols))}


def bead_centres(positions: np.ndarray, table: dict[str, Any], masses) -> np.ndarray:
    """Centres of mass of the beads (n_frames, n_beads, 3) Å from frames (n_frames, n_atoms, 3) Å."""
    m = np.asarray(masses, float)
    x = np.asarray(positions, float)
    return np.stack([np.einsum("fjd,j->fd", x[:, b["atoms"]], m[b["atoms"]]) / m[b["atoms"]].sum()
                     for b in table["beads"]], axis=1)


def write_ndx(path: Path, table: dict[str, Any]) -> None:
    """GROMACS index file: ``[ B<i> ]`` groups of 1-based atom indices, 15 per line."""
    lines = []
    for b in table["beads"]:
        lines.append(f"[ {b['name']} ]")
        idx = [str(j + 1) for j in b["atoms"]]
        lines += [" ".join(f"{i:>4}" for i in idx[k:k + 15]) for k in range(0, len(idx), 15)]
        lines.append("")
    Path(path).write_text("\n".join(lines))


def write_votca_xml(path: Path, table: dict[str, Any], masses, molecule: str = "MOL") -> None:
    """VOTCA mapping (``cg_molecule``), mass-weighted: one map per bead with its atoms' masses."""
    names = table["atom_names"]
    root = ET.Element("cg_molecule")
    ET.SubElement(root, "name").text = molecule
    ET.SubElement(root, "ident").text = molecule
    topo = ET.SubElement(root, "topology")
    cg_beads = ET.SubElement(topo, "cg_beads")
    maps = ET.Element("maps")
    for b in table["beads"]:
        bead = ET.SubElement(cg_beads, "cg_bead")
        ET.SubElement(bead, "name").text = b["name"]
        ET.SubElement(bead, "type").text = b["name"]
        ET.SubElement(bead, "mapping").text = f"M{b['name']}"
        ET.SubElement(bead, "beads").text = " ".join(f"1:{molecule}:{names[j]}" for j in b["atoms"])
        mp = ET.SubElement(maps, "map")
        ET.SubElement(mp, "name").text = f"M{b['name']}"
        ET.SubElement(mp, "weights").text = " ".join(f"{float(masses[j]):.4f}" for j in b["atoms"])
    if table["cg_bonds"]:
        bonded = ET.SubElement(topo, "cg_bonded")
        bond = ET.SubElement(bonded, "bond")
        ET.SubElement(bond, "name").text = "bond"
        ET.SubElement(bond, "beads").text = " ".join(
            f"{table['beads'][s]['name']} {table['beads'][t]['name']}" for s, t in table["cg_bonds"])
    root.append(maps)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="unicode", xml_declaration=False)


def write_cg_trajectory(directory: Path, centres: np.ndarray, table: dict[str, Any]) -> list[Path]:
    """``cg_traj.extxyz`` (beads as pseudo-atoms ``X`` with their masses; ASE extended XYZ) and
    ``cg_traj.pdb`` (multi-model PDB, atom names ``B<i>``, CG bonds as CONECT records)."""
    import ase.io
    from ase import Atoms

    masses = [b["mass"] for b in table["beads"]]
    frames = []
    for z in centres:
        a = Atoms(symbols=["X"] * len(masses), positions=z)
        a.set_masses(masses)
        frames.append(a)
    xyz = Path(directory) / "cg_traj.extxyz"
    ase.io.write(xyz, frames, format="extxyz")
    pdb = Path(directory) / "cg_traj.pdb"
    lines = []
    for k, z in enumerate(centres):
        lines.append(f"MODEL     {k + 1:>4}")
        for i, (b, p) in enumerate(zip(table["beads"], z, strict=True)):
            lines.append(f"HETATM{i + 1:>5} {b['name']:<4} CG  A   1    {p[0]:8.3f}{p[1]:8.3f}{p[2]:8.3f}"
                         f"  1.00  0.00           X")
        lines.append("ENDMDL")
    for s, t in table["cg_bonds"]:
        lines.append(f"CONECT{s + 1:>5}{t + 1:>5}")
    # no closing END record: ASE's reader would add an empty frame after the last ENDMDL
    pdb.write_text("\n".join(lines) + "\n")
    return [xyz, pdb]


def export_mapping(bead_of_atom: list[int], metadata: dict[str, Any], directory: str | Path,
                   frames: np.ndarray | None = None, molecule: str = "MOL") -> dict[str, Path]:
    """Write the files listed in the module docstring into ``directory`` (created).

    Args:
        bead_of_atom: bead index of every atom (the model's ``bead_of_atom``).
        metadata: the dataset metadata (``symbols``, ``masses`` in amu, ``bonds``).
        frames: optional (n_frames, n_atoms, 3) Å for the CG trajectory (skipped when None).
        molecule: the residue / molecule name used in the XML (1-5 characters).

    Returns:
        ``{kind: path}`` of the written files.

    Raises:
        sciml.UserError: frames of the wrong shape, inconsistent metadata.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    symbols, masses, bonds = list(metadata["symbols"]), list(metadata["masses"]), metadata["bonds"]
    table = bead_table(list(bead_of_atom), symbols, masses, bonds)
    out = {"ndx": directory / "index.ndx", "votca": directory / "mapping.xml",
           "cg_bonds": directory / "cg_bonds.txt", "beads": directory / "beads.json"}
    write_ndx(out["ndx"], table)
    write_votca_xml(out["votca"], table, masses, molecule)
    out["cg_bonds"].write_text("".join(f"{table['beads'][s]['name']} {table['beads'][t]['name']}\n"
                                       for s, t in table["cg_bonds"]))
    out["beads"].write_text(json.dumps({**table, "smiles": metadata.get("smiles")}, indent=1))
    if frames is not None:
        x = np.asarray(frames, float)
        if x.ndim != 3 or x.shape[1:] != (len(symbols), 3):
            raise sciml.UserError(f"frames of shape {x.shape}; (n_frames, {len(symbols)}, 3) Å are needed")
        out["extxyz"], out["pdb"] = write_cg_trajectory(directory, bead_centres(x, table, masses), table)
    return out


def export_command(model: str, output: str, input_path: str | None = None, cache: str | None = None,
                   echo=print) -> int:
    """``sciml cgmap export``: load ``model`` (a model URI or a trial's model directory), take
    the frames of ``input_path`` (aligned like the training data) or else the model's test block
    (the dataset rebuilt from its config, from the cache at ``cache`` / ``$SCIML_CACHE`` /
    ``~/.cache/sciml``), and write the files into ``output``. Returns the exit status.

    Raises:
        sciml.UserError: the model cannot be loaded or is not a cgmap model; bad frames.
    """
    import os

    loaded = sciml.load_model(model)
    net, meta, config = loaded.module, loaded.metadata, loaded.config
    if not hasattr(net, "bead_of_atom"):
        raise sciml.UserError(f"model {model!r} is a {type(net).__name__}, not a cgmap VAE")
    if input_path:
        from sciml_cgmap.evaluation import reconstruct
        from sciml_cgmap.predict import read_positions

        frames = reconstruct(net, read_positions(input_path, int(meta["n_atoms"])), align=net.align)[0]
        source = input_path
    else:
        from sciml_cgmap.data import MDTrajectoryDataset

        section = {k: v for k, v in dict(config.get("dataset") or {}).items() if k != "name"}
        root = Path(cache or os.environ.get("SCIML_CACHE") or Path.home() / ".cache" / "sciml").expanduser()
        ctx = sciml.Context(run_dir=root / "cgmap-export", cache_dir=root)
        data = MDTrajectoryDataset(MDTrajectoryDataset.Config(**section), ctx)
        frames = data.arrays("test")["positions"]
        source = "the model's test block"
    out = export_mapping(net.bead_of_atom, meta, output, frames)
    echo(f"wrote {len(out)} files to {output} ({len(frames)} CG frames from {source}):")
    for kind, path in out.items():
        echo(f"  {kind}: {path}")
    return 0
