import numpy as np
import pytest
from sciml import UserError
from sciml.testing import make_context
from sciml_ptrcnn.dataset import HeuslerPTRDataset, denormalize, normalization_stats, split_indices


def _data(tmp_path, oqmd_file, **kw):
    cfg = HeuslerPTRDataset.Config(source="oqmd", path=str(oqmd_file), **kw)
    d = HeuslerPTRDataset(cfg, make_context(tmp_path))
    d.prepare()
    return d


def test_whitening_uses_training_statistics(tmp_path, oqmd_file):
    d = _data(tmp_path, oqmd_file)
    x, y, mask = d.split("train").tensors
    assert x.shape[1:] == (1, 5, 16)
    e = y[:, 0].numpy()
    assert abs(e.mean()) < 1e-5 and e.std() == pytest.approx(1, abs=1e-4)
    assert not mask[:, 1].any()  # OQMD-style file: no lattice parameter
    raw = d.raw_targets("test")[:, 0]
    back = denormalize(d.split("test").tensors[1][:, :1].numpy(), d.normalization, [0])[:, 0]
    assert np.allclose(back, raw, atol=1e-5)


def test_bound_maps_training_range_to_unit_interval(tmp_path, oqmd_file):
    d = _data(tmp_path, oqmd_file, normalization="bound")
    e = d.split("train").tensors[1][:, 0].numpy()
    assert e.min() == pytest.approx(0, abs=1e-6) and e.max() == pytest.approx(1, abs=1e-6)


def test_stats_ignore_nan():
    s = normalization_stats(np.array([[1.0, np.nan], [3.0, np.nan]]), "whitening")
    assert s["center"] == [2.0, 0.0] and s["scale"] == [1.0, 1.0]


def test_split_keeps_test_set_across_training_sizes():
    a = split_indices(100, 0.2, 0.1, 0, None)
    b = split_indices(100, 0.2, 0.1, 0, 30)
    assert np.array_equal(a["test"], b["test"]) and len(b["train"]) == 30
    assert set(b["train"]) <= set(a["train"])
    f = split_indices(100, 0.2, 0.1, 0, None, force_test=[1, 2, 3])
    assert {1, 2, 3} <= set(f["test"]) and not {1, 2, 3} & set(f["train"])
    with pytest.raises(UserError, match="n_train=99"):
        split_indices(100, 0.2, 0.1, 0, 99)


def test_experimental_compositions_held_out(tmp_path):
    p = tmp_path / "e.txt"
    lines = ["Co2 Al1 Fe1 -0.15"] + [f"{x}2 Ti1 Zr1 -0.1" for x in ("Ag", "Au", "Cu", "Ni", "Pd", "Pt", "Rh", "Ir", "Fe", "Mn", "Cr", "V")]
    p.write_text("\n".join(lines) + "\n")
    d = _data(tmp_path, p, test_fraction=0.1)
    assert "Co2AlFe" in set(d.formulas("test"))
    assert "Co2AlFe" not in set(d.formulas("train")) | set(d.formulas("val"))


def test_cache_reused_and_fingerprint_depends_on_config(tmp_path, oqmd_file):
    d1 = _data(tmp_path, oqmd_file)
    d2 = _data(tmp_path, oqmd_file, representation="random_table_1")
    assert d1.fingerprint() != d2.fingerprint()
    assert len(list((tmp_path / "cache" / "ptrcnn").glob("*.npz"))) == 2
    assert not np.array_equal(d1.images("train"), d2.images("train"))
    assert np.array_equal(d1.formulas("test"), d2.formulas("test"))


def test_encoding_config_reaches_images_and_metadata(tmp_path, oqmd_file):
    d0 = _data(tmp_path, oqmd_file, element_value=0.0, count_scale=1.0)  # plain atom counts
    d1 = _data(tmp_path, oqmd_file)  # default: the authors' PyTorch port
    assert d0.fingerprint() != d1.fingerprint()
    x0, x1 = d0.images("train"), d1.images("train")
    assert np.allclose(x1[x0 > 0], 1.4 * x0[x0 > 0])
    assert np.allclose(np.unique(x1[x0 == 0]), [-0.1, 0.0])
    assert d1.metadata["encoding"] == {"background": 0.0, "element_value": -0.1, "count_scale": 1.4}
