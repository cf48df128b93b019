"""A pytest plugin: nbval compares the checked cells of chapters stored without execution counts.

The chapters are stored as the git filter leaves them (tools/notebook_form.py): the cells
tagged `nbval-check-output` keep their outputs, and no cell keeps an execution count
(nbstripout drops every count, so that a learner's Run All and save changes nothing git
sees). nbval, though, refuses a cell that has outputs and no count ("Unrun reference cell
has outputs"), taking it for a notebook saved without running. For the checked cells of
the stored form that is not so: their outputs are the reference, written by
tools/refresh_outputs.py after a run. This plugin gives them a count when nbval collects
them (the number is never compared), so nbval compares their outputs as it should.

It is loaded by `pytest_plugins` in the root conftest.py.
"""

from __future__ import annotations

import pytest

CHECK_TAG = "nbval-check-output"


def stored_checked_cell(cell) -> bool:
    """A checked cell of the stored form: tagged, with outputs and no execution count."""
    tags = cell.get("metadata", {}).get("tags", [])
    return CHECK_TAG in tags and bool(cell.get("outputs")) and cell.get("execution_count") is None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's IPyNbCell items carry their cell
        if cell is not None and stored_checked_cell(cell):
            cell["execution_count"] = 1
