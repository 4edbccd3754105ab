"""What a finished run says about its trials: one reason each, tracebacks kept, exit statuses,
mean ± std over the accepted seeds only (issue 19)."""

from pathlib import Path

from click.testing import CliRunner
from mlflow import MlflowClient
from sciml.run.driver import aggregate as _aggregate
from sciml.run.driver import rejected as _rejected
from sciml.run.records import RunSummary, TrialRecord
from sciml.testing import run_tiny
from sciml_cli.main import get_cli
from sciml_cli.summary import print_summary


def record(name, h, status="FINISHED", accepted=True, value=1.0, **kw):
    return TrialRecord(name=name, seed=0, config={}, config_hash=h, status=status, accepted=accepted,
                       metrics={"val_mse": value}, **kw)


def summary_of(trials, best=None):
    return RunSummary(plugin="toy", pipeline="toy:default", parent_run_id="p", experiment_id="1",
                      tracking_uri="sqlite://", metric="val_mse", mode="min", trials=trials, best=best,
                      aggregates=_aggregate(trials), rejected=_rejected(trials),
                      model_name="sciml-toy" if best else None, model_version="1" if best else None)


def test_mean_over_seeds_leaves_rejected_models_out_and_counts_them():
    trials = [record("a", "h1", value=1.0), record("b", "h1", value=3.0), record("c", "h1", accepted=False, value=99.0),
              record("d", "h2", accepted=False, value=5.0), record("e", "h2", status="STOPPED", accepted=False)]
    agg = _aggregate(trials)
    assert agg["h1"]["val_mse"][0] == 2.0 and agg["h1"]["val_mse"][2] == 2  # 99 (rejected) is not averaged in
    assert "h2" not in agg
    assert _rejected(trials) == {"h1": 1, "h2": 1}  # the stopped trial is not a rejection


def test_each_trial_is_counted_under_one_reason(capsys):
    trials = [record("a", "h1"), record("b", "h1", status="STOPPED", accepted=False, reason="stopped early by the scheduler"),
              record("c", "h2", status="FAILED", accepted=False, error="RuntimeError: x", error_file=Path("/r/error.txt")),
              record("d", "h2", accepted=False, reason="broken connectivity")]
    code = print_summary(summary_of(trials, best=trials[0]))
    out = capsys.readouterr().out
    assert "4 trial(s): 1 accepted, 1 rejected, 1 stopped early, 1 failed" in out
    assert "rejected d: broken connectivity" in out and "rejected b" not in out
    assert "failed c: RuntimeError: x (traceback: /r/error.txt)" in out
    assert code == 0 and "warning: 1 of 4 trial(s) failed" in out


def test_nothing_registered_is_exit_status_1(capsys):
    trials = [record("a", "h1", status="FAILED", accepted=False, error="boom")]
    assert print_summary(summary_of(trials)) == 1
    assert "nothing registered" in capsys.readouterr().out


def test_cli_exits_1_when_every_model_is_rejected(sciml_store):
    result = CliRunner().invoke(get_cli(), ["run", "toy", "--seed", "0", "--set", "evaluator.reject_above=0.0"])
    assert result.exit_code == 1, result.output
    assert "no trial finished with an accepted model; nothing registered" in result.output
    # the best rejected trial is still shown on the protocol's terms: val, test and the baselines
    assert "best rejected trial toy-" in result.output and "> 0.0):" in result.output
    assert "selected on val_mse = " in result.output and "baseline mean" in result.output


def test_a_failed_trial_keeps_its_traceback_locally_and_in_mlflow(sciml_store):
    s = run_tiny("toy", "seed=0", "model.fail_at_epoch=1")
    t = s.trials[0]
    assert t.status == "FAILED" and t.error_file == t.run_dir / "error.txt"
    text = t.error_file.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: toy failure at epoch 1" in text
    c = MlflowClient(s.tracking_uri)
    assert "error.txt" in {a.path for a in c.list_artifacts(t.run_id)}


def test_a_figure_that_cannot_be_drawn_is_a_warning_not_a_failure(tmp_path, caplog):
    import numpy as np
    from sciml.testing import RecordingReporter
    from sciml.trial import FileReporter

    def empty_panel():  # the pattern of issue 19.1: a reduction over an empty selection
        return np.nanmin(np.array([]))

    def one_line():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1])
        return fig

    for reporter in (RecordingReporter(tmp_path / "rec"), FileReporter(tmp_path / "file")):
        assert reporter.draw_figure("broken.png", empty_panel) is False
        assert reporter.draw_figure("nothing.png", lambda: None) is False
        assert reporter.draw_figure("fine.png", one_line) is True
    assert "figure broken.png not drawn: ValueError" in caplog.text
    assert (tmp_path / "file" / "artifacts" / "fine.png").exists() and not (tmp_path / "file" / "artifacts" / "broken.png").exists()


def test_the_last_rejected_attempt_does_not_announce_a_retry(sciml_store, caplog):
    run_tiny("toy", "seed=0", "evaluator.reject_above=0.0")  # max_attempts=3: two retries, not three
    assert caplog.text.count("retrying with a new seed") == 2
