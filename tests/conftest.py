"""Shared fixtures: a temporary data root, a loopback HTTP server, the real data files.

The check that the data sets are here, at the start of a run, is in the repository's
root `conftest.py`, so that it runs for any subset of the tests.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import matplotlib
import pytest
from processes import free_port

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty data root, set through D2L_DATA_DIR, with no system copy of Fashion-MNIST.

    The per-user cache (where verified files are remembered) is a fresh folder too.
    """
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("D2L_DATA_DIR", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("D2L_EPOCH_FRACTION", raising=False)
    from d2lhelpers.datasets import FASHION_MNIST

    monkeypatch.setattr(FASHION_MNIST, "system_dirs", [])
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_root(tmp_path):
    """Serve a fresh folder on 127.0.0.1; yields (folder, base_url)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nobody listens on: downloads from it fail at once, as offline."""
    return f"http://127.0.0.1:{free_port()}/"


def _real_airfoil() -> Path | None:
    candidates = [REPO.parent / "shared" / "data" / "airfoil_self_noise.dat"]
    if os.environ.get("D2L_DATA_DIR"):
        candidates.insert(0, Path(os.environ["D2L_DATA_DIR"]) / "airfoil_self_noise.dat")
    return next((p for p in candidates if p.exists()), None)


_AIRFOIL = _real_airfoil()


def in_ci() -> bool:
    """True when the environment variable `CI` is set (CI runs with `CI=true`)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def airfoil_root(data_dir) -> Path:
    """A data root holding a copy of the real airfoil file (from D2L_DATA_DIR or ../shared).

    Without the file a learner's run skips the test, with the reason; in CI it fails,
    so a CI that lost its data cannot pass by skipping.
    """
    if _AIRFOIL is None:
        reason = (
            "the real airfoil file is not on this machine: put airfoil_self_noise.dat in "
            "D2L_DATA_DIR or ../shared/data (`.ci/run` copies it from ../shared/data), or "
            "run d2l.download('airfoil') once online"
        )
        if in_ci():
            pytest.fail(f"CI is set and {reason}", pytrace=False)
        pytest.skip(reason)
    shutil.copy(_AIRFOIL, data_dir / "airfoil_self_noise.dat")
    return data_dir
