"""Evaluator ``aphyn:table1``: the paper's Table 1 on the in-silico data, plus Fig. 3.

For APHYN-EP and for the physics-only baseline (the Mitchell–Schaeffer model alone, F_dl
off, trained *inside this evaluator* by :class:`~sciml_aphyn.training.AphynTrainer` on the
same training pixels, cached by content hash) it computes the forecast MSE on every train
and validation pixel, each forecast started from the first measurement only (paper §4.2),
‖F_dl‖² along the forecast, and the identified τ. Figures: ground truth vs forecast with
the F_p / F_dl decomposition (paper Fig. 3) and maps of the validation slab's voltage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

import sciml
from sciml_aphyn.model import APHYNEP
from sciml_aphyn.physics import TAU_NAMES
from sciml_aphyn.training import AphynTrainer


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
    """Table 1 of APHYN-EP (forecast MSE, ‖F_dl‖², τ) against the physics-only baseline."""

    class Config(sciml.ComponentConfig):
        baseline_epochs: int = Field(
            200, ge=0, description="epochs of the physics-only baseline (0 = untrained MS); default = the trainer's")
        baseline_physics_lr: float = Field(3e-2, gt=0, description="Adam lr of the baseline's log-τ")
        baseline_pixels_per_epoch: int = Field(576, ge=1, description="training pixels per baseline epoch")
        baseline_batch_size: int = Field(576, ge=1, description="pixels per baseline step")
        figure_pixels: int = Field(2, ge=1, le=8, description="validation pixels drawn in Fig. 3")
        map_times: list[float] = Field(default_factory=lambda: [5.0, 20.0, 150.0, 290.0, 320.0],
                                       description="slab-clock times of the voltage maps (ms)")
        max_val_ratio: float = Field(1.0, gt=0, description="accept if val_mse <= this × the baseline's val_mse")

    # -- baseline ------------------------------------------------------------------------
    def baseline(self, model: APHYNEP, data, progress=None) -> tuple[APHYNEP, float]:
        """The physics-only model trained on ``data``'s training pixels; ``(model, seconds)``.

        Cached under ``context.cache_dir/aphyn`` by a content hash of the data fingerprint,
        the physics config, the baseline config and the seed (seconds are from the first run).
        """
        c = self.config
        base_cfg = model.config.model_copy(update={"use_fdl": False})
        base = APHYNEP(base_cfg, {"sampling_interval": model.sampling_interval})
        trainer_cfg = AphynTrainer.Config(
            max_epochs=max(c.baseline_epochs, 1), physics_lr=c.baseline_physics_lr,
            pixels_per_epoch=c.baseline_pixels_per_epoch, batch_size=c.baseline_batch_size,
            curriculum_epochs=0)
        if c.baseline_epochs == 0:
            return base, 0.0
        physics_cfg = base_cfg.model_dump(exclude=set(APHYNEP.FDL_KEYS))
        key = sciml.content_hash({
            "data": data.fingerprint(), "model": physics_cfg,
            "trainer": trainer_cfg.model_dump(), "seed": self.context.seed})
        path = Path(self.context.cache_dir) / "aphyn" / f"baseline_{key}.npz"

        def build():
            t0 = time.perf_counter()
            AphynTrainer(trainer_cfg, self.context).fit(base, data, None, progress=progress)
            params = {k: v.detach().numpy() for k, v in base.physics.state_dict().items()}
            return params, {"seconds": time.perf_counter() - t0}

        arrays, meta = sciml.cached_arrays(path, build)
        base.physics.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
        return base, float(meta.get("seconds", 0.0))

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, model: APHYNEP, data, reporter) -> dict[str, Any]:
        base, base_seconds = self.baseline(model, data, progress=getattr(reporter, "progress", None))
        results: dict[str, Any] = {"baseline_train_seconds": base_seconds}
        forecasts: dict[str, dict[str, np.ndarray]] = {}
        for split in ("train", "val"):
            arrays = data.arrays(split)
            noisy, clean = arrays["noisy"], arrays["clean"]
            t0 = time.perf_counter()
            states = forecast_all(model, noisy)
            results[f"forecast_seconds_{split}"] = time.perf_counter() - t0
            base_states = forecast_all(base, noisy)
            forecasts[split] = {"model": states, "baseline": base_states}
            results[f"{split}_mse"] = float(np.mean((states[..., 0] - noisy) ** 2))
            results[f"{split}_mse_clean"] = float(np.mean((states[..., 0] - clean) ** 2))
            # named fdl_norm2_<split>: the trainer's train_fdl_norm2 (per epoch) is another quantity
            results[f"fdl_norm2_{split}"] = fdl_norm2(model, states)
            results[f"baseline_{split}_mse"] = float(np.mean((base_states[..., 0] - noisy) ** 2))
            results[f"baseline_{split}_mse_clean"] = float(np.mean((base_states[..., 0] - clean) ** 2))
        results["val_mse_ratio"] = results["val_mse"] / max(results["baseline_val_mse"], 1e-12)
        results["beats_baseline"] = float(results["val_mse"] < results["baseline_val_mse"])
        for name, value in model.taus().items():
            results[name] = value
        for name, value in base.taus().items():
            results[f"baseline_{name}"] = value
        results["table1"] = {
            "APHYN-EP": {"train_mse": results["train_mse"], "val_mse": results["val_mse"],
                         "train_fdl_norm2": results["fdl_norm2_train"],
                         "val_fdl_norm2": results["fdl_norm2_val"], "tau": model.taus()},
            "physics_only": {"train_mse": results["baseline_train_mse"],
                             "val_mse": results["baseline_val_mse"], "tau": base.taus()},
            "learned_tau": list(model.physics.learned),
            "horizon_ms": (data.arrays("val")["noisy"].shape[1] - 1) * model.sampling_interval,
        }
        reporter.log_dict(results["table1"], "table1.json")
        self._figures(model, base, data, forecasts, reporter)
        return results

    def accept(self, results):
        ratio = results.get("val_mse_ratio", float("inf"))
        ok = ratio <= self.config.max_val_ratio
        return ok, f"val MSE ratio APHYN-EP / physics-only = {ratio:.3f} (accept <= {self.config.max_val_ratio})"

    # -- figures --------------------------------------------------------------------------
    def _figures(self, model, base, data, forecasts, reporter) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        arrays = data.arrays("val")
        noisy, clean = arrays["noisy"], arrays["clean"]
        states = forecasts["val"]["model"]
        dt = model.sampling_interval
        t = np.arange(noisy.shape[1]) * dt
        rng = np.random.default_rng(self.context.seed)
        pixels = rng.choice(len(noisy), size=min(self.config.figure_pixels, len(noisy)), replace=False)

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
            ax.plot(t, forecasts["val"]["baseline"][p, :, 0], "C3--", lw=1, label="physics only")
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
        reporter.log_figure(fig, "fig3_decomposition.png")
        plt.close(fig)

        grid = data.metadata.get("grid")
        if not grid:
            return
        times = [int(round(tm / dt)) for tm in self.config.map_times]
        start = arrays["start"]
        rows = {
            "TP06 (clean)": slab_maps(clean, start, grid, times),
            "APHYN-EP": slab_maps(states[..., 0], start, grid, times),
            "physics only": slab_maps(forecasts["val"]["baseline"][..., 0], start, grid, times),
        }
        fig, axes = plt.subplots(len(rows), len(times), figsize=(2.2 * len(times), 2.2 * len(rows)), squeeze=False)
        for r, (label, maps) in enumerate(rows.items()):
            for k, tm in enumerate(times):
                ax = axes[r, k]
                ax.imshow(maps[k], vmin=0, vmax=1, cmap="viridis")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"t = {tm * dt:g} ms", fontsize=9)
                if k == 0:
                    ax.set_ylabel(label, fontsize=9)
        fig.suptitle("validation slab: normalised voltage (forecast per pixel from its first measurement)")
        fig.tight_layout()
        reporter.log_figure(fig, "voltage_maps.png")
        plt.close(fig)


def summarize(trials: list[dict[str, Any]]) -> list[str]:
    """One line per trial: val MSE of APHYN-EP vs physics-only and the learned τ."""
    lines = []
    for trial in trials:
        res = {**(trial.get("results") or {}), **(trial.get("metrics") or {})}
        if "val_mse" not in res:
            continue
        taus = ", ".join(f"{n}={res[n]:.3g}" for n in TAU_NAMES if n in res)
        lines.append(
            f"seed {trial.get('seed')}: val MSE APHYN-EP {res['val_mse']:.3e} vs physics-only "
            f"{res.get('baseline_val_mse', float('nan')):.3e} (ratio {res.get('val_mse_ratio', float('nan')):.2f}); {taus} ms")
    return lines
