"""Write the Colab cell, and "Open in Colab" links once the course has a home, into every chapter.

Usage: python tools/colab_cell.py [--check] [--repo DIR]

Every chapter's first code cell installs the course's package on Colab, pinned to the
version in `d2lhelpers/__init__.py` (the one place it is set), by running pip; pip's own
message says what failed. Elsewhere it does nothing: `make lab` has installed the package.
The book hides it (the cell tag `remove-cell`).

The course's public home is its repository URL, `Repository = "..."` under
`[project.urls]` in pyproject.toml, and nowhere else. Until it is set, the cell falls back
to an upload button for the wheel that `make dist` builds (the book offers it for
download beside each chapter). Once it is set, the cell falls back to installing from
that repository at the release's tag, `v<version>`, and, for a home on GitHub, each
chapter gets a markdown cell, tagged `colab-link`, that opens the chapter of that release
in Colab (the book shows the same link in its own bar, so it hides this cell too).

Run this after bumping the version or setting the home: it rewrites those cells in every
chapter (the cells' ids and every other cell are left as they are). With `--check` it
writes nothing and exits 1 if any chapter differs. `--repo` points it at another copy of
the repository (the tests use one with a home set).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
HIDDEN = "remove-cell"  # myst-nb's tag: the book leaves the cell out
LINK_TAG = "colab-link"
LINK_ID = "colab-link"
GITHUB = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")
URLS_TABLE = re.compile(r"^\[project\.urls\][ \t]*$(.*?)(?=^\[|\Z)", re.MULTILINE | re.DOTALL)
REPOSITORY = re.compile(r'^Repository[ \t]*=[ \t]*"([^"]+)"[ \t]*(?:#.*)?$', re.MULTILINE)

FIRST_LINE = (
    "import importlib.util  # On Colab, install the course's package; `make lab` did, locally."
)
UPLOAD = '{" ".join(importlib.import_module("google.colab.files").upload())}'


def package_version(repo: Path = REPO) -> str:
    """`__version__` from `d2lhelpers/__init__.py`, read without importing the package."""
    tree = ast.parse((repo / "d2lhelpers" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]:
            return ast.literal_eval(node.value)
    raise SystemExit("d2lhelpers/__init__.py does not set __version__.")


def project_home(repo: Path = REPO) -> str | None:
    """The course's repository URL (`Repository` under `[project.urls]`), or None if unset."""
    table = URLS_TABLE.search((repo / "pyproject.toml").read_text())
    found = REPOSITORY.search(table.group(1)) if table else None
    return found.group(1).rstrip("/") if found else None


def wheel_name(version: str) -> str:
    return f"d2lhelpers-{version}-py3-none-any.whl"


def colab_url(home: str | None, version: str, chapter: str) -> str | None:
    """Colab's URL for `chapter` (a file name) of release `version`; None unless on GitHub."""
    match = GITHUB.match(home or "")
    if not match:
        return None
    owner, name = match.groups()
    return (
        f"https://colab.research.google.com/github/{owner}/{name}/blob/v{version}/"
        f"chapters/{chapter}"
    )


def colab_cell(version: str, home: str | None) -> str:
    """The source of the Colab cell for this version and home."""
    if home:
        why, fallback = (
            "not on PyPI: the release from its repository",
            f"git+{home}@v{version}",
        )
    else:
        why, fallback = "not on PyPI yet: upload its wheel (README)", UPLOAD
    return "\n".join(
        [
            FIRST_LINE,
            "",
            'if "google.colab" in str(get_ipython()):',
            f"    %pip install --quiet d2lhelpers=={version}",
            f'    if not importlib.util.find_spec("d2lhelpers"):  # {why}',
            f"        %pip install --quiet {fallback}",
        ]
    )


def link_source(url: str) -> str:
    return f"[Open this chapter in Colab]({url}), then run its cells from the top."


def first_code_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def update(nb: nbformat.NotebookNode, chapter: str, version: str, home: str | None) -> None:
    """Write the Colab cell and the link cell (or remove it: no home on GitHub) into `nb`."""
    cell = first_code_cell(nb)
    cell.source = colab_cell(version, home)
    tags = cell.metadata.setdefault("tags", [])
    if HIDDEN not in tags:
        tags.append(HIDDEN)
    nb.cells = [c for c in nb.cells if LINK_TAG not in c.metadata.get("tags", [])]
    url = colab_url(home, version, chapter)
    if url:
        link = nbformat.v4.new_markdown_cell(
            link_source(url), metadata={"tags": [LINK_TAG, HIDDEN]}
        )
        link.id = LINK_ID
        nb.cells.insert(nb.cells.index(cell), link)


def main(check: bool, repo: Path) -> int:
    from notebook_form import stored_forms  # tools/, beside this file

    version, home = package_version(repo), project_home(repo)
    if home and not colab_url(home, version, "x.ipynb"):
        print(f"note: the home {home} is not on GitHub, so Colab cannot open it: no links")
    paths = sorted((repo / "chapters").glob("*.ipynb"))
    before = [path.read_text(encoding="utf-8") for path in paths]
    notebooks = [nbformat.reads(text, as_version=4) for text in before]
    for path, nb in zip(paths, notebooks):
        update(nb, path.name, version, home)
    after = stored_forms([(nb, path.name) for nb, path in zip(notebooks, paths)])
    stale = [path for path, old, new in zip(paths, before, after) if new != old]
    if not check:
        for path in stale:
            path.write_text(after[paths.index(path)], encoding="utf-8")
    verb = "differ" if check else "updated"
    print(f"{len(stale)} chapters {verb}: {', '.join(p.name for p in stale) or 'none'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--repo", type=Path, default=REPO, help="the repository to update")
    args = parser.parse_args()
    sys.exit(main(args.check, args.repo.resolve()))
