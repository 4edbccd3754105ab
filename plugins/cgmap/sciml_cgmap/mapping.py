"""Properties of a CG mapping (an assignment of atoms to beads) on the molecular graph.

* :func:`cg_connectivity` — the CG connectivity matrix of paper §2.4.
* :func:`is_connectivity_preserving` — the acceptance test of paper §3.3: every bead's atoms
  form a connected subgraph of the molecular graph.
* :func:`mapping_signature` — equal for mappings related by a symmetry of the molecule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def adjacency_matrix(n_atoms: int, bonds: Sequence[Sequence[int]]) -> np.ndarray:
    """Atomistic adjacency matrix A (n_atoms, n_atoms) of 0/1 from bonds (paper §2.4)."""
    a = np.zeros((n_atoms, n_atoms), dtype=int)
    for i, j in bonds:
        a[i, j] = a[j, i] = 1
    return a


def cg_connectivity(bead_of_atom: Sequence[int], bonds: Sequence[Sequence[int]], n_beads: int | None = None) -> np.ndarray:
    """CG connectivity matrix (n_beads, n_beads) of 0/1 (paper §2.4).

    Beads s ≠ t are connected when some bonded atoms k, l have bead(k) = s and bead(l) = t.
    Empty beads have zero rows.
    """
    n_beads = int(max(bead_of_atom) + 1) if n_beads is None else n_beads
    cg = np.zeros((n_beads, n_beads), dtype=int)
    for k, m in bonds:
        s, t = bead_of_atom[k], bead_of_atom[m]
        if s != t:
            cg[s, t] = cg[t, s] = 1
    return cg


def _n_components(nodes: list[int], bonds: Sequence[Sequence[int]]) -> int:
    try:
        import networkx as nx
    except ImportError:  # scipy fallback
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        index = {a: i for i, a in enumerate(nodes)}
        edges = [(index[i], index[j]) for i, j in bonds if i in index and j in index]
        rows = [e[0] for e in edges]
        cols = [e[1] for e in edges]
        m = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(nodes), len(nodes)))
        return int(connected_components(m, directed=False)[0])
    g = nx.Graph()
    g.add_nodes_from(nodes)
    keep = set(nodes)
    g.add_edges_from((i, j) for i, j in bonds if i in keep and j in keep)
    return nx.number_connected_components(g)


def broken_beads(bead_of_atom: Sequence[int], bonds: Sequence[Sequence[int]]) -> list[int]:
    """Beads whose atoms do not form one connected subgraph of the molecular graph."""
    bad = []
    for b in sorted(set(int(x) for x in bead_of_atom)):
        atoms = [j for j, x in enumerate(bead_of_atom) if x == b]
        if _n_components(atoms, bonds) > 1:
            bad.append(b)
    return bad


def is_connectivity_preserving(bead_of_atom: Sequence[int], bonds: Sequence[Sequence[int]]) -> bool:
    """True when every non-empty bead's atoms are connected without leaving the bead (paper §3.3)."""
    return not broken_beads(bead_of_atom, bonds)


def mapping_signature(bead_of_atom: Sequence[int], symbols: Sequence[str], bonds: Sequence[Sequence[int]]) -> str:
    """Canonical text of a mapping, equal exactly for mappings related by a graph symmetry of the
    molecule and a relabelling of the beads.

    The molecular graph (explicit hydrogens) is extended by one dummy atom per used bead,
    bonded to that bead's atoms; the RDKit canonical SMILES of this graph is the signature.
    (Multisets of the atoms' canonical ranks per bead are not enough: in ethane they do not
    tell {C1 + its 3 H} apart from {C1 + 2 of its H + 1 H of C2}.)
    """
    from rdkit import Chem

    rw = Chem.RWMol()
    for s in symbols:
        a = Chem.Atom(str(s))
        a.SetNoImplicit(True)
        rw.AddAtom(a)
    for i, j in bonds:
        rw.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    for b in sorted(set(int(x) for x in bead_of_atom)):
        d = Chem.Atom(0)
        d.SetNoImplicit(True)
        k = rw.AddAtom(d)
        for j, x in enumerate(bead_of_atom):
            if x == b:
                rw.AddBond(int(j), k, Chem.BondType.SINGLE)
    mol = rw.GetMol()
    mol.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(mol)
    return Chem.MolToSmiles(mol, canonical=True, allHsExplicit=True)


def relabel_beads(bead_of_atom: Sequence[int]) -> list[int]:
    """Beads renumbered 0, 1, ... in order of first appearance (drops empty beads)."""
    order: dict[int, int] = {}
    return [order.setdefault(int(b), len(order)) for b in bead_of_atom]
