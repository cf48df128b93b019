"""The data check of every test run: before the first test, the data sets must be here.

When a run will execute notebooks (or tests that use the real airfoil file), every data
set the course needs (`d2lhelpers.datasets.DATASETS`) must be on disk or downloadable;
else the run stops before its first test, with one message that says what is missing,
where it was looked for and how to get it. This file sits at the root of the
repository, so pytest loads it for any subset of the tests: one chapter
(`pytest chapters/05_adagrad.ipynb`), one test file, or `make test` with `-k`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Chapters are stored as the git filter leaves them, without execution counts: the plugin
# lets nbval compare the checked cells of that stored form (tests/nbval_stored_form.py).
pytest_plugins = ["tests.nbval_stored_form"]


def _reason(error: BaseException) -> str:
    """The innermost cause of a failed load, in a few words (e.g. 'Connection refused')."""
    while error.__cause__ is not None:
        error = error.__cause__
    return f"({getattr(error, 'reason', None) or error})"


def _problem(data_set) -> str | None:
    """None when every file of `data_set` is found or could be downloaded; else what to do."""
    import d2lhelpers as d2l

    missing = [key for key, path in data_set.locate().items() if path is None]
    try:
        for key in missing:
            d2l.download(data_set.files[key].hub_name, data_set.folder())
    except OSError as e:
        return f"{data_set.how_to(missing)}\n{_reason(e)}"
    return None


def missing_data_message() -> str | None:
    """One message for every data set the course needs and cannot have; None if all are here."""
    import d2lhelpers as d2l

    name = d2l.settings.DATA_DIR
    try:
        problems = [p for p in map(_problem, d2l.datasets.DATASETS) if p]
    except ValueError as e:  # a setting that cannot be used, such as a relative data root
        return f"The data sets the notebooks need cannot be looked for: {e}"
    if not problems:
        return None
    setting = d2l.settings.raw(name)
    root = f"{name}={setting}" if setting else f"the default; {name} is not set"
    return (
        "The data sets the notebooks need are not all on this machine, and could not be "
        "downloaded.\n\n" + "\n\n".join(problems) + f"\n\nThe data root is {d2l.data_root()} "
        f"({root}). To use another folder, set {name} to it. Then run the tests again."
    )


@pytest.fixture(name="missing_data_message")
def _missing_data_message():
    """The function that builds the check's message, for the tests of the check."""
    return missing_data_message


# Tests that read the real airfoil file ask for this fixture (tests/conftest.py).
_DATA_FIXTURE = "airfoil_root"


def _needs_data(item: pytest.Item) -> bool:
    return item.path.suffix == ".ipynb" or _DATA_FIXTURE in getattr(item, "fixturenames", ())


def _stop_if_data_is_missing(config: pytest.Config) -> None:
    """Stop the whole run, with one message, if a data set is missing."""
    message = missing_data_message()
    if message:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "missing data", red=True)
            reporter.write_line(message)
        reason = message if reporter is None else "missing data: see the message above"
        pytest.exit(reason, returncode=pytest.ExitCode.INTERRUPTED)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before the first test: stop the whole run, with one message, if data is missing.

    Under pytest-xdist (`make test` runs two workers) each worker collects the tests, and
    a worker that stops is replaced by another: there the controller checks instead, below.
    """
    if hasattr(session.config, "workerinput") or session.config.option.collectonly:
        return
    if any(map(_needs_data, session.items)):
        _stop_if_data_is_missing(session.config)


_DATA_CHECKED = pytest.StashKey[bool]()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """The check of a run with workers, once, when the first worker has collected.

    The controller sees only the tests' ids: a test needs data when it is a notebook's
    cell or its file uses the `airfoil_root` fixture.
    """
    config = node.config
    if config.stash.get(_DATA_CHECKED, False) or config.option.collectonly:
        return
    config.stash[_DATA_CHECKED] = True
    files = {Path(config.rootpath, i.split("::")[0]) for i in ids}
    if any(f.suffix == ".ipynb" or _DATA_FIXTURE in f.read_text() for f in files):
        _stop_if_data_is_missing(config)


# Test files that share module fixtures run on one worker: the book is built once, for both.
_SAME_WORKER = {"tests/test_book_explorers.py": "tests/test_book.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile` (make test) with the book's two test files as one.

    Each worker takes whole files, so a notebook's cells run in order in one kernel.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WholeFiles(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return _SAME_WORKER.get(file, file)

    return WholeFiles(config, log)
