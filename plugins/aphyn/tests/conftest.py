"""Shared fixtures: a tiny TP06 slab (4×4 cells, 25 ms) simulated once per test session."""

from __future__ import annotations

import pytest
import torch

from sciml.testing import make_context

# train and val share the corner site so that the session simulates TP06 only once.
TINY = {"n": 4, "t_end": 25.0, "horizon": 15.0, "stim_size": 2, "dt": 0.02, "noise": 0.05,
        "train_site": "corner", "val_site": "corner"}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_config():
    """Dataset config keys of the tiny slab."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """A cache directory holding the tiny slab's two simulations (train, val)."""
    from sciml_aphyn.data import TP06SlabDataset

    root = tmp_path_factory.mktemp("aphyn-tiny")
    ds = TP06SlabDataset(TP06SlabDataset.Config(**TINY), make_context(root))
    ds.prepare()
    return root


@pytest.fixture
def tiny_dataset(tiny_cache, tmp_path):
    from sciml_aphyn.data import TP06SlabDataset

    ctx = make_context(tmp_path)
    ctx.cache_dir = tiny_cache / "cache"
    ds = TP06SlabDataset(TP06SlabDataset.Config(**TINY), ctx)
    ds.prepare()
    return ds
