"""Datasets: simulated TP06 slab (paper §3.1) and users' optical-mapping traces (§3.2).

Every sample is one pixel's normalised voltage trace ``(n_samples,)`` (0D data, as in the
paper). ``split(name)`` returns a ``torch.utils.data.TensorDataset`` of ``(trace,)``.
"""

from __future__ import annotations

from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

import sciml
from sciml_aphyn.simulation import simulate_tp06_slab, stimulus_box
from sciml_aphyn.traces import add_noise, load_traces, normalise_traces

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

    def _sim_params(self, site: str) -> dict:
        c = self.config
        return {"n": c.n, "t_end": c.t_end, "site": site, "stim_size": c.stim_size,
                "stim_current": c.stim_current, "stim_duration": c.stim_duration,
                "dt": c.dt, "dr": c.dr, "record_interval": c.record_interval}

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
            clean, start = normalise_traces(raw, c.record_interval, c.horizon,
                                            c.activation_threshold, return_start=True)
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
    """Users' own optical-mapping traces (paper §3.2): one ``.csv``/``.npy`` file per split.

    Files hold one trace per pixel (see :func:`sciml_aphyn.traces.read_trace_file`); they
    are normalised like the paper's ex-vivo data (min–max to [0, 1], resting start cut,
    cropped to ``horizon``). No noise is added. Give three files from different regions or
    recordings: the validation file chooses, the test file is only reported.
    """

    class Config(sciml.ComponentConfig):
        train_path: str = Field("", description="trace file of the training pixels (.csv/.npy)")
        val_path: str = Field("", description="trace file of the validation pixels (.csv/.npy)")
        test_path: str = Field("", description="trace file of the test pixels (.csv/.npy), only reported")
        sampling_interval: float = Field(3.7, gt=0, description="time between samples (ms; paper camera: 3.7)")
        horizon: float = Field(300.0, gt=0, description="kept trace length after the upstroke (ms; paper: 300)")
        activation_threshold: float = Field(0.05, gt=0, lt=1, description="normalised v where a trace starts")

    def prepare(self) -> None:
        c = self.config
        self.noisy, self.start = {}, {}
        for split, path in (("train", c.train_path), ("val", c.val_path), ("test", c.test_path)):
            if not path:
                raise sciml.UserError(
                    f"dataset.{split}_path is empty: give a .csv or .npy trace file "
                    f"(--set dataset.{split}_path=FILE)")
            self.noisy[split] = load_traces(path, c.sampling_interval, c.horizon, c.activation_threshold)
            self.start[split] = np.zeros(len(self.noisy[split]), dtype=np.int64)
        self.clean = self.noisy
        self.metadata = {"sampling_interval": c.sampling_interval, "horizon": c.horizon,
                         "n_samples": int(self.noisy["train"].shape[1]), "grid": None,
                         "source": "optical_mapping"}

    def fingerprint(self) -> str:
        from sciml import file_sha256

        c = self.config
        files = {k: file_sha256(p) if p and Path(p).is_file() else None
                 for k, p in (("train", c.train_path), ("val", c.val_path), ("test", c.test_path))}
        return sciml.content_hash({"class": "OpticalMappingDataset", "config": c.model_dump(), "files": files})
