"""Scale with real components started on loopback: a Ray head (`ray start --head`) joined with
--address, an `mlflow server` (SQLite backend + artifact root) used with --tracking-uri, the
server killed and restarted mid-run, a concurrency soak of the default local store, and the
Ray resource request of fractional GPUs."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient
from sciml.testing import run_tiny

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what, proc=None):
    deadline = time.time() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        assert time.time() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.5)


def answers(url) -> bool:
    try:
        urllib.request.urlopen(url, timeout=3).read()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(root: Path, port: int):
    """`mlflow server` with a SQLite backend and a local artifact root; stopped (process group) after."""
    root.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'db'}",
           "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    log = open(root / f"server-{time.time():.0f}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), 180, "mlflow server", proc)
        yield proc
    finally:
        stop_group(proc)
        log.close()


def stop_group(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def ray_head(port: int, num_cpus: int = 2):
    """`ray start --head --block` on loopback in a private temp dir, in its own session.

    Stopped by signalling that session's processes only (``ray stop`` would stop every Ray
    on the machine, other people's included).
    """
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_TMPDIR": temp, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--block", "--port", str(port),
                             "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus),
                             "--include-dashboard=false", "--temp-dir", temp, "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def up():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
        return False

    try:
        wait_until(up, 300, "ray head", proc)
        yield f"127.0.0.1:{port}"
    finally:
        stop_group(proc)
        for pid in session_pids(proc.pid):  # workers that outlived their raylet
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def session_pids(sid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if os.getsid(int(d.name)) == sid:
                    out.append(int(d.name))
    return out


def children(client, parent_id):
    parent = client.get_run(parent_id)
    return client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'",
                              max_results=1000)


@pytest.mark.slow
@pytest.mark.integration
def test_sweep_on_a_ray_head_tracked_by_an_mlflow_server(sciml_store, tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    with ray_head(free_port()) as address, mlflow_server(tmp_path / "mlflow", port):
        t0 = time.time()
        # the driver is a separate `sciml` process: Ray's auth settings stay out of this one
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        res = subprocess.run([sys.executable, "-m", "sciml_cli.main", "run", "toy", "--tune", "--seed", "5",
                              "--set", "trainer.max_epochs=2", "--num-samples", "4", "--seeds", "2",
                              "--max-concurrent", "4", "--cpus-per-trial", "0.5", "--address", address,
                              "--tracking-uri", uri], env=env, capture_output=True, text=True, timeout=900)
        seconds = time.time() - t0
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        assert "8 trial(s): 8 accepted in" in res.stdout, res.stdout
        c = MlflowClient(uri, registry_uri=uri)
        exp = c.get_experiment_by_name("sciml-toy")
        (parent,) = c.search_runs([exp.experiment_id], "tags.`sciml.mode` = 'tune'")
        kids = children(c, parent.info.run_id)
        assert len(kids) == 8, seconds
        assert all(r.info.status == "FINISHED" for r in kids)
        assert all([m.step for m in c.get_metric_history(r.info.run_id, "val_loss")] == [0, 1] for r in kids)
        assert all("test_mse" in r.data.metrics for r in kids)
        assert parent.info.status == "FINISHED" and parent.data.params["tune.address"] == address
        mv = c.get_model_version_by_alias("sciml-toy", "champion")
        assert mv.status == "READY" and mv.run_id == parent.data.tags["sciml.best_run_id"]
        assert {a.path for a in c.list_artifacts(mv.run_id)} >= {"config.yaml", "loss_curves.png"}


@pytest.mark.slow
@pytest.mark.integration
def test_mlflow_server_killed_mid_run_metrics_are_flushed_when_it_returns(sciml_store, tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "epochs"
    root = tmp_path / "mlflow"
    n_epochs = 8
    cmd = [sys.executable, "-m", "sciml_cli.main", "run", "toy", "--seed", "4", "--tracking-uri", uri,
           "--set", f"trainer.max_epochs={n_epochs}", "--set", "model.sleep_per_epoch=1",
           "--set", f"model.epoch_log={log_dir}"]
    env = {**os.environ, "SCIML_TRACKING_WAIT": "300", "PYTHONUNBUFFERED": "1"}
    trained = lambda: (log_dir / "s4.txt").read_text().split() if (log_dir / "s4.txt").exists() else []  # noqa: E731
    with mlflow_server(root, port) as server:
        run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
        try:
            wait_until(lambda: len(trained()) >= 2, 300, "two epochs", run)
            stop_group(server, signal.SIGKILL)  # the server dies without warning
            down_at = len(trained())
            wait_until(lambda: len(trained()) >= down_at + 3 or run.poll() is not None, 120, "epochs while down")
            with mlflow_server(root, port):  # back on the same port and store
                out, _ = run.communicate(timeout=400)
                assert run.returncode == 0, out[-3000:]
                assert "unreachable" in out and "is back" in out
                c = MlflowClient(uri, registry_uri=uri)
                exp = c.get_experiment_by_name("sciml-toy")
                (parent,) = c.search_runs([exp.experiment_id], "tags.`sciml.mode` = 'single'")
                (child,) = children(c, parent.info.run_id)
                steps = [m.step for m in c.get_metric_history(child.info.run_id, "val_loss")]
                assert steps == list(range(n_epochs)), steps  # nothing dropped, nothing twice
                assert child.info.status == parent.info.status == "FINISHED"
                mv = c.get_model_version_by_alias("sciml-toy", "champion")
                assert mv.run_id == child.info.run_id and mv.status == "READY"
        finally:
            stop_group(run, signal.SIGKILL)


@pytest.mark.slow
def test_soak_local_sqlite_store_concurrent_trials(sciml_store, capfd):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("SCIML_")}})
    try:
        for round_ in range(3):
            s = run_tiny("toy", f"seed={100 * round_}", "trainer.max_epochs=2", "dataset.n=40", tune=True,
                         num_samples=8, seeds=2, max_concurrent=4, cpus_per_trial=0.5)
            c = MlflowClient(s.tracking_uri, registry_uri=s.tracking_uri)
            kids = children(c, s.parent_run_id)
            assert len(kids) == 16 and all(r.info.status == "FINISHED" for r in kids), round_
            for r in kids:
                assert [m.step for m in c.get_metric_history(r.info.run_id, "train_loss")] == [0, 1]
                assert {"test_mse", "val_loss", "best_val_loss"} <= set(r.data.metrics)
    finally:
        ray.shutdown()
    out, err = capfd.readouterr()
    assert "database is locked" not in out + err
