"""``sciml reproduce RUN_ID``: the logged trial's exact config and seed run again give the same metric;
a changed plugin version is a warning; a metric that does not come back is exit code 1."""

import json

from click.testing import CliRunner
from sciml_cli.main import get_cli


def invoke(*args):
    return CliRunner().invoke(get_cli(), list(args), catch_exceptions=False)


def _client():
    from mlflow import MlflowClient
    from sciml.tracking import default_tracking_uri

    return MlflowClient(default_tracking_uri())


def test_reproduce_reruns_the_logged_config_and_gets_the_same_metric(sciml_store, monkeypatch):
    res = invoke("run", "toy", "--seed", "5", "--set", "model.hidden=5")
    assert res.exit_code == 0, res.output
    client = _client()
    (mv,) = client.search_model_versions("name='sciml-toy'")
    trial = client.get_run(mv.run_id)
    logged = trial.data.metrics["val_mse"]
    parent_id = trial.data.tags["mlflow.parentRunId"]

    res = invoke("reproduce", parent_id)  # a parent run: its champion trial
    assert res.exit_code == 0, res.output + res.stderr
    assert f"reproduced trial {mv.run_id} as run " in res.output and "warning" not in res.stderr
    assert f"val_mse: logged {logged!r}, reproduced {logged!r}: reproduced" in res.output
    new_parent = res.stdout.split(" as run ")[1].split()[0]
    (new_trial,) = [r for r in client.search_runs([trial.info.experiment_id],
                                                  f"tags.mlflow.parentRunId = '{new_parent}'")]
    assert new_trial.data.params["model.hidden"] == "5" and new_trial.data.tags["sciml.seed"] == "5"
    assert new_trial.data.params["dataset_hash"] == trial.data.params["dataset_hash"]
    assert client.get_run(new_parent).data.tags["sciml.reproduces"] == mv.run_id
    assert len(client.search_model_versions("name='sciml-toy'")) == 1  # nothing registered

    from sciml import tracking

    real = tracking.installed_versions
    monkeypatch.setattr(tracking, "installed_versions", lambda: {**real(), "toy": "9.9.9"})
    client.log_metric(mv.run_id, "val_mse", logged * 2 + 1, step=1)  # the store now says otherwise
    res = invoke("reproduce", mv.run_id)
    assert res.exit_code == 1, res.output + res.stderr
    assert "warning: version differs from the logged run: toy: logged 0.0.1, installed 9.9.9" in res.stderr
    assert "NOT reproduced" in res.output
    assert json.loads(trial.data.tags["sciml.versions"])["toy"] == "0.0.1"


def test_reproduce_errors_are_one_line(sciml_store):
    res = invoke("reproduce", "0123456789abcdef")
    assert res.exit_code == 2 and "no run '0123456789abcdef'" in res.stderr + res.output
