"""Explorer cells: which cells of a chapter make sliders, and which cells they need.

`slider_cells(nb)` finds the cells that make controls (`d2l.explore`, ipywidgets'
`interact` family, a slider built directly). `cells_to_run(nb)` adds the code cells
before them that they depend on, by a name analysis of the cells' Python, so that a
check can run a chapter's explorers without its training runs. Used by the Colab widget
test (tests/test_colab_widgets.py) and by `make bench` (bench/run.py, `slider_frame`).
"""

from __future__ import annotations

import ast
import re

from IPython.core.inputtransformer2 import TransformerManager

# A cell that makes sliders or other controls: d2l.explore, ipywidgets' interact family,
# or a slider built directly.
SLIDER_CELL = re.compile(r"\b(explore|interact|interactive|interactive_output)\(|Slider\(")


def slider_cells(nb) -> list[int]:
    """The code cells of `nb` that make sliders or other controls."""
    return [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and SLIDER_CELL.search(c.source)
    ]


def _base_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


class _Names(ast.NodeVisitor):
    """The names a cell reads, and those it binds or may change at its top level."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.bound: set[str] = set()
        self.modules: set[str] = set()
        self.called_on: set[str] = set()  # `x.method(...)` statements, which may change x
        self.depth = 0

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.used.add(node.id)
        elif self.depth == 0:
            self.bound.add(node.id)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            name = (alias.asname or alias.name).split(".")[0]
            self.bound.add(name)
            self.modules.add(name)

    visit_Import = visit_ImportFrom = _import

    def visit_Global(self, node: ast.Global) -> None:
        self.bound.update(node.names)

    def _scope(self, node: ast.AST) -> None:
        if self.depth == 0 and hasattr(node, "name"):
            self.bound.add(node.name)
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scope
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _scope

    def _changed(self, targets: list[ast.expr]) -> None:
        for target in targets:
            if self.depth == 0 and isinstance(target, (ast.Attribute, ast.Subscript)):
                self.bound.add(_base_name(target) or "")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._changed(node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._changed([node.target])
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if self.depth == 0 and isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            self.called_on.add(_base_name(call.func) or "")
        self.generic_visit(node)


def _body(source: str) -> str:
    """The Python a cell runs in the user namespace, for the name analysis.

    `%%capture` runs its body there (a chapter uses it to hide a training run's figure),
    so its assignments count; other magics go through IPython's transformer.
    """
    if source.startswith("%%capture"):
        source = source.split("\n", 1)[1] if "\n" in source else ""
    return TransformerManager().transform_cell(source)


def cells_to_run(nb) -> list[int]:
    """The slider cells and the code cells before them that they depend on, in order.

    Walks back from the last slider cell and keeps a cell when it binds or changes a name
    that a kept cell reads (an assignment, import or def; `x[...] = `, `x.a = `, or a
    statement `x.method(...)` on a name that is not a module). Cells that only plot or
    print what nothing later reads, and training runs the sliders do not use, are left
    out. If a cell does not parse, every code cell up to the last slider cell is kept.
    """
    targets = slider_cells(nb)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i <= targets[-1]]
    names = {}
    for i in code:
        names[i] = _Names()
        try:
            source = _body(nb.cells[i].source)
            names[i].visit(ast.parse(source))
        except SyntaxError:
            return code
    modules = set().union(*(n.modules for n in names.values()))
    needed: set[str] = set()
    keep = []
    for i in reversed(code):
        changes = names[i].bound | (names[i].called_on - modules)
        if i in targets or changes & needed:
            keep.append(i)
            needed |= names[i].used
    return keep[::-1]
