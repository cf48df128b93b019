"""Mark the chapters' claim-check cells: the tag `claim-check` and a collapsed source.

Usage: python tools/claim_cells.py [--check] [chapters/NN_name.ipynb ...]

A claim-check cell checks a number or comparison that the chapter's prose states, with
`d2l.claim(...)` (README for contributors: "Claim checks"). Every code cell that calls
`d2l.claim` gets the tag `claim-check`, which the book build reads to hide the cell, and
`"jupyter": {"source_hidden": true}`, so JupyterLab shows it collapsed; a cell that no
longer calls it loses both. With no paths it does every chapter; with `--check` it
writes nothing and exits 1 if any cell is not marked as it should be.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
TAG = "claim-check"
CALL = re.compile(r"\bd2l\.claim\(")


def marked(cell: nbformat.NotebookNode) -> bool:
    """Whether the cell carries the tag and the collapsed source."""
    tags = cell.metadata.get("tags", [])
    hidden = cell.metadata.get("jupyter", {}).get("source_hidden", False)
    return TAG in tags and hidden


def is_claim_check(cell: nbformat.NotebookNode) -> bool:
    """Whether the cell is a code cell that calls `d2l.claim`."""
    return cell.cell_type == "code" and bool(CALL.search(cell.source))


def mark(nb: nbformat.NotebookNode) -> list[int]:
    """Mark or unmark every cell as it should be; return the indices of the cells changed."""
    changed = []
    for index, cell in enumerate(nb.cells):
        wanted = is_claim_check(cell)
        if wanted == marked(cell) and (wanted or TAG not in cell.metadata.get("tags", [])):
            continue
        tags = [t for t in cell.metadata.get("tags", []) if t != TAG]
        jupyter = {
            k: v for k, v in cell.metadata.get("jupyter", {}).items() if k != "source_hidden"
        }
        if wanted:
            tags.append(TAG)
            jupyter["source_hidden"] = True
        for key, value in (("tags", tags), ("jupyter", jupyter)):
            if value:
                cell.metadata[key] = value
            else:
                cell.metadata.pop(key, None)
        changed.append(index)
    return changed


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"] or sorted((REPO / "chapters").glob("*.ipynb"))
    wrong = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        changed = mark(nb)
        if changed and check:
            wrong += 1
            print(f"{path}: cells {changed} are not marked as claim checks as they should be.")
        elif changed:
            nbformat.write(nb, path)
            print(f"{path}: marked cells {changed}")
    if wrong:
        print("Run `python tools/claim_cells.py` to mark them.", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
