"""End to end through the core's runner on a slice of the committed CHGNet table, then `sciml predict`."""

from __future__ import annotations

import pytest

TINY = ["dataset.max_compounds=300", "model.channels=4", "model.hidden=16", "trainer.max_epochs=2",
        "trainer.batch_size=32", "evaluator.learning_curve_sizes=[50]", "evaluator.learning_curve_epochs=1",
        "evaluator.stability_epochs=1", "evaluator.krr=false"]


@pytest.mark.slow
def test_tiny_run_then_predict(sciml_store, tmp_path):
    pytest.importorskip("mlflow")
    from click.testing import CliRunner
    from sciml.testing import assert_plugin_loads, run_tiny
    from sciml_cli.main import get_cli

    kinds = assert_plugin_loads("ptrcnn")
    assert "ptrcnn:default" in kinds["pipeline"]
    s = run_tiny("ptrcnn", *TINY, seed=0)
    assert s.best is not None, [t.error for t in s.trials]
    m = s.best.metrics
    for key in ("val_mae_formation_energy", "test_mae_formation_energy", "test_mape_lattice_parameter",
                "experimental_mae_formation_energy", "label_vs_experiment_mae_formation_energy",
                "curve_ptr_test_mae_formation_energy", "curve_random_table_1_test_mae_formation_energy",
                "stability_val_auc"):
        assert key in m, key
    assert 0 < m["test_mape_lattice_parameter"] < 100
    inp = tmp_path / "in.txt"
    inp.write_text("Co2MnGa\nFe2VAl\n")
    out = tmp_path / "pred.csv"
    res = CliRunner().invoke(get_cli(), ["predict", "ptrcnn", "--model", "models:/sciml-ptrcnn@champion",
                                         "--input", str(inp), "--output", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "Co2GaMn" in text and "Fe2AlV" in text and "lattice_parameter" in text
    inp.write_text("Co2MnXe\n")
    bad = CliRunner().invoke(get_cli(), ["predict", "ptrcnn", "--model", "models:/sciml-ptrcnn@champion",
                                         "--input", str(inp)])
    assert bad.exit_code != 0 and "Xe" in bad.output
