"""The data check of every test run: before the first test, the data sets must be here.

When a run will execute notebooks (or tests that use the real airfoil file), every data
set the course needs (`d2lhelpers.datasets.DATASETS`) must be on disk or downloadable;
else the run stops before its first test, with one message that says what is missing,
where it was looked for and how to get it. This file sits at the root of the
repository, so pytest loads it for any subset of the tests: one chapter
(`pytest chapters/05_adagrad.ipynb`), one test file, or `make test` with `-k`.
"""

from __future__ import annotations

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


def _needs_data(item: pytest.Item) -> bool:
    return item.path.suffix == ".ipynb" or "airfoil_root" in getattr(item, "fixturenames", ())


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before the first test: stop the whole run, with one message, if data is missing."""
    if session.config.option.collectonly or not any(map(_needs_data, session.items)):
        return
    message = missing_data_message()
    if message:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "missing data", red=True)
            reporter.write_line(message)
        reason = message if reporter is None else "missing data: see the message above"
        pytest.exit(reason, returncode=pytest.ExitCode.INTERRUPTED)
