"""The package as it will be published: what `make dist` builds, installed outside the checkout.

The sdist and the wheel are built as `make dist` builds them (`python -m build`, which
makes the wheel from the sdist), but without network: `--no-isolation` uses the venv's
setuptools. The wheel is installed into a throwaway folder that alone is on PYTHONPATH,
and chapter 01 runs under nbval from a folder outside the checkout, with a fresh HOME:
so the notebook imports the wheel's copy (checked in the kernel) and the default data
root is the per-user cache. There a data load, offline, must say how to get the data.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
VERSION = next(
    ast.literal_eval(node.value)
    for node in ast.parse((REPO / "d2lhelpers" / "__init__.py").read_text()).body
    if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]
)
MODULES = sorted(p.name for p in (REPO / "d2lhelpers").glob("*.py"))


def build_dist(outdir: Path) -> tuple[Path, Path]:
    """Build the sdist and the wheel (from the sdist) into `outdir`; return their paths."""
    run = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (sdist,) = outdir.glob("*.tar.gz")
    (wheel,) = outdir.glob("*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> tuple[Path, Path]:
    return build_dist(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> dict[str, str]:
    """The wheel installed alone in a folder; the environment that imports it from there."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(dist[1])],
        check=True,
        timeout=300,
    )  # fmt: skip
    home = tmp_path_factory.mktemp("home")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "D2L_DATA_DIR", "D2L_EPOCH_FRACTION", "XDG_CACHE_HOME")
    }
    env.update(PYTHONPATH=str(target), HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    return env


def test_the_wheel_holds_the_package_only(dist):
    names = zipfile.ZipFile(dist[1]).namelist()
    info = f"d2lhelpers-{VERSION}.dist-info/"
    assert sorted(n.removeprefix("d2lhelpers/") for n in names if n.startswith("d2lhelpers/")) == (
        MODULES
    )
    assert all(n.startswith(("d2lhelpers/", info)) for n in names), names
    assert f"{info}licenses/LICENSE" in names
    metadata = zipfile.ZipFile(dist[1]).read(f"{info}METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata


def test_the_sdist_holds_the_package_and_what_builds_it(dist):
    prefix = f"d2lhelpers-{VERSION}/"
    with tarfile.open(dist[0]) as tf:
        files = {m.name.removeprefix(prefix) for m in tf.getmembers() if m.isfile()}
    package = {f for f in files if f.startswith("d2lhelpers/")}
    assert package == {f"d2lhelpers/{m}" for m in MODULES}
    top = {f for f in files if "/" not in f}
    assert top == {"LICENSE", "MANIFEST.in", "PKG-INFO", "README.md", "pyproject.toml", "setup.cfg"}
    assert files - package - top == {f for f in files if f.startswith("d2lhelpers.egg-info/")}


def _python(env: dict[str, str], code: str, cwd: Path) -> str:
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.slow
def test_the_installed_wheel_runs_chapter_01_outside_the_checkout(installed, tmp_path):
    target, home = installed["PYTHONPATH"], installed["HOME"]
    nb = nbformat.read(REPO / "chapters" / "01_gradient_descent.ipynb", as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import os\n"
            f"assert d2l.__file__ == os.path.join({target!r}, 'd2lhelpers', '__init__.py')\n"
            f"assert str(d2l.data_root()) == os.path.join({home!r}, '.cache', 'd2lhelpers')\n"
            f"assert d2l.__version__ == {VERSION!r}"
        )
    )
    nbformat.write(nb, tmp_path / "01_gradient_descent.ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # The chapter is in the stored form (no execution counts): nbval needs the plugin that
    # the checkout's root conftest.py loads.
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "nbval_stored_form.py").read_text())
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "01_gradient_descent.ipynb"],
        env=installed,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert f"{sum(c.cell_type == 'code' for c in nb.cells)} passed" in out, out


# Offline: every download goes to a loopback port nobody listens on.
LOAD_OFFLINE = """
import sys
import d2lhelpers as d2l

d2l.fashion_mnist.SYSTEM_DIRS[:] = []
for name, (url, checksum) in list(d2l.DATA_HUB.items()):
    d2l.DATA_HUB[name] = (sys.argv[1] + url.rsplit("/", 1)[-1], checksum)
for load in (lambda: d2l.get_data_ch11(10), lambda: d2l.load_data_fashion_mnist(256)):
    try:
        load()
    except OSError as e:
        print(f"{type(e).__name__}: {e}")
    else:
        sys.exit("loaded with no data and no network")
"""


def test_the_installed_wheel_says_how_to_get_the_data_offline(installed, tmp_path, dead_url):
    out = _python(installed, LOAD_OFFLINE.replace("sys.argv[1]", repr(dead_url)), tmp_path)
    cache = Path(installed["HOME"]) / ".cache" / "d2lhelpers"
    assert f"DownloadError: Could not download airfoil_self_noise.dat from {dead_url}" in out
    assert f"save it as {cache / 'airfoil_self_noise.dat'}" in out
    assert "FileNotFoundError: Fashion-MNIST is missing" in out
    assert "apt-get install dataset-fashion-mnist" in out
    assert f"save them, unchanged, in {cache / 'FashionMNIST' / 'raw'}" in out
    assert "D2L_DATA_DIR" in out
