"""Colab compatibility: every chapter's sliders work with ipywidgets 7.7.1 (Colab's version).

Colab ships ipywidgets 7.7.1 with matplotlib's inline backend and no ipympl, while the
venv has ipywidgets 8. This check installs ipywidgets 7.7.1 (and the packages Colab pairs
it with) into a throwaway folder, starts a kernel with that folder first on PYTHONPATH
(everything else, torch included, comes from the venv), and runs headless with nbclient
the slider cells of each chapter that has them, after the cells they depend on (see
`cells_to_run` in tools/explorers.py; training runs the sliders do not use are left out).
Then, in the same kernel, it changes the value of every control (slider, dropdown, ...),
which runs the `d2l.explore` callbacks as a moved slider would, and checks that each
callback redrew the figure (the SVG of the explorer's image widget changed) without an
error. nbclient stands in for the browser's widget manager, so the state the callbacks
send (image bytes, output areas) is visible here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.output_widget import OutputWidget

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
try:
    from explorers import cells_to_run, slider_cells
finally:
    sys.path.remove(str(REPO / "tools"))

CHAPTERS = REPO / "chapters"
COLAB_IPYWIDGETS = "7.7.1"
# What Colab installs beside ipywidgets 7.7.1; ipywidgets 7 imports ipython_genutils.
COLAB_PACKAGES = [
    f"ipywidgets=={COLAB_IPYWIDGETS}",
    "widgetsnbextension<4",
    "jupyterlab_widgets<2",
    "ipython_genutils==0.2.0",
]
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


SLIDER_CHAPTERS = sorted(
    p for p in CHAPTERS.glob("*.ipynb") if slider_cells(nbformat.read(p, as_version=4))
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


def _figures(client: NotebookClient) -> dict[str, bytes]:
    """The bytes each image widget shows (the explorers' figures), by comm id."""
    return {
        comm_id: base64.b64decode(client.widget_buffers.get(comm_id, {})[("value",)]["data"])
        for comm_id, state in client.widget_state.items()
        if state.get("_model_name") == "ImageModel"
        and ("value",) in client.widget_buffers.get(comm_id, {})
    }


def _errors(outputs: list) -> list[str]:
    return [
        ANSI.sub("", f"{o.get('ename')}: {o.get('evalue')}\n" + "\n".join(o.get("traceback", [])))
        for o in outputs
        if o.get("output_type") == "error"
    ]


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
            before, figures_before = _output_widgets(client), _figures(client)
            cell_outputs = run(f"_colab_check_move({i})")
            after, figures = _output_widgets(client), _figures(client)
            changed = {k: v for k, v in after.items() if v != before.get(k)}
            redrawn = [f for k, f in figures.items() if f != figures_before.get(k)]
            what = (
                f"{chapter.name}: {control['kind']} {control['description']!r}, {control['change']}"
            )
            errors = _errors(cell_outputs) + [e for v in changed.values() for e in _errors(v)]
            if errors:
                pytest.fail(f"{what}: the callback failed:\n" + "\n".join(errors))
            assert redrawn, f"{what}: no figure was redrawn (was the callback called?)"
            assert all(b"<svg" in f for f in redrawn), f"{what}: a redrawn figure is not an SVG"
            print(f"{what}: redrawn")


def test_cells_to_run_sees_the_names_a_capture_cell_binds():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%%capture\nresult = 41"),
        nbformat.v4.new_code_cell("unused = 0"),
        nbformat.v4.new_code_cell("d2l.explore(lambda lr: print(result + 1), lr=slider)"),
    ]
    assert cells_to_run(nb) == [0, 2]
