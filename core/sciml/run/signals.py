"""The driver's process: SIGTERM handled as Ctrl-C, and the pid file that marks a live driver."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from sciml.run import layout


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM acts like Ctrl-C: Tune stops cleanly and saves its state, and
    outside Tune a KeyboardInterrupt is raised (the runs are marked KILLED)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        current = signal.getsignal(signal.SIGINT)
        if callable(current):
            current(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def claim(parent_id: str) -> None:
    """Record this process as the driver of ``parent_id``."""
    path = layout.driver_pid_file(parent_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))


def release(parent_id: str) -> None:
    layout.driver_pid_file(parent_id).unlink(missing_ok=True)


def live_driver(parent_id: str) -> int | None:
    """The pid of another sciml process still driving this run, if any (``sciml resume`` refuses then)."""
    try:
        pid = int(layout.driver_pid_file(parent_id).read_text())
        if pid == os.getpid():
            return None
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
    except (OSError, ValueError):
        return None
    return pid if b"sciml" in cmdline else None
