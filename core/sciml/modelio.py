"""Saving and rebuilding a trained model without pickle.

A model directory holds::

    state_dict.pt    the torch state dict, loaded with ``weights_only=True`` (no code runs)
    config.yaml      the resolved run config (names the plugin's model class)
    metadata.json    the dataset metadata the model was built from

Loading rebuilds the model through the plugin registry, so the plugin must be installed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class LoadedModel:
    module: Any
    config: dict[str, Any]
    metadata: dict[str, Any]

    def predict(self, input_path: str | Path):
        """Apply the plugin's ``predict`` to a user's file; returns a pandas DataFrame."""
        from sciml.registry import get_registry, resolve

        reg = get_registry()
        pipeline = reg.get("pipeline", self.config["pipeline"]).factory
        if pipeline.predict is None:
            from sciml.errors import UserError

            raise UserError(f"pipeline {self.config['pipeline']!r} does not support predict")
        return resolve(pipeline.predict)(self.module, self.config, self.metadata, Path(input_path))


def save_model_dir(directory: str | Path, module: Any, config: dict[str, Any], metadata: dict[str, Any]) -> Path:
    """Save ``module`` so that :func:`load_model_dir` (and ``sciml predict``) can rebuild it.

    Writes ``state_dict.pt`` (the weights), ``config.yaml`` (``config``: at least
    ``{"model": {"name": "plugin:model", ...its options}}``, and ``"pipeline"`` for
    ``sciml predict``) and ``metadata.json`` (the dataset metadata the model is built from;
    numpy arrays become lists). A run does this for every trial (``run_dir/model``); call it
    yourself only for a model trained outside ``sciml run`` (a benchmark script).

    Returns:
        ``directory`` (created).

    Raises:
        TypeError: a metadata value is not JSON-serialisable.
    """
    import torch
    import yaml

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(module.state_dict(), directory / "state_dict.pt")
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (directory / "metadata.json").write_text(json.dumps(metadata, default=_json_default))
    return directory


def build_model(config: dict[str, Any], metadata: dict[str, Any]):
    """Construct the model named by ``config["model"]`` from the registry."""
    from sciml.registry import get_registry

    section = dict(config["model"])
    cls = get_registry().get("model", section.pop("name")).load()
    cfg = cls.Config(**section) if hasattr(cls, "Config") else None
    return cls(cfg, metadata)


#: The files of a model directory (:func:`save_model_dir`).
MODEL_FILES = ("state_dict.pt", "config.yaml", "metadata.json")


def load_model_dir(directory: str | Path) -> LoadedModel:
    """Rebuild the model saved in ``directory`` by :func:`save_model_dir` (a trial's ``run_dir/model``).

    The model class is found through the plugin registry from ``config.yaml``, built with the
    saved metadata, and given the weights (``torch.load(weights_only=True)``: no code runs).

    Raises:
        sciml.UserError: a file is missing, the config names no model, the plugin that made
            the model is not installed, or the weights do not fit the rebuilt model.
    """
    import torch
    import yaml

    from sciml.errors import UserError

    directory = Path(directory)
    missing = [f for f in MODEL_FILES if not (directory / f).is_file()]
    if missing:
        raise UserError(f"{str(directory)!r} is not a sciml model directory: no {', '.join(missing)} "
                        f"(a run writes {', '.join(MODEL_FILES)} under runs/<parent run>/<trial>/model)")
    config = yaml.safe_load((directory / "config.yaml").read_text())
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or "name" not in config["model"]:
        raise UserError(f"{str(directory / 'config.yaml')!r} names no model (expected a 'model: {{name: ...}}' section)")
    metadata = json.loads((directory / "metadata.json").read_text())
    module = build_model(config, metadata)
    state = torch.load(directory / "state_dict.pt", map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise UserError(f"the weights in {str(directory)!r} do not fit model {config['model']['name']!r}: "
                        f"{str(exc).splitlines()[0]}") from None
    module.eval()
    return LoadedModel(module=module, config=config, metadata=metadata)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serialisable")


def json_roundtrip(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata as the model will see it after loading (arrays become lists)."""
    return json.loads(json.dumps(metadata, default=_json_default))


