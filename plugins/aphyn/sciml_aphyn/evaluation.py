"""Evaluator ``aphyn:table1``: the paper's Table 1 on the in-silico data, plus Fig. 3.

For APHYN-EP and for two trivial baselines it computes the forecast MSE on every train,
validation and test pixel, each forecast started from the first measurement only (paper
§4.2), ‖F_dl‖² and F_dl's share of the dynamics along the forecast, and the identified τ. The
baselines are fitted *inside this evaluator* on the same training pixels until they converge —
by default full-batch L-BFGS on their 3-4 parameters (:func:`~sciml_aphyn.training.fit_lbfgs`;
Adam epochs were still creeping after hundreds of epochs), or by
:class:`~sciml_aphyn.training.AphynTrainer` with early stopping on validation — cached by
content hash:

- ``physics_only``: the Mitchell–Schaeffer model alone (paper Table 1, "physical model only");
- ``physics_offset``: Mitchell–Schaeffer plus one learnable constant dv/dt (a control: does
  F_dl learn more than a constant leak?).

The validation slab chooses (the epoch, the gate of :meth:`Table1Evaluator.accept`); the test
slab is only reported. Figures: ground truth vs forecast with the F_p / F_dl decomposition
(paper Fig. 3) and maps of the validation and test slabs' voltage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sciml
import torch
from pydantic import Field

from sciml_aphyn.data import SPLITS
from sciml_aphyn.model import APHYNEP
from sciml_aphyn.physics import TAU_NAMES
from sciml_aphyn.training import AphynTrainer, fit_lbfgs

#: The trivial baselines: name -> the model config keys that make them.
BASELINES: dict[str, dict[str, Any]] = {
    "physics_only": {"use_fdl": False},
    "physics_offset": {"use_fdl": True, "fdl_kind": "constant", "time_unit": 1.0},
}


@torch.no_grad()
def forecast_all(model: APHYNEP, traces: np.ndarray | torch.Tensor, chunk: int = 1024) -> np.ndarray:
    """Forecast of every trace from its first sample: ``(n, n_samples)`` -> ``(n, n_samples, 2)``."""
    model.eval()
    traces = torch.as_tensor(traces, dtype=torch.float32)
    parts = []
    for start in range(0, len(traces), chunk):
        batch = traces[start:start + chunk]
        parts.append(model.forecast(batch[:, 0], batch.shape[1]).transpose(0, 1))
    return torch.cat(parts).numpy()


@torch.no_grad()
def fdl_norm2(model: APHYNEP, states: np.ndarray) -> float:
    """Mean ‖F_dl(X)‖² over forecast states ``(..., 2)`` (1/ms²); 0 without F_dl."""
    if model.fdl is None:
        return 0.0
    return float(torch.mean(torch.sum(model.fdl(torch.as_tensor(states)) ** 2, dim=-1)))


@torch.no_grad()
def fdl_share(model: APHYNEP, states: np.ndarray, dt: float) -> float:
    """Share of the dynamics carried by F_dl: ∫|F_dl,v| dt / ∫|dv/dt| dt along forecasts.

    ``states`` ``(n, n_samples, 2)`` forecasts on a grid of ``dt`` ms. The denominator is
    the total variation of the forecast v (Σ|Δv|, ~2 for one action potential: up 1, down 1),
    the numerator how much of it F_dl drives (F_dl in 1/ms, summed × ``dt``). 0 without F_dl;
    1 would mean F_dl moves v as much as the whole model does.
    """
    if model.fdl is None:
        return 0.0
    fdl_v = model.decompose(torch.as_tensor(states, dtype=torch.float32))["F_dl"][..., 0].numpy()
    moved = float(np.abs(np.diff(states[..., 0], axis=-1)).sum())
    return float(np.abs(fdl_v[:, :-1]).sum() * dt / max(moved, 1e-12))


def slab_maps(forecast_v: np.ndarray, start: np.ndarray, grid: tuple[int, int], times: list[int]) -> np.ndarray:
    """Place per-pixel forecasts back on the slab's clock.

    Args:
        forecast_v: ``(n_pixels, n_samples)`` forecast v, sample 0 at each pixel's upstroke.
        start: ``(n_pixels,)`` sample index of each pixel's upstroke on the slab clock.
        grid: ``(ny, nx)`` with ``ny*nx = n_pixels``.
        times: sample indices on the slab clock.

    Returns:
        ``(len(times), ny, nx)``: v at those times (0 = rest before the upstroke).
    """
    out = np.zeros((len(times), len(start)), dtype=np.float32)
    for k, t in enumerate(times):
        local = t - start
        ok = (local >= 0) & (local < forecast_v.shape[1])
        out[k, ok] = forecast_v[ok, local[ok]]
    return out.reshape(len(times), *grid)


class Table1Evaluator(sciml.Evaluator):
    """Table 1 of APHYN-EP (forecast MSE, ‖F_dl‖², τ) against converged physics-only baselines."""

    class Config(sciml.ComponentConfig):
        baseline_max_epochs: int = Field(
            2000, ge=0, description="cap on the baselines' epochs (0 = untrained MS); they stop on validation")
        baseline_patience: int = Field(
            20, ge=1, description="baselines stop after this many epochs without a validation improvement")
        baseline_min_delta: float = Field(
            1e-3, ge=0, lt=1, description="relative validation-loss decrease that counts as an improvement")
        baseline_physics_lr: float = Field(3e-2, gt=0, description="Adam lr of the baselines' log-τ")
        baseline_offset_lr: float = Field(3e-5, gt=0, description="Adam lr of physics_offset's dv/dt offset (1/ms)")
        baseline_batch_size: int = Field(576, ge=1, description="pixels per baseline step")
        baseline_optimizer: Literal["lbfgs", "adam"] = Field(
            "lbfgs", description="lbfgs: the baselines' 3-4 parameters by full-batch L-BFGS until the training "
                                "loss stops changing (converged; physics_offset starts at physics_only's τ); "
                                "adam: epochs with early stopping on validation")
        baseline_lbfgs_iter: int = Field(40, ge=1, description="L-BFGS iterations (capped by baseline_max_epochs)")
        figure_pixels: int = Field(2, ge=1, le=8, description="validation pixels drawn in Fig. 3")
        map_times: list[float] = Field(default_factory=lambda: [5.0, 20.0, 150.0, 290.0, 320.0],
                                       description="slab-clock times of the voltage maps (ms)")
        max_val_ratio: float = Field(
            1.0, gt=0, description="accept if val_mse <= this × the best baseline's val_mse (validation only)")

    # -- baselines -----------------------------------------------------------------------
    def trainer_config(self) -> AphynTrainer.Config:
        """The baselines' trainer: no warm-up, early stopping on the validation loss."""
        c = self.config
        return AphynTrainer.Config(
            max_epochs=max(c.baseline_max_epochs, 1), physics_warmup_epochs=0,
            physics_lr=c.baseline_physics_lr, lr=c.baseline_offset_lr, batch_size=c.baseline_batch_size,
            curriculum_epochs=0, patience=c.baseline_patience, min_delta=c.baseline_min_delta)

    def baseline(self, name: str, model: APHYNEP, data) -> tuple[APHYNEP, dict[str, float]]:
        """Baseline ``name`` (a key of :data:`BASELINES`) trained on ``data``; ``(model, info)``.

        ``info``: ``train_seconds`` (of the first run), ``epochs`` (trained; L-BFGS: loss
        evaluations), ``best_epoch`` (restored, chosen on validation; L-BFGS: the last) and
        ``stopped_early`` (1: converged / validation stopped improving, 0: the cap was reached). Cached under ``context.cache_dir/aphyn`` by a
        content hash of the data fingerprint, the physics config, the trainer config, the
        baseline name and the seed.

        Raises:
            KeyError: unknown ``name``.
        """
        base_cfg = model.config.model_copy(update=BASELINES[name])
        base = APHYNEP(base_cfg, {"sampling_interval": model.sampling_interval})
        if self.config.baseline_max_epochs == 0:
            return base, {"train_seconds": 0.0, "epochs": 0.0, "best_epoch": -1.0, "stopped_early": 0.0}
        c = self.config
        trainer_cfg = self.trainer_config()
        physics_cfg = base_cfg.model_dump(exclude=set(APHYNEP.FDL_KEYS) | {"use_fdl"})
        lbfgs = {"iterations": min(c.baseline_lbfgs_iter, c.baseline_max_epochs)} if c.baseline_optimizer == "lbfgs" \
            else None
        key = sciml.content_hash({
            "baseline": name, "data": data.fingerprint(), "model": physics_cfg,
            "trainer": trainer_cfg.model_dump() if lbfgs is None else lbfgs, "seed": self.context.seed})
        path = Path(self.context.cache_dir) / "aphyn" / f"baseline_{name}_{key}.npz"

        def build():
            t0 = time.perf_counter()
            if lbfgs is not None:
                if name != "physics_only":  # start at the converged Mitchell–Schaeffer model
                    start, _ = self.baseline("physics_only", model, data)
                    with torch.no_grad():
                        for n in base.physics.learned:
                            getattr(base.physics, f"log_{n}").copy_(getattr(start.physics, f"log_{n}"))
                t0 = time.perf_counter()
                fitted = fit_lbfgs(base, data.split("train").tensors[0], lbfgs["iterations"])
                best = {"epochs": fitted["evaluations"], "best_epoch": fitted["evaluations"] - 1,
                        "stopped_early": float(fitted["iterations"] < lbfgs["iterations"])}
            else:
                # its own stage: checkpoints (and resume) apart from APHYN-EP's fit, metrics not reported
                best = AphynTrainer(trainer_cfg, self.context).fit(base, data, None, stage=f"baseline_{name}")
            params = {k: v.detach().cpu().numpy() for k, v in base.state_dict().items()}
            info = {"train_seconds": time.perf_counter() - t0,
                    **{k: float(best[k]) for k in ("epochs", "best_epoch", "stopped_early") if k in best}}
            return params, info

        arrays, meta = sciml.cached_arrays(path, build)
        base.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
        base.eval()
        info = {k: float(meta[k]) for k in ("train_seconds", "epochs", "best_epoch", "stopped_early") if k in meta}
        return base, info

    # -- evaluation -----------------------------------------------------------------------
    @staticmethod
    def split_metrics(model: APHYNEP, states: np.ndarray, noisy: np.ndarray, clean: np.ndarray,
                      split: str) -> dict[str, float]:
        """``{split}_mse`` (vs the noisy traces, as the paper), ``{split}_mse_clean``, ``{split}_fdl_norm2``."""
        return {f"{split}_mse": float(np.mean((states[..., 0] - noisy) ** 2)),
                f"{split}_mse_clean": float(np.mean((states[..., 0] - clean) ** 2)),
                f"{split}_fdl_norm2": fdl_norm2(model, states)}

    def evaluate(self, model: APHYNEP, data, reporter) -> dict[str, Any]:
        bases = {name: self.baseline(name, model, data) for name in BASELINES}
        results: dict[str, Any] = {}
        baselines: dict[str, dict[str, float]] = {
            name: {**info, **{k: v for k, v in base.taus().items() if k in base.physics.learned}}
            for name, (base, info) in bases.items()}
        forecasts: dict[str, dict[str, np.ndarray]] = {}
        for split in SPLITS:
            arrays = data.arrays(split)
            noisy, clean = arrays["noisy"], arrays["clean"]
            t0 = time.perf_counter()
            states = forecast_all(model, noisy)
            results[f"forecast_seconds_{split}"] = time.perf_counter() - t0
            forecasts[split] = {"APHYN-EP": states}
            m = self.split_metrics(model, states, noisy, clean, split)
            m[f"{split}_fdl_share"] = fdl_share(model, states, model.sampling_interval)
            # the trainer's per-epoch train_fdl_norm2 is another quantity: keep its name free
            m[f"fdl_norm2_{split}" if split == "train" else f"{split}_fdl_norm2"] = m.pop(f"{split}_fdl_norm2")
            results.update(m)
            for name, (base, _) in bases.items():
                base_states = forecast_all(base, noisy)
                forecasts[split][name] = base_states
                bm = self.split_metrics(base, base_states, noisy, clean, split)
                if base.fdl is None:
                    bm.pop(f"{split}_fdl_norm2")
                baselines[name].update(bm)
        if bases["physics_offset"][0].fdl is not None:
            baselines["physics_offset"]["dv_offset"] = float(bases["physics_offset"][0].fdl.offset.detach())
        results["baselines"] = baselines
        # the paper's Table-1 ratio: APHYN-EP / physics only (val chooses, test is reported)
        for split in ("val", "test"):
            results[f"{split}_mse_ratio"] = results[f"{split}_mse"] / max(baselines["physics_only"][f"{split}_mse"], 1e-12)
            # against the noise-free traces: the noisy MSE is ≈ noise σ² + this, so only this ratio can
            # show a gain larger than the noise allows (equal to the above for recordings: no clean truth)
            results[f"{split}_mse_clean_ratio"] = results[f"{split}_mse_clean"] / max(
                baselines["physics_only"][f"{split}_mse_clean"], 1e-12)
        for name, value in model.taus().items():
            results[name] = value
        results["table1"] = {
            "APHYN-EP": {**{f"{s}_mse": results[f"{s}_mse"] for s in SPLITS},
                         "train_fdl_norm2": results["fdl_norm2_train"],
                         "val_fdl_norm2": results["val_fdl_norm2"],
                         "test_fdl_norm2": results["test_fdl_norm2"], "tau": model.taus()},
            **{name: {**{f"{s}_mse": baselines[name][f"{s}_mse"] for s in SPLITS}, "tau": base.taus(),
                      **{k: baselines[name][k] for k in ("dv_offset", "epochs", "best_epoch") if k in baselines[name]}}
               for name, (base, _) in bases.items()},
            "learned_tau": list(model.physics.learned),
            "horizon_ms": (data.arrays("val")["noisy"].shape[1] - 1) * model.sampling_interval,
        }
        reporter.log_dict(results["table1"], "table1.json")
        self._figures(model, data, forecasts, reporter)
        return results

    def accept(self, results):
        """Validation only: ``val_mse`` <= ``max_val_ratio`` × the best baseline's ``val_mse``."""
        vals = {name: b["val_mse"] for name, b in (results.get("baselines") or {}).items()
                if np.isfinite(b.get("val_mse", np.nan))}
        if not vals or not np.isfinite(results.get("val_mse", np.nan)):
            return False, "no validation MSE of the model or of a baseline to compare"
        name = min(vals, key=vals.__getitem__)
        ratio = results["val_mse"] / max(vals[name], 1e-12)
        ok = ratio <= self.config.max_val_ratio
        return ok, (f"val MSE ratio APHYN-EP / best baseline on validation ({name}) = {ratio:.3f} "
                    f"(accept <= {self.config.max_val_ratio})")

    def baselines(self, model, data, results):
        """The two baselines of :meth:`evaluate` (trained there): their train/val/test MSE, τ, epochs."""
        return {name: {k: v for k, v in values.items() if isinstance(v, (int, float))}
                for name, values in (results.get("baselines") or {}).items()}

    # -- figures --------------------------------------------------------------------------
    def _figures(self, model, data, forecasts, reporter) -> None:
        arrays = data.arrays("val")
        rng = np.random.default_rng(self.context.seed)
        pixels = rng.choice(len(arrays["noisy"]), size=min(self.config.figure_pixels, len(arrays["noisy"])),
                            replace=False)
        reporter.draw_figure("fig3_decomposition.png", plot_decomposition, model, arrays, forecasts["val"], pixels)
        grid = data.metadata.get("grid")
        if not grid:
            return
        dt = model.sampling_interval
        times = [int(round(tm / dt)) for tm in self.config.map_times]
        for split, filename in (("val", "voltage_maps.png"), ("test", "voltage_maps_test.png")):
            reporter.draw_figure(filename, plot_maps, data.arrays(split), forecasts[split], grid, times, dt,
                                 "validation" if split == "val" else "test")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_decomposition(model: APHYNEP, arrays: dict[str, np.ndarray], forecasts: dict[str, np.ndarray],
                       pixels) -> Any:
    """Paper Fig. 3 for validation ``pixels``: traces, forecasts and the F_p / F_dl split."""
    plt = _pyplot()
    noisy, clean = arrays["noisy"], arrays["clean"]
    states = forecasts["APHYN-EP"]
    dt = model.sampling_interval
    t = np.arange(noisy.shape[1]) * dt
    fig, axes = plt.subplots(2, len(pixels), figsize=(5 * len(pixels), 6), squeeze=False, sharex=True)
    for col, p in enumerate(pixels):
        x = torch.as_tensor(states[p][:, None, :])  # (n_t, 1, 2)
        with torch.no_grad():
            parts = model.decompose(x, torch.as_tensor(t))
        fp = parts["F_p"][:, 0, 0].numpy()
        fdl = parts["F_dl"][:, 0, 0].numpy()
        # v = v0 + ∫F_p + ∫F_dl. F_dl is smooth: integrate it on the sample grid
        # (trapezoid); the physical part is the rest, v − ∫F_dl (F_p's upstroke spike is
        # far too fast for a 1 ms grid).
        int_fdl = np.concatenate([[0.0], np.cumsum(0.5 * (fdl[1:] + fdl[:-1]) * dt)])
        ax = axes[0, col]
        ax.plot(t, noisy[p], color="0.7", lw=0.8, label="GT (noisy)")
        ax.plot(t, clean[p], "k", lw=1, label="GT (TP06, clean)")
        ax.plot(t, states[p, :, 0], "C0", lw=1.5, label="Prediction FW")
        ax.plot(t, forecasts["physics_only"][p, :, 0], "C3--", lw=1, label="physics only")
        ax.plot(t, forecasts["physics_offset"][p, :, 0], "C4-.", lw=1, label="physics + constant offset")
        ax.plot(t, states[p, :, 0] - int_fdl, "C2:", lw=1, label="F_p part (v0 + ∫F_p)")
        ax.plot(t, int_fdl, "C1", lw=1, label="F_dl part (∫F_dl)")
        ax.set_title(f"validation pixel {p}")
        ax.set_ylabel("normalised v")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        ax.plot(t, fp, "C2", lw=1, label="F_p (dv/dt)")
        ax.plot(t, fdl, "C1", lw=1, label="F_dl (dv/dt)")
        ax.set_xlabel("time since upstroke (ms)")
        ax.set_ylabel("1/ms")
        ax.set_ylim(-0.05, 0.05)
        ax.legend(fontsize=7)
    fig.suptitle("APHYN-EP forecast from one measurement and its F_p / F_dl decomposition (cf. paper Fig. 3)")
    fig.tight_layout()
    return fig


def plot_maps(arrays: dict[str, np.ndarray], forecasts: dict[str, np.ndarray], grid, times: list[int],
              dt: float, label: str) -> Any:
    """Voltage maps of one slab at ``times`` (samples): TP06, APHYN-EP and the baselines."""
    plt = _pyplot()
    start = arrays["start"]
    rows = {"TP06 (clean)": slab_maps(arrays["clean"], start, grid, times),
            **{name: slab_maps(f[..., 0], start, grid, times) for name, f in forecasts.items()}}
    fig, axes = plt.subplots(len(rows), len(times), figsize=(2.2 * len(times), 2.2 * len(rows)), squeeze=False)
    for r, (name, maps) in enumerate(rows.items()):
        for k, tm in enumerate(times):
            ax = axes[r, k]
            ax.imshow(maps[k], vmin=0, vmax=1, cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {tm * dt:g} ms", fontsize=9)
            if k == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(f"{label} slab: normalised voltage (forecast per pixel from its first measurement)")
    fig.tight_layout()
    return fig


def summarize(trials: list[dict[str, Any]]) -> list[str]:
    """One line per trial: val and test MSE of APHYN-EP vs the baselines, and the learned τ."""
    lines = []
    for trial in trials:
        res = {**(trial.get("results") or {}), **(trial.get("metrics") or {})}
        if "val_mse" not in res:
            continue
        nan = float("nan")
        taus = ", ".join(f"{n}={res[n]:.3g}" for n in TAU_NAMES if n in res)
        base = " ".join(
            f"{name} {res.get(f'baseline.{name}.val_mse', nan):.3e}/{res.get(f'baseline.{name}.test_mse', nan):.3e};"
            for name in BASELINES)
        lines.append(
            f"seed {trial.get('seed')}: val/test MSE APHYN-EP {res['val_mse']:.3e}/{res.get('test_mse', nan):.3e}; "
            f"{base} ratio to physics_only val {res.get('val_mse_ratio', nan):.3f}, "
            f"test {res.get('test_mse_ratio', nan):.3f}; {taus} ms")
    return lines
