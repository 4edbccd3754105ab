import numpy as np
import pytest
from pymatgen.core import Element
from sciml import UserError
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


def test_encoding_pixel_values_of_the_authors_port():
    from sciml_ptrcnn.representation import AUTHORS_PYTORCH

    x = encode([make_heusler("Co", "Mn", "Ga")], encoding=AUTHORS_PYTORCH)[0, 0]
    shape, pos = positions("ptr")
    assert x[pos["Co"]] == pytest.approx(2.8) and x[pos["Mn"]] == pytest.approx(1.4) and x[pos["Ga"]] == pytest.approx(1.4)
    assert x[pos["W"]] == pytest.approx(-0.1) and x[pos["Li"]] == pytest.approx(-0.1)
    element_cells = set(pos.values())
    empty = [(r, c) for r in range(shape[0]) for c in range(shape[1]) if (r, c) not in element_cells]
    assert len(empty) == 5 * 16 - 52 and all(x[rc] == 0 for rc in empty)  # e.g. groups 3-12 of periods 2-3
    assert x[0, 5] == 0 and x[4, 2] == 0  # period 2 group 6 (no element there), period 6 group 3 (no La)


def test_encoding_background_and_default():
    from sciml_ptrcnn.representation import Encoding, encoding_of

    x = encode([{"Co": 2, "Mn": 1, "Ga": 1}], encoding=Encoding(background=-20.0, element_value=-20.0))[0, 0]
    assert (x == -20).sum() == 5 * 16 - 3 and sorted(x[x > -20]) == [1, 1, 2]
    assert encoding_of({}) == Encoding() and encoding_of({"encoding": {"count_scale": 1.4}}).count_scale == 1.4
    line = encode([{"Co": 2, "Mn": 1, "Ga": 1}], "mendeleev_line", encoding=Encoding(background=5.0))
    assert (line == 5).sum() == 0  # a line has a pixel for every element: no background cell
