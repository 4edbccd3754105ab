"""`sciml ui` serves the same store: the page answers and the REST API lists runs and models."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from sciml.testing import run_tiny


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_ui_lists_experiment_and_registered_model(sciml_store):
    summary = run_tiny("toy", "seed=1")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sciml_cli.main", "ui", "--port", str(port)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                status, page = get(base + "/")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.time() < deadline, "mlflow server did not answer within 120 s"
                time.sleep(1)
        assert status == 200 and b"<html" in page.lower()
        _, body = get(base + "/api/2.0/mlflow/experiments/search?max_results=50")
        assert "sciml-toy" in {e["name"] for e in json.loads(body)["experiments"]}
        _, body = get(base + "/api/2.0/mlflow/registered-models/search")
        models = {m["name"]: m for m in json.loads(body)["registered_models"]}
        assert "sciml-toy" in models
        assert {a["alias"] for a in models["sciml-toy"].get("aliases", [])} == {"champion"}
        _, body = get(base + f"/api/2.0/mlflow/runs/get?run_id={summary.parent_run_id}")
        assert json.loads(body)["run"]["info"]["status"] == "FINISHED"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # stopping `sciml ui` stops the whole server, workers included: the port is closed
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(0.5)
        except OSError:
            break
    else:
        pytest.fail(f"the MLflow server still answers on port {port} after `sciml ui` stopped")
