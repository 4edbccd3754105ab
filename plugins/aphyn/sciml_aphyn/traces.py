"""Per-pixel action-potential traces: normalisation (paper §3.1/§3.2) and a loader for
users' own optical-mapping files.

The preparation follows the paper: each trace is min–max normalised to [0, 1] (§3.2), the
resting section before the upstroke (potential 0) is cut (§3.1, Fig. 1c), the trace is
cropped to the forecast horizon (350 ms in silico, 300 ms ex vivo), and for the in-silico
data 5 % Gaussian noise is added (§3.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sciml

SUPPORTED_SUFFIXES = (".csv", ".npy")


def _check_traces(raw, sampling_interval: float, horizon: float, activation_threshold: float) -> np.ndarray:
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
    return raw


def _crop(norm: np.ndarray, start: np.ndarray, n_keep: int, sampling_interval: float, horizon: float,
          rows: np.ndarray | None = None) -> np.ndarray:
    short = np.flatnonzero(start + n_keep > norm.shape[1])
    if len(short):
        p = int(short[0])
        have = (norm.shape[1] - start[p] - 1) * sampling_interval
        name = int(rows[p]) if rows is not None else p
        raise sciml.UserError(
            f"trace {name} has only {have:g} ms after its upstroke but the horizon is {horizon:g} ms "
            f"({len(short)} trace(s) too short): lower the horizon or record longer")
    idx = start[:, None] + np.arange(n_keep)[None, :]
    return np.take_along_axis(norm, idx, axis=1).astype(np.float32)


def normalise_traces(
    raw: np.ndarray,
    sampling_interval: float,
    horizon: float,
    activation_threshold: float = 0.05,
    return_start: bool = False,
    method: str = "robust",
    **robust: float | int | bool | str,
):
    """Normalise to [0, 1], cut the resting start, crop to the horizon (paper §3.1–3.2).

    Two methods:

    - ``"minmax"`` (the paper's, for noise-free traces such as the simulated slab): each trace
      is min–max normalised and starts at its first sample >= ``activation_threshold``.
    - ``"robust"`` (default; for recordings, whose noise puts the minimum below the resting
      level and fires a threshold cut at sample 0): see :func:`preprocess_traces`, which
      takes the keyword arguments ``robust`` (baseline by a fit through the resting samples,
      drift and photobleaching correction, upstroke on the smoothed trace, beat choice).
      Pixels without an action potential raise here; use :func:`preprocess_traces` to drop them.

    Args:
        raw: ``(n_pixels, n_t)`` traces in any unit (mV, fluorescence counts, ΔF/F).
        sampling_interval: time between two samples (ms).
        horizon: kept duration after the upstroke (ms); ``horizon/sampling_interval`` is
            rounded down to whole samples.
        activation_threshold: a trace starts at the first sample of its upstroke whose
            normalised value is >= this (dimensionless, in (0, 1)).
        return_start: also return the index of each trace's first kept sample.

    Returns:
        ``(n_pixels, n_keep)`` float32, ``n_keep = floor(horizon/sampling_interval) + 1``; in
        [0, 1] for ``minmax`` (the noise of a recording stays, around 0 and 1, for ``robust``);
        with ``return_start``, ``(traces, start)`` where ``start`` is ``(n_pixels,)`` int64.

    Raises:
        sciml.UserError: non-2D input, non-finite values, a flat trace, a trace too short for
            the horizon after its upstroke, an unknown method, or bad numbers.
    """
    raw = _check_traces(raw, sampling_interval, horizon, activation_threshold)
    n_keep = int(np.floor(horizon / sampling_interval + 1e-9)) + 1
    if method == "robust":
        prep = preprocess_traces(raw, sampling_interval, horizon, activation_threshold,
                                 **{"min_snr": 0.0, **robust})
        return (prep.traces, prep.start) if return_start else prep.traces
    if method != "minmax":
        raise sciml.UserError(f"normalisation method {method!r} is not one of ['robust', 'minmax']")
    lo = raw.min(axis=1, keepdims=True)
    span = raw.max(axis=1, keepdims=True) - lo
    flat = np.flatnonzero(span[:, 0] <= 0)
    if len(flat):
        raise sciml.UserError(
            f"trace(s) {flat[:10].tolist()} are flat (max == min): no action potential to learn")
    norm = (raw - lo) / span
    above = norm >= activation_threshold
    start = above.argmax(axis=1)  # every trace reaches 1 >= threshold somewhere
    out = _crop(norm, start, n_keep, sampling_interval, horizon)
    return (out, start.astype(np.int64)) if return_start else out


@dataclass
class Preprocessed:
    """Result of :func:`preprocess_traces` (``n`` = pixels kept).

    Attributes:
        traces: ``(n, n_keep)`` float32 normalised v (0 = rest, 1 = peak of the smoothed beat).
        start: ``(n,)`` int64, sample of each trace's first kept sample in the recording.
        activation_ms: ``(n,)`` activation time (ms since the first sample): the 50 % crossing
            of the smoothed upstroke, linearly interpolated.
        apd_ms: ``(n,)`` APD at 80 % repolarisation (ms from activation), NaN if the trace
            does not repolarise within the recording.
        kept: ``(n,)`` int64 row indices of the kept pixels in the input.
        snr: ``(n_input,)`` amplitude / noise σ of every input pixel (before dropping).
        polarity: ``+1`` or ``-1`` (−1: the dye's fluorescence falls on depolarisation).
        noise: ``(n,)`` σ of the noise of each kept trace in normalised units.
    """

    traces: np.ndarray
    start: np.ndarray
    activation_ms: np.ndarray
    apd_ms: np.ndarray
    kept: np.ndarray
    snr: np.ndarray
    polarity: int
    noise: np.ndarray


def noise_sigma(x: np.ndarray) -> np.ndarray:
    """Noise σ per row of ``(n, n_t)`` from the median absolute first difference (robust to upstrokes)."""
    d = np.diff(x, axis=-1)
    mad = np.median(np.abs(d - np.median(d, axis=-1, keepdims=True)), axis=-1)
    return 1.4826 * mad / np.sqrt(2.0)


def _smooth(x: np.ndarray, window: int, deriv: int = 0) -> np.ndarray:
    from scipy.signal import savgol_filter

    window = min(int(window), x.shape[-1])
    window -= 1 - window % 2  # odd
    if window < 3:
        return np.gradient(x, axis=-1) if deriv else x.copy()
    return savgol_filter(x, window, polyorder=2, deriv=deriv, axis=-1, mode="interp")


def _median(x: np.ndarray, window: int) -> np.ndarray:
    from scipy.ndimage import median_filter

    window = min(int(window), x.shape[-1])
    return median_filter(x, size=(1, window), mode="nearest") if window >= 3 else x


def upstroke_polarity(s: np.ndarray) -> np.ndarray:
    """``(n,)`` +1/−1: sign of the steepest slope of each smoothed trace ``(n, n_t)``.

    The upstroke is the fastest phase of an action potential (ms against the ~100 ms of the
    repolarisation), so the steepest slope tells which way depolarisation goes, whatever the
    baseline, drift or action-potential duration.
    """
    d = np.diff(s, axis=-1)
    i = np.argmax(np.abs(d), axis=-1)
    return np.where(np.take_along_axis(d, i[:, None], axis=-1)[:, 0] >= 0, 1.0, -1.0)


def _wfit(basis: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares polynomial fit of every row of ``s`` ``(n, n_t)``; returns the fits."""
    gram = np.einsum("tk,nt,tl->nkl", basis, w, basis)
    rhs = np.einsum("tk,nt,nt->nk", basis, w, s)
    gram += 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] * np.eye(basis.shape[1])
    return np.einsum("nk,tk->nt", np.linalg.solve(gram, rhs[..., None])[..., 0], basis)


def _baseline(s: np.ndarray, sigma: np.ndarray, degree: int, polarity: np.ndarray, asymmetry: float = 0.01,
              iterations: int = 50):
    """Polynomial baseline through the resting samples of smoothed traces ``s`` ``(n, n_t)``.

    ``polarity`` ``(n,)``: +1 if depolarisation raises the signal. Returns ``(baseline (n, n_t),
    rest mask (n, n_t))``. First an asymmetric least-squares fit (Eilers & Boelens 2005, with a
    polynomial instead of a smoother): samples on the depolarised side of the fit get weight
    ``asymmetry``, the others 1 − ``asymmetry``, until the weights stop changing; this finds
    the resting envelope even when bleaching moves the baseline by more than the action
    potential's amplitude. Then the resting samples (within max(5 % of the excursion, 3σ) of
    that envelope) are fitted with equal weights, so that the noise does not bias the level.
    """
    n, n_t = s.shape
    basis = np.vander(np.linspace(-1.0, 1.0, n_t), degree + 1)  # (n_t, degree + 1)
    pol = polarity[:, None]
    w = np.ones_like(s)
    # continuation in the degree: a constant first, then each degree starts from the previous
    # weights (a quadratic fitted to all samples at once bends into a long action potential and
    # the iteration keeps it there)
    for deg in range(degree + 1):
        sub = basis[:, degree - deg:]
        fit = _wfit(sub, s, w)
        for _ in range(iterations):
            new_w = np.where(pol * (s - fit) > 0, asymmetry, 1.0 - asymmetry)
            if np.array_equal(new_w, w):
                break
            w = new_w
            fit = _wfit(sub, s, w)
    for _ in range(3):
        excursion = pol * (s - fit)
        band = np.maximum(0.05 * excursion.max(axis=1, keepdims=True), 3.0 * sigma[:, None])
        rest = excursion < band
        few = rest.sum(axis=1) < degree + 2
        rest[few] = True
        fit = _wfit(basis, s, rest.astype(float))
    return fit, rest


def preprocess_traces(
    raw: np.ndarray,
    sampling_interval: float,
    horizon: float,
    activation_threshold: float = 0.05,
    *,
    smooth_ms: float = 5.0,
    peak_ms: float = 15.0,
    detrend_degree: int = 1,
    bleach: str = "divide",
    polarity: str = "auto",
    beat: int = 0,
    min_cycle_ms: float = 150.0,
    min_snr: float = 3.0,
) -> Preprocessed:
    """Recording traces to the paper's normalised, upstroke-aligned traces, robustly.

    Steps, per trace (pixel):

    1. Noise σ from the median absolute first difference (the upstrokes do not count).
    2. Baseline: a polynomial of degree ``detrend_degree`` in time fitted, iteratively, to the
       resting samples only (those that stay within max(10 % of the excursion, 3σ) of the fit),
       on the Savitzky–Golay-smoothed trace (window ``smooth_ms``). This removes a DC offset
       (degree 0), linear drift and the photobleaching of one beat (1, the default) or the
       curved bleaching of a long recording (2+; with a single beat that fills most of the
       recording a curved baseline can bend into the action potential: measured on a 400 ms
       recording whose beat lasts 280 ms, degree 2 put the baseline 160 counts, one
       action-potential amplitude, into the plateau, degree 1 within 5). The minimum of a
       noisy trace is never used.
    3. ``bleach="divide"``: ΔF/F = (F − B(t)) / B(t) (bleaching scales the dye's signal with the
       baseline); ``"subtract"``: F − B(t) (for traces already in mV or ΔF/F).
    4. Polarity: the side of the largest excursion from the baseline (``"auto"``, majority over
       the pixels), or ``"positive"`` / ``"negative"`` (voltage dyes such as di-4-ANEPPS dim on
       depolarisation); the trace is flipped so that depolarisation is up.
    5. Pixels whose amplitude (peak of the smoothed trace) is below ``min_snr`` × σ are
       dropped (background, no action potential); ``min_snr = 0`` keeps all.
    6. Normalisation: v = (x − rest) / (peak − rest), rest = median of the resting samples
       (≈ 0 after step 3), peak = maximum of the running median over ``peak_ms`` (the maximum
       of a noisy trace overshoots by ~3σ); the noise stays (paper §3.2).
    7. Upstrokes: upward 50 % crossings of the smoothed v at least ``min_cycle_ms`` apart, with
       the smoothed v mostly below 0.2 in the 10 ms before and above 0.5 in the 10 ms after
       (noise on a plateau or a slow repolarisation is not a beat);
       ``beat`` chooses one (0 = the first with a resting part before it). Activation time =
       the 50 % crossing, linearly interpolated; the trace starts at the first sample of the
       upstroke whose smoothed v is >= ``activation_threshold`` (the paper cuts the resting
       part, Fig. 1c), and is cropped to ``horizon``.

    Args:
        raw: ``(n_pixels, n_t)`` traces (fluorescence counts, ΔF/F or mV).
        sampling_interval: ms between samples (the camera's frame interval).
        horizon: kept duration after the upstroke (ms).
        activation_threshold: normalised v where a kept trace starts, in (0, 1).
        smooth_ms: Savitzky–Golay window (ms) for detection and baseline; 0 = none.
        peak_ms: running-median window (ms) for the amplitude (peak) only.
        detrend_degree: degree of the baseline polynomial (0 = constant offset), 0..6.
        bleach: ``"divide"`` or ``"subtract"`` (see step 3).
        polarity: ``"auto"``, ``"positive"`` or ``"negative"``.
        beat: which upstroke (0-based) to keep when a recording holds several beats.
        min_cycle_ms: shortest time between two upstrokes (ms; refractoriness).
        min_snr: drop pixels whose amplitude is below this multiple of the noise σ.

    Returns:
        :class:`Preprocessed`.

    Raises:
        sciml.UserError: bad shapes or values; no pixel with an action potential; a pixel whose
            chosen beat does not exist, starts at the first sample (no rest before it), or
            is followed by the next beat inside the horizon; a trace too short for the horizon.
    """
    raw = _check_traces(raw, sampling_interval, horizon, activation_threshold)
    if not 0 <= int(detrend_degree) <= 6:
        raise sciml.UserError(f"detrend_degree must be in 0..6, got {detrend_degree!r}")
    if bleach not in ("divide", "subtract"):
        raise sciml.UserError(f"bleach must be 'divide' or 'subtract', got {bleach!r}")
    if polarity not in ("auto", "positive", "negative"):
        raise sciml.UserError(f"polarity must be 'auto', 'positive' or 'negative', got {polarity!r}")
    if beat < 0 or smooth_ms < 0 or peak_ms < 0 or min_snr < 0 or min_cycle_ms <= 0:
        raise sciml.UserError(
            f"need beat >= 0, smooth_ms >= 0, min_snr >= 0, min_cycle_ms > 0; got {beat}, {smooth_ms}, "
            f"{min_snr}, {min_cycle_ms}")
    dt = float(sampling_interval)
    window = int(round(smooth_ms / dt))
    n_keep = int(np.floor(horizon / dt + 1e-9)) + 1
    s = _smooth(raw, window)
    pol = upstroke_polarity(s)
    if polarity == "auto":
        sign = 1.0 if np.sum(pol * np.ptp(s, axis=1)) >= 0 else -1.0  # majority, weighted by range
    else:
        sign = 1.0 if polarity == "positive" else -1.0
    sigma_s = noise_sigma(raw) / np.sqrt(max(window, 1) / 2.0)  # ~ noise left after smoothing
    base, rest = _baseline(s, sigma_s, int(detrend_degree), np.full(len(s), sign))
    if bleach == "divide":
        if np.any(np.abs(base) < 1e-12) or np.any(np.sign(base) != np.sign(base[:, :1])):
            raise sciml.UserError(
                "the baseline of a trace crosses or touches 0, so ΔF/F = (F − B)/B is undefined: "
                "traces already in mV or ΔF/F need bleach='subtract'")
        x = (raw - base) / np.abs(base)
    else:
        x = raw - base
    x = sign * x
    xs = _smooth(x, window)
    sigma = noise_sigma(x)
    rest_level = np.array([np.median(xs[i, rest[i]]) if rest[i].any() else np.median(xs[i])
                           for i in range(len(x))])
    # the peak of a lightly smoothed noisy trace is biased up by the noise (≈ +3σ of it), so the
    # amplitude comes from a running median over peak_ms (no overshoot at a sharp upstroke, unlike
    # a polynomial filter; it keeps a plateau's or a rounded optical peak's height)
    amp = _median(x, max(window, int(round(peak_ms / dt)))).max(axis=1) - rest_level
    snr = amp / np.maximum(sigma, 1e-12 * np.maximum(np.abs(amp), 1e-300))
    flat = np.flatnonzero((amp <= 0) | (np.ptp(raw, axis=1) <= 0))
    snr[flat] = 0.0
    if min_snr == 0 and len(flat):
        raise sciml.UserError(
            f"trace(s) {flat[:10].tolist()} are flat: no action potential to learn")
    kept = np.setdiff1d(np.flatnonzero(snr >= min_snr), flat)
    if not len(kept):
        raise sciml.UserError(
            f"no trace has an action potential above {min_snr:g}× its noise (best SNR "
            f"{float(np.max(snr)):.2g}): check the ROI, the polarity, or lower min_snr")
    norm = (x[kept] - rest_level[kept, None]) / amp[kept, None]
    vs = (xs[kept] - rest_level[kept, None]) / amp[kept, None]
    min_gap = max(1, int(round(min_cycle_ms / dt)))
    hold = max(3, int(round(10.0 / dt)))
    start = np.empty(len(kept), dtype=np.int64)
    act = np.empty(len(kept))
    apd = np.full(len(kept), np.nan)
    for j, row in enumerate(kept):
        v = vs[j]
        up = np.flatnonzero((v[:-1] < 0.5) & (v[1:] >= 0.5))
        # a real upstroke comes from rest and stays depolarised: the median of the ``hold``
        # samples before it is < 0.2 and of the ``hold`` after it >= 0.5
        up = [k for k in up if np.median(v[k + 1:k + 1 + hold]) >= 0.5
              and np.median(v[max(0, k + 1 - hold):k + 1]) < 0.2]
        beats = []
        for k in up:  # a new beat needs repolarisation (below 0.2) since the last one, and min_gap
            if not beats or k - beats[-1] >= min_gap:
                beats.append(int(k))
        # a beat whose upstroke begins at the first sample has no resting part: skip it
        beats = [k for k in beats if np.any(v[:k + 1] < activation_threshold)]
        if beat >= len(beats):
            raise sciml.UserError(
                f"trace {int(row)} has {len(beats)} complete beat(s) with a resting part before the "
                f"upstroke; beat {beat} was asked for")
        k = beats[beat]
        act[j] = (k + (0.5 - v[k]) / max(v[k + 1] - v[k], 1e-12)) * dt
        below = np.flatnonzero(v[:k + 1] < activation_threshold)
        start[j] = below[-1] + 1
        if beat + 1 < len(beats) and beats[beat + 1] < start[j] + n_keep:
            raise sciml.UserError(
                f"trace {int(row)}: the next beat starts {(beats[beat + 1] - start[j]) * dt:g} ms after this "
                f"one, inside the {horizon:g} ms horizon: lower the horizon below the cycle length")
        peak = k + int(np.argmax(v[k:k + min_gap]))
        down = np.flatnonzero(v[peak:] < 0.2)
        if len(down):
            i = peak + down[0]
            apd[j] = (i - 1 + (v[i - 1] - 0.2) / max(v[i - 1] - v[i], 1e-12)) * dt - act[j]
    out = _crop(norm, start, n_keep, dt, horizon, rows=kept)
    return Preprocessed(traces=out, start=start, activation_ms=act, apd_ms=apd, kept=kept.astype(np.int64),
                        snr=snr, polarity=int(sign), noise=sigma[kept] / amp[kept])


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
