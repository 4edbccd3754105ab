import numpy as np
import pytest
from pymatgen.core import Element

from sciml.errors import UserError
from sciml_ptrcnn.elements import ELEMENTS, make_heusler
from sciml_ptrcnn.representation import REPRESENTATIONS, encode, positions


def test_ptr_compact_layout_is_periods_2_to_6_by_groups_1_to_16():
    shape, pos = positions("ptr")
    assert shape == (5, 16)
    assert pos["Li"] == (0, 0)          # period 2, group 1
    assert pos["Co"] == (2, 8)          # period 4, group 9
    assert pos["Te"] == (3, 15)         # period 5, group 16
    assert pos["Bi"] == (4, 14)         # period 6, group 15
    assert len(set(pos.values())) == 52


def test_full_layout():
    shape, pos = positions("ptr", "full")
    assert shape == (7, 18)
    assert pos["Co"] == (3, 8)


def test_encode_counts():
    x = encode([make_heusler("Co", "Mn", "Ga")])
    assert x.shape == (1, 1, 5, 16) and x.dtype == np.float32
    assert x.sum() == 4
    _, pos = positions("ptr")
    assert x[0, 0][pos["Co"]] == 2 and x[0, 0][pos["Mn"]] == 1 and x[0, 0][pos["Ga"]] == 1


def test_random_tables_are_deterministic_and_differ():
    a = positions("random_table_1")[1]
    b = positions("random_table_2")[1]
    assert a == positions("random_table_1")[1]
    assert a != b and a != positions("ptr")[1]
    assert len(set(a.values())) == 52


def test_lines():
    shape, pos = positions("mendeleev_line")
    assert shape == (1, 52)
    order = sorted(pos, key=lambda e: pos[e][1])
    mend = [Element(e).mendeleev_no for e in order]
    assert mend == sorted(mend, reverse=True)
    r1, r2 = positions("random_line_1")[1], positions("random_line_2")[1]
    assert r1 != r2 and sorted(r1) == sorted(ELEMENTS)


@pytest.mark.parametrize("rep", REPRESENTATIONS)
def test_every_representation_keeps_the_counts(rep):
    x = encode([make_heusler("W", "Fe", "Si"), make_heusler("Li", "Cs", "Bi")], rep)
    assert np.allclose(x.reshape(2, -1).sum(1), 4)
    assert sorted(x[0].ravel()[x[0].ravel() > 0]) == [1, 1, 2]


def test_unknown_representation_message():
    with pytest.raises(UserError, match="random_table_1"):
        positions("hexagon")
