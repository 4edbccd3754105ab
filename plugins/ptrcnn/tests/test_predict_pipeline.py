import numpy as np
import pandas as pd
import pytest
import torch
from sciml import UserError
from sciml.testing import make_context
from sciml_ptrcnn.dataset import HeuslerPTRDataset
from sciml_ptrcnn.evaluation import RegressionEvaluator
from sciml_ptrcnn.model import PTRCNN
from sciml_ptrcnn.predict import predict, predict_formulas, read_formulas
from sciml_ptrcnn.training import PaperTrainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from .conftest import drawing_reporter, write_oqmd

    tmp_path = tmp_path_factory.mktemp("trained")
    oqmd_file = write_oqmd(tmp_path)
    torch.manual_seed(0)
    ctx = make_context(tmp_path)
    d = HeuslerPTRDataset(HeuslerPTRDataset.Config(source="oqmd", path=str(oqmd_file)), ctx)
    d.prepare()
    m = PTRCNN(PTRCNN.Config(task="formation_energy", channels=4, hidden=16), d.metadata)
    rep = drawing_reporter(tmp_path / "rep")
    out = PaperTrainer(PaperTrainer.Config(max_epochs=3, batch_size=16), ctx).fit(m, d, rep)
    return ctx, d, m, rep, out


def test_trainer_reports_and_checkpoints(trained):
    _, _, _, rep, out = trained
    assert len(rep.history("train_loss")) == 3 and len(rep.history("val_loss")) == 3
    assert rep.checkpoints and np.isfinite(out["best_val_loss"])


def test_evaluator_metrics_and_figures(trained):
    ctx, d, m, rep, _ = trained
    ev = RegressionEvaluator(RegressionEvaluator.Config(
        learning_curve_sizes=[20], learning_curve_full=True, learning_curve_epochs=1, stability_epochs=1, heatmap_x=["Co"]), ctx)
    r = ev.evaluate(m, d, rep)
    # the metric equals an independent computation
    x = torch.from_numpy(d.images("test"))
    with torch.no_grad():
        p = m(x).numpy()[:, 0] * d.normalization["scale"][0] + d.normalization["center"][0]
    assert r["test_mae_formation_energy"] == pytest.approx(1000 * np.abs(p - d.raw_targets("test")[:, 0]).mean(), rel=1e-4)
    assert r["n_experimental"] == 120 and r["experimental_mae_formation_energy"] > 0
    assert {p["n_train"] for p in r["learning_curve"]["ptr"]} == {20, d.metadata["n_train"]}
    assert "krr_mendeleev_line" in r["learning_curve"]
    assert 0 <= r["stability_val_auc"] <= 1 and 0 <= r["stability_test_auc"] <= 1  # val picks the epoch, test reports
    assert 0 <= r["stability_n_stable_Co2YZ"] <= 51 * 50 // 2
    for f in ("parity.png", "parity_experimental.png", "error_vs_training_size.png",
              "stability_Co2YZ.png"):
        assert f in rep.figures


def test_evaluator_config_rejects_unknown_names():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'U'"):
        RegressionEvaluator.Config(heatmap_x=["U"])
    with pytest.raises(ValidationError, match="hexagon"):
        RegressionEvaluator.Config(learning_curve_representations=["ptr", "hexagon"])


def test_predict_file_and_errors(trained, tmp_path):
    _, d, m, _, _ = trained
    f = tmp_path / "in.txt"
    f.write_text("Co2MnGa\n# comment\nGaNi2Mn\n")
    df = predict(m, {}, d.metadata, f)
    assert df["formula"].tolist() == ["Co2GaMn", "Ni2GaMn"]
    assert np.isfinite(df["formation_energy_per_atom"]).all()
    f.write_text("Co2MnGa\nCo2MnLa\nCoMnGa\n")
    with pytest.raises(UserError, match=r"2 input formula.*La.*CoMnGa"):
        predict(m, {}, d.metadata, f)
    c = tmp_path / "in.csv"
    pd.DataFrame({"formula": ["Fe2VAl"], "x": [1]}).to_csv(c, index=False)
    assert read_formulas(c) == ["Fe2VAl"]


def test_deep_ensemble_mean_and_std(trained):
    _, d, m, _, _ = trained
    m2 = PTRCNN(m.config, d.metadata)
    df = predict_formulas([m, m2], d.metadata, ["Co2MnGa", "Fe2VAl"])
    a = predict_formulas(m, d.metadata, ["Co2MnGa", "Fe2VAl"])["formation_energy_per_atom"]
    b = predict_formulas(m2, d.metadata, ["Co2MnGa", "Fe2VAl"])["formation_energy_per_atom"]
    assert np.allclose(df["formation_energy_per_atom"], (a + b) / 2, atol=1e-6)
    assert np.allclose(df["formation_energy_per_atom_std"], np.abs(a - b) / 2, atol=1e-6)


def test_plugin_registers_everything():
    from sciml_ptrcnn import plugin

    got = {}
    for hook in ("datasets", "models", "trainers", "evaluators"):
        getattr(plugin, f"sciml_register_{hook}")(lambda name, factory, description=None, _h=hook: got.setdefault(_h, name))
    assert got == {"datasets": "heusler", "models": "cnn", "trainers": "sgd", "evaluators": "regression"}
    pipes = []
    plugin.sciml_register_pipelines(pipes.append)
    p = pipes[0]
    assert p.name == "default" and p.predict == "sciml_ptrcnn.predict:predict"
    assert {"trainer.lr", "trainer.weight_decay", "trainer.batch_size", "model.channels",
            "dataset.representation"} <= set(p.search_space)


def _save(directory, model, metadata, pipeline="ptrcnn:default"):
    import sciml

    cfg = {"pipeline": pipeline, "model": {"name": "ptrcnn:cnn", **model.config.model_dump()}}
    return sciml.save_model_dir(directory, model, cfg, metadata)


def test_cli_ensemble_over_a_sweep_and_repeated_models(trained, tmp_path):
    import click
    from click.testing import CliRunner
    from sciml_ptrcnn import plugin

    _, d, m, _, _ = trained
    torch.manual_seed(1)
    m2 = PTRCNN(m.config, d.metadata)
    _save(tmp_path / "sweep" / "trial_0" / "model", m, d.metadata)
    _save(tmp_path / "sweep" / "trial_1" / "model", m2, d.metadata)
    (tmp_path / "sweep" / "not_a_trial").mkdir()
    f = tmp_path / "in.txt"
    f.write_text("Co2MnGa\nFe2VAl\n")

    @click.group()
    def cli():
        pass

    plugin.sciml_register_commands(cli=cli)
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(cli, ["ptrcnn", "predict", "--sweep", str(tmp_path / "sweep"), "--input", str(f),
                                 "--output", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out)
    a = predict_formulas(m, d.metadata, ["Co2MnGa", "Fe2VAl"])["formation_energy_per_atom"].to_numpy()
    b = predict_formulas(m2, d.metadata, ["Co2MnGa", "Fe2VAl"])["formation_energy_per_atom"].to_numpy()
    assert got["n_models"].tolist() == [2, 2]
    assert np.allclose(got["formation_energy_per_atom"], (a + b) / 2, atol=1e-5)
    assert np.allclose(got["formation_energy_per_atom_std"], np.abs(a - b) / 2, atol=1e-5)
    assert (got["formation_energy_per_atom_std"] > 0).all()
    # the same two models named one by one give the same table; one model gives std 0
    r = CliRunner().invoke(cli, ["ptrcnn", "predict", "--model", str(tmp_path / "sweep" / "trial_0" / "model"),
                                 "--model", str(tmp_path / "sweep" / "trial_1" / "model"), "--input", str(f)])
    assert r.exit_code == 0, r.output
    assert np.allclose(pd.read_csv(__import__("io").StringIO(r.output))["formation_energy_per_atom"],
                       got["formation_energy_per_atom"], atol=1e-5)
    r = CliRunner().invoke(cli, ["ptrcnn", "predict", "--sweep", str(tmp_path / "sweep" / "not_a_trial"),
                                 "--input", str(f)])
    assert r.exit_code != 0 and "holds no trial model" in str(r.exception)
    _save(tmp_path / "other" / "model", m, d.metadata, pipeline="cgmap:default")
    r = CliRunner().invoke(cli, ["ptrcnn", "predict", "--model", str(tmp_path / "other" / "model"), "--input", str(f)])
    assert r.exit_code != 0 and "not trained by plugin ptrcnn" in str(r.exception)
