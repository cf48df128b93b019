"""The chapters' first cell on Colab: it installs the pinned package, or stops with a short message.

The real first code cell of `00_setup.ipynb` (every chapter has the same one) runs in a
kernel where `google.colab` is faked and the checkout's `d2lhelpers` is hidden, as on a
fresh Colab runtime. pip is pointed at a local folder instead of PyPI
(`PIP_FIND_LINKS`, `PIP_NO_INDEX`) and installs into a throwaway folder on the kernel's
path (`PIP_TARGET`; `PIP_NO_DEPS`, since the dependencies, present on Colab, come from
the venv here), never into the venv. With the freshly built wheel in that folder,
`import d2lhelpers` must then work in the same kernel; with an empty folder, the cell
must stop the run with the short message and no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parent.parent
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
VERSION = VERSION_LINE.search((REPO / "d2lhelpers" / "__init__.py").read_text()).group(1)

# A fresh Colab runtime: google.colab imported, no d2lhelpers anywhere (the checkout's copy,
# reachable here through PYTHONPATH or the venv's editable install, is hidden).
FRESH_RUNTIME = """
import importlib.machinery, importlib.util, os, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "d2lhelpers"))]
sys.meta_path[:] = [
    f for f in sys.meta_path
    if f is importlib.machinery.PathFinder
    or not hasattr(f, "find_spec")
    or f.find_spec("d2lhelpers", None) is None
]
assert importlib.util.find_spec("d2lhelpers") is None
"""
IMPORT = "import d2lhelpers\nprint(d2lhelpers.__version__, d2lhelpers.__file__)"


def _install_cell() -> str:
    nb = nbformat.read(REPO / "chapters" / "00_setup.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


@pytest.fixture(scope="module")
def wheel_folder(tmp_path_factory) -> Path:
    """A folder holding the freshly built wheel, as a package index would.

    Built as `make dist` builds it (the wheel from the sdist), without network.
    """
    folder = tmp_path_factory.mktemp("index")
    run = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(folder), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    for sdist in folder.glob("*.tar.gz"):
        sdist.unlink()
    assert [p.name for p in folder.iterdir()] == [f"d2lhelpers-{VERSION}-py3-none-any.whl"]
    return folder


def _run(cells: list[str], tmp_path: Path, monkeypatch, links: Path) -> nbformat.NotebookNode:
    """Execute `cells` in a fresh kernel whose pip sees only `links`; return the notebook."""
    target = tmp_path / "site"
    target.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(target))
    for name, value in {
        "PIP_TARGET": str(target),
        "PIP_FIND_LINKS": str(links),
        "PIP_NO_INDEX": "1",
        "PIP_NO_DEPS": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except CellExecutionError:
        pass  # the caller reads the outputs; which cell stopped the run is part of its check
    return nb


def _text(cell) -> str:
    parts = []
    for out in cell.outputs:
        parts += [out.get("text", ""), *out.get("traceback", [])]
        parts += [str(v) for v in out.get("data", {}).values()]
    return "".join(parts)


@pytest.mark.slow
def test_the_first_cell_installs_the_pinned_wheel_on_colab(tmp_path, monkeypatch, wheel_folder):
    nb = _run([FRESH_RUNTIME, _install_cell(), IMPORT], tmp_path, monkeypatch, wheel_folder)
    setup, install, check = nb.cells
    assert not any(o.output_type == "error" for o in setup.outputs), _text(setup)
    assert install.outputs == [], _text(install)
    version, path = _text(check).split()
    assert version == VERSION
    assert Path(path) == tmp_path / "site" / "d2lhelpers" / "__init__.py"


@pytest.mark.slow
def test_the_first_cell_stops_with_a_short_message_when_pip_finds_nothing(tmp_path, monkeypatch):
    empty = tmp_path / "empty-index"
    empty.mkdir()
    nb = _run([FRESH_RUNTIME, _install_cell(), IMPORT], tmp_path, monkeypatch, empty)
    setup, install, check = nb.cells
    assert not any(o.output_type == "error" for o in setup.outputs), _text(setup)
    (error,) = install.outputs
    assert error.output_type == "error" and error.ename == "InstallFailed"
    shown = "\n".join(error.traceback)
    assert shown.startswith(f"InstallFailed: Could not install d2lhelpers=={VERSION} with pip (")
    assert "ERROR: " in shown  # pip's own words for what failed
    assert "pip install /path/to/checkout" in shown
    assert "upload the `d2lhelpers` folder next to this notebook" in shown
    assert "Traceback" not in shown and "File " not in shown
    assert len(shown.splitlines()) == 3, shown
    assert check.get("execution_count") is None and check.outputs == []  # the run stopped


def test_the_first_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    hidden = FRESH_RUNTIME.replace('sys.modules["google.colab"] = ', "_ = ")
    empty = tmp_path / "empty-index"
    empty.mkdir()
    nb = _run([hidden, _install_cell(), "print(sorted(os.listdir('site')))"], tmp_path, monkeypatch,
              empty)  # fmt: skip
    setup, install, listing = nb.cells
    assert not any(o.output_type == "error" for c in nb.cells for o in c.outputs), _text(setup)
    assert install.outputs == []
    assert _text(listing).strip() == "[]"  # pip installed nothing
