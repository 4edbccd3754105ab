
from sciml_cgmap.mapping import (
    adjacency_matrix,
    broken_beads,
    cg_connectivity,
    is_connectivity_preserving,
    mapping_signature,
)

ETHANE_SYMBOLS = list("CCHHHHHH")
ETHANE_BONDS = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6), (1, 7)]

INTUITIVE = [0, 1, 0, 0, 0, 1, 1, 1]  # {C0 + its 3 H}, {C1 + its 3 H}
MIXED = [0, 1, 0, 0, 1, 0, 1, 1]  # H4 (on C0) with C1, H5 (on C1) with C0


def test_paper_ethane_example_adjacency_and_cg_matrix():
    # paper §2.4: IDs H1 C2 H3 H4 H5 C6 H7 H8 (0-based here); beads {1,2,3,4} and {5,6,7,8}
    bonds = [(0, 1), (1, 2), (1, 3), (1, 5), (4, 5), (5, 6), (5, 7)]
    a = adjacency_matrix(8, bonds)
    assert a[1].tolist() == [1, 0, 1, 1, 0, 1, 0, 0] and a[5].tolist() == [0, 1, 0, 0, 1, 0, 1, 1]
    assert (a == a.T).all() and a.sum() == 14
    cg = cg_connectivity([0, 0, 0, 0, 1, 1, 1, 1], bonds)
    assert cg.tolist() == [[0, 1], [1, 0]]
    assert is_connectivity_preserving([0, 0, 0, 0, 1, 1, 1, 1], bonds)


def test_connectivity_check_hand_built_cases():
    assert is_connectivity_preserving(INTUITIVE, ETHANE_BONDS)
    assert broken_beads(MIXED, ETHANE_BONDS) == [0, 1]  # H4 is bonded to C0 only
    assert not is_connectivity_preserving(MIXED, ETHANE_BONDS)
    # two hydrogens of the same carbon without that carbon: broken
    assert broken_beads([0, 0, 1, 1, 0, 0, 0, 0], ETHANE_BONDS) == [1]
    # a bead with a single atom is connected; three beads C0+3H | C1 | 3H of C1: the last is broken
    assert is_connectivity_preserving([0, 1, 0, 0, 0, 1, 1, 2], ETHANE_BONDS)
    assert broken_beads([0, 1, 0, 0, 0, 2, 2, 2], ETHANE_BONDS) == [2]


def test_cg_connectivity_three_beads_chain():
    cg = cg_connectivity([0, 1, 0, 0, 0, 1, 1, 2], ETHANE_BONDS, n_beads=4)
    assert cg.tolist() == [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]


def test_signature_equal_under_symmetry_and_relabelling():
    sig = mapping_signature(INTUITIVE, ETHANE_SYMBOLS, ETHANE_BONDS)
    swapped = [1 - b for b in INTUITIVE]  # whichever carbon is bead 0
    assert mapping_signature(swapped, ETHANE_SYMBOLS, ETHANE_BONDS) == sig
    assert mapping_signature([5, 2, 5, 5, 5, 2, 2, 2], ETHANE_SYMBOLS, ETHANE_BONDS) == sig
    # H swapped across carbons: different mapping, although each bead still holds C + 3 H
    mixed_sig = mapping_signature(MIXED, ETHANE_SYMBOLS, ETHANE_BONDS)
    assert mixed_sig != sig
    # the same kind of mix with other (symmetry-equivalent) hydrogens: equal
    assert mapping_signature([0, 1, 1, 0, 0, 1, 0, 1], ETHANE_SYMBOLS, ETHANE_BONDS) == mixed_sig
    # a different partition size is different
    assert mapping_signature([0, 1, 0, 0, 0, 1, 1, 2], ETHANE_SYMBOLS, ETHANE_BONDS) != sig


def test_signature_ethylbenzene_ring_symmetry():
    from sciml_cgmap import md

    mol = md.molecule_from_smiles("CCc1ccccc1")
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    bonds = md.bonds_from_mol(mol)
    n = mol.GetNumAtoms()
    # bead 1 = one ortho carbon (3 or 7) with its hydrogen; the two choices are mirror-equivalent
    h_of = {b: a for a, b in bonds if symbols[b] == "H"} | {a: b for a, b in bonds if symbols[a] == "H"}
    hyd = {c: [h for h, cc in h_of.items() if cc == c and symbols[h] == "H"] for c in (3, 7)}
    maps = []
    for c in (3, 7):
        m = [0] * n
        m[c] = 1
        for h in hyd[c]:
            m[h] = 1
        maps.append(m)
    s3, s7 = (mapping_signature(m, symbols, bonds) for m in maps)
    assert s3 == s7
    meta_map = [0] * n
    meta_map[4] = 1
    assert mapping_signature(meta_map, symbols, bonds) != s3
