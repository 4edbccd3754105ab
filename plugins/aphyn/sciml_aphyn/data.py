"""Datasets: simulated TP06 slab (paper §3.1) and users' optical-mapping traces (§3.2).

Every sample is one pixel's normalised voltage trace ``(n_samples,)`` (0D data, as in the
paper). ``split(name)`` returns a ``torch.utils.data.TensorDataset`` of ``(trace,)``.
"""

from __future__ import annotations

from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Literal

import numpy as np
import sciml
from pydantic import Field

from sciml_aphyn.simulation import simulate_tp06_slab, stimulus_box
from sciml_aphyn.traces import add_noise, normalise_traces

SPLITS = ("train", "val", "test")


def _finitewave_version() -> str:
    try:
        return importlib_metadata.version("finitewave")
    except importlib_metadata.PackageNotFoundError:
        return "absent"


def _tensor_dataset(traces: np.ndarray):
    import torch
    from torch.utils.data import TensorDataset

    return TensorDataset(torch.from_numpy(np.ascontiguousarray(traces, dtype=np.float32)))


class _TraceDataset(sciml.Dataset):
    """Shared by both datasets: ``noisy``/``clean``/``start`` per split, set by ``prepare``.

    Three disjoint sets of traces: ``train`` fits the model, ``val`` chooses (the epoch, the
    trial, the acceptance gate), ``test`` is only reported.
    """

    noisy: dict[str, np.ndarray]
    clean: dict[str, np.ndarray]
    start: dict[str, np.ndarray]

    def split(self, name: str):
        if name not in SPLITS:
            raise sciml.UserError(f"split {name!r} is not one of {list(SPLITS)}")
        return _tensor_dataset(self.noisy[name])

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """``noisy``/``clean`` ``(n_pixels, n_samples)`` and ``start`` ``(n_pixels,)`` of a split."""
        if name not in SPLITS:
            raise sciml.UserError(f"split {name!r} is not one of {list(SPLITS)}")
        return {"noisy": self.noisy[name], "clean": self.clean[name], "start": self.start[name]}


class TP06SlabDataset(_TraceDataset):
    """TP06 monodomain slab simulated with finitewave (paper §3.1).

    Train: stimulus in the top-left corner; val: stimulus near the centre (paper Fig. 1);
    test: stimulus on the middle of the top edge (a third simulation, not in the paper, so
    that the reported figure is not the one the epoch and the gate were chosen on). The
    three sites must stimulate different cells (else :class:`sciml.UserError`): the same
    site would give the same slab with other noise, i.e. test pixels seen in training.
    Each split holds ``n*n`` traces ``(n_samples,)`` with ``n_samples = horizon/record_interval + 1``,
    normalised to [0, 1], resting start cut, plus Gaussian noise of std ``noise``.

    The raw simulations are cached under ``context.cache_dir/aphyn`` keyed by a content
    hash of the simulation parameters and the finitewave version.
    """

    class Config(sciml.ComponentConfig):
        n: int = Field(24, ge=2, le=256, description="slab size in cells (paper: 24)")
        t_end: float = Field(400.0, gt=0, le=5000, description="simulated time (ms; paper: 400)")
        horizon: float = Field(350.0, gt=0, description="kept trace length after the upstroke (ms; paper: 350)")
        record_interval: float = Field(1.0, gt=0, le=50, description="sampling interval of the traces (ms)")
        noise: float = Field(0.05, ge=0, le=1, description="std of the added Gaussian noise (fraction of [0,1]; paper: 0.05)")
        noise_seed: int = Field(0, ge=0, description="seed of the noise (train uses it, val it + 1, test it + 2)")
        activation_threshold: float = Field(0.05, gt=0, lt=1, description="normalised v where a trace starts")
        train_site: Literal["corner", "centre", "edge"] = Field("corner", description="stimulus site of the training slab")
        val_site: Literal["corner", "centre", "edge"] = Field("centre", description="stimulus site of the validation slab")
        test_site: Literal["corner", "centre", "edge"] = Field("edge", description="stimulus site of the test slab")
        stim_size: int = Field(3, ge=1, description="side of the stimulated square (cells)")
        stim_current: float = Field(150.0, gt=0, description="stimulus current (mV/ms) during stim_duration")
        stim_duration: float = Field(1.0, gt=0, description="stimulus duration (ms; paper: 1)")
        dt: float = Field(0.01, gt=0, le=0.05, description="finitewave time step (ms)")
        dr: float = Field(0.25, gt=0, description="cell size (mm)")
        g_kr_scale: float = Field(1.0, gt=0, le=10, description="factor on TP06's G_Kr (> 1: shorter APD)")
        g_ks_scale: float = Field(1.0, gt=0, le=10, description="factor on TP06's G_Ks (> 1: shorter APD)")

    def _sim_params(self, site: str) -> dict:
        c = self.config
        params = {"n": c.n, "t_end": c.t_end, "site": site, "stim_size": c.stim_size,
                  "stim_current": c.stim_current, "stim_duration": c.stim_duration,
                  "dt": c.dt, "dr": c.dr, "record_interval": c.record_interval}
        # only when changed, so that the cache keys of the default slabs stay what they were
        params.update({k: getattr(c, k) for k in ("g_kr_scale", "g_ks_scale") if getattr(c, k) != 1.0})
        return params

    def raw_voltage(self, site: str) -> np.ndarray:
        """``(n_t, n, n)`` TP06 voltage (mV) for ``site``, simulated once then cached."""
        params = self._sim_params(site)
        key = sciml.content_hash({"model": "TP06", "finitewave": _finitewave_version(), **params})
        path = Path(self.context.cache_dir) / "aphyn" / f"tp06_{key}.npz"

        def build():
            voltage = simulate_tp06_slab(**params)
            return {"voltage": voltage}, {"params": params, "finitewave": _finitewave_version()}

        arrays, _ = sciml.cached_arrays(path, build)
        return arrays["voltage"]

    def sites(self) -> dict[str, str]:
        """``{split: stimulus site}``.

        Raises:
            sciml.UserError: two splits would stimulate the same cells.
        """
        c = self.config
        sites = {"train": c.train_site, "val": c.val_site, "test": c.test_site}
        boxes = {split: stimulus_box(c.n, site, c.stim_size) for split, site in sites.items()}
        for i, a in enumerate(SPLITS):
            for b in SPLITS[i + 1:]:
                if boxes[a] == boxes[b]:
                    raise sciml.UserError(
                        f"the {a} and {b} slabs would be stimulated on the same cells {boxes[a]} "
                        f"(sites {sites[a]!r}, {sites[b]!r}, n={c.n}, stim_size={c.stim_size}): "
                        f"the {b} pixels would repeat the {a} pixels; give the three splits different "
                        "dataset.*_site values (a slab of n >= 6 keeps corner, centre and edge apart)")
        return sites

    def prepare(self) -> None:
        c = self.config
        self.clean, self.noisy, self.start, self.raw = {}, {}, {}, {}
        for offset, (split, site) in enumerate(self.sites().items()):
            voltage = self.raw_voltage(site)
            raw = voltage.reshape(voltage.shape[0], -1).T  # (n*n, n_t)
            # noise-free simulation: the paper's min-max normalisation; the noise comes after
            clean, start = normalise_traces(raw, c.record_interval, c.horizon,
                                            c.activation_threshold, return_start=True, method="minmax")
            self.raw[split] = voltage
            self.clean[split] = clean
            self.start[split] = start
            self.noisy[split] = add_noise(clean, c.noise, c.noise_seed + offset)
        self.metadata = {
            "sampling_interval": c.record_interval,
            "horizon": c.horizon,
            "n_samples": int(self.noisy["train"].shape[1]),
            "grid": [c.n, c.n],
            "source": "tp06_slab",
        }

    def fingerprint(self) -> str:
        return sciml.content_hash({"class": "TP06SlabDataset", "config": self.config.model_dump(),
                                   "finitewave": _finitewave_version()})


class OpticalMappingDataset(_TraceDataset):
    """Users' own optical-mapping recordings (paper §3.2): a TIFF stack, or trace files.

    Either one recording ``path`` — frames ``(t, y, x)`` as a multi-page TIFF (the usual camera
    export) or a 3D ``.npy``, or traces ``(n_pixels, n_t)`` as ``.csv``/``.npy`` — whose pixels
    are split into train/val/test by contiguous bands along x (neighbouring pixels are
    correlated, so a random split would leak), or one file per split (``train_path``,
    ``val_path``, ``test_path``; e.g. three regions or recordings).

    Frames are restricted to ``roi`` and averaged over ``binning``×``binning`` blocks; every
    trace goes through :func:`sciml_aphyn.traces.preprocess_traces` (baseline through the
    resting samples, drift and photobleaching removal, polarity, dropping pixels without an
    action potential, normalisation, upstroke on the smoothed trace, beat choice, crop to
    ``horizon``). The noise stays, as in the paper. ``clean`` is the same as ``noisy`` (there
    is no ground truth without noise). ``prep[split]`` keeps the activation times and APDs.
    """

    class Config(sciml.ComponentConfig):
        path: str = Field("", description="one recording: .tif/.tiff/.npy frames (t, y, x) or .csv/.npy traces; "
                                          "its pixels are block-split into train/val/test")
        train_path: str = Field("", description="trace or frame file of the training pixels (instead of path)")
        val_path: str = Field("", description="trace or frame file of the validation pixels (instead of path)")
        test_path: str = Field("", description="trace or frame file of the test pixels (instead of path), only reported")
        sampling_interval: float = Field(3.7, gt=0, description="frame interval (ms; paper camera: 3.7)")
        horizon: float = Field(300.0, gt=0, description="kept trace length after the upstroke (ms; paper: 300)")
        activation_threshold: float = Field(0.05, gt=0, lt=1, description="normalised v where a trace starts")
        roi: str = Field("", description="ROI: mask image (.png/.tif/.npy, non-zero inside) or 'y0:y1,x0:x1'; "
                                         "empty = whole frame")
        binning: int = Field(1, ge=1, le=64, description="average binning×binning pixel blocks (frames only)")
        polarity: Literal["auto", "positive", "negative"] = Field(
            "auto", description="direction of depolarisation in the signal (di-4-ANEPPS: negative)")
        detrend_degree: int = Field(1, ge=0, le=6, description="degree of the baseline polynomial (drift, bleaching; raise it for long recordings)")
        bleach: Literal["divide", "subtract"] = Field(
            "divide", description="divide: ΔF/F = (F−B)/B (raw fluorescence); subtract: F−B (mV or ΔF/F input)")
        smooth_ms: float = Field(5.0, ge=0, description="Savitzky–Golay window for detection and baseline (ms)")
        peak_ms: float = Field(15.0, ge=0, description="running-median window for the amplitude (ms)")
        beat: int = Field(0, ge=0, description="which beat to keep (0 = first with a resting part before it)")
        min_cycle_ms: float = Field(150.0, gt=0, description="shortest time between two upstrokes (ms)")
        min_snr: float = Field(3.0, ge=0, description="drop pixels whose amplitude is below this × noise σ")
        split_fractions: list[float] = Field(
            default_factory=lambda: [0.6, 0.2, 0.2], min_length=3, max_length=3,
            description="train/val/test shares of the x-bands of a single recording")

    def _preprocess(self, raw: np.ndarray):
        from sciml_aphyn.traces import preprocess_traces

        c = self.config
        return preprocess_traces(
            raw, c.sampling_interval, c.horizon, c.activation_threshold, smooth_ms=c.smooth_ms,
            peak_ms=c.peak_ms, detrend_degree=c.detrend_degree, bleach=c.bleach, polarity=c.polarity,
            beat=c.beat, min_cycle_ms=c.min_cycle_ms, min_snr=c.min_snr)

    def _read(self, path: str):
        """``(traces (n, n_t), coords (n, 2) or None, grid or None)`` of one file."""
        from sciml_aphyn.recording import read_recording, stack_to_traces

        c = self.config
        kind, data = read_recording(path)
        if kind == "stack":
            return stack_to_traces(data, c.roi or None, c.binning)
        if c.roi or c.binning != 1:
            raise sciml.UserError(
                f"{Path(path).name} holds traces, not frames: dataset.roi and dataset.binning need a "
                "frame file (.tif/.tiff or a 3D .npy)")
        return data, None, None

    def prepare(self) -> None:
        from sciml_aphyn.recording import block_split

        c = self.config
        self.noisy, self.start, self.prep, self.coords = {}, {}, {}, {}
        grid = None
        if c.path:
            if c.train_path or c.val_path or c.test_path:
                raise sciml.UserError("give either dataset.path (one recording, block-split) or "
                                      "dataset.train_path/val_path/test_path, not both")
            raw, coords, grid = self._read(c.path)
            prep = self._preprocess(raw)
            if coords is None:  # traces: rows in order, bands along the row index
                coords = np.stack([np.zeros(len(raw), dtype=int), np.arange(len(raw))], axis=1)
            kept_coords = coords[prep.kept]
            parts = block_split(kept_coords, c.split_fractions)
            for split, idx in parts.items():
                self.noisy[split] = prep.traces[idx]
                self.start[split] = prep.start[idx]
                self.coords[split] = kept_coords[idx]
                self.prep[split] = {"activation_ms": prep.activation_ms[idx], "apd_ms": prep.apd_ms[idx],
                                    "snr": prep.snr[prep.kept][idx]}
            dropped = int(len(raw) - len(prep.kept))
        else:
            dropped = 0
            for split, path in (("train", c.train_path), ("val", c.val_path), ("test", c.test_path)):
                if not path:
                    raise sciml.UserError(
                        f"dataset.{split}_path is empty: give dataset.path (one recording) or one file per "
                        f"split (--set dataset.{split}_path=FILE; .tif/.tiff/.npy frames, .csv/.npy traces)")
                raw, coords, _ = self._read(path)
                prep = self._preprocess(raw)
                self.noisy[split] = prep.traces
                self.start[split] = prep.start
                self.coords[split] = coords[prep.kept] if coords is not None else None
                self.prep[split] = {"activation_ms": prep.activation_ms, "apd_ms": prep.apd_ms,
                                    "snr": prep.snr[prep.kept]}
                dropped += int(len(raw) - len(prep.kept))
        self.clean = self.noisy
        self.metadata = {"sampling_interval": c.sampling_interval, "horizon": c.horizon,
                         "n_samples": int(self.noisy["train"].shape[1]), "grid": None,
                         "frame_grid": list(grid) if grid else None, "pixels_dropped": dropped,
                         "pixels": {s: int(len(v)) for s, v in self.noisy.items()},
                         "source": "optical_mapping"}

    def fingerprint(self) -> str:
        from sciml import file_sha256

        c = self.config
        paths = (("path", c.path), ("train", c.train_path), ("val", c.val_path), ("test", c.test_path),
                 ("roi", c.roi))
        files = {k: file_sha256(p) if p and Path(p).is_file() else None for k, p in paths}
        return sciml.content_hash({"class": "OpticalMappingDataset", "config": c.model_dump(), "files": files})
