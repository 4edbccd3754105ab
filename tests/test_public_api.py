"""The public API a plugin uses: everything importable from ``sciml``, documented, and working
(the cache helpers, the model loader for local directories and URIs, the figure helper)."""

import hashlib
import inspect
import json

import pytest
import sciml
from click.testing import CliRunner
from sciml_cli.main import get_cli

pytestmark = pytest.mark.usefixtures("sciml_store")


def test_every_public_name_is_importable_and_documented():
    assert {"file_sha256", "load_model", "load_model_dir", "save_model_dir", "save_figure",
            "LoadedModel"} <= set(sciml.__all__)
    for name in sciml.__all__:
        obj = getattr(sciml, name)
        if callable(obj):
            assert inspect.getdoc(obj), f"sciml.{name} has no docstring"


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(b"abc" * 1_000_000)  # several 1 MiB chunks
    assert sciml.file_sha256(f) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()
    with pytest.raises(FileNotFoundError):
        sciml.file_sha256(tmp_path / "missing.bin")


def test_save_figure_writes_and_closes_even_when_saving_fails(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = sciml.save_figure(fig, tmp_path / "sub" / "line.png", dpi=50)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plt.get_fignums() == []
    fig, _ = plt.subplots()
    (tmp_path / "dir.png").mkdir()  # a directory where the file should go: savefig fails
    with pytest.raises(OSError):
        sciml.save_figure(fig, tmp_path / "dir.png")
    assert plt.get_fignums() == []
    with pytest.raises(sciml.UserError, match="matplotlib figure"):
        sciml.save_figure("not a figure", tmp_path / "x.png")


def _toy_model_dir(tmp_path, seed=0):
    import torch
    from sciml_toy.components import MLP

    torch.manual_seed(seed)
    module = MLP(MLP.Config(hidden=4), {"n_features": 3})
    config = {"pipeline": "toy:default", "seed": 0, "model": {"name": "toy:mlp", "hidden": 4}}
    directory = tmp_path / "run" / "model"
    directory.mkdir(parents=True)
    torch.save(module.state_dict(), directory / "state_dict.pt")
    (directory / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    (directory / "metadata.json").write_text(json.dumps({"n_features": 3}))
    return module, directory


def test_load_model_reads_a_local_model_directory(tmp_path):
    import torch

    module, directory = _toy_model_dir(tmp_path)
    for loader in (sciml.load_model, sciml.load_model_dir):
        loaded = loader(directory)
        assert isinstance(loaded, sciml.LoadedModel) and not loaded.module.training
        x = torch.randn(5, 3)
        assert torch.equal(loaded.module(x), module.eval()(x))
        assert loaded.metadata == {"n_features": 3} and loaded.config["pipeline"] == "toy:default"


def test_save_model_dir_round_trips_through_load_model(tmp_path):
    import numpy as np
    import torch

    module, _ = _toy_model_dir(tmp_path)
    config = {"pipeline": "toy:default", "model": {"name": "toy:mlp", "hidden": 4}}
    out = sciml.save_model_dir(str(tmp_path / "saved"), module, config, {"n_features": np.int64(3), "w": np.ones(2)})
    loaded = sciml.load_model(out)
    x = torch.randn(4, 3)
    assert torch.equal(loaded.module(x), module.eval()(x)) and loaded.metadata == {"n_features": 3, "w": [1.0, 1.0]}


def test_load_model_dir_errors_name_the_problem(tmp_path):
    _, directory = _toy_model_dir(tmp_path)
    (directory / "metadata.json").unlink()
    with pytest.raises(sciml.UserError, match="not a sciml model directory: no metadata.json"):
        sciml.load_model(directory)
    _, other = _toy_model_dir(tmp_path / "b")
    (other / "config.yaml").write_text("pipeline: toy:default\nmodel: {name: nosuch:mlp}\n")
    with pytest.raises(sciml.UserError, match="unknown model 'nosuch:mlp'"):
        sciml.load_model(other)
    _, wrong = _toy_model_dir(tmp_path / "c")
    (wrong / "config.yaml").write_text("pipeline: toy:default\nmodel: {name: toy:mlp, hidden: 7}\n")
    with pytest.raises(sciml.UserError, match="do not fit model 'toy:mlp'"):
        sciml.load_model(wrong)
    with pytest.raises(sciml.UserError, match="cannot load model"):
        sciml.load_model(tmp_path / "no-such-dir")


def test_predict_accepts_a_local_model_directory(tmp_path):
    import torch

    module, directory = _toy_model_dir(tmp_path)
    x = tmp_path / "x.csv"
    x.write_text("1,2,3\n0,0,0\n")
    out = tmp_path / "pred.json"
    res = CliRunner().invoke(get_cli(), ["predict", "toy", "--model", str(directory), "--input", str(x),
                                         "--output", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    want = module.eval()(torch.tensor([[1.0, 2, 3], [0, 0, 0]])).tolist()
    assert [r["y_pred"] for r in json.loads(out.read_text())] == pytest.approx(want, abs=1e-6)
    res = CliRunner().invoke(get_cli(), ["predict", "cgmap", "--model", str(directory), "--input", str(x)])
    assert res.exit_code == 2 and "trained by plugin 'toy', not 'cgmap'" in res.output


def test_predict_with_several_models_gives_the_ensemble_mean_and_std(tmp_path):
    import numpy as np
    import torch

    x = tmp_path / "x.csv"
    x.write_text("1,2,3\n0,0,0\n-1,4,2\n")
    inputs = torch.tensor([[1.0, 2, 3], [0, 0, 0], [-1, 4, 2]])
    preds, dirs = [], []
    for i in range(3):
        module, directory = _toy_model_dir(tmp_path / f"m{i}", seed=i)  # a seed ensemble
        preds.append(module.eval()(inputs).detach().numpy())
        dirs.append(str(directory))
    out = tmp_path / "pred.csv"
    args = ["predict", "toy", "--input", str(x), "--output", str(out)]
    for d in dirs:
        args += ["--model", d]
    res = CliRunner().invoke(get_cli(), args, catch_exceptions=False)
    assert res.exit_code == 0 and "(3 model(s))" in res.output, res.output
    import pandas as pd

    frame = pd.read_csv(out)
    assert list(frame.columns) == ["y_pred", "y_pred_std"]
    assert frame["y_pred"].to_numpy() == pytest.approx(np.mean(preds, axis=0), abs=1e-5)
    assert frame["y_pred_std"].to_numpy() == pytest.approx(np.std(preds, axis=0, ddof=1), abs=1e-5)
    assert (frame["y_pred_std"] > 0).all()


def test_an_ensemble_needs_tables_of_one_shape():
    import pandas as pd
    from sciml_cli.main import ensemble

    a = pd.DataFrame({"id": ["x", "y"], "p": [1.0, 2.0]})
    b = pd.DataFrame({"id": ["x", "y"], "p": [3.0, 4.0]})
    both = ensemble([a, b], ["A", "B"])
    assert both["id"].tolist() == ["x", "y"] and both["p"].tolist() == [2.0, 3.0]
    with pytest.raises(sciml.UserError, match="not one ensemble"):
        ensemble([a, b.iloc[:1]], ["A", "B"])
    with pytest.raises(sciml.UserError, match="'id' differs between the models and is not numeric"):
        ensemble([a, b.assign(id=["x", "z"])], ["A", "B"])
