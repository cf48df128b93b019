"""The chapters' first cell on Colab: it installs the pinned package, or falls back, in six lines.

The first code cell that tools/colab_cell.py writes (every chapter has the same one) runs
in a kernel where Colab is faked (`get_ipython()` reads as Colab's shell, and
`google.colab.files.upload` returns a file as a learner's upload would) and the
checkout's `d2lhelpers` is hidden, as on a fresh Colab runtime. pip is pointed at a local
folder instead of PyPI (`PIP_FIND_LINKS`, `PIP_NO_INDEX`) and installs into a throwaway
folder on the kernel's path (`PIP_TARGET`; `PIP_NO_DEPS`, since the dependencies, present
on Colab, come from the venv here), never into the venv.

- With the freshly built wheel in that folder (the version is on PyPI), the cell installs
  it and asks for nothing.
- With an empty folder (not on PyPI yet) and no home in pyproject, pip's own error shows,
  then the upload button; the uploaded wheel is installed.
- With a home set in a copy of pyproject (a git repository with the tag v<version>), the
  cell installs from it instead, and every chapter links to Colab.
- Outside Colab it does nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from colab_cell import colab_cell, colab_url, package_version, project_home  # noqa: E402

sys.path.remove(str(REPO / "tools"))
VERSION = package_version()
WHEEL = f"d2lhelpers-{VERSION}-py3-none-any.whl"

# A fresh Colab runtime: the shell reads as Colab's, google.colab.files.upload() copies the
# wheel from UPLOADS (if any) into the working folder as Colab's upload does, and records
# that it was called; no d2lhelpers anywhere (the checkout's copy is hidden).
FRESH_RUNTIME = """
import importlib.machinery, importlib.util, os, shutil, sys, types
COLAB = {colab}
if COLAB:
    type(get_ipython()).__module__ = "google.colab._shell"
    for name in ("google", "google.colab", "google.colab.files"):
        sys.modules[name] = types.ModuleType(name)
    UPLOADS, uploaded = {uploads!r}, []
    def upload():
        uploaded.append(True)
        names = os.listdir(UPLOADS) if UPLOADS else []
        for name in names:
            shutil.copy(os.path.join(UPLOADS, name), name)
        return {{name: open(name, "rb").read() for name in names}}
    sys.modules["google.colab.files"].upload = upload
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


def _runtime(colab: bool = True, uploads: Path | None = None) -> str:
    return FRESH_RUNTIME.format(colab=colab, uploads=str(uploads) if uploads else None)


def _build_wheel(folder: Path) -> None:
    """The wheel, built as `make dist` builds it (from the sdist), without network."""
    run = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(folder), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    for sdist in folder.glob("*.tar.gz"):
        sdist.unlink()
    assert [p.name for p in folder.iterdir()] == [WHEEL]


@pytest.fixture(scope="module")
def wheel_folder(tmp_path_factory) -> Path:
    """A folder holding the freshly built wheel, as a package index (or a download) would."""
    folder = tmp_path_factory.mktemp("index")
    _build_wheel(folder)
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
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of --no-build-isolation: offline
    }.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    workdir = tmp_path / "content"  # Colab's working folder
    workdir.mkdir()
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
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


def _errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def _installed(check, tmp_path: Path) -> None:
    version, path = _text(check).split()
    assert version == VERSION
    assert Path(path) == tmp_path / "site" / "d2lhelpers" / "__init__.py"


def test_the_colab_cell_is_six_lines_that_run_pip():
    for home in (None, "https://github.com/example-org/optim-course"):
        cell = colab_cell(VERSION, home)
        assert len(cell.splitlines()) <= 6, cell
        assert f"%pip install --quiet d2lhelpers=={VERSION}\n" in cell
        assert "subprocess" not in cell and "raise" not in cell


@pytest.mark.slow
def test_the_first_cell_installs_the_pinned_wheel_on_colab(tmp_path, monkeypatch, wheel_folder):
    cells = [_runtime(), colab_cell(VERSION, None), IMPORT, "print(uploaded)"]
    setup, install, check, uploads = _run(cells, tmp_path, monkeypatch, wheel_folder).cells
    assert not _errors(setup) and not _errors(install), _text(setup) + _text(install)
    assert "ERROR" not in _text(install), _text(install)
    _installed(check, tmp_path)
    assert _text(uploads).strip() == "[]", "the cell asked for an upload though pip succeeded"


@pytest.mark.slow
def test_not_on_pypi_the_first_cell_shows_pips_error_and_installs_an_uploaded_wheel(
    tmp_path, monkeypatch, wheel_folder
):
    empty = tmp_path / "empty-index"
    empty.mkdir()
    cells = [_runtime(uploads=wheel_folder), colab_cell(VERSION, None), IMPORT, "print(uploaded)"]
    setup, install, check, uploads = _run(cells, tmp_path, monkeypatch, empty).cells
    assert not _errors(setup) and not _errors(install), _text(setup) + _text(install)
    shown = _text(install)
    assert (
        f"ERROR: Could not find a version that satisfies the requirement d2lhelpers=={VERSION}"
        in (shown)
    ), shown  # pip's own words for what failed
    _installed(check, tmp_path)
    assert _text(uploads).strip() == "[True]"


@pytest.mark.slow
def test_not_on_pypi_without_an_upload_the_import_says_what_is_missing(tmp_path, monkeypatch):
    empty = tmp_path / "empty-index"
    empty.mkdir()
    cells = [_runtime(uploads=empty), colab_cell(VERSION, None), IMPORT]
    setup, install, check = _run(cells, tmp_path, monkeypatch, empty).cells
    assert "ERROR: Could not find a version" in _text(install)
    assert _errors(check) == ["ModuleNotFoundError: No module named 'd2lhelpers'"]


def test_the_first_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    empty = tmp_path / "empty-index"
    empty.mkdir()
    cells = [
        _runtime(colab=False),
        colab_cell(VERSION, None),
        "print(sorted(os.listdir('../site')))",
    ]
    nb = _run(cells, tmp_path, monkeypatch, empty)
    setup, install, listing = nb.cells
    assert not any(_errors(c) for c in nb.cells), _text(setup) + _text(listing)
    assert install.outputs == []
    assert _text(listing).strip() == "[]"  # pip installed nothing


# ---------------------------------------------------------------- a home in pyproject


def _copy_of_the_repository(folder: Path) -> Path:
    """The repository's files as git sees them (tracked, and new ones not ignored)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, folder / name)
    return folder


def _set_home(repo: Path, home: str) -> None:
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    assert "\n[project.urls]\n" in text
    pyproject.write_text(
        text.replace("\n[project.urls]\n", f'\n[project.urls]\nRepository = "{home}"\n')
    )


def _colab_cell_tool(repo: Path) -> str:
    run = subprocess.run(
        [sys.executable, str(REPO / "tools" / "colab_cell.py"), "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_without_a_home_no_chapter_links_to_colab():
    assert project_home() is None, "pyproject names a home: the tests below cover it"
    for path in sorted((REPO / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert not [c for c in nb.cells if "colab-link" in c.metadata.get("tags", [])], path.name
        assert "colab.research.google.com" not in path.read_text(), path.name


@pytest.mark.slow
def test_with_a_home_on_github_every_chapter_links_to_colab_and_installs_from_it(tmp_path):
    repo = _copy_of_the_repository(tmp_path / "repo")
    home = "https://github.com/example-org/optim-course"
    _set_home(repo, home)
    assert project_home(repo) == home
    _colab_cell_tool(repo)
    chapters = sorted((repo / "chapters").glob("*.ipynb"))
    assert len(chapters) >= 11
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        (link,) = [c for c in nb.cells if "colab-link" in c.metadata.get("tags", [])]
        url = f"https://colab.research.google.com/github/example-org/optim-course/blob/v{VERSION}/chapters/{path.name}"
        assert url in link.source and colab_url(home, VERSION, path.name) == url
        assert "remove-cell" in link.metadata["tags"]  # the book has its own link bar
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert first_code.source == colab_cell(VERSION, home)
        assert f"%pip install --quiet git+{home}@v{VERSION}" in first_code.source
        assert "upload" not in first_code.source
        assert nb.cells.index(link) < nb.cells.index(first_code)
    ruff = [str(Path(sys.executable).parent / "ruff")]
    for check in (["check"], ["format", "--check"]):
        run = subprocess.run([*ruff, *check, "chapters"], cwd=repo, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    # Idempotent: a second run changes nothing, and --check agrees.
    assert _colab_cell_tool(repo).startswith("0 chapters updated")
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from build_book import page_links
    finally:
        sys.path.remove(str(REPO / "tools"))
    bar = page_links("04_momentum.ipynb", VERSION, home)
    assert f'href="{colab_url(home, VERSION, "04_momentum.ipynb")}"' in bar
    assert "Open in Colab" in bar and "Open in Colab" not in page_links("x.ipynb", VERSION, None)


@pytest.mark.slow
def test_with_a_home_not_on_pypi_the_first_cell_installs_the_tagged_release(tmp_path, monkeypatch):
    upstream = _copy_of_the_repository(tmp_path / "upstream")
    git = ["git", "-c", "user.name=course", "-c", "user.email=course@example.org"]
    for step in (
        ["init", "-q"],
        ["add", "-A"],
        ["commit", "-qm", "release"],
        ["tag", f"v{VERSION}"],
    ):
        subprocess.run([*git, *step], cwd=upstream, check=True, capture_output=True)
    home = upstream.as_uri()
    repo = _copy_of_the_repository(tmp_path / "repo")
    _set_home(repo, home)
    note = _colab_cell_tool(repo)
    assert "not on GitHub" in note  # pip installs from any git host; Colab opens GitHub only
    cell = next(
        c.source
        for c in nbformat.read(repo / "chapters" / "00_setup.ipynb", as_version=4).cells
        if c.cell_type == "code"
    )
    assert re.search(rf"git\+{re.escape(home)}@v{re.escape(VERSION)}$", cell), cell
    empty = tmp_path / "empty-index"
    empty.mkdir()
    cells = [_runtime(uploads=empty), cell, IMPORT, "print(uploaded)"]
    setup, install, check, uploads = _run(cells, tmp_path, monkeypatch, empty).cells
    assert "ERROR: Could not find a version" in _text(install)  # PyPI first
    _installed(check, tmp_path)
    assert _text(uploads).strip() == "[]"
