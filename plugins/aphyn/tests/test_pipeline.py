"""End to end through the core runner on the tiny slab: MLflow run, Table-1 metrics, reload."""

from __future__ import annotations

import shutil

import pytest

from sciml.testing import isolated_store, run_tiny


@pytest.mark.slow
def test_sciml_run_aphyn_end_to_end(tiny_cache, tiny_config, tmp_path):
    from mlflow import MlflowClient

    from sciml.tracking import load_model

    sets = [f"dataset.{k}={v}" for k, v in tiny_config.items()]
    sets += ["seed=1", "trainer.max_epochs=2", "trainer.physics_warmup_epochs=1", "trainer.pixels_per_epoch=8", "trainer.batch_size=8",
             "evaluator.baseline_max_epochs=2", "evaluator.baseline_pixels_per_epoch=8",
             "evaluator.map_times=[2.0, 10.0]", "evaluator.max_val_ratio=100.0"]
    with isolated_store(tmp_path) as home:
        shutil.copytree(tiny_cache / "cache", tmp_path / "cache", dirs_exist_ok=True)  # no re-simulation
        summary = run_tiny("aphyn", *sets)
        assert summary.best is not None and summary.best.accepted
        metrics = summary.best.metrics
        for key in ("val_mse", "test_mse", "train_mse", "baseline.physics_only.val_mse",
                    "baseline.physics_only.test_mse", "baseline.physics_offset.test_mse", "val_fdl_norm2",
                    "tau_close", "val_loss"):
            assert key in metrics, key
        client = MlflowClient(summary.tracking_uri, registry_uri=summary.tracking_uri)
        arts = {a.path for a in client.list_artifacts(summary.best.run_id)}
        assert {"fig3_decomposition.png", "voltage_maps.png", "voltage_maps_test.png", "table1.json"} <= arts
        loaded = load_model("models:/sciml-aphyn@champion")
        assert loaded.module.taus()["tau_close"] == pytest.approx(metrics["tau_close"], rel=1e-5)
        assert home.exists()
