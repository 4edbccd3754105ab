"""A trial's components built from its resolved config: what every process of a trial does first
(the trial itself, :func:`sciml.trial.execute_trial`, and its other DDP ranks,
:mod:`sciml.distributed`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sciml.components import Context


def section(config: Mapping[str, Any], name: str, registry) -> tuple[Any, Any]:
    """The component class of ``config[name]`` and its validated ``Config`` (``None`` if it has none)."""
    values = dict(config[name])
    cls = registry.get(name, values.pop("name")).load()
    cfg = cls.Config(**values) if hasattr(cls, "Config") else None
    return cls, cfg


def build_components(config: Mapping[str, Any], context: Context, reporter=None):
    """Seed, prepare the dataset, and build the model and trainer of ``config``: what every
    process of a trial does before training (the trial itself, and its other DDP ranks).

    Returns ``(dataset, model, trainer)``. With a ``reporter``, the split indices are logged.
    """
    from sciml.engine import apply_threads
    from sciml.modelio import json_roundtrip
    from sciml.registry import get_registry
    from sciml.training import seed_everything

    registry = get_registry()
    apply_threads(context)  # the one place a trial's torch threads are set (data preparation included)
    seed_everything(int(config["seed"]))
    ds_cls, ds_cfg = section(config, "dataset", registry)
    dataset = ds_cls(ds_cfg, context)
    dataset.prepare()
    if reporter is not None:
        indices = dataset.split_indices()
        if indices is not None:
            reporter.log_dict({k: list(map(int, v)) for k, v in indices.items()}, "split_indices.json")
    model_cls, model_cfg = section(config, "model", registry)
    model = model_cls(model_cfg, json_roundtrip(getattr(dataset, "metadata", {}) or {}))
    tr_cls, tr_cfg = section(config, "trainer", registry)
    return dataset, model, tr_cls(tr_cfg, context)
