"""Synthetic optical-mapping recordings with known activation times (tests, docs, benches).

A recording is a fluorescence movie ``(n_t, ny, nx)``: a voltage-sensitive dye whose
fluorescence changes by ``dff`` (ΔF/F, negative for di-4-ANEPPS) between rest and the
action-potential peak, on a baseline ``f0`` with an offset gradient across the field,
linear drift, exponential photobleaching and Gaussian noise of σ = amplitude / ``snr``.
The action potential is the Mitchell–Schaeffer model's (paper Eq. 2) or any normalised
voltage movie (e.g. a finitewave TP06 slab), so the activation times are known exactly.
"""

from __future__ import annotations

import numpy as np
import sciml


def ms_template(dt: float = 0.01, t_end: float = 600.0, tau_in: float = 0.3, tau_out: float = 6.0,
                tau_open: float = 120.0, tau_close: float = 150.0, v_gate: float = 0.13,
                stim: float = 1.0) -> tuple[np.ndarray, float]:
    """One Mitchell–Schaeffer action potential from rest, forward Euler at ``dt`` ms.

    Returns ``(v (n,), t50)``: v on the grid ``k·dt`` (normalised, rest 0), stimulated with
    J = 0.2/ms for ``stim`` ms from t = 0, and the time (ms) of its upstroke's 50 % crossing
    (linear interpolation on the fine grid).
    """
    n = int(round(t_end / dt)) + 1
    v = np.empty(n)
    x, h = 0.0, 1.0
    for k in range(n):
        v[k] = x
        j = 0.2 if k * dt < stim else 0.0
        dv = h * x * x * (1 - x) / tau_in - x / tau_out + j
        dh = (1 - h) / tau_open if x < v_gate else -h / tau_close
        x, h = x + dt * dv, h + dt * dh
    v = v / v.max()
    k = int(np.flatnonzero(v >= 0.5)[0])
    t50 = (k - 1 + (0.5 - v[k - 1]) / (v[k] - v[k - 1])) * dt
    return v, t50


def planar_wave_movie(n_t: int, dt: float, ny: int, nx: int, t_first: float = 30.0,
                      speed: float = 0.5, pixel_mm: float = 0.7, tau_close=150.0,
                      beats: tuple[float, ...] = (0.0,)) -> tuple[np.ndarray, np.ndarray]:
    """Normalised voltage movie of a wave crossing the field left to right.

    Args:
        n_t, dt: frames and frame interval (ms).
        ny, nx: field size (pixels of ``pixel_mm``).
        t_first: activation time of column 0 (ms).
        speed: conduction velocity (mm/ms; 0.5 mm/ms = 50 cm/s).
        tau_close: Mitchell–Schaeffer τ_close (ms): a scalar, or ``(ny, nx)`` per pixel
            (two regions of different APD, as the paper's Fig. 4).
        beats: onsets of further beats after the first (ms), for multi-beat recordings.

    Returns:
        ``(v (n_t, ny, nx), activation_ms (n_beats, ny, nx))``: v in [0, 1]; activation = the
        upstroke's 50 % crossing, exactly.
    """
    tau = np.broadcast_to(np.asarray(tau_close, dtype=float), (ny, nx))
    act0 = t_first + np.arange(nx)[None, :] * pixel_mm / speed + np.zeros((ny, 1))
    t = np.arange(n_t) * dt
    v = np.zeros((n_t, ny, nx))
    acts = []
    templates = {}
    for onset in beats:
        act = act0 + onset
        acts.append(act)
        for (i, j), a in np.ndenumerate(act):
            key = float(tau[i, j])
            if key not in templates:
                templates[key] = ms_template(tau_close=key)
            tpl, t50 = templates[key]
            local = t - a + t50
            ok = (local >= 0) & (local <= (len(tpl) - 1) * 0.01)
            v[ok, i, j] = np.maximum(v[ok, i, j], np.interp(local[ok], np.arange(len(tpl)) * 0.01, tpl))
    return v.astype(np.float32), np.stack(acts)


def fluorescence(v: np.ndarray, dt: float, *, f0: float = 2000.0, dff: float = -0.08, snr: float = 10.0,
                 offset_gradient: float = 0.3, drift_per_s: float = 0.05, bleach_tau_ms: float = 3000.0,
                 seed: int = 0, dtype=np.uint16) -> np.ndarray:
    """Camera frames of a voltage movie ``v`` ``(n_t, ny, nx)`` (normalised, rest 0, peak 1).

    F = f0·g(x)·(1 + drift·t)·exp(−t/bleach_tau)·(1 + dff·v) + noise, with g a linear offset
    gradient across x (from 1 − offset_gradient/2 to 1 + offset_gradient/2), noise σ =
    |dff|·f0 / ``snr`` (SNR = action-potential amplitude over noise σ). Rounded to ``dtype``
    (uint16 as a camera's export) unless float.

    Raises:
        sciml.UserError: non-3D ``v``, ``snr`` <= 0, or values that do not fit ``dtype``.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 3:
        raise sciml.UserError(f"v must be (n_t, ny, nx), got shape {v.shape}")
    if not snr > 0:
        raise sciml.UserError(f"snr must be > 0, got {snr!r}")
    n_t, ny, nx = v.shape
    t = (np.arange(n_t) * dt)[:, None, None]
    gain = 1.0 + offset_gradient * (np.linspace(-0.5, 0.5, nx)[None, None, :])
    base = f0 * gain * (1.0 + drift_per_s * t / 1000.0) * np.exp(-t / bleach_tau_ms)
    rng = np.random.default_rng(seed)
    frames = base * (1.0 + dff * v) + abs(dff) * f0 / snr * rng.standard_normal(v.shape)
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        if frames.min() < info.min or frames.max() > info.max:
            raise sciml.UserError(f"frames span [{frames.min():.0f}, {frames.max():.0f}], outside {np.dtype(dtype)}")
        return np.rint(frames).astype(dtype)
    return frames.astype(dtype)
