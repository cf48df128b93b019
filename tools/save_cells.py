"""Copy the chapters' `#@save` cells into the generated module `d2lhelpers/saved.py`.

Usage: python tools/save_cells.py           (re)write d2lhelpers/saved.py
       python tools/save_cells.py --check   exit 1 if it is not what the chapters give

A chapter marks a code cell whose first line is `#@save` (which `ruff format` writes
as `# @save`; both count) when a later chapter reuses
what it builds, as the d2l book does: chapter 08 saves `ScratchAdam`, and chapter 10
says `class Yogi(d2l.ScratchAdam)`. The cells are copied in chapter order. Their
top-level imports are moved to the top of the module, merged and sorted, so each
saved cell must import what it uses (it runs on its own in the notebook too) and read
no notebook globals. Inside saved code, `d2l.NAME` finds earlier saved names and the
package's helpers, exactly as in the chapters. `d2lhelpers/__init__.py` re-exports
the module's `__all__`. Never edit `saved.py` by hand: `tests/test_saved.py` fails
when it differs from what this tool writes.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
TARGET = REPO / "d2lhelpers" / "saved.py"
MARKS = ("#@save", "# @save")  # `ruff format` writes the second

HEADER = '''"""What the chapters built for later chapters: their `#@save` cells, in chapter order.

GENERATED from the chapters by tools/save_cells.py; do not edit. Change the cell in its
chapter and run `python tools/save_cells.py` (tests/test_saved.py checks they agree).
`import d2lhelpers as d2l` re-exports every name in `__all__`, e.g. `d2l.ScratchAdam`.
"""
'''

NAMESPACE = """

# Saved code says d2l.NAME, as the chapters do: earlier saved names resolve here, and
# every other name falls through to the package (module __getattr__, PEP 562).
d2l = sys.modules[__name__]


def __getattr__(name: str):
    import d2lhelpers

    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(d2lhelpers, name)
"""


class SaveError(ValueError):
    """A `#@save` cell that cannot be copied into the module as it is."""


@dataclass(frozen=True)
class SavedCell:
    """One `#@save` cell: where it is, its top-level imports and the rest of its code."""

    chapter: str
    index: int
    imports: tuple[str, ...]
    body: str
    names: tuple[str, ...]


def _is_d2l_import(node: ast.stmt) -> bool:
    """`import d2lhelpers as d2l`: the module provides `d2l` itself."""
    return isinstance(node, ast.Import) and all(
        alias.name == "d2lhelpers" and alias.asname == "d2l" for alias in node.names
    )


def parse_cell(source: str, chapter: str, index: int) -> SavedCell:
    """Split a `#@save` cell into its top-level imports, its code and the names it defines."""
    lines = source.splitlines()
    where = f"{chapter}, cell {index}"
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise SaveError(f"{where}: the #@save cell is not valid Python ({error.msg}).") from None
    imports, import_lines, names = [], set(), []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any(
                (a.name if isinstance(node, ast.Import) else node.module or "").startswith(
                    "d2lhelpers"
                )
                for a in node.names
            ) and not _is_d2l_import(node):
                raise SaveError(
                    f"{where}: saved code refers to the course's helpers as d2l.NAME; "
                    "replace this import with `import d2lhelpers as d2l`."
                )
            if not _is_d2l_import(node):
                imports.append(ast.unparse(node))
            import_lines.update(range(node.lineno - 1, node.end_lineno))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            raise SaveError(
                f"{where}: a #@save cell may hold imports, definitions and assignments only; "
                f"line {node.lineno} runs code ({ast.unparse(node).splitlines()[0]!r}). "
                "Move it to a cell of its own."
            )
    body_lines = [line for i, line in enumerate(lines[1:], 1) if i not in import_lines]
    body = "\n".join(body_lines).strip("\n")
    if not body:
        raise SaveError(f"{where}: the #@save cell defines nothing.")
    public = tuple(name for name in names if not name.startswith("_"))
    return SavedCell(chapter, index, tuple(imports), body, public)


def saved_cells(chapters: Path = CHAPTERS) -> list[SavedCell]:
    """Every `#@save` cell of the chapters, in chapter order, then cell order."""
    cells = []
    for path in sorted(chapters.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            first_line = cell.source.split("\n", 1)[0].strip()
            if cell.cell_type == "code" and first_line in MARKS:
                cells.append(parse_cell(cell.source, path.name, index))
    return cells


def _sorted_imports(imports: set[str]) -> str:
    """Imports in ruff's isort order: the standard library, then the rest; `import` first."""

    def module(statement: str) -> str:
        return statement.split()[1].lower()

    def section(statement: str) -> int:
        return 0 if module(statement).split(".")[0] in sys.stdlib_module_names else 1

    groups = []
    for wanted in (0, 1):
        group = [s for s in imports if section(s) == wanted]
        plain = sorted((s for s in group if s.startswith("import ")), key=module)
        froms = sorted((s for s in group if s.startswith("from ")), key=module)
        if plain or froms:
            groups.append("\n".join(plain + froms))
    return "\n\n".join(groups)


def generate(chapters: Path = CHAPTERS) -> str:
    """The text of `d2lhelpers/saved.py` for the chapters as they are now."""
    cells = saved_cells(chapters)
    names = [name for cell in cells for name in cell.names]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SaveError(
            f"#@save cells define {', '.join(duplicates)} more than once; a saved name "
            "must be defined in one cell only."
        )
    imports = {"import sys"} | {s for cell in cells for s in cell.imports}
    parts = [HEADER, _sorted_imports(imports), NAMESPACE.rstrip("\n")]
    for cell in cells:
        parts.append(f"\n\n\n# From chapters/{cell.chapter}\n{cell.body}")
    all_names = "".join(f'    "{name}",\n' for name in sorted(names))
    parts.append(f"\n\n\n__all__ = [\n{all_names}]\n")
    return "\n".join(parts[:2]) + "".join(parts[2:])


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    text = generate(CHAPTERS)
    current = TARGET.read_text() if TARGET.exists() else None
    if argv == ["--check"]:
        if current != text:
            print(
                f"{TARGET.relative_to(REPO)} is stale: run `python tools/save_cells.py`.",
                file=sys.stderr,
            )
            return 1
        print(f"{TARGET.relative_to(REPO)} matches the chapters' #@save cells.")
        return 0
    if current != text:
        TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
