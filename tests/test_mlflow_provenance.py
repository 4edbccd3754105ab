"""MLflow as its users expect: the dataset is a run input (the UI's Dataset column), the registered
version's description and tags say what made it (plugin and version, paper, metrics, data digest,
command, git commit)."""

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sciml_cli.main import get_cli

ROOT = Path(__file__).resolve().parents[1]


def _client():
    from mlflow import MlflowClient
    from sciml.tracking import default_tracking_uri

    return MlflowClient(default_tracking_uri(), registry_uri=default_tracking_uri())


def test_a_run_logs_its_dataset_as_input_and_registers_a_described_version(sciml_store):
    res = CliRunner().invoke(get_cli(), ["run", "toy", "--seed", "3"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    client = _client()
    (mv,) = client.search_model_versions("name='sciml-toy'")
    trial = client.get_run(mv.run_id)
    digest = trial.data.params["dataset_hash"]
    (inp,) = trial.inputs.dataset_inputs
    assert (inp.dataset.name, inp.dataset.digest) == ("toy:linear", digest)
    assert json.loads(inp.dataset.source)["config"]["n"] == 200
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "training"
    parent = client.get_run(trial.data.tags["mlflow.parentRunId"])
    assert [i.dataset.digest for i in parent.inputs.dataset_inputs] == [digest]

    lines = mv.description.splitlines()
    assert lines[0] == "Plugin: sciml-toy 0.0.1 (sciml 0.1.0): A tiny third-party sciml plugin used by the core's tests."
    assert lines[1] == "Paper: https://example.org/toy-linear-model"
    assert any(ln.startswith(f"Champion of toy:default, trial {trial.info.run_name} (seed 3).") for ln in lines)
    assert f"Dataset digest: {digest}." in lines and lines[-1] == "Reproduce: sciml run toy --seed 3"
    val = trial.data.metrics["val_mse"]
    assert any(ln.startswith("Selected on validation: val_mse = ") for ln in lines)
    assert any("mean: test_mse = " in ln for ln in lines)  # the trivial baseline on the same split
    assert float(mv.tags["value"]) == pytest.approx(val)
    versions = json.loads(mv.tags["sciml.versions"])
    assert versions["toy"] == "0.0.1" == mv.tags["plugin_version"] and versions["sciml"] == "0.1.0"
    assert json.loads(trial.data.tags["sciml.versions"]) == versions
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert mv.tags["sciml.git_commit"] == head.stdout.strip() == parent.data.tags["sciml.git_commit"]
        assert mv.tags["sciml.git_dirty"] in ("true", "false")


def test_version_drift_and_dataset_source(tmp_path):
    from sciml.tracking import dataset_source, version_drift

    assert version_drift({"sciml": "0.1.0", "toy": "0.0.1"}, {"sciml": "0.1.0", "toy": "0.0.1", "x": "1"}) == []
    assert version_drift({"sciml": "0.0.9", "gone": "1.0"}, {"sciml": "0.1.0"}) == [
        "gone: logged 1.0, installed none", "sciml: logged 0.0.9, installed 0.1.0"]
    data = tmp_path / "frames.xyz"
    data.write_text("1\n")
    src = dataset_source({"dataset": {"name": "p:d", "path": str(data), "n": 3}})
    assert src == {"dataset": "p:d", "config": {"path": str(data), "n": 3}, "uri": data.resolve().as_uri()}
    assert "uri" not in dataset_source({"dataset": {"name": "p:d", "path": str(tmp_path / "missing.xyz")}})
