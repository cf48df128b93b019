"""Write the Colab install cell, pinned to the package's version, into every chapter.

Usage: python tools/colab_cell.py [--check]

The first code cell of every chapter installs `d2lhelpers==<version>` on Colab. The
version lives in `d2lhelpers/__init__.py` only; after bumping it, run this tool: it
takes the first code cell of `chapters/00_setup.ipynb`, sets the pin to the package's
version, and writes that cell into every chapter (the cell's id and every other cell are
left as they are). With `--check` it writes nothing and exits 1 if any chapter differs.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
PIN = re.compile(r'^PACKAGE = "d2lhelpers==[^"]*"$', re.MULTILINE)


def package_version() -> str:
    """`__version__` from `d2lhelpers/__init__.py`, read without importing the package."""
    tree = ast.parse((REPO / "d2lhelpers" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]:
            return ast.literal_eval(node.value)
    raise SystemExit("d2lhelpers/__init__.py does not set __version__.")


def first_code_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def colab_cell() -> str:
    """The install cell of chapter 00, pinned to the package's version."""
    source = first_code_cell(nbformat.read(CHAPTERS / "00_setup.ipynb", as_version=4)).source
    if not PIN.search(source):
        raise SystemExit(
            'The first code cell of 00_setup.ipynb has no line `PACKAGE = "d2lhelpers==..."`.'
        )
    return PIN.sub(f'PACKAGE = "d2lhelpers=={package_version()}"', source)


def main(check: bool) -> int:
    source = colab_cell()
    stale = []
    for path in sorted(CHAPTERS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = first_code_cell(nb)
        if cell.source != source:
            stale.append(path.name)
            if not check:
                cell.source = source
                nbformat.write(nb, path)
    verb = "differ" if check else "updated"
    print(f"{len(stale)} chapters {verb}: {', '.join(stale) or 'none'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv[1:]))
