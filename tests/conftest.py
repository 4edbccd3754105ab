import pytest
from sciml.testing import sciml_store  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _fresh_plugin_state():
    """Each test sees plugins as a new process would."""
    from sciml import plugins

    plugins.reset()
    yield
    plugins.reset()
