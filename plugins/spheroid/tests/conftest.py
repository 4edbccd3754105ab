import pytest

from sciml.testing import sciml_store  # noqa: F401  (fixture: temporary SCIML_HOME)


@pytest.fixture(autouse=True)
def _fresh_plugin_state():
    """Each test sees the installed plugins as a new process would."""
    from sciml import plugins

    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: the tests' tensors are tiny and the 2 cores are shared."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
