"""Several devices in one trial: DDP ranks started next to the trial, Lightning-style.

A trial whose trainer asks for ``devices > 1`` (or ``strategy: ddp``) trains with Lightning's
DDP strategy. The trial itself is rank 0: it reports to MLflow/Tune and evaluates the model
afterwards. :func:`ranks` starts ranks ``1..N-1`` as ``python -m sciml.distributed`` processes
that build the same dataset, model and trainer from the trial's ``artifacts/config.yaml`` and
run the same ``Trainer.fit``, and sets the environment Lightning reads for processes launched
outside it (``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``), so Lightning joins
them instead of re-executing the command line (which, in a Ray worker, is Ray's own script).

CPU ranks talk over gloo, CUDA ranks over NCCL (:func:`sciml.engine.lightning_devices`); the
trial's threads (``--cpus-per-trial``) are shared out between its ranks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sciml.components import Context, SilentReporter

log = logging.getLogger(__name__)

_ENV = ("LOCAL_RANK", "RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def world_size(config: Mapping[str, Any]) -> int:
    """Processes the trial's trainer asks for: ``trainer.devices`` when it trains with DDP, else 1."""
    trainer = config.get("trainer", {}) or {}
    devices = int(trainer.get("devices", 1) or 1)
    return devices if devices > 1 or trainer.get("strategy") == "ddp" else 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ranks(config: Mapping[str, Any], context: Context) -> Iterator[int]:
    """Start the other DDP ranks of this trial for the duration of the ``with`` block (its fit).

    Yields the world size (1: nothing is started). On leaving, waits for the ranks; if one
    failed while the trial did not, raises ``RuntimeError`` with the end of its log
    (``run_dir/rank<N>.log``). On an exception in the trial the ranks are stopped.
    """
    n = world_size(config)
    if n <= 1 or os.environ.get("LOCAL_RANK"):
        yield n
        return
    threads = max(1, (context.threads or os.cpu_count() or 1) // n)
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(n), "NODE_RANK": "0"}
    saved = {k: os.environ.get(k) for k in _ENV}
    children: list[tuple[int, subprocess.Popen, Path]] = []
    for rank in range(1, n):
        log_path = Path(context.run_dir) / f"rank{rank}.log"
        with open(log_path, "w") as out:
            cmd = [sys.executable, "-m", "sciml.distributed", str(context.run_dir), str(context.cache_dir),
                   str(rank), context.device or "cpu", str(threads)]
            children.append((rank, subprocess.Popen(cmd, env={**os.environ, **env, "LOCAL_RANK": str(rank),
                                                              "RANK": str(rank)},
                                                    stdout=out, stderr=subprocess.STDOUT), log_path))
    os.environ.update(env, LOCAL_RANK="0", RANK="0")
    old_threads, context.threads = context.threads, threads
    failed = True
    try:
        yield n
        failed = False
    finally:
        context.threads = old_threads
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _finish(children, failed)


def _finish(children: list[tuple[int, subprocess.Popen, Path]], failed: bool) -> None:
    problems = []
    for rank, proc, log_path in children:
        if failed:
            proc.terminate()
        try:
            code = proc.wait(timeout=10 if failed else 300)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0 and not failed:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            problems.append(f"rank {rank} exited with {code}: " + " | ".join(tail))
    if problems:
        raise RuntimeError("DDP: " + "; ".join(problems))


def _main(argv: list[str]) -> int:
    """Rank ``argv[2]`` of the trial in ``argv[0]``: the trial's fit, nothing else."""
    import yaml

    from sciml.assembly import build_components

    run_dir, cache_dir, rank, device, threads = argv
    config = yaml.safe_load((Path(run_dir) / "artifacts" / "config.yaml").read_text())
    context = Context(run_dir=Path(run_dir), cache_dir=Path(cache_dir), seed=int(config["seed"]),
                      device=device, progress=False, in_tune=False, threads=int(threads))
    dataset, model, trainer = build_components(config, context)
    log.info("DDP rank %s of trial %s", rank, run_dir)
    trainer.fit(model, dataset, SilentReporter())
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(_main(sys.argv[1:]))
