import pytest
from sciml import UserError
from sciml_ptrcnn.elements import ELEMENTS, all_heuslers, make_heusler, parse_formula


@pytest.mark.parametrize("text", ["Co2MnGa", "GaCo2Mn", "Co2 Ga1 Mn1", "Co4Mn2Ga2", "MnGaCo2"])
def test_parse_formula_canonical(text):
    h = parse_formula(text)
    assert (h.x, h.y, h.z) == ("Co", "Ga", "Mn")
    assert h.formula == "Co2GaMn"
    assert h.counts == {"Co": 2, "Ga": 1, "Mn": 1}


def test_parse_formula_names_unknown_element():
    with pytest.raises(UserError, match="La"):
        parse_formula("Co2MnLa")


@pytest.mark.parametrize("text", ["CoMnGa", "Co2Mn", "Co3MnGa", "Co2MnGaAl", "Co2Co1Mn1"])
def test_parse_formula_rejects_non_x2yz(text):
    with pytest.raises(UserError, match="X2YZ|three different"):
        parse_formula(text)


def test_parse_formula_rejects_garbage():
    with pytest.raises(UserError, match="cannot parse"):
        parse_formula("co2mnga")


def test_make_heusler_needs_distinct():
    with pytest.raises(UserError, match="different"):
        make_heusler("Co", "Co", "Ga")


def test_all_heuslers_count_and_uniqueness():
    hs = all_heuslers()
    assert len(ELEMENTS) == 52
    assert len(hs) == 52 * 51 * 50 // 2
    assert len({h.formula for h in hs}) == len(hs)
    assert all(h.y < h.z and h.x not in (h.y, h.z) for h in hs[:500])
