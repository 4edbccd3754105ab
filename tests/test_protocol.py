"""The experiment protocol the core owns: validation selects, test is reported, baselines beside it."""

import math
import types

import pytest
import sciml
from click.testing import CliRunner
from mlflow import MlflowClient
from sciml import plugins, registry
from sciml.protocol import ProtocolError, check_selection_metric, compare, flatten_baselines, unflatten_baselines
from sciml.testing import registered, run_tiny
from sciml_cli.main import get_cli
from sciml_toy.components import MSE


def make_plugin(**hooks):
    mod = types.ModuleType("thirdparty")
    for name, fn in hooks.items():
        setattr(mod, name, sciml.hookimpl(fn))
    return mod


# -- selection metric ---------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["test_rmsd", "rmsd", "train_loss", "val_"])
def test_a_pipeline_selecting_on_anything_but_validation_is_refused(metric):
    with pytest.raises(ProtocolError, match="not a validation metric"):
        sciml.Pipeline(name="default", dataset="a:b", model="a:c", evaluator="a:d", metric=metric)


def test_the_refusal_suggests_the_validation_counterpart():
    with pytest.raises(ProtocolError, match=r"use 'val_rmsd' and report 'test_rmsd'"):
        check_selection_metric("default", "test_rmsd", "min")
    with pytest.raises(ProtocolError, match="mode 'lowest'"):
        check_selection_metric("default", "val_rmsd", "lowest")


def test_sciml_plugins_shows_a_test_metric_pipeline_as_not_loaded():
    def sciml_register_pipelines(register):
        register(sciml.Pipeline(name="default", dataset="toy:linear", model="toy:mlp", evaluator="toy:mse",
                                metric="test_mse"))

    with registered(make_plugin(sciml_register_pipelines=sciml_register_pipelines), "peeker"):
        registry.get_registry()
        assert "selects on 'test_mse'" in plugins.load_errors()["peeker"]
        out = CliRunner().invoke(get_cli(), ["plugins"], catch_exceptions=False).output
        line = next(ln for ln in out.splitlines() if ln.startswith("peeker"))
        assert "[error] sciml_register_pipelines raised ProtocolError" in line and "not a validation metric" in line
        with pytest.raises(sciml.UserError, match="not loaded.*test_mse"):
            registry.get_registry().pipeline("peeker")


# -- baselines and the verdict ------------------------------------------------------------------------

def test_baselines_flatten_and_back():
    flat = flatten_baselines({"mean": {"val_mse": 2.0, "test_mse": 3.0, "note": "x", "nan": math.nan}})
    assert flat == {"baseline.mean.val_mse": 2.0, "baseline.mean.test_mse": 3.0}
    assert unflatten_baselines({**flat, "val_mse": 1.0}) == {"mean": {"val_mse": 2.0, "test_mse": 3.0}}
    with pytest.raises(ProtocolError, match="without dots"):
        flatten_baselines({"a.b": {"test_mse": 1.0}})


def test_compare_uses_the_hardest_baseline_and_a_skill_score():
    base = {"mean": {"test_mse": 4.0}, "krr": {"test_mse": 2.0}}
    c = compare("val_mse", "min", {"val_mse": 0.5, "test_mse": 1.0}, base)
    assert (c.baseline, c.baseline_test, c.beats) == ("krr", 2.0, True)
    assert c.skill == pytest.approx(0.5)  # 1 - 1.0 / 2.0
    worse = compare("val_mse", "min", {"val_mse": 0.5, "test_mse": 3.0}, base)
    assert worse.beats is False and "does NOT beat" in worse.verdict() and worse.skill == pytest.approx(-0.5)
    up = compare("val_rho", "max", {"test_rho": 0.6}, {"conc": {"test_rho": 0.8}, "flag": {"test_rho": 0.1}})
    assert (up.baseline, up.beats) == ("conc", False) and up.skill == pytest.approx(-0.2)
    assert compare("val_mse", "min", {"test_mse": 1.0}, {}).verdict() == "no trivial baseline declared"
    assert compare("val_mse", "min", {}, base).beats is None


# -- end to end on the toy plugin ---------------------------------------------------------------------

def test_champion_is_chosen_on_validation_and_registered_with_its_test_and_baselines(sciml_store):
    s = run_tiny("toy", "seed=3", tune=True, num_samples=3, seeds=1)
    finished = [t for t in s.trials if t.status == "FINISHED"]
    assert s.best is min(finished, key=lambda t: t.metrics["val_mse"])
    for t in finished:  # every finished trial carries its test figure and the baseline's
        assert {"val_mse", "test_mse", "baseline.mean.val_mse", "baseline.mean.test_mse"} <= set(t.metrics)
    cmp = s.comparison
    assert cmp.test == s.best.metrics["test_mse"] and cmp.baseline == "mean"
    c = MlflowClient(s.tracking_uri, registry_uri=s.tracking_uri)
    mv = c.get_model_version_by_alias("sciml-toy", "champion")
    assert "Selected on validation: val_mse" in mv.description and "mean: test_mse" in mv.description
    assert "Reproduce: sciml run toy --set seed=3 --tune --num-samples 3 --seeds 1" in mv.description
    assert mv.tags["beats_baseline"] == str(cmp.beats) and mv.tags["test_metric"] == "test_mse"
    assert c.get_run(s.parent_run_id).data.tags["sciml.selected_on"] == "val_mse"


class _Unbeatable(MSE):
    """The toy evaluator with an oracle baseline no trained model can beat (MSE 0)."""

    def baselines(self, model, data, results):
        return {**super().baselines(model, data, results), "oracle": {"val_mse": 0.0, "test_mse": 0.0}}


def test_a_champion_that_does_not_beat_its_baseline_is_flagged(sciml_store):
    def sciml_register_evaluators(register):
        register("mse", _Unbeatable)

    with registered(make_plugin(sciml_register_evaluators=sciml_register_evaluators), "oracle"):
        s = run_tiny("toy", "seed=0", "evaluator=oracle:mse")
    assert s.comparison.beats is False and s.comparison.baseline == "oracle"
    c = MlflowClient(s.tracking_uri, registry_uri=s.tracking_uri)
    mv = c.get_model_version_by_alias("sciml-toy", "champion")
    assert mv.tags["beats_baseline"] == "False" and "does NOT beat" in mv.description
    assert c.get_run(s.parent_run_id).data.tags["sciml.beats_baseline"] == "False"


def test_the_summary_prints_validation_test_and_baselines_side_by_side(sciml_store):
    out = CliRunner().invoke(get_cli(), ["run", "toy", "--seed", "1"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "selected on val_mse = " in out.output and "test_mse = " in out.output
    assert "baseline mean" in out.output and "trivial baseline 'mean'" in out.output
