"""Normalisation to the plate's own untreated (control) wells.

Acquisition drifts from plate to plate and from day to day (focus, illumination), and it moves
every well of a plate on a day together. The untreated wells of the same plate imaged on the
same day carry exactly that drift, so features and representations are centred on them:

    x'[w, d] = x[w, d] - mean_{u untreated on plate(w)} x[u, d]                       (N1)

and scores are expressed in units of the plate's own untreated scatter:

    s'[w] = (s[w] - mean_{u untreated on plate(w)} s[u]) / sd_{u untreated on plate(w)} s[u]   (N2)

A plate with fewer than ``MIN_CONTROLS`` untreated wells cannot be normalised on its own: it
falls back to the pooled untreated wells of all plates given (and a warning says so).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: fewest untreated wells a plate needs to be its own reference
MIN_CONTROLS = 2


def _controls(plate: np.ndarray, group: np.ndarray, p) -> np.ndarray:
    idx = np.flatnonzero((plate == p) & (group == 0))
    if len(idx) < MIN_CONTROLS:
        pooled = np.flatnonzero(group == 0)
        log.warning("plate %r has %d untreated well(s) (< %d): normalised to the untreated wells of all plates "
                    "(%d) instead of its own", p, len(idx), MIN_CONTROLS, len(pooled))
        return pooled
    return idx


def centre_on_controls(x: np.ndarray, plate: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Eq. (N1): ``x`` ``(N, n_days, F)`` minus, per plate and day, the mean of that plate's
    untreated wells. ``plate`` and ``group`` are ``(N,)`` (group 0 = untreated). NaN entries
    (missing days) are ignored in the means and stay NaN.

    Raises:
        ValueError: no untreated well at all (nothing to normalise to).
    """
    x = np.asarray(x, dtype=np.float64)
    plate, group = np.asarray(plate), np.asarray(group)
    if not np.any(group == 0):
        raise ValueError("no untreated (control) well: plate normalisation needs untreated wells")
    out = np.empty_like(x)
    for p in np.unique(plate):
        ref = np.nanmean(x[_controls(plate, group, p)], axis=0)  # (n_days, F)
        m = plate == p
        out[m] = x[m] - ref[None]
    return out


def standardise_scores(score: np.ndarray, plate: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Eq. (N2): scores ``(N,)`` as z-scores against the untreated wells of their own plate."""
    score = np.asarray(score, dtype=np.float64)
    plate, group = np.asarray(plate), np.asarray(group)
    if not np.any(group == 0):
        raise ValueError("no untreated (control) well: score standardisation needs untreated wells")
    out = np.empty_like(score)
    for p in np.unique(plate):
        ref = score[_controls(plate, group, p)]
        ref = ref[np.isfinite(ref)]
        mu = float(np.mean(ref)) if len(ref) else 0.0
        sd = float(np.std(ref, ddof=1)) if len(ref) > 1 else 1.0
        m = plate == p
        out[m] = (score[m] - mu) / max(sd, 1e-9)
    return out
