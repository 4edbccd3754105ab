"""Loading a user's own experiment: a plate map (CSV) and bright-field images (TIFF/PNG).

Plate map columns (one row per well per day)::

    plate, well, day, group, drug, concentration, image[, efficacy]

- ``plate``: any label (text); ``well``: inner well B2..G11; ``day``: an imaging day (any whole
  numbers; by default every day that occurs in the plate map is used); ``group``: untreated (or
  control) | single | screening; ``drug``: name (empty for untreated); ``concentration``: µM (0
  for untreated); ``image``: path, absolute or relative to the CSV's folder; optional
  ``efficacy``: measured fraction killed (e.g. from an end-point viability assay), used only
  for evaluation — without it the plate still gets scores, rankings and dose–response fits.

Images: TIFF or PNG, 8- or 16-bit (or float); grey ``(H, W)``, multi-layer ``(C, H, W)`` (a
focal stack saved as a multi-page TIFF, up to 16 layers) or RGB(A) ``(H, W, 3|4)`` (three focal
layers saved as colours, as in the thesis). Scaled by the integer type's range to [0, 1]. The
layers are kept as channels (``channels='all'``), or the best-focus layer is picked, or they are
averaged. With ``crop > 0`` the spheroid is detected per well (scikit-image, on the first day)
and a square of ``crop`` x the field of view around it is cut out — the same size for every
well, so that size stays comparable — before resizing to ``size`` x ``size``.

Each well gets a quality-control note (``qc``, empty when fine): ``empty`` (no spheroid found),
``out_of_focus`` (sharpness below a quarter of the plate's median), ``debris`` (as much dark
matter outside the spheroid as in it), ``missing_day_<d>`` (that day's image was absent; the
nearest earlier day's image stands in, or the nearest later one for the first day).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sciml

from sciml_spheroid.plate import parse_group, parse_well

REQUIRED_COLUMNS = ("plate", "well", "day", "group", "drug", "concentration", "image")


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file as float64 layers ``(C, H, W)`` in [0, 1] (see the module docstring).

    Raises:
        sciml.UserError: the file is missing, is not a readable image, or has an unsupported
            shape (not ``(H, W)``, ``(C, H, W)`` with C <= 16, or ``(H, W, 3|4)``).
    """
    path = Path(path)
    if not path.is_file():
        raise sciml.UserError(f"image file {str(path)!r} does not exist")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
        else:
            import imageio.v3 as iio

            arr = iio.imread(path)
    except Exception as exc:  # any decoder failure means: not an image we can read
        raise sciml.UserError(
            f"{str(path)!r} is not a readable image (TIFF or PNG, 8/16-bit, grey or RGB): {exc}"
        ) from None
    arr = np.asarray(arr)
    if arr.size == 0 or arr.dtype == object:
        raise sciml.UserError(f"{str(path)!r} is not a readable image (TIFF or PNG): it holds no pixel data")
    kind = arr.dtype
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 16:
        arr = np.moveaxis(arr[..., :3], -1, 0)
    elif arr.ndim == 2:
        arr = arr[None]
    elif not (arr.ndim == 3 and arr.shape[0] <= 16):
        raise sciml.UserError(
            f"image {str(path)!r} has shape {arr.shape}; accepted are (H, W) grey, (C, H, W) layers "
            "(C <= 16) and (H, W, 3|4) RGB(A)"
        )
    if np.issubdtype(kind, np.integer):
        arr = arr.astype(np.float64) / float(np.iinfo(kind).max)
    else:
        arr = arr.astype(np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if lo < 0 or hi > 1:
            arr = (arr - lo) / max(hi - lo, 1e-12)
    return np.clip(arr, 0.0, 1.0)


def sharpness(layer: np.ndarray) -> float:
    """Focus measure of one layer ``(H, W)``: variance of its Laplacian (larger = sharper)."""
    from scipy import ndimage

    return float(np.var(ndimage.laplace(np.asarray(layer, dtype=np.float64))))


def select_channels(layers: np.ndarray, channels: str) -> np.ndarray:
    """``(C, H, W)`` -> ``(C', H, W)``: all layers, the sharpest one (``best_focus``) or their ``mean``.

    Raises:
        sciml.UserError: unknown ``channels``.
    """
    if channels == "all":
        return layers
    if channels == "mean":
        return layers.mean(0, keepdims=True)
    if channels == "best_focus":
        return layers[[int(np.argmax([sharpness(x) for x in layers]))]]
    raise sciml.UserError(f"channels {channels!r}: accepted are 'all', 'best_focus', 'mean'")


def _resize(layers: np.ndarray, size: int) -> np.ndarray:
    from skimage.transform import resize

    if layers.shape[-2:] == (size, size):
        return layers.astype(np.float32)
    return np.clip(resize(layers, (layers.shape[0], size, size), anti_aliasing=True, preserve_range=True),
                   0, 1).astype(np.float32)


def load_image(path: str | Path, size: int, channels: str = "mean") -> np.ndarray:
    """Read one image as ``(size, size)`` float32 (``channels='mean'``, grey) or ``(C, size, size)``.

    Raises:
        sciml.UserError: see :func:`read_image`.
    """
    out = _resize(select_channels(read_image(path), channels), size)
    return out[0] if channels == "mean" else out


def locate_spheroid(layer: np.ndarray) -> tuple[float, float, float, float]:
    """``(cy, cx, area_fraction, debris_ratio)`` of the spheroid in one layer ``(H, W)``.

    Centre in pixels (the image centre when nothing is found, area 0); ``debris_ratio`` = dark
    pixels outside the spheroid / spheroid pixels, inside the central disc (segmentation as
    :func:`sciml_spheroid.handcrafted.segment`, on a copy shrunk to at most 128 px)."""
    from skimage.transform import resize

    from sciml_spheroid.handcrafted import dark_pixels, segment

    h, w = layer.shape
    f = min(1.0, 128.0 / max(h, w))
    small = resize(layer, (max(8, round(h * f)), max(8, round(w * f))), anti_aliasing=True) if f < 1 else layer
    mask = segment(small)
    area = float(mask.sum())
    if area < 1:
        return h / 2, w / 2, 0.0, 0.0
    yy, xx = np.nonzero(mask)
    dark = dark_pixels(small)
    return (float(yy.mean() / f), float(xx.mean() / f), area / mask.size,
            float((dark & ~mask).sum() / max(area, 1.0)))


def crop_around(layers: np.ndarray, cy: float, cx: float, fraction: float) -> np.ndarray:
    """Square of side ``fraction`` x min(H, W) centred at ``(cy, cx)`` from ``(C, H, W)`` (edge-padded)."""
    h, w = layers.shape[-2:]
    half = max(4, int(round(fraction * min(h, w) / 2)))
    pad = np.pad(layers, ((0, 0), (half, half), (half, half)), mode="edge")
    y0, x0 = int(round(cy)), int(round(cx))
    return pad[:, y0:y0 + 2 * half, x0:x0 + 2 * half]


def load_plate_map(csv_path: str | Path, size: int = 64, days: Sequence[int] | None = None,
                   channels: str = "all", crop: float = 0.0) -> dict[str, np.ndarray]:
    """Load a plate map and its images into per-well arrays.

    Args:
        size: image side after cropping and resizing (pixels).
        days: imaging days to use (default: every day in the plate map, sorted).
        channels: ``all`` | ``best_focus`` | ``mean`` (see :func:`select_channels`).
        crop: fraction of the field of view cut out around the detected spheroid (0: whole field).

    Returns:
        dict with ``images (n_wells, n_days, C, size, size)`` float32, ``plate_name (n_wells,)``,
        ``plate (n_wells,)`` int index, ``well``, ``group`` (0/1/2), ``drug``,
        ``concentration`` (µM), ``efficacy`` (NaN when not given), ``qc`` (text, "" when fine),
        ``missing_days`` (count) and ``days``.

    Raises:
        sciml.UserError: missing file or column, unknown well, bad group, a day that is not a
            whole number (or not in ``days``), a well with none of the days or a day listed
            twice, images with different channel counts, or a bad image.
    """
    import pandas as pd

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise sciml.UserError(f"plate map {str(csv_path)!r} does not exist")
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise sciml.UserError(f"plate map {str(csv_path)!r} is not a readable CSV: {exc}") from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise sciml.UserError(
            f"plate map {str(csv_path)!r} lacks column(s) {missing}; required: {list(REQUIRED_COLUMNS)}"
        )
    if df.empty:
        raise sciml.UserError(f"plate map {str(csv_path)!r} has no rows")
    wanted = None if days is None else [int(d) for d in days]
    wells: dict[tuple[str, str], dict] = {}
    for i, row in df.iterrows():
        line = i + 2  # header is line 1
        try:
            day_f = float(row["day"])
        except ValueError:
            day_f = float("nan")
        if not np.isfinite(day_f) or day_f != int(day_f):
            raise sciml.UserError(f"plate map line {line}: bad day {row['day']!r}; days are whole numbers")
        day = int(day_f)
        if wanted is not None and day not in wanted:
            continue  # a day the user did not ask for
        well = parse_well(row["well"])
        group = parse_group(row["group"])
        try:
            conc = float(row["concentration"] or 0.0)
        except ValueError:
            raise sciml.UserError(
                f"plate map line {line}: concentration {row['concentration']!r} is not a number (µM)"
            ) from None
        if conc < 0:
            raise sciml.UserError(f"plate map line {line}: concentration {conc} µM is negative")
        key = (str(row["plate"]).strip(), well)
        entry = wells.setdefault(key, {"group": group, "drug": str(row["drug"]).strip() or "none",
                                       "concentration": conc, "images": {}, "efficacy": np.nan})
        if day in entry["images"]:
            raise sciml.UserError(f"plate map line {line}: plate {key[0]!r} well {well} day {day} is listed twice")
        img_path = Path(row["image"])
        if not img_path.is_absolute():
            img_path = csv_path.parent / img_path
        entry["images"][day] = img_path
        if "efficacy" in df.columns and str(row["efficacy"]).strip() != "":
            try:
                entry["efficacy"] = float(row["efficacy"])
            except ValueError:
                raise sciml.UserError(
                    f"plate map line {line}: efficacy {row['efficacy']!r} is not a number (fraction killed)"
                ) from None
    if not wells:
        raise sciml.UserError(f"plate map {str(csv_path)!r} has no row for the days {wanted}")
    all_days = sorted({d for e in wells.values() for d in e["images"]}) if wanted is None else wanted
    if len(all_days) < 2:
        raise sciml.UserError(f"plate map {str(csv_path)!r}: only day(s) {all_days}; the time-series model "
                              "needs at least two imaging days per well")
    plates = sorted({k[0] for k in wells})
    cols = {k: [] for k in ("images", "plate_name", "plate", "well", "group", "drug", "concentration", "efficacy",
                            "qc", "missing_days", "sharpness")}
    n_channels = None
    for (plate, well), e in sorted(wells.items(), key=lambda kv: (kv[0][0], kv[0][1][0], int(kv[0][1][1:]))):
        have = sorted(e["images"])
        raw = {d: select_channels(read_image(e["images"][d]), channels) for d in have}
        shapes = {r.shape[0] for r in raw.values()}
        if n_channels is None:
            n_channels = shapes.pop() if len(shapes) == 1 else -1
        if shapes - {n_channels} or n_channels == -1:
            raise sciml.UserError(f"plate {plate!r} well {well}: images with {sorted(shapes | {n_channels})} channels; "
                                  "every image needs the same number of layers (or set dataset.channels=mean)")
        first = raw[have[0]]
        best = first[int(np.argmax([sharpness(x) for x in first]))]
        cy, cx, area, debris = locate_spheroid(best)
        qc = []
        if area < 0.002:
            qc.append("empty")
        if debris > 1.0:
            qc.append("debris")
        stack = []
        for d in all_days:
            src = d if d in raw else (max([x for x in have if x < d], default=None) or min(have))
            if d not in raw:
                qc.append(f"missing_day_{d}")
            layers = crop_around(raw[src], cy, cx, crop) if crop > 0 else raw[src]
            stack.append(_resize(layers, size))
        cols["images"].append(np.stack(stack))
        cols["sharpness"].append(sharpness(best))
        cols["plate_name"].append(plate)
        cols["plate"].append(plates.index(plate))
        cols["well"].append(well)
        cols["group"].append(e["group"])
        cols["drug"].append(e["drug"])
        cols["concentration"].append(e["concentration"])
        cols["efficacy"].append(e["efficacy"])
        cols["qc"].append(qc)
        cols["missing_days"].append(sum(d not in raw for d in all_days))
    sharp = np.array(cols["sharpness"])
    plate_idx = np.array(cols["plate"])
    for j in range(len(sharp)):
        if sharp[j] < 0.25 * np.median(sharp[plate_idx == plate_idx[j]]):
            cols["qc"][j].append("out_of_focus")
    return {
        "images": np.stack(cols["images"]).astype(np.float32),
        "plate_name": np.array(cols["plate_name"], dtype=str),
        "plate": plate_idx.astype(np.int64),
        "well": np.array(cols["well"], dtype=str),
        "group": np.array(cols["group"], dtype=np.int64),
        "drug": np.array(cols["drug"], dtype=str),
        "concentration": np.array(cols["concentration"], dtype=float),
        "efficacy": np.array(cols["efficacy"], dtype=float),
        "qc": np.array([";".join(q) for q in cols["qc"]], dtype=str),
        "missing_days": np.array(cols["missing_days"], dtype=np.int64),
        "days": np.array(all_days, dtype=np.int64),
    }
