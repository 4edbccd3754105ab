"""In-process runs end to end on the toy plugin: MLflow runs, selection, registry, reload."""

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from sciml.errors import UserError
from sciml.testing import run_tiny
from sciml.tracking import load_model


def client_for(summary):
    return MlflowClient(summary.tracking_uri, registry_uri=summary.tracking_uri)


def test_single_run_is_tracked_registered_and_reloads(sciml_store):
    s = run_tiny("toy", "seed=5")
    c = client_for(s)
    parent = c.get_run(s.parent_run_id)
    assert parent.data.tags["sciml.mode"] == "single" and parent.info.status == "FINISHED"
    children = c.search_runs([s.experiment_id], f"tags.mlflow.parentRunId = '{s.parent_run_id}'")
    assert [r.info.run_name for r in children] == [s.best.name] and s.best.name.endswith("-s5")
    child = children[0]
    assert child.data.params["model.hidden"] == "8" and "dataset_hash" in child.data.params
    history = c.get_metric_history(child.info.run_id, "val_loss")
    assert [m.step for m in history] == [0, 1, 2]
    arts = {a.path for a in c.list_artifacts(child.info.run_id)}
    assert {"config.yaml", "loss_curves.png", "split_indices.json", "outcome.json"} <= arts
    mv = c.get_model_version_by_alias("sciml-toy", "champion")
    assert str(mv.version) == s.model_version
    loaded = load_model("models:/sciml-toy@champion")
    assert loaded.config["seed"] == 5
    ds_cls = __import__("sciml_toy.components", fromlist=["LinearData"]).LinearData
    from sciml.testing import make_context

    data = ds_cls(ds_cls.Config(), make_context(sciml_store / "x"))
    data.prepare()
    x, y = data.split("test").tensors
    with torch.no_grad():
        mse = float(torch.nn.functional.mse_loss(loaded.module(x), y))
    assert mse == pytest.approx(s.best.metrics["test_mse"], rel=1e-5)


def test_missing_seed_is_drawn_and_logged(sciml_store):
    s = run_tiny("toy")
    params = client_for(s).get_run(s.parent_run_id).data.params
    assert params["seed_drawn"] == "True" and int(params["base_seed"]) == s.best.seed


def test_selection_retries_with_new_seeds_then_gives_up(sciml_store):
    s = run_tiny("toy", "seed=0", "evaluator.reject_above=0.0")
    assert [t.seed for t in s.trials] == [0, 1, 2]  # max_attempts=3
    assert all(not t.accepted and "val_mse" in t.reason for t in s.trials)
    assert s.best is None and s.model_version is None
    c = client_for(s)
    kids = c.search_runs([s.experiment_id], f"tags.mlflow.parentRunId = '{s.parent_run_id}'")
    assert sorted(r.data.tags["sciml.accepted"] for r in kids) == ["False"] * 3


def test_failing_trial_is_marked_failed_with_its_error(sciml_store):
    s = run_tiny("toy", "seed=0", "model.fail_at_epoch=1")
    assert [t.status for t in s.trials] == ["FAILED"]
    assert "toy failure at epoch 1" in s.trials[0].error
    run = client_for(s).get_run(s.trials[0].run_id)
    assert run.info.status == "FAILED" and "toy failure" in run.data.tags["sciml.error"]


def test_user_errors_write_nothing(sciml_store):
    with pytest.raises(UserError, match="model.hiden"):
        run_tiny("toy", "model.hiden=3")
    assert not (sciml_store / "mlflow.db").exists()


def test_predict_through_the_loaded_model(sciml_store, tmp_path):
    run_tiny("toy", "seed=1")
    loaded = load_model("models:/sciml-toy@champion")
    f = tmp_path / "x.csv"
    np.savetxt(f, np.ones((4, 3)), delimiter=",")
    frame = loaded.predict(f)
    assert list(frame.columns) == ["y_pred"] and len(frame) == 4
    np.savetxt(f, np.ones((4, 2)), delimiter=",")
    with pytest.raises(UserError, match="expected 3 columns, got 2"):
        loaded.predict(f)
