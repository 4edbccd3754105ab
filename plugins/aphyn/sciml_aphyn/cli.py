"""``sciml aphyn fit``: identify the Mitchell–Schaeffer τ of a user's recording, per ROI.

For each ROI (paper §3.2/Fig. 4: ROI A and ROI B of one heart), the recording's pixels in the
ROI are preprocessed (:class:`~sciml_aphyn.data.OpticalMappingDataset`), split into
train/val/test bands along x, and APHYN-EP is trained ``seeds`` times (F_p and F_dl jointly,
early-stopped on validation). The τ are reported as mean ± standard deviation over the seeds,
with the test MSE of APHYN-EP and of the untrained Mitchell–Schaeffer model on the same pixels.
Writes ``tau.csv`` (one row per ROI and seed), ``summary.json`` and ``maps.png`` (activation
time and APD80 per pixel).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sciml


def fit_command(recording: str, rois: list[str], output_dir: str, *, frame_interval: float, horizon: float,
                binning: int = 1, seeds: int = 3, epochs: int = 60, patience: int = 10, lr: float = 1e-3,
                physics_lr: float = 0.1, time_unit: float = 30.0, step_size: float = 0.1,
                polarity: str = "auto", detrend_degree: int = 1, beat: int = 0,
                echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Fit τ per ROI over ``seeds`` seeds; return ``{roi: {"tau_*": [mean, std], ...}}`` and write files.

    Raises:
        sciml.UserError: unreadable recording or ROI, no action potential in a ROI, bad numbers.
    """
    import torch

    from sciml_aphyn.data import OpticalMappingDataset
    from sciml_aphyn.evaluation import forecast_all
    from sciml_aphyn.model import APHYNEP
    from sciml_aphyn.training import AphynTrainer

    if seeds < 1 or epochs < 1:
        raise sciml.UserError(f"--seeds and --epochs must be >= 1, got {seeds}, {epochs}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, summary, maps = [], {}, []
    for k, roi in enumerate(rois or [""]):
        name = f"roi{k + 1}" if roi else "all"
        cfg = OpticalMappingDataset.Config(
            path=str(recording), roi=roi, binning=binning, sampling_interval=frame_interval, horizon=horizon,
            polarity=polarity, detrend_degree=detrend_degree, beat=beat)
        ctx = sciml.Context(run_dir=out / name / "data", cache_dir=out / name / "data", seed=0)
        data = OpticalMappingDataset(cfg, ctx)
        data.prepare()
        maps.append((name, data))
        test = data.arrays("test")["noisy"]
        untrained = APHYNEP(APHYNEP.Config(use_fdl=False, step_size=step_size), data.metadata)
        ms_test = float(np.mean((forecast_all(untrained, test)[..., 0] - test) ** 2))
        per_seed = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            model = APHYNEP(APHYNEP.Config(time_unit=time_unit, step_size=step_size), data.metadata)
            trainer = AphynTrainer(
                AphynTrainer.Config(max_epochs=epochs, physics_warmup_epochs=0, lr=lr, physics_lr=physics_lr,
                                    patience=patience, min_delta=1e-3, val_pixels=0),
                sciml.Context(run_dir=out / name / f"seed{seed}", cache_dir=out / name / "data", seed=seed))
            best = trainer.fit(model, data, None)
            states = forecast_all(model, test)
            row = {"roi": name, "roi_spec": roi, "seed": seed, **model.taus(),
                   "val_mse": float(best["best_val_loss"]),
                   "test_mse": float(np.mean((states[..., 0] - test) ** 2)), "test_mse_ms_untrained": ms_test,
                   "epochs": int(best["epochs"]), "pixels": data.metadata["pixels"]}
            per_seed.append(row)
            rows.append(row)
        stats = {key: [float(np.mean([r[key] for r in per_seed])), float(np.std([r[key] for r in per_seed]))]
                 for key in ("tau_in", "tau_out", "tau_close", "test_mse")}
        acts = np.concatenate([data.prep[s]["activation_ms"] for s in ("train", "val", "test")])
        apds = np.concatenate([data.prep[s]["apd_ms"] for s in ("train", "val", "test")])
        stats.update({"test_mse_ms_untrained": ms_test, "apd80_ms_median": float(np.nanmedian(apds)),
                      "activation_ms_range": [float(acts.min()), float(acts.max())],
                      "pixels": data.metadata["pixels"], "pixels_dropped": data.metadata["pixels_dropped"]})
        summary[name] = stats
        echo(f"{name} ({roi or 'whole frame'}): τ_close = {stats['tau_close'][0]:.1f} ± {stats['tau_close'][1]:.1f} ms, "
             f"τ_in = {stats['tau_in'][0]:.3g} ± {stats['tau_in'][1]:.2g}, τ_out = {stats['tau_out'][0]:.3g} ± "
             f"{stats['tau_out'][1]:.2g} ms ({seeds} seeds); APD80 median {stats['apd80_ms_median']:.0f} ms; "
             f"test MSE {stats['test_mse'][0]:.2e} (untrained MS {ms_test:.2e})")
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / "tau.csv", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    sciml.save_figure(plot_activation_apd(maps), out / "maps.png")
    echo(f"wrote {out / 'tau.csv'}, {out / 'summary.json'}, {out / 'maps.png'}")
    return summary


def plot_activation_apd(maps: list[tuple[str, Any]]):
    """Activation time and APD80 of every kept pixel on the (binned) frame grid, one row per ROI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(maps), 2, figsize=(9, 3.6 * len(maps)), squeeze=False)
    for r, (name, data) in enumerate(maps):
        grid = data.metadata.get("frame_grid")
        coords = [data.coords[s] for s in ("train", "val", "test")]
        if not grid or any(c is None for c in coords):
            for ax in axes[r]:
                ax.set_axis_off()
            continue
        coords = np.concatenate(coords)
        for c, key, label in ((0, "activation_ms", "activation time (ms)"), (1, "apd_ms", "APD80 (ms)")):
            img = np.full(grid, np.nan)
            img[coords[:, 0], coords[:, 1]] = np.concatenate([data.prep[s][key] for s in ("train", "val", "test")])
            ax = axes[r, c]
            shown = ax.imshow(img, cmap="viridis")
            fig.colorbar(shown, ax=ax, label=label)
            ax.set_title(f"{name}: {label}")
    fig.tight_layout()
    return fig
