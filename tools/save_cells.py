"""Copy the chapters' `#@save` cells into the generated module `d2lhelpers/saved.py`.

Usage: python tools/save_cells.py           (re)write d2lhelpers/saved.py
       python tools/save_cells.py --check   exit 1 if it is not what the chapters give

A chapter marks a code cell whose first line is `#@save` (which `ruff format` writes
as `# @save`; both count) when a later chapter reuses what it builds, as the d2l book
does: chapter 08 saves `ScratchAdam`, and chapter 10 says `class Yogi(d2l.ScratchAdam)`.
The cells are copied in chapter order, each under a comment naming its chapter and cell:
the place to edit it. Their top-level imports are moved to the top of the module, merged
and sorted.

The module stands on its own, as d2l's generated `torch.py` does: it imports nothing
from the package root. Saved code says `d2l.NAME`, as the chapters do, and the module
binds `d2l` to itself. A name saved by any cell is then found directly; for a helper of
the package, the tool reads which module `d2lhelpers/__init__.py` takes it from and
writes that import (`from .checks import agree`), for exactly the `d2l.NAME`s the saved
code uses. So that the module runs as the notebook does, the tool refuses a cell that
- uses a `d2l.NAME` that no cell saves and the package does not export;
- reads a bare name that is neither a builtin, nor imported or defined by the cell, nor
  saved earlier in the same chapter (a notebook global, or another chapter's name, which
  must be `d2l.NAME`);
- defines a public name without a docstring (a public constant: a string right after it);
- runs code, or defines a name that another cell or the package already has.
Every error names the chapter and the cell. `d2lhelpers/__init__.py` re-exports the
module's `__all__`. Never edit `saved.py` by hand: `tests/test_saved.py` fails when it
differs from what this tool writes.
"""

from __future__ import annotations

import ast
import builtins
import symtable
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
TARGET = REPO / "d2lhelpers" / "saved.py"
PACKAGE_INIT = REPO / "d2lhelpers" / "__init__.py"
MARKS = ("#@save", "# @save")  # `ruff format` writes the second
LINE_LENGTH = 100  # ruff's, in pyproject.toml
NOQA = "  # noqa: F401"  # the package's helpers are used as d2l.NAME, which ruff cannot see

HEADER = '''"""What the chapters built for later chapters: their `#@save` cells, in chapter order.

GENERATED from the chapters by tools/save_cells.py; do not edit. Each block names the
chapter and cell it comes from: change the cell there and run `python tools/save_cells.py`
(tests/test_saved.py checks they agree). `import d2lhelpers as d2l` re-exports every name
in `__all__`, e.g. `d2l.ScratchAdam`.
"""
'''

NAMESPACE = """

# Saved code says d2l.NAME, as the chapters do: saved names are defined below, and the
# package's helpers it uses are imported above.
d2l = sys.modules[__name__]
"""


class SaveError(ValueError):
    """A `#@save` cell that cannot be copied into the module as it is."""


@dataclass(frozen=True)
class SavedCell:
    """One `#@save` cell: where it is, what it imports, defines, uses, and its code."""

    chapter: str
    index: int
    imports: tuple[str, ...]
    body: str
    definitions: tuple[str, ...]  # the names its definitions and assignments bind
    defined: frozenset[str]  # every name it binds at its top level (imports included)
    d2l_names: tuple[str, ...]  # the NAMEs of its `d2l.NAME`s, in order of appearance
    free_names: tuple[str, ...]  # the names it reads but does not bind

    @property
    def names(self) -> tuple[str, ...]:
        """The public names it defines: what `__all__` lists."""
        return tuple(name for name in self.definitions if not name.startswith("_"))

    @property
    def where(self) -> str:
        return f"{self.chapter}, cell {self.index}"


def _is_d2l_import(node: ast.stmt) -> bool:
    """`import d2lhelpers as d2l`: the module provides `d2l` itself."""
    return isinstance(node, ast.Import) and all(
        alias.name == "d2lhelpers" and alias.asname == "d2l" for alias in node.names
    )


def _bound_by_import(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The names an import statement binds."""
    return [(a.asname or a.name).split(".")[0] for a in node.names]


def _has_docstring(nodes: list[ast.stmt], position: int) -> bool:
    """Whether `nodes[position]` has a docstring (a def or class) or a string after it."""
    node = nodes[position]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return ast.get_docstring(node) is not None
    following = nodes[position + 1] if position + 1 < len(nodes) else None
    return (
        isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    )


def _free_names(source: str) -> set[str]:
    """The global names `source` reads anywhere (module level, functions, classes)."""
    found: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        module_level = table.get_type() == "module"
        for symbol in table.get_symbols():
            if not symbol.is_referenced():
                continue
            if module_level:
                if not (symbol.is_assigned() or symbol.is_imported()):
                    found.add(symbol.get_name())
            elif symbol.is_global():
                found.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    walk(symtable.symtable(source, "<cell>", "exec"))
    return found


def parse_cell(source: str, chapter: str, index: int) -> SavedCell:
    """Split a `#@save` cell into its top-level imports, its code and the names it defines."""
    lines = source.splitlines()
    where = f"{chapter}, cell {index}"
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise SaveError(f"{where}: the #@save cell is not valid Python ({error.msg}).") from None
    imports, import_lines, names, defined = [], set(), [], set()
    for position, node in enumerate(tree.body):
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
                defined.update(_bound_by_import(node))
            import_lines.update(range(node.lineno - 1, node.end_lineno))
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            new = [node.name]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            new = [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        else:
            raise SaveError(
                f"{where}: a #@save cell may hold imports, definitions and assignments only; "
                f"line {node.lineno} runs code ({ast.unparse(node).splitlines()[0]!r}). "
                "Move it to a cell of its own."
            )
        for name in new:
            if not name.startswith("_") and not _has_docstring(tree.body, position):
                raise SaveError(
                    f"{where}: the saved name {name} has no docstring. Say what it is and why "
                    "(for an optimizer, its update rule), in a docstring, or in a string on "
                    "the line after a constant."
                )
        names += new
        defined.update(new)
    body_lines = [line for i, line in enumerate(lines[1:], 1) if i not in import_lines]
    body = "\n".join(body_lines).strip("\n")
    if not body:
        raise SaveError(f"{where}: the #@save cell defines nothing.")
    d2l_names = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "d2l"
    ]
    return SavedCell(
        chapter,
        index,
        tuple(imports),
        body,
        tuple(names),
        frozenset(defined),
        tuple(dict.fromkeys(d2l_names)),
        tuple(sorted(_free_names(source))),
    )


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


def package_exports(init: Path = PACKAGE_INIT) -> dict[str, tuple[str, str, str | None]]:
    """What `import d2lhelpers as d2l` offers besides the saved code, and where it comes from.

    Maps each name that `d2lhelpers/__init__.py` imports at its top level (but not from
    `.saved`) to `(module, name, asname)`, the pieces of an import statement that binds it:
    `("checks", "agree", None)` for `from .checks import agree`, `(".", "checks", None)`
    for `from . import checks`, `("matplotlib.pyplot", "", "plt")` for
    `import matplotlib.pyplot as plt`.
    """
    exports = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module != "saved":
            for alias in node.names:
                module = node.module or "."
                exports[alias.asname or alias.name] = (module, alias.name, alias.asname)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                exports[alias.asname or alias.name.split(".")[0]] = (alias.name, "", alias.asname)
    return exports


def _check_names(cells: list[SavedCell], exports: dict) -> set[str]:
    """Check what each cell uses; return the package's names that saved code uses as d2l.NAME."""
    saved_at = {name: (cell.chapter, cell.index) for cell in cells for name in cell.definitions}
    every = [name for cell in cells for name in cell.definitions]
    duplicates = sorted({name for name in every if every.count(name) > 1})
    if duplicates:
        raise SaveError(
            f"#@save cells define {', '.join(duplicates)} more than once; a saved name "
            "must be defined in one cell only."
        )
    for cell in cells:
        for name in cell.definitions:
            if name in exports:
                raise SaveError(
                    f"{cell.where}: the saved name {name} is already the package's d2l.{name} "
                    f"(d2lhelpers/{exports[name][0]}.py); give it another name."
                )
    used = set()
    for cell in cells:
        for name in cell.d2l_names:
            if name in exports:
                used.add(name)
            elif name not in saved_at:
                raise SaveError(
                    f"{cell.where}: d2l.{name} is defined nowhere: no #@save cell saves it, and "
                    "d2lhelpers/__init__.py does not export it. Save the cell that defines it, "
                    "or check the spelling."
                )
        for name in cell.free_names:
            if name in cell.defined or name == "d2l" or hasattr(builtins, name):
                continue
            chapter, index = saved_at.get(name, (None, None))
            if chapter == cell.chapter and index <= cell.index:
                continue  # saved earlier in the same chapter: defined in both places
            if chapter is not None or name in exports:
                hint = f"write d2l.{name}: it is not defined in this chapter"
            else:
                hint = "a saved cell must import or define what it uses, or call d2l.NAME"
            raise SaveError(
                f"{cell.where}: the saved code reads {name}, which it does not define; {hint}."
            )
    return used


def _import_statements(names: set[str], exports: dict) -> set[str]:
    """One import statement per module, binding the package helpers `names`."""
    relative: dict[str, list[str]] = {}
    statements = set()
    for name in names:
        module, imported, asname = exports[name]
        binding = imported if asname is None else f"{imported} as {asname}"
        if imported == "":  # `import a.b as c`
            statements.add(f"import {module}" + (f" as {asname}" if asname else ""))
        else:
            relative.setdefault(module, []).append(binding)
    for module, bindings in relative.items():
        source = "." if module == "." else f".{module}"
        statements.add(f"from {source} import {', '.join(sorted(bindings, key=_isort_key))}")
    return {f"{statement}{NOQA}" for statement in statements}


def _isort_key(binding: str) -> tuple[int, str]:
    """ruff's order of imported names: CONSTANTS, then Classes, then the rest."""
    name = binding.split(" as ")[0]
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name


def _wrapped(statement: str) -> str:
    """An import statement as `ruff format` writes it: in parentheses when too long."""
    if len(statement) <= LINE_LENGTH or not statement.startswith("from "):
        return statement
    comment = NOQA if statement.endswith(NOQA) else ""
    head, names = statement.removesuffix(NOQA).split(" import ")
    inner = "".join(f"    {name},\n" for name in names.split(", "))
    return f"{head} import ({comment}\n{inner})"


def _sorted_imports(imports: set[str]) -> str:
    """Imports in ruff's isort order: standard library, others, then the package's own."""

    def module(statement: str) -> str:
        return statement.split()[1].lower()

    def section(statement: str) -> int:
        name = module(statement)
        if name.startswith("."):
            return 2
        return 0 if name.split(".")[0] in sys.stdlib_module_names else 1

    groups = []
    for wanted in (0, 1, 2):
        group = [s for s in imports if section(s) == wanted]
        plain = sorted((s for s in group if s.startswith("import ")), key=module)
        froms = sorted((s for s in group if s.startswith("from ")), key=module)
        if plain or froms:
            groups.append("\n".join(_wrapped(s) for s in plain + froms))
    return "\n\n".join(groups)


def generate(chapters: Path = CHAPTERS, init: Path = PACKAGE_INIT) -> str:
    """The text of `d2lhelpers/saved.py` for the chapters as they are now."""
    cells = saved_cells(chapters)
    exports = package_exports(init)
    used = _check_names(cells, exports)
    imports = {"import sys"} | {s for cell in cells for s in cell.imports}
    imports |= _import_statements(used, exports)
    parts = [HEADER, _sorted_imports(imports), NAMESPACE.rstrip("\n")]
    for cell in cells:
        parts.append(f"\n\n\n# From chapters/{cell.chapter}, cell {cell.index}\n{cell.body}")
    names = sorted(name for cell in cells for name in cell.names)
    all_names = "".join(f'    "{name}",\n' for name in names)
    parts.append(f"\n\n\n__all__ = [\n{all_names}]\n")
    return "\n".join(parts[:2]) + "".join(parts[2:])


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        text = generate(CHAPTERS)
    except SaveError as error:
        print(f"save_cells: {error}", file=sys.stderr)
        return 1
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
