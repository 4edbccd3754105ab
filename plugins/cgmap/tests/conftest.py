import pytest


@pytest.fixture(scope="session")
def ethane_data(tmp_path_factory):
    """A tiny prepared ethane dataset (1 ps Langevin equilibration, 200 frames 5 fs apart) shared by the tests."""
    from sciml.testing import make_context
    from sciml_cgmap.data import MDTrajectoryDataset

    ctx = make_context(tmp_path_factory.mktemp("ethane"))
    data = MDTrajectoryDataset(MDTrajectoryDataset.Config(n_frames=200, save_every=5, equilibration_ps=1.0), ctx)
    data.prepare()
    return data


@pytest.fixture
def sciml_store(tmp_path):
    """A temporary MLflow tracking store and cache (``SCIML_HOME``) for end-to-end runs."""
    from sciml.testing import isolated_store

    with isolated_store(tmp_path) as home:
        yield home


@pytest.fixture
def make_reporter():
    """``make_reporter(root)``: the testing kit's ``RecordingReporter`` (it has ``draw_figure``)."""
    from sciml.testing import RecordingReporter

    return RecordingReporter
