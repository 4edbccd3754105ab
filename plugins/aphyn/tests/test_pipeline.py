"""End to end through the core runner on the tiny slab: MLflow run, Table-1 metrics, reload."""

from __future__ import annotations

import shutil

import pytest
from sciml.testing import isolated_store, run_tiny


@pytest.mark.slow
def test_sciml_run_aphyn_end_to_end(tiny_cache, tiny_config, tmp_path):
    from mlflow import MlflowClient
    from sciml import load_model

    sets = [f"dataset.{k}={v}" for k, v in tiny_config.items()]
    sets += ["seed=1", "trainer.max_epochs=2", "trainer.physics_warmup_epochs=1", "trainer.batch_size=8",
             "evaluator.baseline_max_epochs=2",
             "evaluator.map_times=[2.0, 10.0]", "evaluator.max_val_ratio=100.0"]
    with isolated_store(tmp_path) as home:
        shutil.copytree(tiny_cache / "cache", tmp_path / "cache", dirs_exist_ok=True)  # no re-simulation
        summary = run_tiny("aphyn", *sets)
        assert summary.best is not None and summary.best.accepted
        metrics = summary.best.metrics
        for key in ("val_mse", "test_mse", "train_mse", "baseline.physics_only.val_mse",
                    "baseline.physics_only.test_mse", "baseline.physics_offset.test_mse", "val_fdl_norm2",
                    "tau_close", "best_val_loss"):
            assert key in metrics, key
        client = MlflowClient(summary.tracking_uri, registry_uri=summary.tracking_uri)
        arts = {a.path for a in client.list_artifacts(summary.best.run_id)}
        assert {"fig3_decomposition.png", "voltage_maps.png", "voltage_maps_test.png", "table1.json"} <= arts
        loaded = load_model("models:/sciml-aphyn@champion")
        assert loaded.module.taus()["tau_close"] == pytest.approx(metrics["tau_close"], rel=1e-5)
        assert home.exists()


def _two_region_recording(path, frame_interval=2.0, n_t=260):
    """A TIFF recording (uint16, SNR 10, drift, bleaching): τ_close 150 ms in rows 0-1, 90 ms in rows 2-3."""
    import numpy as np
    import tifffile
    from sciml_aphyn.synthetic import fluorescence, planar_wave_movie

    tau = np.full((4, 9), 150.0)
    tau[2:] = 90.0
    v, _ = planar_wave_movie(n_t, frame_interval, 4, 9, tau_close=tau)
    tifffile.imwrite(path, fluorescence(v, frame_interval, snr=10.0, seed=0))
    return path


@pytest.mark.slow
def test_sciml_run_on_a_tiff_recording(tmp_path):
    """Issue 17: `sciml run aphyn --set dataset=aphyn:optical_mapping --set dataset.path=rec.tif`."""
    rec = _two_region_recording(tmp_path / "rec.tif")
    sets = ["dataset=aphyn:optical_mapping", f"dataset.path={rec}", "dataset.sampling_interval=2.0",
            "dataset.horizon=120", "model.step_size=0.25", "trainer.max_epochs=2", "trainer.physics_warmup_epochs=1",
            "evaluator.baseline_max_epochs=2", "evaluator.max_val_ratio=100.0", "seed=1"]
    with isolated_store(tmp_path):
        summary = run_tiny("aphyn", *sets)
    assert summary.best is not None and summary.best.accepted, [t.error for t in summary.trials]
    metrics = summary.best.metrics
    for key in ("val_mse", "test_mse", "baseline.physics_only.test_mse", "test_fdl_share", "tau_close"):
        assert key in metrics, key
    assert 0.0 < metrics["test_mse"] < 0.2  # a forecast, not noise (normalised traces, noise σ ≈ 0.1)


@pytest.mark.slow
def test_aphyn_fit_command_reports_tau_per_roi_with_seeds(tmp_path):
    import json

    import pandas as pd
    from click.testing import CliRunner
    from sciml_cli.main import get_cli

    rec = _two_region_recording(tmp_path / "rec.tif")
    out = tmp_path / "fit"
    res = CliRunner().invoke(get_cli(), [
        "aphyn", "fit", str(rec), "--roi", "0:2,0:9", "--roi", "2:4,0:9", "--frame-interval", "2",
        "--horizon", "120", "--seeds", "2", "--epochs", "2", "--step-size", "0.25", "--output-dir", str(out)])
    assert res.exit_code == 0, res.output
    assert "roi1 (0:2,0:9): τ_close =" in res.output and "(2 seeds)" in res.output
    table = pd.read_csv(out / "tau.csv")
    assert sorted(table["roi"].unique()) == ["roi1", "roi2"] and len(table) == 4
    summary = json.loads((out / "summary.json").read_text())
    # APD80 from the preprocessing alone: the τ_close = 90 ms region repolarises first
    assert summary["roi2"]["apd80_ms_median"] < summary["roi1"]["apd80_ms_median"] - 40
    assert (out / "maps.png").stat().st_size > 1000
    bad = CliRunner().invoke(get_cli(), ["aphyn", "fit", str(tmp_path / "missing.tif"), "--frame-interval", "2"])
    assert bad.exit_code != 0 and "does not exist" in bad.output
