"""The MLflow pyfunc flavour of a sciml model (see :mod:`sciml.modelio` for what is stored).

The pyfunc wrapper is pickled by MLflow (cloudpickle) and refers to this module by name;
the model itself is rebuilt from its state dict, config and metadata, never unpickled.
Load models only from tracking stores you trust, as with any MLflow model.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc

from sciml.modelio import LoadedModel, load_model_dir

__all__ = ["LoadedModel", "SciMLModel"]


class SciMLModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: ``predict`` takes a list of paths of users' files."""

    def load_context(self, context):
        self.loaded = load_model_dir(Path(context.artifacts["sciml_model"]))

    def predict(self, context, model_input: list[str], params=None):
        import pandas as pd

        return pd.concat([self.loaded.predict(p) for p in model_input], ignore_index=True)
