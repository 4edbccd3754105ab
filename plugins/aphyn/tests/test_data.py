"""TP06 slab dataset (finitewave) on a tiny slab: shapes, normalisation, cache reuse."""

from __future__ import annotations

import numpy as np
import pytest
import sciml
from sciml.testing import make_context
from sciml_aphyn import data as data_mod
from sciml_aphyn.data import OpticalMappingDataset, TP06SlabDataset
from sciml_aphyn.simulation import stimulus_box


def test_tiny_slab_splits_are_normalised_traces(tiny_dataset):
    ds = tiny_dataset
    train, val = ds.split("train"), ds.split("val")
    assert len(train) == 36 and len(val) == 36
    (trace,) = train[0]
    assert trace.shape == (16,)  # 15 ms horizon at 1 ms + 1
    clean = ds.arrays("train")["clean"]
    assert clean.min() >= 0 and clean.max() <= 1
    assert np.all(clean[:, 0] >= TINY_THRESHOLD)  # resting zeros cut
    raw = ds.raw["train"]
    assert raw.shape == (26, 6, 6)  # 25 ms + the t = 0 sample
    assert raw.max() > 0 > raw.min()  # TP06 depolarises from about -85 mV to > 0 mV
    noise = ds.arrays("train")["noisy"] - clean
    assert 0.02 < noise.std() < 0.08
    assert ds.metadata["sampling_interval"] == 1.0 and ds.metadata["grid"] == [6, 6]
    assert len(ds.split("test")) == 36


TINY_THRESHOLD = 0.05


def test_corner_stimulus_activates_the_corner_before_the_far_side(tiny_dataset):
    start = tiny_dataset.arrays("train")["start"].reshape(6, 6)
    v = tiny_dataset.raw["train"]
    first_above = (v > -40).argmax(axis=0)
    assert first_above[0, 0] <= first_above[5, 5]
    assert start.shape == (6, 6)


def test_three_slabs_have_distinct_stimulus_sites(tiny_dataset):
    """Issue 11: the test split is a third simulation, not the validation slab again.

    Fails on the code before it, where split("test") returned the validation slab.
    """
    ds = tiny_dataset
    assert ds.sites() == {"train": "corner", "val": "centre", "test": "edge"}
    first = {s: (ds.raw[s] > -40).argmax(axis=0) for s in ("train", "val", "test")}  # (6, 6) activation (ms)
    for split, site in ds.sites().items():  # the stimulated cells activate first, the far side later
        x1, x2, y1, y2 = stimulus_box(6, site, 2)
        assert (first[split][x1:x2, y1:y2] == first[split].min()).all()
    assert first["train"][5, 5] > first["train"][0, 0]
    assert first["test"][5, 2] > first["test"][0, 2]
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not np.array_equal(first[a], first[b])
        assert not np.allclose(ds.arrays(a)["clean"], ds.arrays(b)["clean"])
    test = ds.split("test").tensors[0].numpy()
    assert np.array_equal(test, ds.arrays("test")["noisy"])
    assert not np.array_equal(test, ds.arrays("val")["noisy"])


def test_the_same_site_for_two_splits_is_refused(tiny_config, tmp_path):
    cfg = TP06SlabDataset.Config(**{**tiny_config, "test_site": "centre"})
    with pytest.raises(sciml.UserError, match="val and test slabs would be stimulated on the same cells"):
        TP06SlabDataset(cfg, make_context(tmp_path)).prepare()
    small = TP06SlabDataset.Config(**{**tiny_config, "n": 4})  # 4×4: centre box = corner box
    with pytest.raises(sciml.UserError, match="train and val slabs"):
        TP06SlabDataset(small, make_context(tmp_path)).prepare()


def test_simulation_is_cached_and_reused(tiny_cache, tiny_config, tmp_path, monkeypatch):
    def boom(**kwargs):
        raise AssertionError("simulated again although cached")

    monkeypatch.setattr(data_mod, "simulate_tp06_slab", boom)
    ctx = make_context(tmp_path)
    ctx.cache_dir = tiny_cache / "cache"
    ds = TP06SlabDataset(TP06SlabDataset.Config(**tiny_config), ctx)
    ds.prepare()  # must not call the simulator
    files = sorted(p.name for p in (tiny_cache / "cache" / "aphyn").glob("tp06_*.npz"))
    assert len(files) == 3  # one simulation per site
    other = TP06SlabDataset(TP06SlabDataset.Config(**{**tiny_config, "noise_seed": 3}), ctx)
    other.prepare()  # noise is not part of the simulation key
    assert not np.array_equal(other.arrays("train")["noisy"], ds.arrays("train")["noisy"])
    assert other.fingerprint() != ds.fingerprint()


def test_stimulus_boxes():
    assert stimulus_box(24, "corner", 3) == (0, 3, 0, 3)
    x1, x2, y1, y2 = stimulus_box(24, "centre", 3)
    assert (x2 - x1, y2 - y1) == (3, 3) and 9 <= x1 <= 12
    assert stimulus_box(24, "edge", 3) == (0, 3, y1, y2)  # top edge, the centre's column
    with pytest.raises(sciml.UserError, match="not one of"):
        stimulus_box(24, "apex", 3)


def test_optical_dataset_reads_user_files(tmp_path):
    t = np.arange(80)
    raw = np.where((t >= 10) & (t < 50), 1.0, 0.0)[None, :] * np.array([[1.0], [2.0]]) + 0.5
    np.save(tmp_path / "a.npy", raw)
    (tmp_path / "b.csv").write_text("\n".join(",".join(str(x) for x in r) for r in raw))
    np.save(tmp_path / "c.npy", raw[:1])
    cfg = OpticalMappingDataset.Config(train_path=str(tmp_path / "a.npy"), val_path=str(tmp_path / "b.csv"),
                                       test_path=str(tmp_path / "c.npy"), sampling_interval=2.0, horizon=100.0)
    ds = OpticalMappingDataset(cfg, make_context(tmp_path))
    ds.prepare()
    (trace,) = ds.split("train")[1]
    assert trace.shape == (51,) and float(trace[0]) == 1.0 and float(trace[-1]) == pytest.approx(0.0, abs=1e-9)
    assert len(ds.split("val")) == 2 and len(ds.split("test")) == 1
    with pytest.raises(sciml.UserError, match="dataset.val_path is empty"):
        OpticalMappingDataset(cfg.model_copy(update={"val_path": ""}), make_context(tmp_path)).prepare()


def test_cache_key_separates_sites_and_reuses_entries(tmp_path, monkeypatch):
    calls = []

    def fake(**params):
        calls.append(params["site"])
        n, n_t = params["n"], int(params["t_end"] / params["record_interval"]) + 1
        v = np.full((n_t, n, n), -85.0, dtype=np.float32)
        v[2:12] = 30.0
        return v

    monkeypatch.setattr(data_mod, "simulate_tp06_slab", fake)
    cfg = TP06SlabDataset.Config(n=6, t_end=20.0, horizon=10.0, noise=0.0, stim_size=2)
    TP06SlabDataset(cfg, make_context(tmp_path)).prepare()
    assert sorted(calls) == ["centre", "corner", "edge"]
    ds = TP06SlabDataset(cfg, make_context(tmp_path))
    ds.prepare()
    assert len(calls) == 3  # all read back from the cache
    assert ds.arrays("test")["noisy"].shape == (36, 11)
    TP06SlabDataset(cfg.model_copy(update={"stim_current": 100.0}), make_context(tmp_path)).prepare()
    assert len(calls) == 6  # a simulation parameter changed: new entries
