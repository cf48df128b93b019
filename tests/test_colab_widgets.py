"""Colab compatibility: every chapter's sliders work with ipywidgets 7.7.1 (Colab's version).

Colab ships ipywidgets 7.7.1 with matplotlib's inline backend and no ipympl, while the
venv has ipywidgets 8. This check installs ipywidgets 7.7.1 (and the packages Colab pairs
it with) into a throwaway folder, starts a kernel with that folder first on PYTHONPATH
(everything else, torch included, comes from the venv), and runs headless with nbclient
the slider cells of each chapter that has them, after the cells they depend on (see
`cells_to_run`; training runs the sliders do not use are left out). Then, in the same
kernel, it changes the value of every control (slider, dropdown, ...), which runs the
`d2l.explore` callbacks as a moved slider would, and checks that each callback redrew
its output area, with a figure and without an error. nbclient stands in for the
browser's output widgets, so the outputs the callbacks make are visible here.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient
from nbclient.output_widget import OutputWidget

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
COLAB_IPYWIDGETS = "7.7.1"
# What Colab installs beside ipywidgets 7.7.1; ipywidgets 7 imports ipython_genutils.
COLAB_PACKAGES = [
    f"ipywidgets=={COLAB_IPYWIDGETS}",
    "widgetsnbextension<4",
    "jupyterlab_widgets<2",
    "ipython_genutils==0.2.0",
]
# A cell that makes sliders or other controls: d2l.explore, ipywidgets' interact family,
# or a slider built directly.
SLIDER_CELL = re.compile(r"\b(explore|interact|interactive|interactive_output)\(|Slider\(")
CELL_TIMEOUT_S = 300
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in IPython's tracebacks


class RecordingOutputWidget(OutputWidget):
    """nbclient's stand-in for the browser's Output widget, without echoing its outputs back.

    nbclient would send them to the kernel on the shell channel while it waits there for
    the cell's reply, which can hang the run (jupyter/nbclient#312). The kernel never reads
    them; this test reads them from `client.widget_state`.
    """

    def send(self, data=None, metadata=None, buffers=None) -> None:
        pass


def _slider_cells(nb) -> list[int]:
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
    targets = _slider_cells(nb)
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


SLIDER_CHAPTERS = sorted(
    p for p in CHAPTERS.glob("*.ipynb") if _slider_cells(nbformat.read(p, as_version=4))
)


@pytest.fixture(scope="module")
def colab_site(tmp_path_factory) -> Path:
    """A throwaway folder holding ipywidgets 7.7.1, to put first on the kernel's PYTHONPATH."""
    target = tmp_path_factory.mktemp("colab-ipywidgets")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--target",
        str(target),
        *COLAB_PACKAGES,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"Could not install Colab's widget packages into {target} (needs PyPI):\n"
        f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    )
    return target


# Run in the kernel first: ipywidgets must be Colab's, from the throwaway folder.
VERSION_CHECK = f"""\
import ipywidgets
assert ipywidgets.__version__ == {COLAB_IPYWIDGETS!r}, (ipywidgets.__version__, ipywidgets.__file__)
print("ipywidgets", ipywidgets.__version__, "from", ipywidgets.__file__)
"""

# Run in the kernel after the chapter: list every control the chapter made, each with a
# change to a different valid value (moved sliders go halfway to their farther end;
# selections take the next option). ipywidgets 7 keeps live widgets in Widget.widgets,
# ipywidgets 8 in widget._instances.
FIND_CONTROLS = """\
import json as _json
import math as _math

import ipywidgets as _w


def _colab_check_change(c):
    if isinstance(c, _w.FloatLogSlider):
        exp = _math.log(c.value, c.base)
        far = c.min if exp - c.min > c.max - exp else c.max
        return "value", float(c.base ** ((exp + far) / 2))
    if isinstance(c, (_w.FloatSlider, _w.IntSlider)):
        far = c.min if c.value - c.min > c.max - c.value else c.max
        steps = round((far - c.value) / 2 / c.step) or (1 if far > c.value else -1)
        return "value", type(c.value)(round(c.value + steps * c.step, 12))
    if isinstance(c, _w.SelectMultiple):
        chosen = list(c.index)
        return "index", tuple(chosen[:-1] if len(chosen) > 1 else
                              sorted({*chosen, (chosen[0] + 1) % len(c.options) if chosen else 0}))
    if isinstance(c, (_w.Dropdown, _w.Select, _w.RadioButtons, _w.ToggleButtons)):
        return "index", (c.index + 1) % len(c.options)
    if isinstance(c, (_w.Checkbox, _w.ToggleButton)):
        return "value", not c.value
    return None


def _colab_check_move(i):
    control, (name, new) = _colab_check_controls[i]
    setattr(control, name, new)


_colab_check_registry = getattr(_w.Widget, "widgets", None)
if _colab_check_registry is None:
    from ipywidgets.widgets.widget import _instances as _colab_check_registry
_colab_check_controls = [
    (w, _colab_check_change(w)) for w in list(_colab_check_registry.values())
    if isinstance(w, _w.ValueWidget) and _colab_check_change(w) is not None
]
print(_json.dumps([{"description": c.description, "kind": type(c).__name__,
                    "change": f"{name} {getattr(c, name)!r} -> {new!r}"}
                   for c, (name, new) in _colab_check_controls]))
"""


def _output_widgets(client: NotebookClient) -> dict[str, list]:
    """The outputs nbclient's stand-in for the browser has routed into each Output widget."""
    # A deep copy: nbclient appends streamed text to the last output in place.
    return json.loads(
        json.dumps(
            {
                comm_id: state.get("outputs", [])
                for comm_id, state in client.widget_state.items()
                if state.get("_model_name") == "OutputModel"
            }
        )
    )


def _errors(outputs: list) -> list[str]:
    return [
        ANSI.sub("", f"{o.get('ename')}: {o.get('evalue')}\n" + "\n".join(o.get("traceback", [])))
        for o in outputs
        if o.get("output_type") == "error"
    ]


def _has_figure(outputs: list) -> bool:
    return any(k.startswith("image/") for o in outputs for k in o.get("data", {}))


def _text(outputs: list) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", SLIDER_CHAPTERS, ids=lambda p: p.stem)
def test_sliders_work_with_colab_ipywidgets(chapter: Path, colab_site: Path):
    nb = nbformat.read(chapter, as_version=4)
    kept = cells_to_run(nb)
    nb.cells = [nbformat.v4.new_code_cell(VERSION_CHECK)] + [
        nbformat.v4.new_code_cell(nb.cells[i].source) for i in kept
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(colab_site), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # Colab's; no ipympl
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(CHAPTERS)}},
    )
    client.widget_registry = {"@jupyter-widgets/output": {"OutputModel": RecordingOutputWidget}}

    def run(source: str) -> list:
        nb.cells.append(nbformat.v4.new_code_cell(source))
        return client.execute_cell(nb.cells[-1], len(nb.cells) - 1).outputs

    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError on an error
        print(_text(nb.cells[0].outputs).strip())
        print(f"{chapter.name}: ran cells {kept} (the slider cells and what they depend on)")
        first_draws = [e for v in _output_widgets(client).values() for e in _errors(v)]
        if first_draws:
            pytest.fail(f"{chapter.name}: a slider's first draw failed:\n" + "\n".join(first_draws))
        controls = json.loads(_text(run(FIND_CONTROLS)))
        assert controls, f"{chapter.name} has slider cells, but no control was found in the kernel"
        for i, control in enumerate(controls):
            before = _output_widgets(client)
            cell_outputs = run(f"_colab_check_move({i})")
            after = _output_widgets(client)
            changed = {k: v for k, v in after.items() if v != before.get(k)}
            what = (
                f"{chapter.name}: {control['kind']} {control['description']!r}, {control['change']}"
            )
            errors = _errors(cell_outputs) + [e for v in changed.values() for e in _errors(v)]
            if errors:
                pytest.fail(f"{what}: the callback failed:\n" + "\n".join(errors))
            assert changed, f"{what}: no output area was redrawn (was the callback called?)"
            if not any(_has_figure(v) for v in changed.values()):
                pytest.fail(f"{what}: the redrawn output has no figure: {list(changed.values())}")
            print(f"{what}: redrawn")


def test_cells_to_run_sees_the_names_a_capture_cell_binds():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%%capture\nresult = 41"),
        nbformat.v4.new_code_cell("unused = 0"),
        nbformat.v4.new_code_cell("d2l.explore(lambda lr: print(result + 1), lr=slider)"),
    ]
    assert cells_to_run(nb) == [0, 2]
