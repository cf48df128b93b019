"""A learner's checkout stays clean: running and saving chapters leaves `git status` empty.

The stored form (tools/notebook_form.py) is checked on every chapter: nbval's cell tags
instead of comments, the kernelspec JupyterLab writes, kept outputs on exactly the checked
cells, and nothing the git filter would change.

Then the learner's path, for real: a fresh clone of the repository (its files as git sees
them, committed in an "upstream" repository, then cloned), `make lab` in it (the very
command make runs, with this venv taken as installed), and in Debian's Chromium, driven
by Playwright as tests/test_browser.py does, chapters 01, 04 and 10 (at the test
fraction) opened, run with Run All and saved. Opening changes nothing but the Python
version JupyterLab records; JupyterLab asks nothing about its news; the saved files hold
their outputs, and yet `git status` is empty; a course update to chapter 04, pulled with
`git pull`, goes through. Screenshots and the server's log go to
test-artifacts/clean-checkout/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
import test_browser
from processes import free_port, stop_group
from test_browser import (
    Lab,
    _stray_processes,
    chromium_context,
    errors_in_outputs,
    open_notebook,
    require_chromium,
    run_all,
)

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
ARTIFACTS = REPO / "test-artifacts" / "clean-checkout"
sys.path.insert(0, str(REPO / "tools"))
from notebook_form import CHECK_TAG, KERNELSPEC, MARKER_LINE, stored_form, stored_forms  # noqa: E402

sys.path.remove(str(REPO / "tools"))
START_TIMEOUT_S = 180
RUN_ALL_TIMEOUT_S = 1800
URL_LINE = re.compile(r"^\s*(http://127\.0\.0\.1:(\d+)/lab\?token=(\w+))\s*$")
NEWS = "Would you like to get notified about official Jupyter news?"
GIT = ["git", "-c", "user.name=course", "-c", "user.email=course@example.org"]


def _chapters() -> list[Path]:
    return sorted(CHAPTERS.glob("*.ipynb"))


# ---------------------------------------------------------------- the stored form


def test_no_chapter_carries_an_nbval_comment():
    found = [
        f"{path.name}, cell {i}: {line.strip()}"
        for path in _chapters()
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
        for line in cell.source.splitlines()
        if cell.cell_type == "code" and (MARKER_LINE.match(line) or "NBVAL_" in line)
    ]
    assert not found, "use nbval's cell tags (tools/notebook_form.py):\n" + "\n".join(found)


def test_every_chapter_is_stored_as_the_git_filter_and_jupyterlab_leave_it():
    texts = {path.name: path.read_text(encoding="utf-8") for path in _chapters()}
    notebooks = {name: nbformat.reads(text, as_version=4) for name, text in texts.items()}
    for name, nb in notebooks.items():
        assert nb.metadata.kernelspec == KERNELSPEC, name
        assert "version" not in nb.metadata.get("language_info", {}), name
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            checked = CHECK_TAG in cell.metadata.get("tags", [])
            assert cell.metadata.get("keep_output", False) is checked, f"{name}, cell {i}"
            assert cell.execution_count is None, f"{name}, cell {i}"
            assert checked or not cell.outputs, f"{name}, cell {i} stores outputs"
    stored = stored_forms([(nb, name) for name, nb in notebooks.items()])
    differ = [name for name, text in zip(notebooks, stored) if text != texts[name]]
    assert not differ, f"not in the stored form (run python tools/notebook_form.py): {differ}"


def test_the_stored_form_tool_turns_markers_into_tags_and_is_idempotent():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)", execution_count=3),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\n\nx = 1"),
        nbformat.v4.new_code_cell("#  NBVAL_SKIP\ny = 2"),
    ]
    nb.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("stream", name="stdout", text="2\n"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="gone\n")]
    text = stored_form(nb, "test.ipynb")
    stored = nbformat.reads(text, as_version=4)
    checked, ignored, skipped = stored.cells
    assert checked.source == "print(1)" and checked.metadata.tags == [CHECK_TAG]
    assert checked.metadata.keep_output is True and checked.execution_count is None
    assert [o.text for o in checked.outputs] == ["1\n2\n"]  # merged, as JupyterLab saves it
    assert ignored.source == "x = 1" and "tags" not in ignored.metadata and not ignored.outputs
    assert skipped.source == "y = 2" and skipped.metadata.tags == ["nbval-skip"]
    assert stored.metadata.kernelspec == KERNELSPEC
    assert stored_form(stored, "test.ipynb") == text


def test_a_checked_cell_that_shows_a_figure_is_refused_with_its_place():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plot()", metadata={"tags": [CHECK_TAG]})
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    nb.cells = [cell]
    with pytest.raises(ValueError, match=r"test.ipynb, cell 0: a checked cell shows image/png"):
        stored_form(nb, "test.ipynb")


# ---------------------------------------------------------------- the learner's path


def _git(cwd: Path, *args: str) -> str:
    run = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"git {' '.join(args)} in {cwd}:\n{run.stdout}{run.stderr}"
    return run.stdout


def fresh_clone(root: Path) -> tuple[Path, Path]:
    """(upstream, clone): the repository's files committed upstream, and a fresh clone."""
    upstream, clone = root / "upstream", root / "learner"
    names = _git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, names.split("\0")):
        if (REPO / name).is_file():
            (upstream / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, upstream / name)
    _git(upstream, "init", "-q")
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-qm", "the course")
    _git(root, "clone", "-q", str(upstream), str(clone))
    return upstream, clone


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> tuple[Path, Path]:
    return fresh_clone(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def lab(checkout, tmp_path_factory):
    """`make lab` in the clone, on a free port; stopped afterwards with its kernels."""
    require_chromium()
    _, clone = checkout
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("jupyter-home")
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings /= "tracker.jupyterlab-settings"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"windowingMode": "none"}))  # every cell kept in the page
    venv = Path(sys.prefix)
    port = free_port()
    recipe = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", f"{venv}/.installed", "lab",
         f"VENV={venv}", f"LAB_PORT={port}"],
        cwd=clone, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert recipe.endswith("sh tools/lab.sh"), recipe
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env.update(
        PYTHONPATH=str(clone),  # the kernels import the clone's d2lhelpers
        D2L_EPOCH_FRACTION=env.get("D2L_EPOCH_FRACTION", "0.05"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    log_path = ARTIFACTS / "jupyterlab.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below, after the server
    server = subprocess.Popen(
        f"{recipe} --LabApp.expose_app_in_browser=True --ServerApp.port_retries=0",
        shell=True, cwd=clone, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    found: list[str] = []

    def read() -> None:
        for line in server.stdout:
            log.write(line)
            log.flush()
            if URL_LINE.match(line):
                found.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not found:
            assert server.poll() is None, "make lab exited:\n" + log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, "no URL printed:\n" + log_path.read_text()[-4000:]
            time.sleep(0.5)
        url, _, token = URL_LINE.match(found[0]).groups()
        yield Lab(url.split("/lab?")[0], token)
    finally:
        stop_group(server)
        for pid in _stray_processes(str(home / "runtime")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reader.join(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    with chromium_context(tmp_path_factory) as context:
        yield context


@pytest.mark.slow
@pytest.mark.browser
def test_running_and_saving_chapters_leaves_git_status_clean_and_a_pull_goes_through(
    checkout, lab, browser, monkeypatch
):
    # Chapter 10 trains an MLP: on a loaded 2-core machine Run All takes minutes.
    monkeypatch.setattr(test_browser, "RUN_ALL_TIMEOUT_S", RUN_ALL_TIMEOUT_S)
    upstream, clone = checkout
    assert _git(clone, "config", "filter.nbstripout.clean").strip(), "make lab set no filter"
    for pattern in ("01_*.ipynb", "04_*.ipynb", "10_*.ipynb"):
        name = next(clone.glob(f"chapters/{pattern}")).name
        stored = (clone / "chapters" / name).stat().st_size
        with open_notebook(browser, lab, name) as nb:
            # Opening changes nothing but the Python version JupyterLab records (which
            # differs between learners, so the filter drops it): the kernelspec is its own.
            shown = nb.js("p => p.context.model.toJSON().metadata")
            shown["language_info"].pop("version")
            on_disk = nbformat.read(clone / "chapters" / name, as_version=4).metadata
            assert shown == on_disk, f"{name}: JupyterLab changed the metadata on opening it"
            nb.page.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-opened.png"))
            run_all(lab, nb)
            problems = errors_in_outputs(nb)
            assert not problems, f"{name} in JupyterLab:\n" + "\n".join(problems)
            nb.js("p => p.context.save()")
            assert nb.js("p => p.context.model.dirty") is False
            nb.page.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}-saved.png"))
            assert nb.page.get_by_text(NEWS).count() == 0, "JupyterLab asked about its news"
        saved = (clone / "chapters" / name).read_text()
        assert '"output_type": "display_data"' in saved, f"{name}: the save kept no figure"
        print(f"{name}: {stored:,} bytes stored, {len(saved.encode()):,} bytes saved")
        status = _git(clone, "status", "--porcelain")
        assert status == "", f"after running and saving {name}, git status shows:\n{status}"

    chapter = next(upstream.glob("chapters/04_*.ipynb"))
    nb = nbformat.read(chapter, as_version=4)
    nb.cells[0].source += "\n\nA sentence the course added later."
    chapter.write_text(stored_form(nb, chapter.name), encoding="utf-8")
    _git(upstream, "commit", "-qam", "an update to chapter 04")
    _git(clone, "pull", "-q", "--ff-only")
    assert (clone / "chapters" / chapter.name).read_text() == chapter.read_text()
    assert _git(clone, "status", "--porcelain") == ""


# ---------------------------------------------------------------- nbval on the stored form


def _nbval(folder: Path, *plugin: str) -> subprocess.CompletedProcess:
    """nbval, as `make test` runs it, on the notebooks in `folder`."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO)]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin,
         "--nbval-lax", "--nbval-current-env", str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_nbval_compares_the_checked_outputs_of_the_stored_form(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)", metadata={"tags": [CHECK_TAG]})]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    path = tmp_path / "stored.ipynb"
    path.write_text(stored_form(nb, path.name))
    assert nbformat.read(path, as_version=4).cells[0].execution_count is None
    plugin = ("-p", "nbval_stored_form")
    passed = _nbval(tmp_path, *plugin)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    # Without the plugin nbval takes the cell for one never run.
    refused = _nbval(tmp_path)
    assert refused.returncode != 0 and "Unrun reference cell has outputs" in refused.stdout
    # With it, a changed output still fails: the outputs are compared.
    path.write_text(path.read_text().replace('"42\\n"', '"41\\n"'))
    changed = _nbval(tmp_path, *plugin)
    assert changed.returncode != 0 and "41" in changed.stdout, changed.stdout
