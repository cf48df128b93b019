"""The servers the tests start: a free port for one, and stopping it with all it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def free_port() -> int:
    """A loopback port that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM to `process`'s process group; SIGKILL if it has not ended after `grace_s`.

    `process` must have been started with `start_new_session=True`: then its group holds
    what it started too (JupyterLab's kernels, `make`'s children), and all of it stops.
    """
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
