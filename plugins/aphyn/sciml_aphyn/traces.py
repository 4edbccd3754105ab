"""Per-pixel action-potential traces: normalisation (paper §3.1/§3.2) and a loader for
users' own optical-mapping files.

The preparation follows the paper: each trace is min–max normalised to [0, 1] (§3.2), the
resting section before the upstroke (potential 0) is cut (§3.1, Fig. 1c), the trace is
cropped to the forecast horizon (350 ms in silico, 300 ms ex vivo), and for the in-silico
data 5 % Gaussian noise is added (§3.1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import sciml

SUPPORTED_SUFFIXES = (".csv", ".npy")


def normalise_traces(
    raw: np.ndarray,
    sampling_interval: float,
    horizon: float,
    activation_threshold: float = 0.05,
    return_start: bool = False,
):
    """Min–max normalise, cut the resting start, crop to the horizon.

    Args:
        raw: ``(n_pixels, n_t)`` traces in any unit (mV, fluorescence ΔF/F).
        sampling_interval: time between two samples (ms).
        horizon: kept duration after the upstroke (ms); ``horizon/sampling_interval`` is
            rounded down to whole samples.
        activation_threshold: a trace starts at its first sample whose normalised value
            is >= this (dimensionless, in (0, 1)); everything before is the resting part.
        return_start: also return the index of each trace's first kept sample.

    Returns:
        ``(n_pixels, n_keep)`` float32 in [0, 1], ``n_keep = floor(horizon/sampling_interval) + 1``;
        with ``return_start``, ``(traces, start)`` where ``start`` is ``(n_pixels,)`` int64.

    Raises:
        sciml.UserError: non-2D input, non-finite values, a flat trace (max == min), a
            trace too short for the horizon after its upstroke, or bad numbers.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2:
        raise sciml.UserError(f"traces must be a 2D array (n_pixels, n_samples), got shape {raw.shape}")
    if raw.shape[0] == 0 or raw.shape[1] < 2:
        raise sciml.UserError(
            f"traces of shape {raw.shape}: need at least 1 pixel and 2 samples per trace")
    if not sampling_interval > 0:
        raise sciml.UserError(f"sampling_interval must be > 0 ms, got {sampling_interval!r}")
    if not horizon >= sampling_interval:
        raise sciml.UserError(
            f"horizon {horizon!r} ms must be at least one sampling interval ({sampling_interval} ms)")
    if not 0.0 < activation_threshold < 1.0:
        raise sciml.UserError(f"activation_threshold must lie in (0, 1), got {activation_threshold!r}")
    bad = np.argwhere(~np.isfinite(raw))
    if len(bad):
        p, t = bad[0]
        raise sciml.UserError(
            f"trace {p} has a non-finite value ({raw[p, t]}) at sample {t}; "
            f"{len(bad)} non-finite values in all: remove or interpolate them")
    lo = raw.min(axis=1, keepdims=True)
    span = raw.max(axis=1, keepdims=True) - lo
    flat = np.flatnonzero(span[:, 0] <= 0)
    if len(flat):
        raise sciml.UserError(
            f"trace(s) {flat[:10].tolist()} are flat (max == min): no action potential to learn")
    norm = (raw - lo) / span

    n_keep = int(np.floor(horizon / sampling_interval + 1e-9)) + 1
    above = norm >= activation_threshold
    start = above.argmax(axis=1)  # every trace reaches 1 >= threshold somewhere
    short = np.flatnonzero(start + n_keep > norm.shape[1])
    if len(short):
        p = int(short[0])
        have = (norm.shape[1] - start[p] - 1) * sampling_interval
        raise sciml.UserError(
            f"trace {p} has only {have:g} ms after its upstroke but the horizon is {horizon:g} ms "
            f"({len(short)} trace(s) too short): lower the horizon or record longer")
    idx = start[:, None] + np.arange(n_keep)[None, :]
    out = np.take_along_axis(norm, idx, axis=1).astype(np.float32)
    return (out, start.astype(np.int64)) if return_start else out


def add_noise(traces: np.ndarray, level: float, seed: int) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``level`` (5 % = 0.05 of the [0, 1] range).

    Deterministic in ``seed``. Returns float32, same shape as ``traces``.
    """
    if level < 0:
        raise sciml.UserError(f"noise level must be >= 0, got {level!r}")
    rng = np.random.default_rng(seed)
    return (traces + level * rng.standard_normal(traces.shape)).astype(np.float32)


def read_trace_file(path: str | Path) -> np.ndarray:
    """Read a user's traces: ``.npy`` or ``.csv`` with one trace per pixel (one row each).

    A CSV holds numbers only, comma separated, one row per pixel and one column per
    sample; lines starting with ``#`` are comments. An NPY holds a 2D array
    ``(n_pixels, n_samples)`` or a single 1D trace.

    Returns:
        ``(n_pixels, n_samples)`` float64.

    Raises:
        sciml.UserError: missing file, unsupported suffix, empty file, non-numeric cell,
            rows of different lengths, wrong number of dimensions, non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise sciml.UserError(f"trace file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise sciml.UserError(
            f"trace file {path.name!r} has suffix {suffix!r}; accepted: {list(SUPPORTED_SUFFIXES)}")
    if path.stat().st_size == 0:
        raise sciml.UserError(f"trace file {path.name!r} is empty")
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise sciml.UserError(f"{path.name}: not a numeric .npy array ({exc})") from exc
        if not np.issubdtype(data.dtype, np.number):
            raise sciml.UserError(f"{path.name}: array dtype {data.dtype} is not numeric")
    else:
        rows = []
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                rows.append([float(cell) for cell in line.split(",")])
            except ValueError as exc:
                raise sciml.UserError(f"{path.name} line {lineno}: non-numeric value ({exc})") from exc
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise sciml.UserError(
                f"{path.name}: rows have different numbers of samples {sorted(lengths)}; "
                "one trace per row, all of the same length")
        data = np.asarray(rows, dtype=np.float64)
    if data.size == 0:
        raise sciml.UserError(f"trace file {path.name!r} is empty")
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise sciml.UserError(
            f"{path.name}: expected a 2D array (n_pixels, n_samples), got shape {data.shape}")
    data = data.astype(np.float64)
    if not np.all(np.isfinite(data)):
        p, t = np.argwhere(~np.isfinite(data))[0]
        raise sciml.UserError(f"{path.name}: trace {p} sample {t} is {data[p, t]} (NaN or inf)")
    return data


def load_traces(
    path: str | Path,
    sampling_interval: float,
    horizon: float = 300.0,
    activation_threshold: float = 0.05,
) -> np.ndarray:
    """Read a trace file and normalise it as the paper's ex-vivo data (§3.2).

    Args:
        path: ``.csv`` or ``.npy``, one trace per pixel (see :func:`read_trace_file`).
        sampling_interval: time between samples (ms), e.g. 3.7 for the paper's camera.
        horizon: kept duration after the upstroke (ms; 300 ex vivo).
        activation_threshold: see :func:`normalise_traces`.

    Returns:
        ``(n_pixels, floor(horizon/sampling_interval) + 1)`` float32 in [0, 1].

    Raises:
        sciml.UserError: see :func:`read_trace_file` and :func:`normalise_traces`.
    """
    return normalise_traces(read_trace_file(path), sampling_interval, horizon, activation_threshold)
