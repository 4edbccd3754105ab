"""Ray Tune sweeps on the toy plugin: nested MLflow runs, seeds, failures, resources."""

import pytest
from mlflow import MlflowClient
from sciml.testing import run_tiny
from sciml.tuning import apply_overrides, make_trainable


def children(summary):
    c = MlflowClient(summary.tracking_uri, registry_uri=summary.tracking_uri)
    return c, c.search_runs([summary.experiment_id], f"tags.mlflow.parentRunId = '{summary.parent_run_id}'")


@pytest.mark.slow
def test_sweep_two_samples_two_seeds(sciml_store):
    s = run_tiny("toy", "seed=10", tune=True, num_samples=2, seeds=2, max_concurrent=2)
    c, kids = children(s)
    assert len(kids) == 4 and len(s.trials) == 4
    assert sorted(r.data.tags["sciml.seed"] for r in kids) == ["10", "10", "11", "11"]
    names = {r.info.run_name for r in kids}
    assert all(n.startswith("toy-") and n.endswith(("-s10", "-s11")) for n in names)
    for run in kids:  # every trial complete in the store, with its per-epoch history
        assert run.info.status == "FINISHED"
        assert [m.step for m in c.get_metric_history(run.info.run_id, "val_loss")] == [0, 1, 2]
        assert "test_mse" in run.data.metrics
        assert {"config.yaml", "loss_curves.png"} <= {a.path for a in c.list_artifacts(run.info.run_id)}
    assert all(agg["test_mse"][2] == 2 for agg in s.aggregates.values())  # mean ± std over 2 seeds
    assert c.get_model_version_by_alias("sciml-toy", "champion").run_id == s.best.run_id
    best = min(t.metrics["val_mse"] for t in s.trials)  # validation chooses; test is only reported
    assert s.best.metrics["val_mse"] == best
    assert c.get_run(s.parent_run_id).data.metrics["n_trials"] == 4


@pytest.mark.slow
def test_failed_trial_is_reported_and_others_finish(sciml_store):
    s = run_tiny("toy", "seed=0", tune=True, num_samples=1, seeds=1,
                 search=["model.fail_at_epoch=grid(-1, 1)"])
    status = sorted((t.config["model"]["fail_at_epoch"], t.status) for t in s.trials)
    assert status == [(-1, "FINISHED"), (1, "FAILED")]
    failed = next(t for t in s.trials if t.status == "FAILED")
    assert "toy failure at epoch 1" in failed.error
    c, kids = children(s)
    assert sorted(r.info.status for r in kids) == ["FAILED", "FINISHED"]
    assert s.best is not None and s.best.status == "FINISHED"
    # the full traceback is kept in the trial's directory and as an artifact of its child run
    text = failed.error_file.read_text()
    assert "Traceback (most recent call last)" in text and "toy failure at epoch 1" in text
    assert "error.txt" in {a.path for a in c.list_artifacts(failed.run_id)}


def test_fractional_gpu_request_without_a_gpu():
    trainable = make_trainable({}, cpus_per_trial=2, gpus_per_trial=0.25)
    assert trainable._resources.required_resources == {"CPU": 2.0, "GPU": 0.25}


def test_apply_overrides_is_a_copy():
    base = {"model": {"n": 1}, "trainer": {"lr": 0.1}}
    out = apply_overrides(base, {"model.n": 3})
    assert out == {"model": {"n": 3}, "trainer": {"lr": 0.1}} and base["model"]["n"] == 1
