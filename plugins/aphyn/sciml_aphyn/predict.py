"""``sciml predict`` for aphyn: forecast the action potential of every pixel of a user's file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sciml

from sciml_aphyn.traces import normalise_traces, read_trace_file


def _section(config: Any, name: str) -> dict:
    if isinstance(config, dict):
        value = config.get(name) or {}
    else:
        value = getattr(config, name, None) or {}
    return dict(value) if not hasattr(value, "model_dump") else value.model_dump()


def predict(model, config, metadata: dict, input_path: str | Path):
    """Forecast each trace of ``input_path`` from its first (normalised) measurement.

    The file is read and normalised as the paper's optical-mapping data (§3.2, see
    :func:`sciml_aphyn.traces.load_traces`). Its sampling interval is
    ``config["dataset"]["sampling_interval"]`` if set, else ``record_interval``, else the
    training data's; the horizon is the training horizon, shortened to the file's length.

    Returns:
        pandas.DataFrame with one row per (pixel, sample): ``pixel``, ``time_ms`` (since the
        upstroke), ``v_measured``, ``v_forecast``, ``h_forecast`` (normalised, dimensionless).

    Raises:
        sciml.UserError: unreadable or malformed file (see :func:`read_trace_file`).
    """
    import numpy as np
    import pandas as pd
    import torch

    dataset = _section(config, "dataset")
    dt = float(dataset.get("sampling_interval") or dataset.get("record_interval")
               or metadata.get("sampling_interval") or 1.0)
    raw = read_trace_file(input_path)
    horizon = float(metadata.get("horizon") or dataset.get("horizon") or 300.0)
    horizon = min(horizon, (raw.shape[1] - 1) * dt)
    threshold = float(dataset.get("activation_threshold", 0.05))
    try:
        traces = normalise_traces(raw, dt, horizon, threshold)
    except sciml.UserError as exc:
        raise sciml.UserError(f"{Path(input_path).name}: {exc}") from None
    previous = model.sampling_interval
    model.sampling_interval = dt
    try:
        model.eval()
        with torch.no_grad():
            x = torch.as_tensor(traces)
            states = model.forecast(x[:, 0], x.shape[1]).transpose(0, 1).numpy()
    finally:
        model.sampling_interval = previous
    n_pix, n_t = traces.shape
    return pd.DataFrame({
        "pixel": np.repeat(np.arange(n_pix), n_t),
        "time_ms": np.tile(np.arange(n_t) * dt, n_pix),
        "v_measured": traces.reshape(-1),
        "v_forecast": states[..., 0].reshape(-1),
        "h_forecast": states[..., 1].reshape(-1),
    })
