import pytest

try:  # tiny tensors: one thread avoids OpenMP spin-waits on busy cores
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


ETHANE_SYMBOLS = list("CCHHHHHH")
ETHANE_BONDS = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6), (1, 7)]


@pytest.fixture(scope="session")
def ethane_data(tmp_path_factory):
    """A tiny prepared ethane dataset (200 frames, 2 fs apart) shared by the tests."""
    from sciml.testing import make_context

    from sciml_cgmap.data import MDTrajectoryDataset

    ctx = make_context(tmp_path_factory.mktemp("ethane"))
    data = MDTrajectoryDataset(MDTrajectoryDataset.Config(n_frames=200, save_every=5), ctx)
    data.prepare()
    return data
