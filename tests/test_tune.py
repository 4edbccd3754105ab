"""Ray Tune sweeps on the toy plugin: nested MLflow runs, seeds, failures, resources."""

import json

import pytest
from mlflow import MlflowClient
from sciml.testing import run_tiny


def most_at_once(summary) -> int:
    """The largest number of the sweep's trials that ran at the same moment (their resources.json)."""
    spans = [json.loads((t.run_dir / "artifacts" / "resources.json").read_text()) for t in summary.trials]
    return max(sum(o["started"] <= s["started"] < o["ended"] for o in spans) for s in spans)


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


@pytest.mark.slow
def test_every_seed_of_a_sampled_config_trains_that_config(sciml_store):
    """Tune samples (BasicVariantGenerator with constant_grid_search): each draw is held over the seeds."""
    s = run_tiny("toy", "seed=3", "trainer.max_epochs=1", tune=True, num_samples=3, seeds=2, max_concurrent=1,
                 search=["trainer.lr=loguniform(1e-3, 1e-1)", "model.hidden=grid(4, 8)"])
    assert len(s.trials) == 12
    by_config = {}
    for t in s.trials:
        by_config.setdefault(t.config_hash, []).append(t)
    assert all(sorted(t.seed for t in ts) == [3, 4] for ts in by_config.values())  # every config, both seeds
    lrs = {t.config_hash: t.config["trainer"]["lr"] for t in s.trials}
    assert len(by_config) == 6 and len(set(lrs.values())) == 3  # 3 draws x 2 grid values
    assert all(1e-3 <= lr <= 1e-1 for lr in lrs.values())
    assert most_at_once(s) == 1  # --max-concurrent reaches Tune's basic generator (Ray alone would run 2)
    c, kids = children(s)  # identity is in the tags, not parsed from names
    assert {(r.data.tags["sciml.config_hash"], r.data.tags["sciml.seed"]) for r in kids} == \
        {(t.config_hash, str(t.seed)) for t in s.trials}


@pytest.mark.slow
def test_optuna_search_proposes_configs_and_selects_on_validation(sciml_store):
    pytest.importorskip("optuna")
    s = run_tiny("toy", "seed=1", "trainer.max_epochs=2", tune=True, num_samples=4, max_concurrent=1,
                 search_alg="optuna", search=["trainer.lr=loguniform(1e-3, 1e-1)"])
    assert len(s.trials) == 4 and all(t.status == "FINISHED" and t.seed == 1 for t in s.trials)
    assert len({t.config["trainer"]["lr"] for t in s.trials}) == 4
    assert s.best.metrics["val_mse"] == min(t.metrics["val_mse"] for t in s.trials)
    assert most_at_once(s) == 1


def test_optuna_refuses_what_it_cannot_do(sciml_store):
    from sciml.errors import UserError

    with pytest.raises(UserError, match="use --seeds 1"):
        run_tiny("toy", tune=True, seeds=2, search_alg="optuna")
    with pytest.raises(UserError, match="grid"):
        run_tiny("toy", tune=True, search_alg="optuna", search=["model.hidden=grid(4, 8)"])
    with pytest.raises(UserError, match="--search-alg 'nope': accepted: basic, optuna"):
        run_tiny("toy", tune=True, search_alg="nope")
    assert not (sciml_store / "mlflow.db").exists()


def test_search_space_is_checked_at_its_ends_before_anything_runs(sciml_store):
    from sciml.errors import UserError

    with pytest.raises(UserError, match="search space: invalid value for 'model.hidden'"):
        run_tiny("toy", tune=True, search=["model.hidden=randint(-3, 8)"])
    assert not (sciml_store / "mlflow.db").exists()


@pytest.mark.slow
def test_four_trials_share_one_logical_gpu(sciml_store):
    """ray.init(num_gpus=1) declares a GPU without hardware: at 0.25 per trial, 4 trials run at once."""
    import os

    import ray

    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("SCIML_")}})
    try:
        s = run_tiny("toy", "seed=0", "trainer.max_epochs=2", "model.sleep_per_epoch=2", tune=True, seeds=4,
                     cpus_per_trial=1, gpus_per_trial=0.25)
    finally:
        ray.shutdown()
    assert [t.status for t in s.trials] == ["FINISHED"] * 4
    seen = [json.loads((t.run_dir / "artifacts" / "resources.json").read_text()) for t in s.trials]
    assert all(r["gpus"] == 0.25 and r["gpu_ids"] == ["0"] and r["threads"] == 1 for r in seen)
    assert all(r["device"] == "cpu" for r in seen)  # a logical GPU: torch sees no CUDA device
    assert max(r["started"] for r in seen) < min(r["ended"] for r in seen)  # all four at the same time
    assert most_at_once(s) == 4


def test_run_and_resume_options_come_from_one_definition():
    import dataclasses

    from click.testing import CliRunner
    from sciml.run.options import RunOptions, cli_options
    from sciml_cli.main import get_cli

    run_help = CliRunner().invoke(get_cli(), ["run", "--help"]).output
    resume_help = CliRunner().invoke(get_cli(), ["resume", "--help"]).output
    for name, spec, _ in cli_options("run"):
        assert spec.flag in run_help and name in {f.name for f in dataclasses.fields(RunOptions)}
    assert "--max-failures" in resume_help and "--retry-failed" in resume_help and "--seeds" not in resume_help
    assert "--retry-failed" not in run_help
    from sciml.errors import UserError

    with pytest.raises(UserError, match="--cpus-per-trial 0: must be > 0"):
        RunOptions("toy", cpus_per_trial=0).validate()
    assert RunOptions("toy", seed=3, tune=True, seeds=2, sets=["a=1"]).command() == \
        "sciml run toy --set a=1 --seed 3 --tune --seeds 2"
