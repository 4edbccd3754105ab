"""sciml: a plugin-based framework for scientific machine learning.

The public API for plugin authors::

    import sciml

    @sciml.hookimpl
    def sciml_register_models(register): ...

Plugins import only ``sciml`` and, in their tests, ``sciml.testing``: the other modules are
the core's own and may change (``make test`` checks this with import-linter contracts).
This package imports no heavy library (torch, ray, mlflow) at import time.
"""

from sciml.caching import cached_arrays, content_hash, file_sha256, load_arrays, save_arrays
from sciml.components import (
    ComponentConfig,
    Context,
    Dataset,
    Evaluator,
    Pipeline,
    Reporter,
    SilentReporter,
    Trainer,
)
from sciml.errors import SciMLError, UserError
from sciml.figures import save_figure
from sciml.hookspecs import hookimpl
from sciml.modelio import LoadedModel, load_model_dir, save_model_dir
from sciml.tracking import load_model


def __getattr__(name: str):
    """The training engine's names load Lightning and torch only when first used."""
    if name in ("TrainerConfig", "TrainingDiverged", "fit", "DefaultTrainer"):
        from sciml import engine, training

        return getattr(training if name == "DefaultTrainer" else engine, name)
    raise AttributeError(f"module 'sciml' has no attribute {name!r}")


#: Version of the plugin API; plugins may declare ``SCIML_API = "1"`` (see docs).
API_VERSION = "1"
__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "ComponentConfig",
    "Context",
    "Dataset",
    "Evaluator",
    "LoadedModel",
    "Pipeline",
    "Reporter",
    "SciMLError",
    "SilentReporter",
    "Trainer",
    "TrainerConfig",
    "TrainingDiverged",
    "DefaultTrainer",
    "UserError",
    "cached_arrays",
    "content_hash",
    "file_sha256",
    "fit",
    "hookimpl",
    "load_arrays",
    "load_model",
    "load_model_dir",
    "save_arrays",
    "save_figure",
    "save_model_dir",
]
