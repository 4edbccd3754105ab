"""Dataset: labelled X2YZ compounds as periodic-table images with normalised targets.

Targets (columns, in this order): ``formation_energy_per_atom`` (eV/atom), ``lattice_parameter``
(Å). Missing values (OQMD has no lattice parameter) are NaN with ``mask == False``.

Normalisation (paper §CNNs, "whitening" and "bound"), with statistics of the TRAINING split only
(applied unchanged to validation/test, as the paper does for each training-set size):

- whitening: y' = (y - m) / σ, m and σ the training mean and standard deviation;
- bound: y' = (y - min) / (max - min), the training range mapped to [0, 1] (the paper names the
  method without defining it; this is our reading).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import sciml
from pydantic import Field

from sciml_ptrcnn.representation import LAYOUTS, REPRESENTATIONS, Encoding, encode

TARGETS = ("formation_energy_per_atom", "lattice_parameter")


def normalization_stats(y: np.ndarray, method: str) -> dict:
    """``{"method", "center": [..], "scale": [..]}`` per target column of ``y`` ``(n, n_targets)`` (NaN ignored)."""
    center, scale = [], []
    for j in range(y.shape[1]):
        col = y[:, j][np.isfinite(y[:, j])]
        if col.size == 0:
            c, s = 0.0, 1.0
        elif method == "whitening":
            c, s = float(col.mean()), float(col.std())
        elif method == "bound":
            c, s = float(col.min()), float(col.max() - col.min())
        else:
            raise sciml.UserError(f"unknown normalization {method!r}; accepted: whitening, bound")
        center.append(c)
        scale.append(s if s > 0 else 1.0)
    return {"method": method, "center": center, "scale": scale}


def normalize(y: np.ndarray, stats: dict) -> np.ndarray:
    return (y - np.asarray(stats["center"])) / np.asarray(stats["scale"])


def denormalize(y: np.ndarray, stats: dict, columns=None) -> np.ndarray:
    """Back to physical units; ``columns`` selects which target columns ``y`` holds (default all)."""
    c, s = np.asarray(stats["center"]), np.asarray(stats["scale"])
    if columns is not None:
        c, s = c[list(columns)], s[list(columns)]
    return np.asarray(y) * s + c


def split_indices(n: int, test_fraction: float, val_fraction: float, seed: int,
                  n_train: int | None = None, force_test=()) -> dict[str, np.ndarray]:
    """Random split: a fixed test set (``test_fraction``), then validation (``val_fraction`` of all),
    and the first ``n_train`` of the rest as training set (all when None). Same seed -> same test set
    for every ``n_train`` (the paper's error-vs-training-size protocol). Indices in ``force_test``
    always go to the test set (in addition).

    Raises:
        UserError: ``n_train`` larger than what is left for training.
    """
    forced = np.asarray(sorted(set(int(i) for i in force_test)), dtype=int)
    perm = np.random.default_rng(seed).permutation(n)
    perm = np.r_[forced, perm[~np.isin(perm, forced)]]
    n_test = max(int(round(test_fraction * n)), len(forced))
    n_val = int(round(val_fraction * n))
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    if n_train is not None:
        if n_train > len(train):
            raise sciml.UserError(f"dataset.n_train={n_train} exceeds the {len(train)} compounds left for training")
        train = train[:n_train]
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


class HeuslerPTRDataset(sciml.Dataset):
    """X2YZ compounds (default: the committed CHGNet table) drawn in a periodic-table representation.

    Splits are ``TensorDataset(x (n,1,H,W) float32, y (n,2) normalised float32, mask (n,2) bool)``.
    """

    class Config(sciml.ComponentConfig):
        source: Literal["chgnet", "oqmd", "csv"] = Field(
            "chgnet", description="chgnet = committed CHGNet table (or dataset.path); oqmd = 'Co2 Ga1 Mn1 -0.2354' file; csv = formula + targets")
        path: str | None = Field(None, description="file for source oqmd/csv (or another CHGNet table)")
        representation: Literal[REPRESENTATIONS] = Field("ptr", description="ptr or a control: " + ", ".join(REPRESENTATIONS[1:]))  # type: ignore[valid-type]
        layout: Literal[LAYOUTS] = Field("compact", description="compact = periods 2-6 x groups 1-16 (5x16, paper); full = 7x18")  # type: ignore[valid-type]
        # default: the authors' PyTorch port, which beat plain counts (0 / 1 per atom) on validation
        # (OQMD 5k, 2 seeds; docs/plugins/ptrcnn.md, issue 15)
        background: float = Field(0.0, description="pixel value of cells without an element (authors' ports: 0)")
        element_value: float = Field(-0.1, description="pixel value of element cells absent from the compound (authors' PyTorch port: -0.1; plain counts: 0)")
        count_scale: float = Field(1.4, gt=0, description="pixel value per atom of a compound's element (authors' PyTorch port: 1.4; plain counts: 1)")
        normalization: Literal["whitening", "bound"] = Field("whitening", description="target normalisation (paper)")
        n_train: int | None = Field(None, ge=10, description="training-set size (compounds); None = all left after test/val")
        test_fraction: float = Field(0.2, gt=0, lt=1, description="held-out test fraction")
        val_fraction: float = Field(0.1, ge=0, lt=1, description="validation fraction (early stopping)")
        split_seed: int = Field(0, description="seed of the random split")
        max_compounds: int | None = Field(None, ge=10, description="use only the first N compounds of the file (quick runs)")
        holdout_experimental: bool = Field(True, description="keep pymatgen's experimental X2YZ compositions out of train/val (always in test)")

    def __init__(self, config=None, context=None):
        super().__init__(config or self.Config(), context)
        self._arrays = None

    @property
    def encoding(self) -> Encoding:
        """Pixel values of the images (:class:`sciml_ptrcnn.representation.Encoding`)."""
        c = self.config
        return Encoding(background=c.background, element_value=c.element_value, count_scale=c.count_scale)

    def _source_id(self) -> str:
        from sciml import file_sha256

        from sciml_ptrcnn.sources import CHGNET_TABLE, data_path

        p = Path(self.config.path) if self.config.path else data_path(CHGNET_TABLE)
        if not p.exists():
            raise sciml.UserError(f"dataset.path {str(p)!r} does not exist")
        return file_sha256(p)

    def fingerprint(self) -> str:
        return sciml.content_hash({"config": self.config.model_dump(), "source": self._source_id(), "v": 2})

    def _build(self):
        from sciml_ptrcnn.sources import load_source

        df = load_source(self.config.source, self.config.path)
        if self.config.max_compounds:
            df = df.iloc[: self.config.max_compounds]
        if len(df) < 10:
            raise sciml.UserError(f"the data set holds {len(df)} compounds; at least 10 are needed")
        x = encode([{r.x: 2, r.y: 1, r.z: 1} for r in df.itertuples()], self.config.representation, self.config.layout,
                   encoding=self.encoding)
        y = df[list(TARGETS)].to_numpy(dtype=np.float64)
        forced = ()
        if self.config.holdout_experimental:
            from sciml_ptrcnn.sources import load_experimental

            exp = set(load_experimental()["formula"])
            forced = np.flatnonzero(df["formula"].isin(exp).to_numpy())
        idx = split_indices(len(df), self.config.test_fraction, self.config.val_fraction,
                            self.config.split_seed, self.config.n_train, forced)
        stats = normalization_stats(y[idx["train"]], self.config.normalization)
        arrays = {"x": x, "y": y, "formula": df["formula"].to_numpy(dtype=str),
                  **{f"idx_{k}": v for k, v in idx.items()}}
        return arrays, {"normalization": stats}

    def prepare(self) -> None:
        if self._arrays is not None:
            return
        if self.context is not None:
            path = Path(self.context.cache_dir) / "ptrcnn" / f"{self.fingerprint()}.npz"
            arrays, meta = sciml.cached_arrays(path, self._build)
        else:
            arrays, meta = self._build()
        self._arrays = arrays
        self.normalization = meta["normalization"]
        y = arrays["y"]
        present = [t for j, t in enumerate(TARGETS) if np.isfinite(y[arrays["idx_train"], j]).any()]
        self.metadata = {
            "input_shape": tuple(int(s) for s in arrays["x"].shape[1:]),
            "targets": list(TARGETS),
            "targets_present": present,
            "normalization": self.normalization,
            "representation": self.config.representation,
            "layout": self.config.layout,
            "encoding": self.encoding._asdict(),
            "n_train": int(len(arrays["idx_train"])),
            "source": self.config.source,
        }

    def formulas(self, name: str) -> np.ndarray:
        self.prepare()
        return self._arrays["formula"][self._arrays[f"idx_{name}"]]

    def raw_targets(self, name: str) -> np.ndarray:
        """Physical targets of a split, ``(n, 2)``: eV/atom, Å (NaN where missing)."""
        self.prepare()
        return self._arrays["y"][self._arrays[f"idx_{name}"]]

    def images(self, name: str) -> np.ndarray:
        self.prepare()
        return self._arrays["x"][self._arrays[f"idx_{name}"]]

    def split(self, name):
        import torch
        from torch.utils.data import TensorDataset

        if name not in ("train", "val", "test"):
            raise sciml.UserError(f"unknown split {name!r}; accepted: train, val, test")
        self.prepare()
        y = self.raw_targets(name)
        yn = normalize(y, self.normalization)
        mask = np.isfinite(y)
        return TensorDataset(torch.from_numpy(self.images(name)).float(),
                             torch.from_numpy(np.nan_to_num(yn)).float(), torch.from_numpy(mask))

    def split_indices(self):
        self.prepare()
        return {k: self._arrays[f"idx_{k}"].tolist() for k in ("train", "val", "test")}
