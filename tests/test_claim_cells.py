"""Every claim-check cell is marked (tag, collapsed source), and every chapter has some."""

import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

import claim_cells  # noqa: E402


def _notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_a_cell_that_calls_claim_gets_the_tag_and_a_collapsed_source():
    nb = _notebook("x = 1", "d2l.claim('x is 1', x, 1)")
    assert claim_cells.mark(nb) == [1]
    assert nb.cells[1].metadata == {"tags": ["claim-check"], "jupyter": {"source_hidden": True}}
    assert nb.cells[0].metadata == {}
    assert claim_cells.mark(nb) == []  # idempotent


def test_a_cell_that_no_longer_calls_claim_loses_the_marks_but_keeps_other_tags():
    nb = _notebook("print(1)")
    nb.cells[0].metadata = {"tags": ["claim-check", "keep"], "jupyter": {"source_hidden": True}}
    assert claim_cells.mark(nb) == [0]
    assert nb.cells[0].metadata == {"tags": ["keep"]}


@pytest.mark.parametrize("path", sorted((REPO / "chapters").glob("*.ipynb")), ids=lambda p: p.name)
def test_the_chapters_claim_checks_are_marked(path):
    nb = nbformat.read(path, as_version=4)
    assert claim_cells.mark(nb) == [], f"run `python tools/claim_cells.py {path.name}`"


TAUGHT = sorted(p for p in (REPO / "chapters").glob("*.ipynb") if not p.name.startswith("00_"))


@pytest.mark.parametrize("path", TAUGHT, ids=lambda p: p.name)
def test_every_taught_chapter_checks_its_claims(path):
    """Chapters 01-12 state numbers about their computations; each checks them (00 teaches none)."""
    nb = nbformat.read(path, as_version=4)
    checks = [c for c in nb.cells if "claim-check" in c.metadata.get("tags", [])]
    assert len(checks) >= 3, (
        f"{path.name} has {len(checks)} claim-check cells: check the numbers of its summary and "
        "of every comparison with d2l.claim (CONTRIBUTING.md, 'Claim checks')"
    )
