"""A run without the data stops at its start, with one message that says how to get it.

The check lives in the repository's root `conftest.py` (`pytest_collection_finish`, and
under pytest-xdist the controller's `pytest_xdist_node_collection_finished`).
Here pytest runs over a notebook (with a test file, and alone) are started in a
subprocess with an empty data root, no system copy of Fashion-MNIST and every download
pointed at a dead loopback port, as offline; the message itself is checked in-process
for each data set on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import d2lhelpers as d2l

REPO = Path(__file__).resolve().parent.parent

# pytest, in this interpreter, with downloads going to a dead port and no system folders.
RUN_OFFLINE = """
import sys
import pytest
import d2lhelpers as d2l

d2l.datasets.FASHION_MNIST.system_dirs[:] = []
for name, (url, checksum) in list(d2l.DATA_HUB.items()):
    d2l.DATA_HUB[name] = (sys.argv[1] + url.rsplit("/", 1)[-1], checksum)
sys.exit(pytest.main(["-p", "no:cacheprovider", *sys.argv[2:]]))
"""


def _run_offline(tmp_path, dead_url, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    root = tmp_path / "empty-root"
    root.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        D2L_DATA_DIR=str(root),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    run = subprocess.run(
        [sys.executable, "-c", RUN_OFFLINE, dead_url, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return run, root


def _assert_one_message(run: subprocess.CompletedProcess, root: Path, dead_url: str) -> None:
    out = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.INTERRUPTED, out
    assert out.count("The data sets the notebooks need are not all on this machine") == 1, out
    for needle in (
        "airfoil is missing",
        f"{dead_url}airfoil_self_noise.dat",
        f"save it, unchanged, as {root / 'airfoil_self_noise.dat'}",
        "Fashion-MNIST is missing",
        f"{dead_url}train-images-idx3-ubyte.gz",
        "apt-get install dataset-fashion-mnist",
        str(root / "FashionMNIST" / "raw"),
        f"D2L_DATA_DIR={root}",
        "Connection refused",
    ):
        assert needle in out, needle
    assert "Traceback" not in out and "DownloadError" not in out, out
    assert "passed" not in out and "failed" not in out, out


@pytest.mark.slow
def test_a_notebook_run_without_data_stops_at_once_with_one_message(tmp_path, dead_url):
    run, root = _run_offline(
        tmp_path, dead_url, "tests/test_project.py", "chapters/01_gradient_descent.ipynb"
    )
    _assert_one_message(run, root, dead_url)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["chapters/05_adagrad.ipynb"],
        ["-k", "adagrad or test_checks"],
        ["chapters", "-k", "05_adagrad"],
        ["-n", "2", "--dist", "loadfile", "-k", "adagrad or test_checks"],
    ],
    ids=["one-chapter", "with-k", "a-path-and-k", "make-test-with-k"],
)
def test_any_subset_of_the_tests_gets_the_same_one_message(tmp_path, dead_url, args):
    run, root = _run_offline(tmp_path, dead_url, *args)
    _assert_one_message(run, root, dead_url)


def test_a_relative_data_root_is_one_message_too(monkeypatch, missing_data_message):
    monkeypatch.setenv("D2L_DATA_DIR", "data")
    message = missing_data_message()
    assert message.startswith("The data sets the notebooks need cannot be looked for")
    assert "D2L_DATA_DIR='data' is a relative path" in message


@pytest.fixture
def offline(data_dir, dead_url, monkeypatch) -> Path:
    """An empty data root, no system Fashion-MNIST, every download refused."""
    for name, (url, checksum) in list(d2l.DATA_HUB.items()):
        monkeypatch.setitem(d2l.DATA_HUB, name, (dead_url + url.rsplit("/", 1)[-1], checksum))
    return data_dir


def _put_airfoil(root: Path, monkeypatch) -> None:
    (root / "airfoil_self_noise.dat").write_text("1\t2\t3\t4\t5\t6\n")
    url = d2l.DATA_HUB["airfoil"][0]
    monkeypatch.setitem(d2l.DATA_HUB, "airfoil", (url, None))  # any content will do here


def _put_fashion_mnist(root: Path) -> None:
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for file in d2l.datasets.FASHION_MNIST.files.values():
        (raw / file.name).write_bytes(b"")


def test_no_message_when_both_data_sets_are_in_the_data_root(
    offline, monkeypatch, missing_data_message
):
    _put_airfoil(offline, monkeypatch)
    _put_fashion_mnist(offline)
    assert missing_data_message() is None


def test_the_message_names_only_airfoil_when_only_airfoil_is_missing(offline, missing_data_message):
    _put_fashion_mnist(offline)
    message = missing_data_message()
    assert "airfoil is missing" in message and "Fashion-MNIST" not in message
    assert f"The data root is {offline}" in message


def test_the_message_names_only_the_missing_fashion_mnist_files(
    offline, monkeypatch, missing_data_message
):
    _put_airfoil(offline, monkeypatch)
    _put_fashion_mnist(offline)
    (offline / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    message = missing_data_message()
    assert "airfoil" not in message
    assert "Fashion-MNIST is missing t10k-labels-idx1-ubyte.gz." in message
    assert "apt-get install dataset-fashion-mnist" in message
