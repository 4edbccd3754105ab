"""``sciml predict`` for aphyn: forecast the action potential of every pixel of a user's file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sciml

from sciml_aphyn.recording import read_recording, stack_to_traces
from sciml_aphyn.traces import preprocess_traces


def _section(config: Any, name: str) -> dict:
    if isinstance(config, dict):
        value = config.get(name) or {}
    else:
        value = getattr(config, name, None) or {}
    return dict(value) if not hasattr(value, "model_dump") else value.model_dump()


def predict(model, config, metadata: dict, input_path: str | Path):
    """Forecast each trace of ``input_path`` from its first (normalised) measurement.

    The file (``.tif``/``.tiff``/3D ``.npy`` frames, or ``.csv``/``.npy`` traces) is read and
    preprocessed as :class:`~sciml_aphyn.data.OpticalMappingDataset` does (ROI, binning, robust
    baseline, drift and bleaching removal, upstroke, beat; the ``dataset.*`` keys of ``config``
    apply; pixels without an action potential are dropped). Its sampling interval is
    ``config["dataset"]["sampling_interval"]`` if set, else ``record_interval``, else the
    training data's; the horizon is the training horizon, shortened to the file's length.

    Returns:
        pandas.DataFrame with one row per (pixel, sample): ``pixel`` (row of the trace file, or
        index of the ROI pixel of the frames), ``time_ms`` (since the upstroke), ``v_measured``,
        ``v_forecast``, ``h_forecast`` (normalised, dimensionless).

    Raises:
        sciml.UserError: unreadable or malformed file (see :func:`read_trace_file`).
    """
    import numpy as np
    import pandas as pd
    import torch

    dataset = _section(config, "dataset")
    dt = float(dataset.get("sampling_interval") or dataset.get("record_interval")
               or metadata.get("sampling_interval") or 1.0)
    horizon = float(metadata.get("horizon") or dataset.get("horizon") or 300.0)
    threshold = float(dataset.get("activation_threshold", 0.05))
    keys = ("smooth_ms", "peak_ms", "detrend_degree", "bleach", "polarity", "beat", "min_cycle_ms", "min_snr")
    options = {k: dataset[k] for k in keys if dataset.get(k) is not None}
    try:
        kind, raw = read_recording(input_path)
        if kind == "stack":
            raw = stack_to_traces(raw, dataset.get("roi") or None, int(dataset.get("binning") or 1))[0]
        horizon = min(horizon, (raw.shape[1] - 1) * dt)
        prep = preprocess_traces(raw, dt, horizon, threshold, **options)
    except sciml.UserError as exc:
        raise sciml.UserError(f"{Path(input_path).name}: {exc}") from None
    traces = prep.traces
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
        "pixel": np.repeat(prep.kept, n_t),
        "time_ms": np.tile(np.arange(n_t) * dt, n_pix),
        "v_measured": traces.reshape(-1),
        "v_forecast": states[..., 0].reshape(-1),
        "h_forecast": states[..., 1].reshape(-1),
    })
