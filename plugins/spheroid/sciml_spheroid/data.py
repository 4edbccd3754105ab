"""The ``spheroid:plates`` Dataset: simulated plates (default) or a user's plate map.

Splits are by plate: train, validation and test are disjoint sets of plates (wells of one plate
share seeding, handling and imaging, so they are correlated and are never split apart). The
simulated test plates were rendered from ``(experiment_seed, plate)`` pairs never seen in
training. With fewer plates than splits a split stays **empty** (test first, then validation):
its metrics are not reported and :attr:`SpheroidPlates.split_note` says why. Training wells are
never relabelled as validation or test. Each item is one well's time series of images.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import sciml
from pydantic import Field

from sciml_spheroid.plate import DAYS, GROUPS

log = logging.getLogger(__name__)


class SpheroidPlates(sciml.Dataset):
    """Bright-field spheroid plates, one item per well: images ``(n_days, C, S, S)`` in [0, 1]
    (``C`` channels: focal layers, or 1)."""

    class Config(sciml.ComponentConfig):
        source: Literal["simulated", "platemap"] = Field(
            "simulated", description="'simulated' (embedded experiment, known ground truth) or 'platemap' (your CSV)")
        plate_map: str | None = Field(None, description="plate-map CSV path when source='platemap' (see docs)")
        image_size: int = Field(48, ge=16, le=512, description="image side after cropping/resizing (pixels)")
        preset: Literal["treatment", "legacy"] = Field("treatment", description=(
            "simulated experiment: 'treatment' (drugs act through necrosis, fragmentation, rim loosening, "
            "density and growth arrest, each with its own dose response; plate/day acquisition drift) or "
            "'legacy' (the first release's simulator: one efficacy drives size, circularity and intensity)"))
        n_layers: int = Field(1, ge=1, le=8, description="simulated focal layers, kept as channels (treatment preset)")
        channels: Literal["all", "best_focus", "mean"] = Field("all", description=(
            "platemap: multi-layer images (focal stacks, RGB) keep 'all' layers as channels, or the "
            "'best_focus' layer (largest variance of the Laplacian), or their 'mean' (grey)"))
        crop: float = Field(0.0, ge=0.0, le=1.0, description=(
            "platemap: crop a square of this fraction of the field of view around the detected spheroid "
            "(same size for every well and day, so size changes stay visible) before resizing; 0 = no crop"))
        days: list[int] | None = Field(None, description=(
            "platemap: imaging days to use (default: every day in the plate map); a well missing a day "
            "takes the nearest earlier day's image and is flagged in qc"))
        experiment_seed: int = Field(0, ge=0, description="seed of the simulated experiment (plates are (seed, index))")
        n_train_plates: int = Field(3, ge=1, le=50, description="simulated plates used for training (SimCLR + time series)")
        n_val_plates: int = Field(1, ge=0, le=50, description=(
            "simulated plates for validation (NT-Xent val_loss, val_* metrics that select); 0: none"))
        n_test_plates: int = Field(2, ge=0, le=50, description=(
            "simulated plates for the test metrics (unseen seeds, reported only); 0: no test metric"))
        n_untreated: int | None = Field(None, ge=2, le=60, description=(
            "untreated (control) wells per plate (default: 12 treatment preset, 18 legacy)"))
        n_single: int | None = Field(None, ge=0, le=60, description=(
            "wells with the single recommended concentration per plate (default: 8 treatment, 12 legacy)"))
        replicates: int = Field(2, ge=1, le=60, description="replicate wells per screening drug x concentration")
        concentrations: list[float] = Field([0.1, 0.3, 1.0, 3.0, 10.0], description="screening concentrations (µM)")
        single_concentration: float = Field(1.0, gt=0, description="recommended concentration of the single-dose group (µM, drug D1)")
        efficacy_noise: float = Field(0.05, ge=0, le=0.5, description="sd of well-to-well scatter of true efficacy (fraction)")
        noise_level: float = Field(1.0, ge=0, le=3, description="scale of imaging nuisances (blur, shot noise, illumination, plate shifts)")
        val_plates: list[str] = Field([], description=(
            "platemap: plate labels for validation (default: the second-to-last plate with >= 3 plates, "
            "the last with 2, none with 1)"))
        test_plates: list[str] = Field([], description=(
            "platemap: plate labels for testing (default: the last plate with >= 3 plates, else none: "
            "no test metric is reported)"))

    def __init__(self, config, context):
        super().__init__(config, context)
        self.arrays: dict[str, np.ndarray] | None = None
        self.metadata = {}
        #: one line per empty validation/test split saying why it is empty ("" when none is)
        self.split_note = ""

    # -- building -------------------------------------------------------------------------
    def _build_simulated(self):
        c = self.config
        n_plates = c.n_train_plates + c.n_val_plates + c.n_test_plates
        imgs, cols = [], {k: [] for k in ("plate", "well", "group", "drug", "concentration", "efficacy", "oracle",
                                          "split")}
        for p in range(n_plates):
            pl = simulate_plate(c, c.experiment_seed, p)
            split = 0 if p < c.n_train_plates else (1 if p < c.n_train_plates + c.n_val_plates else 2)
            imgs.append(np.round(pl.images * 65535).astype(np.uint16))
            oracle = pl.oracle if pl.oracle is not None else pl.efficacy  # legacy: efficacy is all there is
            for wd, e, o in zip(pl.design, pl.efficacy, oracle, strict=False):
                for key, value in (("plate", p), ("well", wd.well), ("group", wd.group), ("drug", wd.drug),
                                   ("concentration", wd.concentration), ("efficacy", e), ("oracle", o),
                                   ("split", split)):
                    cols[key].append(value)
        arrays = {"images": np.concatenate(imgs), "days": np.asarray(DAYS),
                  "plate_name": np.array([f"sim{p}" for p in cols["plate"]], dtype=str)}
        for k, v in cols.items():
            arrays[k] = np.asarray(v)
        arrays["well"] = arrays["well"].astype(str)
        arrays["drug"] = arrays["drug"].astype(str)
        return arrays, {"source": "simulated"}

    def _build_platemap(self):
        from sciml_spheroid.io import load_plate_map

        c = self.config
        if not c.plate_map:
            raise sciml.UserError("dataset.source='platemap' needs dataset.plate_map=<path to CSV>")
        a = load_plate_map(c.plate_map, size=c.image_size, days=c.days, channels=c.channels, crop=c.crop)
        names = sorted(set(a["plate_name"].tolist()))
        val, test = assign_plates(names, c.val_plates, c.test_plates)
        split = np.zeros(len(a["plate"]), dtype=np.int64)
        split[np.isin(a["plate_name"], val)] = 1
        split[np.isin(a["plate_name"], test)] = 2
        a["split"] = split
        a["images"] = np.round(a["images"] * 65535).astype(np.uint16)
        return a, {"source": "platemap", "plate_map": str(c.plate_map)}

    def prepare(self) -> None:
        c = self.config
        key = self.fingerprint()
        build = self._build_simulated if c.source == "simulated" else self._build_platemap
        if c.source == "platemap":
            arrays, meta = build()  # user files may change: never trust a cache keyed on the path
        else:
            path = self.context.cache_dir / f"spheroid-plates-{key}.npz"
            arrays, meta = sciml.cached_arrays(path, build)
        arrays = dict(arrays)
        arrays["images"] = arrays["images"].astype(np.float32) / 65535.0
        if arrays["images"].ndim == 4:  # one channel
            arrays["images"] = arrays["images"][:, :, None]
        self.arrays = arrays
        self.split_note = empty_split_note(arrays["split"], arrays["plate_name"])
        if self.split_note:
            log.warning("%s", self.split_note)
        self.metadata = {
            "image_size": int(arrays["images"].shape[-1]),
            "days": [int(d) for d in arrays["days"]],
            "n_days": int(arrays["images"].shape[1]),
            "in_channels": int(arrays["images"].shape[2]),
            "groups": list(GROUPS),
            "source": meta.get("source", c.source),
        }

    def fingerprint(self) -> str:
        return sciml.content_hash({"class": "SpheroidPlates", "v": 2, "config": self.config.model_dump()})

    def indices(self, name: str) -> np.ndarray:
        """Well indices ``(n,)`` of split ``name`` ('train' | 'val' | 'test'); empty when the
        split has no plate (see :attr:`split_note`). Never another split's wells.

        Raises:
            KeyError: an unknown split name.
        """
        if self.arrays is None:
            self.prepare()
        code = {"train": 0, "val": 1, "test": 2}[name]
        return np.flatnonzero(self.arrays["split"] == code)

    def split_indices(self):
        return {n: self.indices(n).tolist() for n in ("train", "val", "test")}

    def split(self, name):
        import torch

        idx = self.indices(name)
        a = self.arrays

        class _Wells(torch.utils.data.Dataset):
            def __len__(self):
                return len(idx)

            def __getitem__(self, i):
                j = int(idx[i])
                return {"images": torch.from_numpy(a["images"][j]),  # (n_days, C, S, S)
                        "group": int(a["group"][j]), "efficacy": float(a["efficacy"][j]), "index": j}

        return _Wells()


def simulate_plate(c, seed: int, plate: int):
    """Render plate ``plate`` of experiment ``seed`` with the dataset config ``c``'s preset and design.

    Returns :class:`sciml_spheroid.simulate.PlateImages` (images with a channel axis)."""
    from sciml_spheroid.simulate import (
        DEFAULT_DRUGS,
        TREATMENT_DRUGS,
        design_plate,
        render_plate,
        render_treatment_plate,
    )

    if c.preset == "legacy":
        design = design_plate(n_untreated=18 if c.n_untreated is None else c.n_untreated,
                              n_single=12 if c.n_single is None else c.n_single, drugs=DEFAULT_DRUGS,
                              concentrations=c.concentrations, replicates=c.replicates,
                              single_concentration=c.single_concentration)
        pl = render_plate(seed, plate, size=c.image_size, design=design, drugs=DEFAULT_DRUGS,
                          efficacy_noise=c.efficacy_noise, noise_level=c.noise_level)
        pl.images = pl.images[:, :, None]
        return pl
    design = design_plate(n_untreated=12 if c.n_untreated is None else c.n_untreated,
                          n_single=8 if c.n_single is None else c.n_single, drugs=TREATMENT_DRUGS,
                          concentrations=c.concentrations, replicates=c.replicates,
                          single_drug=TREATMENT_DRUGS[0].name, single_concentration=c.single_concentration)
    return render_treatment_plate(seed, plate, size=c.image_size, design=design, drugs=TREATMENT_DRUGS,
                                  efficacy_noise=c.efficacy_noise, noise_level=c.noise_level, n_layers=c.n_layers)


def assign_plates(names: list[str], val_plates: list[str], test_plates: list[str]) -> tuple[list[str], list[str]]:
    """Validation and test plate labels of a plate map with plates ``names`` (sorted).

    Explicit ``val_plates`` / ``test_plates`` are taken as given. Otherwise test is the last
    plate and validation the second-to-last when there are >= 3 plates; with 2 plates the last
    validates and there is no test plate; with 1 plate there is neither. The rest train.

    Raises:
        sciml.UserError: a label not in ``names``, a plate both in validation and test, or no
            plate left for training.
    """
    for lst, what in ((val_plates, "val_plates"), (test_plates, "test_plates")):
        bad = [p for p in lst if p not in names]
        if bad:
            raise sciml.UserError(f"dataset.{what}: plate(s) {bad} not in the plate map; plates: {names}")
    both = sorted(set(val_plates) & set(test_plates))
    if both:
        raise sciml.UserError(f"plate(s) {both} are in both dataset.val_plates and dataset.test_plates; "
                              "a plate belongs to one split")
    free = [n for n in names if n not in val_plates]
    test = list(test_plates) or (free[-1:] if len(names) >= 3 else [])
    rest = [n for n in names if n not in test]
    val = list(val_plates) or (rest[-1:] if len(rest) >= 2 else [])
    if not [n for n in names if n not in val and n not in test]:
        raise sciml.UserError(f"no plate left for training: plates {names}, validation {val}, test {test}")
    return val, test


def empty_split_note(split: np.ndarray, plate_name: np.ndarray) -> str:
    """One line saying which of validation/test has no plate and what that means ("" if both have).

    ``split`` ``(n_wells,)`` holds 0/1/2 (train/val/test); ``plate_name`` ``(n_wells,)``."""
    n_plates = len(set(np.asarray(plate_name).tolist()))
    empty = [name for code, name in ((1, "validation"), (2, "test")) if not np.any(np.asarray(split) == code)]
    if not empty:
        return ""
    what = {"validation": "no val_* metric (nothing selects a champion)", "test": "no test_* metric"}
    return (f"{n_plates} plate(s): no {' and no '.join(empty)} plate, so "
            f"{'; '.join(what[e] for e in empty)} is reported; splits are by plate and training wells "
            "are never scored as held-out wells (give more plates or set dataset.val_plates/test_plates)")
