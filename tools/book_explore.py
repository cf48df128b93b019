"""The book build's stand-in for `d2l.explore`, installed in each chapter's kernel.

A static page has no kernel, so the sliders of `d2l.explore` could only show as a
broken widget. While `tools/build_book.py` executes a chapter for the book, it
replaces `d2lhelpers.explore` with `explore` below (in that kernel only; the notebook
itself is unchanged). It draws the figure once at the controls' default values, as
the live widget does when the cell runs, and shows a note that the sliders work in
JupyterLab or Colab. For the cells chosen by `install(frames_label=...)` it also draws
one frame per value of the slider whose description starts with that label (the
other controls at their defaults) and shows them behind an HTML slider that the
book's `d2l-book.js` drives, so a reader can still move that slider.

The frames are drawn before the default figure, with the random generators and
matplotlib's settings restored afterwards, so every later cell computes exactly what
it computes in a learner's run.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import random
from collections.abc import Callable
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, display
from IPython.utils.capture import capture_output

import d2lhelpers

_settings: dict[str, Any] = {"frames_label": None, "max_frames": 24, "chapter": ""}


def install(chapter: str, frames_label: str | None = None, max_frames: int = 24) -> None:
    """Replace `d2lhelpers.explore` in this kernel; `frames_label` picks the slider to sweep."""
    _settings.update(chapter=chapter, frames_label=frames_label, max_frames=max_frames)
    d2lhelpers.explore = explore
    d2lhelpers.widgets.explore = explore


def _shown(control: Any) -> str:
    """A control's value as its readout shows it."""
    value = control.value
    if isinstance(value, float) and getattr(control, "readout_format", None):
        return format(value, control.readout_format)
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _label(control: Any, name: str) -> str:
    return getattr(control, "description", "") or name


def _note(controls: dict[str, Any], swept: str | None) -> str:
    values = "; ".join(
        f"{html.escape(_label(c, k))} = {html.escape(_shown(c))}" for k, c in controls.items()
    )
    moved = (
        f" Below, the slider <em>{html.escape(_label(controls[swept], swept))}</em> moves "
        "through frames drawn when the book was built; the other controls stay at their "
        "defaults."
        if swept
        else " The figure below is drawn at the controls' default values."
    )
    return (
        '<div class="admonition note d2l-book-sliders">'
        '<p class="admonition-title">Sliders need a live kernel</p>'
        f"<p>In JupyterLab or Colab this cell shows controls ({values}) that redraw the "
        f"figure when you move them.{moved} To move them all: run <code>make lab</code> and "
        f"open <code>{html.escape(_settings['chapter'])}</code>, or open the notebook in "
        "Colab and run its first code cell.</p></div>"
    )


def _sweep_values(control: Any) -> list[float]:
    """The slider's values, at most max_frames of them, always including its default."""
    count = round((control.max - control.min) / control.step) + 1
    stride = max(1, math.ceil(count / _settings["max_frames"]))
    digits = max(0, -math.floor(math.log10(control.step)) + 2)
    values = {round(control.min + i * control.step, digits) for i in range(0, count, stride)}
    values.add(round(control.value, digits))
    return sorted(values)


def _render(draw: Callable[..., None], values: dict[str, Any]) -> tuple[str, str]:
    """Run `draw(**values)`; return its figure as a data URI and what it printed."""
    before = set(plt.get_fignums())
    with capture_output() as captured:
        draw(**values)
    image = ""
    for number in plt.get_fignums():
        if number not in before:
            buffer = io.BytesIO()
            plt.figure(number).savefig(buffer, format="png", bbox_inches="tight")
            plt.close(number)
            image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    for output in captured.outputs:  # figures that draw showed itself (plt.show())
        if "image/png" in output.data:
            image = "data:image/png;base64," + output.data["image/png"]
        elif "image/svg+xml" in output.data:
            svg = output.data["image/svg+xml"].encode()
            image = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    return image, captured.stdout


def _frames(draw: Callable[..., None], controls: dict[str, Any], name: str) -> str:
    """An HTML slider over frames of `draw`, one per value of control `name`."""
    control, defaults = controls[name], {k: c.value for k, c in controls.items()}
    values = _sweep_values(control)
    start = min(range(len(values)), key=lambda i: abs(values[i] - control.value))
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    frames: list[dict[str, str] | None] = []
    with matplotlib.rc_context():
        for i, value in enumerate(values):
            if i == start:
                frames.append(None)  # drawn last, below, exactly as the learner's run draws it
                continue
            image, text = _render(draw, {**defaults, name: value})
            frames.append({"value": format(value, control.readout_format), "image": image})
            frames[-1]["text"] = text
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])
    image, text = _render(draw, defaults)
    frames[start] = {"value": _shown(control), "image": image, "text": text}
    label = html.escape(_label(control, name))
    data = json.dumps(frames).replace("</", "<\\/")
    return (
        f'<div class="d2l-frames"><label class="d2l-frames-control">{label} '
        f'<input type="range" min="0" max="{len(frames) - 1}" step="1" value="{start}" '
        f'aria-label="{label}"> <output>{html.escape(frames[start]["value"])}</output></label>'
        f'<img class="d2l-frames-image" alt="the figure at {label} = '
        f'{html.escape(frames[start]["value"])}" src="{image}">'
        f'<pre class="d2l-frames-text">{html.escape(text)}</pre>'
        f'<script type="application/json" class="d2l-frames-data">{data}</script></div>'
    )


def explore(draw: Callable[..., None], **controls: Any) -> None:
    """Draw once at the controls' defaults, with a note; frames for the chosen slider."""
    label = _settings["frames_label"]
    swept = None
    if label:
        swept = next(
            (
                k
                for k, c in controls.items()
                if _label(c, k).startswith(label) and isinstance(c.value, float)
            ),
            None,
        )
        _settings["frames_label"] = None  # one explorer per chapter gets frames
    display(HTML(_note(controls, swept)))
    if swept is None:
        draw(**{k: c.value for k, c in controls.items()})
    else:
        display(HTML(_frames(draw, controls, swept)))
