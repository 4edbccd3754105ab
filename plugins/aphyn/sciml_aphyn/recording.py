"""Optical-mapping recordings: TIFF stacks (t, y, x), ROI masks, spatial binning, pixel traces.

The usual export of an optical-mapping camera is a multi-page TIFF, one page per frame.
:func:`read_stack` reads it with ``tifffile`` (or a 3D ``.npy``), :func:`load_roi` reads a
mask (PNG/TIFF/NPY image, non-zero = inside, or a rectangle ``"y0:y1,x0:x1"``),
:func:`bin_stack` averages ``b×b`` pixel blocks (noise σ falls by ``b``), and
:func:`stack_to_traces` gives one trace per (binned) pixel inside the ROI, which the
preprocessing of :func:`sciml_aphyn.traces.preprocess_traces` turns into the paper's
normalised, upstroke-aligned traces (§3.2).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import sciml

STACK_SUFFIXES = (".tif", ".tiff", ".npy")
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".npy")


def read_stack(path: str | Path) -> np.ndarray:
    """A recording ``(n_t, ny, nx)`` float64 from a multi-page TIFF or a 3D ``.npy``.

    A TIFF with extra axes of length 1 is squeezed; colour (RGB) pages are refused.

    Raises:
        sciml.UserError: missing file, unsupported suffix, unreadable file, not 3D after
            squeezing, fewer than 2 frames, non-numeric or non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise sciml.UserError(f"recording {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in STACK_SUFFIXES:
        raise sciml.UserError(f"recording {path.name!r} has suffix {suffix!r}; accepted: {list(STACK_SUFFIXES)}")
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            import tifffile

            data = tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types on a corrupt file
        raise sciml.UserError(f"{path.name}: cannot read the recording ({type(exc).__name__}: {exc})") from exc
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise sciml.UserError(f"{path.name}: pixel type {data.dtype} is not a real number")
    data = np.squeeze(data)
    if data.ndim != 3:
        raise sciml.UserError(
            f"{path.name}: expected frames (t, y, x), got shape {data.shape} after dropping axes of length 1"
            + (" (colour pages? export grey-level frames)" if data.ndim == 4 else ""))
    if data.shape[0] < 2:
        raise sciml.UserError(f"{path.name}: only {data.shape[0]} frame(s)")
    data = data.astype(np.float64)
    if not np.all(np.isfinite(data)):
        t, y, x = np.argwhere(~np.isfinite(data))[0]
        raise sciml.UserError(f"{path.name}: frame {t} pixel (y={y}, x={x}) is NaN or inf")
    return data


_RECT = re.compile(r"^\s*(\d*)\s*:\s*(\d*)\s*,\s*(\d*)\s*:\s*(\d*)\s*$")


def load_roi(spec: str | Path | np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ROI mask ``(ny, nx)`` from an image file, a rectangle, an array or ``None`` (all).

    ``spec``: a mask image (``.png``, ``.tif``, ``.npy``; non-zero = inside; an RGB(A) image
    counts a pixel as inside if any colour channel is non-zero), a rectangle
    ``"y0:y1,x0:x1"`` (Python slices, ends exclusive, empty = to the edge), or a boolean array.

    Raises:
        sciml.UserError: missing file, bad rectangle, shape different from the recording's
            frames ``shape``, empty mask.
    """
    ny, nx = shape
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return np.ones(shape, dtype=bool)
    if isinstance(spec, np.ndarray):
        mask = spec
    elif isinstance(spec, str) and _RECT.match(spec):
        y0, y1, x0, x1 = (int(g) if g else None for g in _RECT.match(spec).groups())
        mask = np.zeros(shape, dtype=bool)
        mask[slice(y0, y1), slice(x0, x1)] = True
    else:
        path = Path(spec)
        if not path.is_file():
            raise sciml.UserError(
                f"ROI {str(spec)!r} is neither a mask file nor a rectangle 'y0:y1,x0:x1'")
        suffix = path.suffix.lower()
        if suffix not in MASK_SUFFIXES:
            raise sciml.UserError(f"ROI mask {path.name!r} has suffix {suffix!r}; accepted: {list(MASK_SUFFIXES)}")
        try:
            if suffix == ".npy":
                mask = np.load(path, allow_pickle=False)
            elif suffix == ".png":
                from PIL import Image

                mask = np.asarray(Image.open(path))
            else:
                import tifffile

                mask = tifffile.imread(path)
        except Exception as exc:
            raise sciml.UserError(f"{path.name}: cannot read the ROI mask ({type(exc).__name__}: {exc})") from exc
        if mask.ndim == 3:  # colour image: inside where any channel (alpha excluded) is set
            mask = mask[..., :3].any(axis=-1) if mask.shape[-1] in (3, 4) else mask
    mask = np.asarray(mask)
    if mask.shape != (ny, nx):
        raise sciml.UserError(f"ROI mask has shape {mask.shape}, the recording's frames are {(ny, nx)}")
    mask = mask.astype(bool)
    if not mask.any():
        raise sciml.UserError("the ROI mask selects no pixel")
    return mask


def bin_stack(stack: np.ndarray, mask: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Average ``factor×factor`` blocks of ``stack`` ``(n_t, ny, nx)`` inside ``mask`` ``(ny, nx)``.

    A block's value is the mean of its pixels inside the mask; a block is kept in the binned
    mask if at least half of its pixels are inside. Edge rows/columns that do not fill a
    block are dropped. ``factor = 1`` returns the inputs.

    Returns:
        ``(binned (n_t, ny // factor, nx // factor), binned mask)``.

    Raises:
        sciml.UserError: ``factor`` < 1 or larger than the frame, or no block inside the mask.
    """
    factor = int(factor)
    n_t, ny, nx = stack.shape
    if factor < 1 or factor > min(ny, nx):
        raise sciml.UserError(f"binning factor must be in 1..{min(ny, nx)} for {ny}×{nx} frames, got {factor}")
    if factor == 1:
        return stack, mask
    by, bx = ny // factor, nx // factor
    s = stack[:, :by * factor, :bx * factor].reshape(n_t, by, factor, bx, factor)
    m = mask[:by * factor, :bx * factor].reshape(by, factor, bx, factor).astype(float)
    counts = m.sum(axis=(1, 3))
    binned = (s * m[None]).sum(axis=(2, 4)) / np.maximum(counts, 1)[None]
    keep = counts >= 0.5 * factor * factor
    if not keep.any():
        raise sciml.UserError(f"no {factor}×{factor} block lies at least half inside the ROI: lower the binning")
    return binned, keep


def stack_to_traces(stack: np.ndarray, roi=None, binning: int = 1) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Pixel traces of a recording: ``(traces (n_pixels, n_t), coords (n_pixels, 2) [y, x], grid)``.

    ``roi`` as :func:`load_roi`; ``binning`` as :func:`bin_stack`; ``coords`` index the binned
    grid of shape ``grid``.
    """
    mask = load_roi(roi, stack.shape[1:])
    binned, mask = bin_stack(stack, mask, binning)
    coords = np.argwhere(mask)
    traces = binned[:, coords[:, 0], coords[:, 1]].T.astype(np.float64)
    return np.ascontiguousarray(traces), coords, tuple(int(n) for n in binned.shape[1:])


def block_split(coords: np.ndarray, fractions=(0.6, 0.2, 0.2)) -> dict[str, np.ndarray]:
    """Split pixels into train/val/test by contiguous bands along x (neighbours are correlated).

    Returns ``{split: indices into coords}``; every split gets at least one column band.

    Raises:
        sciml.UserError: fewer than 3 distinct columns.
    """
    cols = np.unique(coords[:, 1])
    if len(cols) < 3:
        raise sciml.UserError(
            f"the ROI spans {len(cols)} column(s) after binning; a block split into train/val/test needs >= 3")
    edges = np.cumsum(fractions)[:-1] / np.sum(fractions) * len(cols)
    edges = np.clip(np.round(edges).astype(int), 1, len(cols) - 1)
    edges[1] = max(edges[1], edges[0] + 1)
    edges[1] = min(edges[1], len(cols) - 1)
    if edges[0] >= edges[1]:
        edges[0] = edges[1] - 1
    bands = {"train": cols[:edges[0]], "val": cols[edges[0]:edges[1]], "test": cols[edges[1]:]}
    return {k: np.flatnonzero(np.isin(coords[:, 1], v)) for k, v in bands.items()}


def read_recording(path: str | Path) -> tuple[str, np.ndarray]:
    """``("stack", (n_t, ny, nx))`` for a TIFF or a 3D ``.npy``, else ``("traces", (n_pixels, n_t))``.

    Trace files are ``.csv``/``.npy`` with one trace per row (see
    :func:`sciml_aphyn.traces.read_trace_file`).

    Raises:
        sciml.UserError: as :func:`read_stack` / :func:`~sciml_aphyn.traces.read_trace_file`.
    """
    from sciml_aphyn.traces import read_trace_file

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return "stack", read_stack(path)
    if suffix == ".npy" and path.is_file():
        try:
            ndim = np.load(path, mmap_mode="r", allow_pickle=False).ndim
        except (ValueError, OSError, EOFError):
            ndim = 2  # let the trace reader give its message
        if ndim == 3:
            return "stack", read_stack(path)
    if suffix not in (".csv", ".npy"):
        raise sciml.UserError(
            f"recording {path.name!r} has suffix {suffix!r}; accepted: .tif/.tiff/.npy frames (t, y, x), "
            ".csv/.npy traces (one row per pixel)")
    return "traces", read_trace_file(path)
