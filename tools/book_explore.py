"""The book build's `d2l.explore`: every explorer live in the page, without a kernel.

While tools/build_book.py executes a chapter for the book, it replaces
`d2lhelpers.explore` with `explore` below (in that kernel only; the notebook itself is
unchanged). For each explorer it calls the chapter's own `draw` at every point of a grid
over the controls, through `d2lhelpers.frames.Frames`, the code path of the live widget,
and writes one HTML output: the controls as HTML inputs, the figure at the default
values, and every frame as data that book/_static/d2l-book.js shows as the controls
move. Nothing is computed in the page and nothing comes from another host.

- **The grid.** A slider takes its values from min to max in its step, thinned to every
  2nd, 5th, 10th, ... value counted from its default (its min and max kept) until the
  grid holds at most `max_frames` frames; a dropdown takes every option, a checkbox both
  values. A list that selects several items keeps its default selection, shown but
  disabled.
- **The size.** Frames share most of their SVG (axes, ticks, contour lines). Each frame
  is stored as runs of lines from one pool of distinct lines, and the whole is gzipped
  and base64-encoded; the page inflates it with the browser's `DecompressionStream`.
  Every frame is cropped to the same box, the union of all, so the figure never moves.
- **Reproducibility.** The grid is drawn first, then the random generators and
  matplotlib's settings are restored and the default frame is drawn last, as the live
  widget draws it when the cell runs: every later cell computes what it computes in a
  learner's run.
"""

from __future__ import annotations

import base64
import gzip
import html
import itertools
import json
import math
import random
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from IPython.display import HTML, display

import d2lhelpers
from d2lhelpers.frames import Frame, Frames

NICE_STRIDES = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
_settings: dict[str, Any] = {"max_frames": 500}


def install(max_frames: int = 500) -> None:
    """Replace `d2lhelpers.explore` in this kernel; `max_frames` bounds each explorer's grid."""
    _settings.update(max_frames=max_frames)
    d2lhelpers.explore = explore
    d2lhelpers.widgets.explore = explore


def _label(control: Any, name: str) -> str:
    return getattr(control, "description", "") or name


def _shown(control: Any, value: Any) -> str:
    """A value as the control's readout shows it."""
    if isinstance(value, float) and getattr(control, "readout_format", None):
        return format(value, control.readout_format)
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


class _Axis:
    """One control's values on the grid: all it can take, and the thinned ones."""

    def __init__(self, name: str, control: Any) -> None:
        self.name, self.control, self.stride = name, control, 1
        self.names: list[str] | None = None  # what a list shows for each value
        if isinstance(control, widgets.FloatSlider | widgets.IntSlider):
            count = round((control.max - control.min) / control.step) + 1
            digits = max(0, -math.floor(math.log10(control.step)) + 3)
            kind = float if isinstance(control, widgets.FloatSlider) else int
            self.all = [kind(round(control.min + i * control.step, digits)) for i in range(count)]
            self.default = min(range(count), key=lambda i: abs(self.all[i] - control.value))
            self.all[self.default] = control.value
            self.kind = "range"
        elif isinstance(control, widgets.Dropdown | widgets.Select | widgets.RadioButtons):
            self.all, self.default, self.kind = list(control.options), control.index, "select"
            self.all = [o[1] if isinstance(o, tuple) else o for o in self.all]
            self.names = [str(o[0] if isinstance(o, tuple) else o) for o in control.options]
        elif isinstance(control, widgets.Checkbox | widgets.ToggleButton):
            self.all, self.default, self.kind = [False, True], int(control.value), "check"
        else:  # several selected items, or a control the page cannot offer: its default only
            self.all, self.default, self.kind = [control.value], 0, "fixed"

    def shown(self, value: Any) -> str:
        """`value` as the control shows it."""
        if self.names is not None:
            return self.names[self.all.index(value)]
        return _shown(self.control, value)

    @property
    def values(self) -> list[Any]:
        """Every `stride`-th value counted from the default, and the first and the last."""
        keep = set(range(self.default % self.stride, len(self.all), self.stride))
        return [self.all[i] for i in sorted(keep | {0, len(self.all) - 1})]

    def coarser(self) -> bool:
        """Take the next nice stride; False when this control cannot thin any more."""
        if self.kind != "range" or len(self.values) <= 2:
            return False
        self.stride = next((s for s in NICE_STRIDES if s > self.stride), self.stride * 2)
        return True


def _grid(controls: dict[str, Any], max_frames: int) -> list[_Axis]:
    """The controls' axes, sliders thinned (the one with most values first) to fit."""
    axes = [_Axis(name, control) for name, control in controls.items()]
    while math.prod(len(a.values) for a in axes) > max_frames:
        if not any(a.coarser() for a in sorted(axes, key=lambda a: -len(a.values))):
            break  # no slider thins any further: the grid stays larger
    return axes


class _Pool:
    """Distinct strings, each stored once; a sequence of them as runs of pool indices."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, item: str) -> int:
        if item not in self.index:
            self.index[item] = len(self.items)
            self.items.append(item)
        return self.index[item]

    def runs(self, items: list[str]) -> list[int]:
        """[start, length, start, length, ...]: consecutive pool indices run together."""
        flat: list[int] = []
        for i in (self.add(item) for item in items):
            if flat and flat[-2] + flat[-1] == i:
                flat[-1] += 1
            else:
                flat += [i, 1]
        return flat


def _pack(frames: list[Frame], boxes: list[Any]) -> dict[str, Any]:
    """The frames as runs of pooled lines, each figure cropped to its final box."""
    lines, texts = _Pool(), _Pool()
    packed = []
    for frame in frames:
        svgs = [p.cropped(boxes[i])[0] for i, p in enumerate(frame.pictures)]
        packed.append([[lines.runs(svg.splitlines()) for svg in svgs], texts.add(frame.text)])
    return {"lines": lines.items, "texts": texts.items, "frames": packed}


def _controls_html(axes: list[_Axis]) -> str:
    parts = []
    for axis in axes:
        label = html.escape(_label(axis.control, axis.name))
        values = axis.values
        start = values.index(axis.all[axis.default])
        shown = html.escape(axis.shown(values[start]))
        if axis.kind == "range":
            parts.append(
                f'<label class="d2l-explore-control"><span>{label}</span>'
                f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="{start}" '
                f'aria-label="{label}"><output>{shown}</output></label>'
            )
        elif axis.kind in ("select", "check"):
            options = "".join(
                f'<option value="{i}"{" selected" if i == start else ""}>'
                f"{html.escape(axis.shown(v))}</option>"
                for i, v in enumerate(values)
            )
            parts.append(
                f'<label class="d2l-explore-control"><span>{label}</span>'
                f'<select aria-label="{label}">{options}</select></label>'
            )
        else:
            options = getattr(axis.control, "options", ())
            chosen = set(axis.control.value) if isinstance(axis.control.value, tuple) else set()
            items = "".join(
                f"<option{' selected' if o in chosen else ''}>{html.escape(str(o))}</option>"
                for o in options
            )
            parts.append(
                f'<label class="d2l-explore-control d2l-explore-fixed"><span>{label}</span>'
                f'<select multiple disabled size="{max(2, min(len(options), 12))}">{items}</select>'
                f"<small>{html.escape(shown)}: the book shows this selection; choose others "
                "in JupyterLab or Colab</small></label>"
            )
    return "".join(parts)


def _page(axes: list[_Axis], frames: list[Frame], boxes: list[Any], default: int) -> str:
    data = _pack(frames, boxes)
    data["sizes"] = [len(a.values) for a in axes]
    data["readouts"] = [[a.shown(v) for v in a.values] for a in axes]
    blob = base64.b64encode(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), 9))
    pictures = []
    for i, picture in enumerate(frames[default].pictures):
        svg, width, height = picture.cropped(boxes[i])
        uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
        pictures.append(
            f'<img class="d2l-explore-figure" width="{width * 4 / 3:.0f}" '
            f'height="{height * 4 / 3:.0f}" alt="the figure at the values shown above" src="{uri}">'
        )
    text = html.escape(frames[default].text)
    lines = max(f.text.count("\n") for f in frames)
    return (
        f'<div class="d2l-explore" data-frame="{default}">'
        f'<div class="d2l-explore-controls">{_controls_html(axes)}</div>'
        f'<div class="d2l-explore-figures">{"".join(pictures)}</div>'
        f'<pre class="d2l-explore-text" style="min-height: {1.3 * lines}em">{text}</pre>'
        f'<script type="application/octet-stream" class="d2l-explore-data">{blob.decode()}'
        "</script></div>"
    )


def explore(draw: Callable[..., None], precompute: Any = False, **controls: Any) -> None:
    """Draw `draw` over the grid of `controls` and show it as a live explorer in the page.

    `precompute` (the live widget's drawing ahead) changes nothing here: the book draws
    every frame ahead.
    """
    axes = _grid(controls, _settings["max_frames"])
    grid = list(itertools.product(*(a.values for a in axes)))
    defaults = tuple(a.all[a.default] for a in axes)
    default = grid.index(defaults)
    frames_of = Frames(draw, headroom=False)
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    frames: list[Frame | None] = []
    with matplotlib.rc_context():
        for i, values in enumerate(grid):
            if i == default:
                frames.append(None)  # drawn last, below, exactly as the learner's run draws it
                continue
            frames.append(frames_of(**dict(zip(controls, values))))
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])
    frames[default] = frames_of(**dict(zip(controls, defaults)))
    display(HTML(_page(axes, frames, frames_of.boxes, default)))
