"""sciml: a plugin-based framework for scientific machine learning.

The public API for plugin authors::

    import sciml

    @sciml.hookimpl
    def sciml_register_models(register): ...

This package imports no heavy library (torch, ray, mlflow) at import time.
"""

from sciml.caching import cached_arrays, content_hash, load_arrays, save_arrays
from sciml.components import (
    ComponentConfig,
    Context,
    Dataset,
    Evaluator,
    Pipeline,
    Reporter,
    Trainer,
)
from sciml.errors import SciMLError, UserError
from sciml.hookspecs import hookimpl

#: Version of the plugin API; plugins may declare ``SCIML_API = "1"`` (see docs).
API_VERSION = "1"
__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "ComponentConfig",
    "Context",
    "Dataset",
    "Evaluator",
    "Pipeline",
    "Reporter",
    "SciMLError",
    "Trainer",
    "UserError",
    "cached_arrays",
    "content_hash",
    "hookimpl",
    "load_arrays",
    "save_arrays",
]
