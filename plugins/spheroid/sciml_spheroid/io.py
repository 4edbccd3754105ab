"""Loading a user's own experiment: a plate map (CSV) and bright-field images (TIFF/PNG).

Plate map columns (one row per well per day)::

    plate, well, day, group, drug, concentration, image[, efficacy]

- ``plate``: any label (text); ``well``: inner well B2..G11; ``day``: an imaging day (default
  7, 8, 9, 10; every well needs every day); ``group``: untreated (or control) | single |
  screening; ``drug``: name (empty for untreated); ``concentration``: µM (0 for untreated);
  ``image``: path, absolute or relative to the CSV's folder; optional ``efficacy``: measured
  fraction killed (e.g. from an end-point viability assay), used only for evaluation.

Images: TIFF or PNG, 8- or 16-bit (or float), grey or RGB(A); converted to grey floats in
[0, 1] (scaled by the integer type's range) and resized to ``size`` × ``size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

import sciml
from sciml_spheroid.plate import DAYS, parse_group, parse_well

REQUIRED_COLUMNS = ("plate", "well", "day", "group", "drug", "concentration", "image")


def load_image(path: str | Path, size: int) -> np.ndarray:
    """Read one image file as a ``(size, size)`` float32 grey image in [0, 1].

    Raises:
        sciml.UserError: the file is missing, is not a readable image, or has an unsupported
            shape (not ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``).
    """
    from skimage.color import rgb2gray
    from skimage.transform import resize

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
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        kind = arr.dtype
        arr = arr[..., :3]
    elif arr.ndim == 2:
        kind = arr.dtype
    else:
        raise sciml.UserError(
            f"image {str(path)!r} has shape {arr.shape}; accepted are (H, W) grey and (H, W, 3|4) RGB(A)"
        )
    if np.issubdtype(kind, np.integer):
        arr = arr.astype(np.float64) / float(np.iinfo(kind).max)
    elif kind == np.bool_:
        arr = arr.astype(np.float64)
    else:
        arr = arr.astype(np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if lo < 0 or hi > 1:
            arr = (arr - lo) / max(hi - lo, 1e-12)
    if arr.ndim == 3:
        arr = rgb2gray(arr)
    if arr.shape != (size, size):
        arr = resize(arr, (size, size), anti_aliasing=True, preserve_range=True)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def load_plate_map(csv_path: str | Path, size: int = 64, days: Sequence[int] = DAYS) -> dict[str, np.ndarray]:
    """Load a plate map and its images into per-well arrays.

    Returns:
        dict with ``images (n_wells, n_days, size, size)`` float32, ``plate_name (n_wells,)``,
        ``plate (n_wells,)`` int index, ``well``, ``group`` (0/1/2), ``drug``,
        ``concentration`` (µM), ``efficacy`` (NaN when not given) and ``days``.

    Raises:
        sciml.UserError: missing file or column, unknown well, bad group, a day that is not a
            whole number in ``days``, a well lacking a day or listed twice, or a bad image.
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
    days = [int(d) for d in days]
    wells: dict[tuple[str, str], dict] = {}
    for i, row in df.iterrows():
        line = i + 2  # header is line 1
        try:
            day_f = float(row["day"])
        except ValueError:
            day_f = float("nan")
        if not np.isfinite(day_f) or day_f != int(day_f) or int(day_f) not in days:
            raise sciml.UserError(
                f"plate map line {line}: bad day {row['day']!r}; accepted days are {days}"
            )
        day = int(day_f)
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
    plates = sorted({k[0] for k in wells})
    out = {k: [] for k in ("images", "plate_name", "plate", "well", "group", "drug", "concentration", "efficacy")}
    for (plate, well), e in sorted(wells.items(), key=lambda kv: (kv[0][0], kv[0][1][0], int(kv[0][1][1:]))):
        lacking = [d for d in days if d not in e["images"]]
        if lacking:
            raise sciml.UserError(f"plate {plate!r} well {well} has no image for day(s) {lacking}; every well needs days {days}")
        out["images"].append(np.stack([load_image(e["images"][d], size) for d in days]))
        out["plate_name"].append(plate)
        out["plate"].append(plates.index(plate))
        out["well"].append(well)
        out["group"].append(e["group"])
        out["drug"].append(e["drug"])
        out["concentration"].append(e["concentration"])
        out["efficacy"].append(e["efficacy"])
    arrays = {
        "images": np.stack(out["images"]).astype(np.float32),
        "plate_name": np.array(out["plate_name"], dtype=str),
        "plate": np.array(out["plate"], dtype=np.int64),
        "well": np.array(out["well"], dtype=str),
        "group": np.array(out["group"], dtype=np.int64),
        "drug": np.array(out["drug"], dtype=str),
        "concentration": np.array(out["concentration"], dtype=float),
        "efficacy": np.array(out["efficacy"], dtype=float),
        "days": np.array(days, dtype=np.int64),
    }
    return arrays
