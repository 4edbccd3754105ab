"""Third-party plugins: the plugin template round trip, component mixing, API-version mismatch."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import sciml
import torch
from click.testing import CliRunner
from pydantic import Field
from sciml import plugins
from sciml.testing import isolated_store, registered, run_tiny
from sciml_cli.main import cli
from sciml_cli.new_plugin import check_name, render_plugin

NAME = "tmplcheck"  # a name no real plugin uses; installed for the round trip only
TINY = ["--set", "trainer.max_epochs=2", "--set", "dataset.n_samples=64", "--set", "evaluator.max_rmse=100"]


# --- the template ------------------------------------------------------------------------

@pytest.mark.parametrize("bad,why", [
    ("MyPlugin", "is not a lowercase Python identifier"), ("2fast", "is not a lowercase Python identifier"),
    ("my-plugin", "is not a lowercase Python identifier"), ("", "is not a lowercase Python identifier"),
    ("import", "is a Python keyword"), ("sciml", "is reserved"),
])
def test_bad_plugin_names_are_one_clear_user_error(bad, why):
    with pytest.raises(sciml.UserError, match=f"plugin name {bad!r} {why}"):
        check_name(bad)
    res = CliRunner().invoke(cli, ["new-plugin", bad])
    assert res.exit_code == 2 and res.output.startswith("Error: plugin name") and "Traceback" not in res.output


def test_a_name_an_installed_plugin_uses_is_refused(tmp_path):
    res = CliRunner().invoke(cli, ["new-plugin", "toy", "--dir", str(tmp_path / "p")])
    assert res.exit_code == 2 and "plugin name 'toy' is taken: sciml-toy 0.0.1 is installed" in res.output
    assert not (tmp_path / "p").exists()


def test_render_writes_a_complete_distribution_and_never_overwrites(tmp_path):
    res = CliRunner().invoke(cli, ["new-plugin", "mdsim", "--dir", str(tmp_path / "p"), "--description", "MD, fast"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "p"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "sciml_mdsim/__init__.py", "sciml_mdsim/data.py",
                     "sciml_mdsim/evaluation.py", "sciml_mdsim/model.py", "sciml_mdsim/plugin.py",
                     "sciml_mdsim/predict.py", "tests/conftest.py", "tests/test_plugin.py"]
    pyproject = (out / "pyproject.toml").read_text()
    assert 'name = "sciml-mdsim"' in pyproject and 'mdsim = "sciml_mdsim.plugin"' in pyproject
    assert "[project.entry-points.sciml]" in pyproject and "torch==2.13.0" in pyproject
    assert 'description = "MD, fast"' in pyproject
    plugin_src = (out / "sciml_mdsim" / "plugin.py").read_text()
    assert 'SCIML_API = "1"' in plugin_src and 'trainer="sciml:default"' in plugin_src
    assert 'metric="val_rmse"' in plugin_src  # validation chooses; test is only reported
    evaluation_src = (out / "sciml_mdsim" / "evaluation.py").read_text()
    assert "def baselines(" in evaluation_src and 'reporter.draw_figure("fit.png"' in evaluation_src
    assert not re.search(r"^\s*(import|from) torch", plugin_src, re.M)  # discovery stays cheap
    for path in out.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # every rendered module is valid Python
    assert "$" not in plugin_src
    before = (out / "README.md").read_text()
    res = CliRunner().invoke(cli, ["new-plugin", "mdsim", "--dir", str(out)])
    assert res.exit_code == 2 and "already exists and is not empty" in res.output
    assert (out / "README.md").read_text() == before


def _sciml_cmd() -> list[str]:
    script = Path(sys.executable).with_name("sciml")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sciml_cli.main"]


@pytest.mark.slow
def test_template_round_trip_install_test_run_tune(tmp_path):
    """Render, pip install -e, run the plugin's own tests, `sciml run`, `sciml run --tune`.

    The three runs are independent (each has its own store) and mostly wait on start-up, so they
    run side by side.
    """
    dest = render_plugin(NAME, tmp_path / f"sciml-{NAME}")
    pip = [sys.executable, "-m", "pip"]
    no_isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([*pip, "install", "-q", "--no-deps", *no_isolation, "-e", str(dest)], check=True, timeout=300)
    procs: dict[str, subprocess.Popen] = {}
    try:
        def start(key, args, cwd, store):
            with isolated_store(store):  # SCIML_HOME=store/home, SCIML_CACHE=store/cache
                env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
            procs[key] = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True)

        start("own tests", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], dest, tmp_path / "own")
        start("run", [*_sciml_cmd(), "run", NAME, "--seed", "3", *TINY], tmp_path, tmp_path / "single")
        start("tune", [*_sciml_cmd(), "run", NAME, "--tune", "--num-samples", "1", "--seeds", "2", "--seed", "5",
                       *TINY], tmp_path, tmp_path / "tune")
        out = {}
        for key, proc in procs.items():
            out[key], _ = proc.communicate(timeout=900)
            assert proc.returncode == 0, f"{key} failed:\n" + out[key][-4000:]

        assert "9 passed" in out["own tests"], out["own tests"][-3000:]
        assert f"registered model: models:/sciml-{NAME}/1 (alias @champion)" in out["run"], out["run"][-3000:]
        assert "selected on val_rmse = " in out["run"] and "; test_rmse = " in out["run"], out["run"][-3000:]
        assert "baseline train_mean" in out["run"], out["run"][-3000:]
        assert "2 trial(s): 2 accepted" in out["tune"], out["tune"][-3000:]
        assert f"registered model: models:/sciml-{NAME}/1" in out["tune"], out["tune"][-3000:]

        from mlflow import MlflowClient

        uri = f"sqlite:///{tmp_path / 'tune' / 'home' / 'mlflow.db'}"
        # name the registry too: an earlier in-process run set a process-wide registry URI
        client = MlflowClient(uri, registry_uri=uri)
        champion = client.get_model_version_by_alias(f"sciml-{NAME}", "champion")
        assert str(champion.version) == "1"
        best = client.get_run(champion.run_id)
        parent = client.get_run(best.data.tags["mlflow.parentRunId"])
        assert parent.data.tags["sciml.mode"] == "tune" and parent.data.metrics["n_trials"] == 2
        assert best.data.tags["sciml.seed"] in {"5", "6"}
        assert {"val_rmse", "test_rmse", "baseline.train_mean.test_rmse"} <= set(best.data.metrics)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        subprocess.run([*pip, "uninstall", "-y", "-q", f"sciml-{NAME}"], check=False, timeout=300)
    assert importlib.util.find_spec(f"sciml_{NAME}") is None  # nothing leaks into other tests


# --- component mixing: a third party's Model for an existing Dataset ------------------------

class LinearRegressor(torch.nn.Module):
    """A third party's model for ``toy:linear``: ``y = x w + b``, x ``(batch, n_features)``."""

    class Config(sciml.ComponentConfig):
        bias: bool = Field(True, description="learn an intercept")

    def __init__(self, config, metadata):
        super().__init__()
        self.config = config
        self.linear = torch.nn.Linear(metadata["n_features"], 1, bias=config.bias)

    def forward(self, x):
        return self.linear(x).squeeze(-1)

    def training_step(self, batch, epoch):
        x, y = batch
        return {"loss": torch.nn.functional.mse_loss(self(x), y)}


def their_plugin() -> types.ModuleType:
    mod = types.ModuleType("sciml_their")
    mod.SCIML_API = "1"
    mod.sciml_register_models = sciml.hookimpl(lambda register: register("linear", LinearRegressor))
    return mod


def test_third_party_model_runs_on_an_existing_dataset(sciml_store):
    with registered(their_plugin(), "their"):
        res = CliRunner().invoke(cli, ["run", "toy", "--set", "model=their:linear", "--print-config"])
        assert res.exit_code == 0, res.output
        assert "name: their:linear" in res.output and "bias: true" in res.output and "name: toy:linear" in res.output
        summary = run_tiny("toy", "model=their:linear", "model.bias=false", "trainer.max_epochs=3",
                           "trainer.lr=0.05", "seed=1", progress=False)
        assert summary.best is not None and summary.best.status == "FINISHED"
        assert summary.best.config["model"] == {"name": "their:linear", "bias": False}
        assert summary.best.config["dataset"]["name"] == "toy:linear"
        assert "test_mse" in summary.best.metrics  # the toy plugin's evaluator scored the third party's model
        from sciml.tracking import load_model

        loaded = load_model("models:/sciml-toy@champion")
        assert isinstance(loaded.module, LinearRegressor) and loaded.module.linear.bias is None
    with pytest.raises(sciml.UserError, match="unknown model 'their:linear'"):
        run_tiny("toy", "model=their:linear")


# --- plugin API version --------------------------------------------------------------------

def test_plugins_command_shows_api_mismatch_and_keeps_the_others():
    future = types.ModuleType("sciml_future")
    future.SCIML_API = "2"
    future.sciml_register_models = sciml.hookimpl(lambda register: register("m", "sciml_future:M"))
    assert plugins.register_plugin(plugins.get_plugin_manager(), future, "future") is False
    res = CliRunner().invoke(cli, ["plugins"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "future  [not loaded] needs sciml plugin API 2, this core provides 1" in lines
    assert any(line.startswith("toy ") for line in lines) and "  models      toy:mlp, toy:mlp2" in lines
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)}
    assert rows["future"]["error"] == "needs sciml plugin API 2, this core provides 1"
    assert rows["future"]["registers"] == {} and rows["toy"]["error"] is None
    assert not plugins.get_plugin_manager().has_plugin("future")
