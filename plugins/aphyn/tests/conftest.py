"""Shared fixtures: a tiny TP06 slab (6×6 cells, 25 ms) simulated once per test session."""

from __future__ import annotations

import pytest
from sciml.testing import RecordingReporter, make_context

# 6×6 is the smallest slab whose corner, centre and edge stimuli (2×2) are distinct cells:
# the three splits are three simulations.
TINY = {"n": 6, "t_end": 25.0, "horizon": 15.0, "stim_size": 2, "dt": 0.02, "noise": 0.05,
        "train_site": "corner", "val_site": "centre", "test_site": "edge"}
N_PIXELS = 36


class Reporter(RecordingReporter):
    """RecordingReporter with ``draw_figure`` as the core's FileReporter has it."""

    def draw_figure(self, filename, draw, /, *args, **kwargs):
        figure = draw(*args, **kwargs)
        if figure is None:
            return False
        self.log_figure(figure, filename)
        import matplotlib.pyplot as plt

        plt.close(figure)
        return True


@pytest.fixture
def reporter(tmp_path):
    """``reporter(name)``: a :class:`Reporter` recording under ``tmp_path/name``."""
    return lambda name="rep": Reporter(tmp_path / name)


@pytest.fixture(scope="session")
def tiny_config():
    """Dataset config keys of the tiny slab."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """A cache directory holding the tiny slab's three simulations (train, val, test)."""
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
