"""Lifecycle hooks (sciml_before_trial, sciml_after_trial, sciml_on_trial_error): a plugin that writes
a summary of every trial to a file, called through the plugin manager around each trial."""

import json
import logging
import sys
import types

import pytest
import sciml
from sciml.testing import registered, run_tiny


def summary_plugin(path):
    """A plugin writing one JSON line per lifecycle event to ``path``."""
    mod = types.ModuleType("trial_summary_plugin")

    def write(**line):
        with open(path, "a") as fh:
            fh.write(json.dumps(line) + "\n")

    @sciml.hookimpl
    def sciml_before_trial(config, context):
        write(event="before", seed=context.seed, pipeline=config["pipeline"], run_dir=str(context.run_dir))

    @sciml.hookimpl
    def sciml_after_trial(config, context, outcome):
        write(event="after", seed=context.seed, accepted=outcome["accepted"], val_mse=outcome["metrics"]["val_mse"],
              model_saved=(context.run_dir / "model").is_dir())

    @sciml.hookimpl
    def sciml_on_trial_error(config, context, error):
        write(event="error", seed=context.seed, error=f"{type(error).__name__}: {error}",
              traceback_kept=(context.run_dir / "error.txt").exists())

    mod.sciml_before_trial, mod.sciml_after_trial, mod.sciml_on_trial_error = \
        sciml_before_trial, sciml_after_trial, sciml_on_trial_error
    return mod


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_summary_plugin_sees_every_trial(sciml_store, tmp_path):
    out = tmp_path / "trials.jsonl"
    with registered(summary_plugin(out), "summary"):
        s = run_tiny("toy", "seed=4", "evaluator.reject_above=0.0")  # rejected: retried with seeds 5, 6
    events = lines(out)
    assert [(e["event"], e["seed"]) for e in events] == [("before", 4), ("after", 4), ("before", 5), ("after", 5),
                                                        ("before", 6), ("after", 6)]
    after = [e for e in events if e["event"] == "after"]
    assert [e["val_mse"] for e in after] == [t.metrics["val_mse"] for t in s.trials]
    assert all(e["model_saved"] and e["accepted"] is False for e in after)
    assert {e["run_dir"] for e in events if e["event"] == "before"} == {str(t.run_dir) for t in s.trials}


def test_summary_plugin_sees_the_error_of_a_failing_trial(sciml_store, tmp_path):
    out = tmp_path / "trials.jsonl"
    with registered(summary_plugin(out), "summary"):
        s = run_tiny("toy", "seed=0", "model.fail_at_epoch=1")
    assert s.trials[0].status == "FAILED"
    events = lines(out)
    assert [e["event"] for e in events] == ["before", "error"]
    assert events[1]["error"] == "RuntimeError: toy failure at epoch 1" and events[1]["traceback_kept"]


def test_a_raising_hook_is_a_warning_not_a_failed_trial(sciml_store, caplog):
    mod = types.ModuleType("broken_hook_plugin")

    @sciml.hookimpl
    def sciml_after_trial(config, context, outcome):
        raise OSError("the webhook is down")

    mod.sciml_after_trial = sciml_after_trial
    with registered(mod, "broken"), caplog.at_level(logging.WARNING, logger="sciml.run.worker"):
        s = run_tiny("toy", "seed=1")
    assert s.trials[0].status == "FINISHED" and s.model_version is not None
    assert "hook sciml_after_trial raised OSError: the webhook is down" in caplog.text


def test_a_misspelled_lifecycle_hook_is_rejected_with_a_suggestion():
    from sciml import plugins

    mod = types.ModuleType("typo_plugin")

    @sciml.hookimpl
    def sciml_after_trail(config, context, outcome):
        pass

    mod.sciml_after_trail = sciml_after_trail
    with pytest.raises(AssertionError, match="did you mean sciml_after_trial"):
        with registered(mod, "typo"):
            pass
    assert "typo" not in {name for name, _ in plugins.get_plugin_manager().list_name_plugin()}
    sys.modules.pop("typo_plugin", None)
