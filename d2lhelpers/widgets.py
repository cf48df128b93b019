"""Explorers: controls above a figure that redraws while a slider moves.

`d2l.explore(draw, lr=d2l.slider(...), ...)` shows the controls and the figure that
`draw(lr=...)` makes, and redraws it on every change of a control, while a slider is
being dragged too. Only ipywidgets' own widgets are used (sliders, lists, an `Image`
showing the figure as SVG, an `HTML` for printed text), so it works the same in
ipywidgets 7.7 (Colab) and 8 (JupyterLab, VS Code), with nothing to install or enable.

While a slider moves, the browser sends its value only when the kernel has finished the
previous message (ipywidgets' message throttle), and then only the latest one: redraws
never queue up behind a drag, and the figure follows at the rate `draw` allows. The
image keeps its size (see `frames`), so the page does not jump. A `draw` too slow to
follow a drag (one that runs an optimizer for hundreds of steps) is drawn ahead over its
sliders' values when the cell runs (`precompute`), with a progress bar. Run headless
(nbval, nbconvert), the cell draws once (and ahead, with `precompute`) and returns;
nothing waits for a browser. An error in `draw` fails the cell when it first runs, and
later shows its traceback below the figure.
"""

from __future__ import annotations

import html
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from IPython.display import display

from .frames import Frame, Frames

# Room for the longest description in the course and a track of 300 px or more.
SLIDER_LAYOUT = {"width": "100%", "max_width": "640px", "min_width": "480px"}
PIXELS_PER_POINT = 96 / 72  # CSS pixels: an SVG figure shows at the size the inline one has
LIST_ROWS = 12  # lists up to this long show every option, the selected ones included
CHARACTER_EM = 0.55  # the width of a label's character, about, in the widgets' font
MAX_KEPT = 600  # frames kept by an explorer that draws ahead (about 40 kB each)


def slider(
    value: float, min: float, max: float, step: float, description: str, readout_format: str = ".2f"
) -> widgets.FloatSlider:
    """A float slider that redraws while it moves: a long track, its value shown beside it.

    Arrow keys step it once it has the focus (click its handle).
    """
    return widgets.FloatSlider(
        value=value,
        min=min,
        max=max,
        step=step,
        description=description,
        readout_format=readout_format,
        continuous_update=True,
        style={"description_width": "initial"},
        layout=widgets.Layout(**SLIDER_LAYOUT),
    )


def _is_list(control: widgets.Widget) -> bool:
    return isinstance(control, widgets.Select | widgets.SelectMultiple)


def _grid_values(control: widgets.ValueWidget) -> list[Any]:
    """Every value a control can take: a slider's from min to max in its step, a list's options."""
    if isinstance(control, widgets.FloatSlider | widgets.IntSlider):
        count = round((control.max - control.min) / control.step) + 1
        kind = type(control.value)
        return [kind(round(control.min + i * control.step, 12)) for i in range(count)]
    if isinstance(control, widgets.Dropdown | widgets.Select | widgets.RadioButtons):
        return [o[1] if isinstance(o, tuple) else o for o in control.options]
    if isinstance(control, widgets.Checkbox | widgets.ToggleButton):
        return [False, True]
    raise TypeError(
        f"explore cannot draw ahead over a {type(control).__name__} "
        f"({control.description!r}): name sliders, dropdowns or checkboxes in `precompute`."
    )


def _key(control: widgets.ValueWidget, value: Any) -> Any:
    """What identifies a value: a slider's step number (a dragged value is not exact)."""
    if isinstance(control, widgets.FloatSlider | widgets.IntSlider):
        return round((value - control.min) / control.step)
    return tuple(value) if isinstance(value, list) else value


class _Explorer:
    """The controls, the figure, its printed text and errors, updated in place from frames.

    With `precompute`, frames are kept by the controls' values: those of every value of
    the named controls are drawn ahead, with a progress bar, when the cell runs and again
    when another control changes; moving a named control then only shows a kept frame.
    """

    def __init__(self, draw: Callable[..., Any], controls: dict, precompute: tuple[str, ...]):
        self.controls = controls
        self.swept = precompute
        self.frames = Frames(draw)
        self.kept: OrderedDict[tuple, Frame] = OrderedDict()
        self.images: list[widgets.Image] = []
        self.figures = widgets.VBox()
        self.text = widgets.HTML()
        self.outputs = widgets.Output()  # anything else draw displayed
        self.errors = widgets.Output()  # the traceback of a failed redraw
        self.progress = widgets.IntProgress(
            description="drawing ahead", style={"description_width": "initial"}
        )
        self.progress.layout.display = "none"
        self.failed = False
        self.lines = 0
        self.box = widgets.VBox([self.progress, self.figures, self.text, self.outputs, self.errors])

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def frame(self, values: dict[str, Any]) -> Frame:
        """The frame of `values`: a kept one, or drawn now (and kept, with `precompute`)."""
        if not self.swept:
            return self.frames(**values)
        key = tuple(_key(self.controls[n], v) for n, v in values.items())
        if key in self.kept:
            self.kept.move_to_end(key)
        else:
            self.kept[key] = self.frames(**values)
            while len(self.kept) > MAX_KEPT:
                self.kept.popitem(last=False)
        return self.kept[key]

    def draw_ahead(self) -> None:
        """Draw the frames of every value of the swept controls, the others as they are.

        The random generators and matplotlib's settings are restored afterwards, so the
        cells after this one compute what they would have computed without it.
        """
        grid = [_grid_values(self.controls[name]) for name in self.swept]
        todo = []
        for combination in itertools.product(*grid):
            values = self.values() | dict(zip(self.swept, combination))
            key = tuple(_key(self.controls[n], v) for n, v in values.items())
            if key not in self.kept:
                todo.append(values)
        if not todo:
            return
        self.progress.max, self.progress.value = len(todo), 0
        self.progress.layout.display = None
        states = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            with matplotlib.rc_context():
                for values in todo:
                    self.frame(values)
                    self.progress.value += 1
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
            self.progress.layout.display = "none"
        self.show(self.frame(self.values()))  # in the box that fits every frame drawn

    def show(self, frame: Frame) -> None:
        while len(self.images) < len(frame.pictures):
            self.images.append(widgets.Image(format="svg+xml"))
        for index, (image, picture) in enumerate(zip(self.images, frame.pictures)):
            svg, width, height = picture.cropped(self.frames.boxes[index])
            image.value = svg.encode()
            image.width = f"{width * PIXELS_PER_POINT:.0f}"
            image.height = f"{height * PIXELS_PER_POINT:.0f}"
        shown = tuple(self.images[: len(frame.pictures)])
        if self.figures.children != shown:
            self.figures.children = shown
        self.lines = max(self.lines, frame.text.count("\n"))  # the text never shrinks
        self.text.value = (
            f'<pre style="margin: 0; line-height: 1.3; min-height: {1.3 * self.lines}em">'
            f"{html.escape(frame.text)}</pre>"
            if self.lines
            else ""
        )
        if frame.outputs or self.outputs.outputs:
            self.outputs.outputs = tuple(frame.outputs)

    def changed(self, change: dict[str, Any]) -> None:
        """A control moved: show its frame; draw ahead again if it is not a swept one."""
        if self.failed:
            self.errors.clear_output()
        self.failed = True
        with self.errors:  # shows the traceback, as ipywidgets' interactive_output does
            self.show(self.frame(self.values()))
            if self.swept and change["owner"] not in [self.controls[n] for n in self.swept]:
                self.draw_ahead()
            self.failed = False


def _align(controls: Iterable[widgets.Widget]) -> None:
    """One label width for the sliders above the figure, so their tracks line up."""
    sliders = [c for c in controls if isinstance(c, widgets.FloatSlider | widgets.IntSlider)]
    if len(sliders) > 1 and all(s.style.description_width == "initial" for s in sliders):
        longest = max(len(s.description) for s in sliders)
        for s in sliders:
            s.style.description_width = f"{CHARACTER_EM * longest + 0.5:.1f}em"


def explore(
    draw: Callable[..., None],
    precompute: bool | Sequence[str] = False,
    **controls: widgets.ValueWidget,
) -> None:
    """Show `controls` above the figure `draw(**values)` makes; redraw whenever one moves.

    `draw` makes a matplotlib figure (and may print); it is called with each control's
    value under the control's keyword. Lists (`Select`, `SelectMultiple`) stand beside
    the figure, with every option in view when they have at most 12. Nothing is
    returned, so a call at the end of a cell shows the widget once; keep references to
    the controls to read or set them from code.

    `precompute` is for a `draw` too slow to follow a drag (one that trains or runs an
    optimizer for hundreds of steps): True, or the names of some controls. The frames of
    every value of those controls (True: every slider) are then drawn when the cell
    runs, with a progress bar, and again after another control changes; moving them
    only shows the frames drawn ahead. `draw` must then depend on the controls alone.
    """
    if precompute is True:
        swept = tuple(n for n, c in controls.items() if isinstance(c, widgets.FloatSlider))
    else:
        swept = tuple(precompute or ())
    unknown = [name for name in swept if name not in controls]
    if unknown:
        raise ValueError(f"precompute names {unknown}, which are not controls: {list(controls)}")
    size = math.prod(len(_grid_values(controls[name])) for name in swept)
    if size > MAX_KEPT:
        raise ValueError(
            f"precompute over {list(swept)} would draw {size} frames, more than {MAX_KEPT}: "
            "give the sliders a larger step, or precompute fewer controls."
        )
    explorer = _Explorer(draw, controls, swept)
    explorer.show(explorer.frame(explorer.values()))  # an error here fails the cell
    for control in controls.values():
        control.observe(explorer.changed, names="value")
        if _is_list(control) and control.rows < len(control.options) <= LIST_ROWS:
            control.rows = len(control.options)
    _align(controls.values())
    above = [c for c in controls.values() if not _is_list(c)]
    beside = [c for c in controls.values() if _is_list(c)]
    view = widgets.HBox([explorer.box, *beside]) if beside else explorer.box
    display(widgets.VBox([*above, view]))
    if swept:
        explorer.draw_ahead()
