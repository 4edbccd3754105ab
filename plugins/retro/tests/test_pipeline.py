"""End to end through the core's runner on a slice of the committed data, then `sciml retro plan`."""

from __future__ import annotations

import json

import pytest

TINY = ["seed=1", "dataset.limit=200", "dataset.template_min_count=2", "dataset.filter_negatives=20",
        "model.hidden_size=32", "model.filter_hidden=16", "trainer.max_epochs=2", "trainer.batch_size=64",
        "evaluator.n_targets=2", "evaluator.time_limit=0.5"]


@pytest.mark.slow
def test_tiny_run_registers_a_policy_that_plan_can_use(sciml_store, tmp_path):
    pytest.importorskip("mlflow")
    from click.testing import CliRunner
    from sciml import load_model
    from sciml.testing import run_tiny
    from sciml_cli.main import get_cli

    cli = get_cli()
    s = run_tiny("retro", *TINY)
    assert s.best is not None, [t.error for t in s.trials]
    m = s.best.metrics
    for key in ("test_top1_accuracy", "test_top10_accuracy", "test_top50_accuracy", "test_solved_rate",
                "val_top1_accuracy", "val_solved_rate", "test_reference_found_rate", "data_n_reactions",
                "data_n_library", "data_n_duplicates_removed", "baseline.template_frequency.val_solved_rate",
                "baseline.template_frequency.test_solved_rate"):
        assert key in m, key
    for split in ("val", "test"):
        assert 0 <= m[f"{split}_top1_accuracy"] <= m[f"{split}_top10_accuracy"] <= m[f"{split}_top50_accuracy"] <= 1
        assert 0 <= m[f"{split}_solved_rate"] <= 1
    assert m["data_n_reactions"] > 150

    policy = load_model("models:/sciml-retro@champion").module
    assert len(policy.templates) == m["data_n_library"]

    out = tmp_path / "route.json"
    res = CliRunner().invoke(cli, ["retro", "plan", "CC(=O)Nc1ccc(O)cc1", "--time-limit", "1",
                                   "--model", "models:/sciml-retro@champion", "--output", str(out)])
    assert res.exit_code in (0, 1), res.output
    assert ("Found" in res.output) == (res.exit_code == 0)
    assert ("No route found" in res.output) == (res.exit_code == 1)
    data = json.loads(out.read_text())
    assert data["target"] == "CC(=O)Nc1ccc(O)cc1" and data["time_limit_s"] == 1.0

    bad = CliRunner().invoke(cli, ["retro", "plan", "C1CC(", "--model", "models:/sciml-retro@champion"])
    assert bad.exit_code == 2 and "not a valid SMILES" in bad.output
