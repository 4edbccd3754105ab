"""The command line: lazy imports, one-line user errors with exit code 2, plugins, config."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sciml_cli.main import get_cli


def invoke(*args):
    return CliRunner().invoke(get_cli(), list(args), catch_exceptions=False)


def test_help_imports_no_heavy_library():
    code = ("import sys; sys.argv=['sciml','--help']\n"
            "from sciml_cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy=[m for m in ('torch','ray','mlflow') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "Usage: sciml" in out and "HEAVY []" in out


@pytest.mark.parametrize("args,message", [
    (["run", "nope"], "unknown plugin 'nope'"),
    (["run", "toy", "--set", "model.hiden=3"], "Did you mean 'model.hidden'"),
    (["run", "toy", "--set", "trainer.lr=fast"], "invalid value for 'trainer.lr' ('fast')"),
    (["run", "toy", "--set", "trainer.optimizer=lbfgs"], "'trainer.optimizer' ('lbfgs')"),
    (["run", "toy", "--config", "/nonexistent.yaml"], "does not exist"),
    (["run", "toy", "--num-samples", "2"], "--num-samples and --seeds need --tune"),
    (["run", "toy", "--tune", "--search", "trainer.lr=normal(0,1)"], "unknown function 'normal'"),
    (["run", "toy", "--device", "cuda:3", "--print-config", "--set", "trainer.device=tpu"], None),
])
def test_user_errors_are_one_line_exit_2(args, message, sciml_store):
    res = invoke(*args)
    if message is None:  # --device wins over --set: it is applied last
        assert res.exit_code == 0 and "device: cuda:3" in res.output
        return
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert "Traceback" not in res.output


def test_print_config(sciml_store):
    res = invoke("run", "toy", "--print-config", "--set", "model.hidden=3", "--seed", "4")
    assert res.exit_code == 0
    assert "hidden: 3" in res.output and "seed: 4" in res.output and "pipeline: toy:default" in res.output


def test_plugins_json():
    res = invoke("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["toy"]["registers"]["pipeline"] == ["toy:default"]
    assert rows["sciml"]["registers"] == {"trainer": ["sciml:default"]}


def test_run_prints_summary_and_predict_writes_file(sciml_store, tmp_path):
    res = invoke("run", "toy", "--seed", "2")
    assert res.exit_code == 0, res.output
    assert "best trial toy-" in res.output and "registered model: models:/sciml-toy/1" in res.output
    x = tmp_path / "x.csv"
    x.write_text("1,2,3\n0,0,0\n")
    out = tmp_path / "pred.json"
    res = invoke("predict", "toy", "--model", "models:/sciml-toy@champion", "--input", str(x), "--output", str(out))
    assert res.exit_code == 0, res.output
    assert len(json.loads(out.read_text())) == 2
    res = invoke("predict", "cgmap", "--model", "models:/sciml-toy@champion", "--input", str(x))
    assert res.exit_code == 2 and "trained by plugin 'toy', not 'cgmap'" in res.output
    res = invoke("predict", "toy", "--model", "models:/no-such-model@champion", "--input", str(x))
    assert res.exit_code == 2 and "cannot load model" in res.output
