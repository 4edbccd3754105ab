"""Faults: failing and non-finite trials, retries from the last checkpoint, interrupted runs
and sweeps resumed under the same MLflow parent run, corrupted checkpoints and caches."""

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from mlflow import MlflowClient
from sciml.testing import make_context, run_tiny


def client(uri):
    return MlflowClient(uri, registry_uri=uri)  # not the process-wide registry URI an earlier run set


def kids(summary_or_uri, experiment_id=None, parent_id=None):
    if experiment_id is None:
        s = summary_or_uri
        summary_or_uri, experiment_id, parent_id = s.tracking_uri, s.experiment_id, s.parent_run_id
    c = client(summary_or_uri)
    return c, c.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")


def steps(client, run_id, key="val_loss"):
    return [m.step for m in client.get_metric_history(run_id, key)]


def epochs_trained(log_dir, seed):
    f = Path(log_dir) / f"s{seed}.txt"
    return [int(x) for x in f.read_text().split()] if f.exists() else []


# --- failing trials ------------------------------------------------------------------------

@pytest.mark.parametrize("knob,message", [("model.nan_at_epoch=1", "non-finite loss at epoch 1"),
                                          ("model.inf_at_epoch=0", "non-finite loss at epoch 0")])
def test_non_finite_loss_fails_the_trial_with_its_error(sciml_store, knob, message):
    s = run_tiny("toy", "seed=0", knob)
    assert [t.status for t in s.trials] == ["FAILED"] and message in s.trials[0].error
    c, runs = kids(s)
    assert [r.info.status for r in runs] == ["FAILED"] and message in runs[0].data.tags["sciml.error"]
    assert c.get_run(s.parent_run_id).data.metrics["n_failed"] == 1 and s.model_version is None


def test_summary_says_how_many_failed_and_why(sciml_store):
    from sciml_cli.main import get_cli

    res = CliRunner().invoke(get_cli(), ["run", "toy", "--seed", "0", "--set", "model.nan_at_epoch=1"])
    assert res.exit_code == 1, res.output  # nothing finished: a script or CI job must be able to tell
    assert "1 failed" in res.output and "non-finite loss at epoch 1" in res.output
    assert "nothing registered" in res.output


def test_local_retry_resumes_from_last_checkpoint(sciml_store, tmp_path):
    knobs = ["seed=3", "trainer.max_epochs=4", "model.fail_once_at_epoch=2",
             f"model.fail_once_marker={tmp_path / 'once'}", f"model.epoch_log={tmp_path / 'log'}"]
    s = run_tiny("toy", *knobs, max_failures=1)
    assert [t.status for t in s.trials] == ["FINISHED"]
    assert epochs_trained(tmp_path / "log", 3) == [0, 1, 2, 2, 3]  # epoch 2 again, not from 0
    c, runs = kids(s)
    assert len(runs) == 1 and runs[0].data.tags["sciml.retries"] == "1"
    assert steps(c, runs[0].info.run_id) == [0, 1, 2, 3]
    (tmp_path / "once").unlink()
    s = run_tiny("toy", *knobs)  # no retries allowed: the same fault fails the trial
    assert [t.status for t in s.trials] == ["FAILED"] and "toy failure once at epoch 2" in s.trials[0].error


@pytest.mark.slow
def test_tune_max_failures_retries_from_checkpoint(sciml_store, tmp_path):
    s = run_tiny("toy", "seed=20", "trainer.max_epochs=4", "model.fail_once_at_epoch=2",
                 f"model.fail_once_marker={tmp_path / 'once'}", f"model.epoch_log={tmp_path / 'log'}",
                 tune=True, num_samples=1, seeds=2, max_concurrent=2, max_failures=1)
    assert sorted(t.status for t in s.trials) == ["FINISHED", "FINISHED"]
    logs = sorted(epochs_trained(tmp_path / "log", seed) for seed in (20, 21))
    assert logs == [[0, 1, 2, 2, 3], [0, 1, 2, 3]]  # the retried trial continued at epoch 2
    c, runs = kids(s)
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert all(steps(c, r.info.run_id) == [0, 1, 2, 3] for r in runs)


# --- interrupted runs and sweeps --------------------------------------------------------------

def _cli(*args, home, wait_for, sig, timeout=400):
    """Start ``sciml ARGS`` in a subprocess, wait until ``wait_for(db)`` is true, send ``sig``."""
    env = {**os.environ, "SCIML_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "sciml_cli.main", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    db = Path(home) / "mlflow.db"
    deadline = time.time() + timeout
    try:
        while True:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.time() < deadline, "the run did not reach the point to interrupt it"
            if db.exists() and wait_for(db):
                break
            time.sleep(0.5)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out


def _count(db, sql):
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            return c.execute(sql).fetchone()[0]
    except sqlite3.Error:
        return 0


FINISHED_TRIALS = ("select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
                   "where t.key = 'sciml.trial_id' and r.status = 'FINISHED'")


def _parent(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return c.execute("select r.run_uuid, r.status from runs r where not exists (select 1 from tags t "
                         "where t.run_uuid = r.run_uuid and t.key = 'mlflow.parentRunId')").fetchall()


def test_corrupt_dataset_cache_is_rebuilt(tmp_path, caplog):
    from sciml_toy.components import LinearData

    ctx = make_context(tmp_path)
    first = LinearData(LinearData.Config(), ctx)
    first.prepare()
    (cache,) = ctx.cache_dir.glob("toy-*.npz")
    cache.write_bytes(cache.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="sciml.caching"):
        again = LinearData(LinearData.Config(), ctx)
        again.prepare()
    assert "does not match its recorded SHA-256; rebuilding" in caplog.text
    assert torch.equal(first.x, again.x) and cache.stat().st_size > 100


@pytest.mark.slow
def test_interrupted_single_run_resumes_its_attempt(sciml_store, tmp_path):
    from sciml_cli.main import get_cli

    log_dir = tmp_path / "log"
    args = ["run", "toy", "--seed", "7", "--set", "trainer.max_epochs=5", "--set", "model.sleep_per_epoch=1",
            "--set", f"model.epoch_log={log_dir}"]
    rc, out = _cli(*args, home=sciml_store, sig=signal.SIGTERM,
                   wait_for=lambda db: len(epochs_trained(log_dir, 7)) >= 3)
    assert rc == 130 and "sciml resume" in out, out[-2000:]
    ((parent_id, status),) = _parent(sciml_store / "mlflow.db")
    assert status == "KILLED"
    before = epochs_trained(log_dir, 7)
    res = CliRunner().invoke(get_cli(), ["resume", parent_id])
    assert res.exit_code == 0, res.output
    c = client(f"sqlite:///{sciml_store / 'mlflow.db'}")
    parent = c.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["sciml.resumed"] == "1"
    _, runs = kids(c.tracking_uri, parent.info.experiment_id, parent_id)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    trained = epochs_trained(log_dir, 7)
    assert trained.count(0) == 1 and trained[-1] == 4 and len(trained) <= len(before) + 5 - before[-1]
    assert steps(c, runs[0].info.run_id) == [0, 1, 2, 3, 4]
    assert c.get_model_version_by_alias("sciml-toy", "champion").run_id == runs[0].info.run_id
    res = CliRunner().invoke(get_cli(), ["resume", parent_id])
    assert res.exit_code == 2 and "already finished" in res.output


def _sweep_then_resume(home, log_dir, sig):
    from sciml_cli.main import get_cli

    n_epochs, n_trials = 5, 4
    args = ["run", "toy", "--tune", "--seed", "100", "--seeds", str(n_trials), "--num-samples", "1",
            "--max-concurrent", "2", "--set", f"trainer.max_epochs={n_epochs}", "--set", "model.sleep_per_epoch=1",
            "--set", f"model.epoch_log={log_dir}"]
    t0 = time.time()
    rc, out = _cli(*args, home=home, sig=sig, wait_for=lambda db: _count(db, FINISHED_TRIALS) >= 1)
    killed_after = time.time() - t0
    db = home / "mlflow.db"
    ((parent_id, status),) = _parent(db)
    c = client(f"sqlite:///{db}")
    exp = c.get_run(parent_id).info.experiment_id
    _, before = kids(c.tracking_uri, exp, parent_id)
    done_before = {r.data.tags["sciml.trial_id"]: (r.info.run_id, steps(c, r.info.run_id))
                   for r in before if r.info.status == "FINISHED"}
    trained_before = {s: epochs_trained(log_dir, s) for s in range(100, 100 + n_trials)}
    seeds_done = {int(r.data.tags["sciml.seed"]) for r in before if r.info.status == "FINISHED"}
    assert done_before
    t1 = time.time()
    res = CliRunner().invoke(get_cli(), ["resume", parent_id])
    assert res.exit_code == 0, res.output
    resumed_in = time.time() - t1
    parent = c.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    _, after = kids(c.tracking_uri, exp, parent_id)
    by_trial = {}
    for r in after:
        by_trial.setdefault(r.data.tags["sciml.trial_id"], []).append(r)
    assert len(after) == n_trials and all(len(v) == 1 for v in by_trial.values())  # one child per trial
    assert all(r.info.status == "FINISHED" for r in after)
    for tid, (run_id, hist) in done_before.items():  # finished trials were not run again
        assert by_trial[tid][0].info.run_id == run_id and steps(c, run_id) == hist == list(range(n_epochs))
    for r in after:
        assert steps(c, r.info.run_id) == list(range(n_epochs)), r.info.run_name  # no step logged twice
    for seed in range(100, 100 + n_trials):
        trained = epochs_trained(log_dir, seed)
        if seed in seeds_done:  # (the log is written as an epoch starts: length alone says nothing)
            assert trained == trained_before[seed]
        assert trained.count(0) <= 2 and trained[-1] == n_epochs - 1
    assert (_parent(db)[0][0], len(_parent(db))) == (parent_id, 1)
    assert c.get_model_version_by_alias("sciml-toy", "champion").run_id in {r.info.run_id for r in after}
    return rc, out, status, len(done_before), killed_after, resumed_in


@pytest.mark.slow
def test_sigterm_sweep_then_resume(sciml_store, tmp_path):
    rc, out, status, n_done, *_ = _sweep_then_resume(sciml_store, tmp_path / "log", signal.SIGTERM)
    assert rc == 130 and "sciml resume" in out, out[-3000:]
    assert status == "KILLED"


@pytest.mark.slow
def test_sigkill_sweep_then_resume(sciml_store, tmp_path):
    rc, out, status, *_ = _sweep_then_resume(sciml_store, tmp_path / "log", signal.SIGKILL)
    assert rc == -signal.SIGKILL and status == "RUNNING"


# --- the tracking store going away (injected; a real server is killed in test_scale.py) ---------

class Outage:
    """From the ``at_metric``-th metrics write on, make ``down_for`` writes (None: all) fail the way
    an unreachable server does."""

    def __init__(self, monkeypatch, at_metric, down_for=None):
        from sciml import tracking

        self.metrics, self.failed = 0, 0
        real = tracking.Tracker._apply

        def apply(tracker, op):
            self.metrics += op[0] == "metrics"
            if self.metrics >= at_metric and (down_for is None or self.failed < down_for):
                self.failed += 1
                raise ConnectionError("Connection refused (injected outage)")
            return real(tracker, op)

        monkeypatch.setattr(tracking.Tracker, "_apply", apply)
        monkeypatch.setattr(tracking, "RETRY_EVERY_S", 0.05)


def test_writes_during_an_outage_are_queued_and_flushed(sciml_store, monkeypatch, caplog):
    outage = Outage(monkeypatch, at_metric=2, down_for=8)  # from epoch 1 on, for 8 tries
    with caplog.at_level(logging.WARNING, logger="sciml.tracking"):
        s = run_tiny("toy", "seed=2", "trainer.max_epochs=6")
    assert outage.failed > 0 and "queueing writes" in caplog.text and "is back" in caplog.text
    c, runs = kids(s)
    assert steps(c, runs[0].info.run_id) == list(range(6)) and runs[0].info.status == "FINISHED"
    assert c.get_run(s.parent_run_id).info.status == "FINISHED"
    assert c.get_model_version_by_alias("sciml-toy", "champion").run_id == runs[0].info.run_id
    assert not (sciml_store / "runs" / s.parent_run_id / "tracking-pending.jsonl").exists()


def test_store_that_stays_away_stops_the_run_clearly_then_resume_sends_everything(sciml_store, monkeypatch):
    from mlflow.exceptions import MlflowException
    from sciml.run.driver import resume
    from sciml.tracking import TrackingUnavailable

    monkeypatch.setenv("SCIML_TRACKING_WAIT", "0.5")
    Outage(monkeypatch, at_metric=2)
    with pytest.raises(TrackingUnavailable) as info:
        run_tiny("toy", "seed=2", "trainer.max_epochs=4")
    msg = str(info.value)
    assert "did not answer" in msg and "tracking-pending.jsonl" in msg and "nothing was registered" in msg
    assert "trial outputs are kept on disk in" in msg
    (parent_id,) = [p.name for p in (sciml_store / "runs").iterdir() if p.name != "tune"]
    spool = sciml_store / "runs" / parent_id / "tracking-pending.jsonl"
    assert len(spool.read_text().splitlines()) >= 4  # metrics of several epochs, the ends of both runs
    c = client(f"sqlite:///{sciml_store / 'mlflow.db'}")
    with pytest.raises(MlflowException):
        c.get_registered_model("sciml-toy")  # no half-made registry entry
    monkeypatch.undo()  # the store is back
    s = resume(parent_id)
    c, runs = kids(s)
    assert len(runs) == 1 and steps(c, runs[0].info.run_id) == [0, 1, 2, 3]
    assert c.get_run(parent_id).info.status == "FINISHED" and not spool.exists()
    assert c.get_model_version_by_alias("sciml-toy", "champion").run_id == runs[0].info.run_id


def test_registry_entry_is_removed_if_aliasing_fails(sciml_store, monkeypatch):
    from mlflow import MlflowClient as Client

    def broken(self, *a, **k):
        raise ConnectionError("Connection refused (injected)")

    monkeypatch.setattr(Client, "set_registered_model_alias", broken)
    monkeypatch.setenv("SCIML_TRACKING_WAIT", "0.2")
    from sciml.tracking import TrackingUnavailable

    with pytest.raises(TrackingUnavailable, match="registering the model failed"):
        run_tiny("toy", "seed=2")
    monkeypatch.undo()
    c = client(f"sqlite:///{sciml_store / 'mlflow.db'}")
    assert c.search_model_versions("name='sciml-toy'") == []
