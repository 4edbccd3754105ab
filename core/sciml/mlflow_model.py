"""The MLflow pyfunc flavour of a sciml model (see :mod:`sciml.modelio` for what is stored).

The pyfunc wrapper is pickled by MLflow (cloudpickle) and refers to this module by name;
the model itself is rebuilt from its state dict, config and metadata, never unpickled.
Load models only from tracking stores you trust, as with any MLflow model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow.pyfunc

from sciml.modelio import LoadedModel, load_model_dir

__all__ = ["LoadedModel", "SciMLModel"]


# MLflow warns at class creation that predict has no type hints; inputs here are file paths.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")

    class SciMLModel(mlflow.pyfunc.PythonModel):
        """pyfunc wrapper: ``predict`` takes a DataFrame with a ``path`` column (user files)."""

        def load_context(self, context):
            self.loaded = load_model_dir(Path(context.artifacts["sciml_model"]))

        def predict(self, context, model_input, params=None):
            import pandas as pd

            paths = list(model_input["path"]) if hasattr(model_input, "columns") else [model_input]
            return pd.concat([self.loaded.predict(p) for p in paths], ignore_index=True)
