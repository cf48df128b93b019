"""Frames: the picture an explorer's `draw` function makes for one setting of its controls.

`Frames(draw)(**values)` calls `draw(**values)` and returns a `Frame`: every figure
`draw` made, as an SVG document, and the text it printed. The live widget
(`d2l.explore`) shows one frame after another while a slider moves; the book build
(tools/book_explore.py) renders one frame per point of the sliders' grid and lets the
page switch between them. Both go through this class, so the book shows what the
notebook draws.

A frame keeps its size. Each figure is cropped to a box around what it drew, as the
inline backend's `bbox_inches="tight"` does, with room above for one more line of title,
and the box only grows: a title that wraps when a run diverges, or a tick label that
widens, does not move the plot. The SVG is rendered once, for the whole canvas, and
cropped by its `viewBox`, so a box that grows costs no second rendering.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from IPython.utils.capture import capture_output
from matplotlib.colors import to_hex
from matplotlib.text import Text
from matplotlib.transforms import Bbox

# Fixed ids (hashsalt) make two renderings of the same picture byte-identical, so the
# book can store what frames share once; glyphs as paths look the same everywhere.
SVG_STYLE = {"svg.hashsalt": "d2l-explore", "svg.fonttype": "path"}
POINTS_PER_INCH = 72
_ROOT = re.compile(r'<svg\b[^>]*?\bwidth="[^"]*"[^>]*>')
_SIZE = re.compile(r'\b(width|height)="[^"]*"|\bviewBox="[^"]*"')


@dataclass
class Picture:
    """One figure: the SVG of its whole canvas and the box to show, in inches."""

    svg: str
    box: Bbox
    canvas_height: float
    background: str

    def cropped(self, box: Bbox | None = None) -> tuple[str, float, float]:
        """The SVG showing `box` (default: its own); returns (svg, width, height), in points."""
        return crop(self.svg, box or self.box, self.canvas_height, self.background)


@dataclass
class Frame:
    """What one call of `draw` showed: its figures, the text it printed, other outputs."""

    pictures: list[Picture] = field(default_factory=list)
    text: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)


def content_box(fig) -> Bbox:
    """Where `fig` drew, in inches: its axes and every visible text, padded like savefig.

    Cheaper than `fig.get_tightbbox()` (which lays out the ticks again) and enough for a
    crop: lines and markers are clipped to their axes. Kept within an inch of the canvas,
    so a stray text far away cannot make the picture huge.
    """
    renderer = fig.canvas.get_renderer()  # Agg's: the inline backend, Agg, ipympl
    boxes = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    boxes += [
        t.get_window_extent(renderer)
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text() and t.get_figure(root=True) is fig
    ]
    width, height = fig.get_size_inches()
    if not boxes:
        return Bbox.from_bounds(0, 0, width, height)
    box = Bbox.union(boxes).transformed(fig.dpi_scale_trans.inverted())
    pad = matplotlib.rcParams["savefig.pad_inches"]
    pad = 0.1 if pad == "layout" else float(pad)
    x0, y0, x1, y1 = box.padded(pad).extents
    return Bbox([[max(x0, -1), max(y0, -1)], [min(x1, width + 1), min(y1, height + 1)]])


def title_room(fig) -> float:
    """Inches for one more line of the largest title of `fig` (0 when it has none).

    Titles: the axes' titles and the figure's own texts (a suptitle is one of them).
    """
    titles = [ax.title for ax in fig.axes] + list(fig.texts)
    sizes = [t.get_fontsize() for t in titles if t.get_visible() and t.get_text()]
    return 1.2 * max(sizes) / POINTS_PER_INCH if sizes else 0.0


def to_svg(fig) -> str:
    """The whole canvas of `fig` as an SVG document, with the same ids on every call."""
    buffer = io.StringIO()
    with matplotlib.rc_context(SVG_STYLE):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def crop(svg: str, box: Bbox, canvas_height: float, background: str) -> tuple[str, float, float]:
    """Show only `box` (inches, from the canvas's lower left) of `svg`; returns (svg, w, h).

    Only the root element's size and `viewBox` change, and a rectangle in the figure's
    colour fills what lies outside the canvas. Sizes are in points.
    """
    x = box.x0 * POINTS_PER_INCH
    y = (canvas_height - box.y1) * POINTS_PER_INCH
    w, h = box.width * POINTS_PER_INCH, box.height * POINTS_PER_INCH
    values = {"width": f'width="{w:.2f}pt"', "height": f'height="{h:.2f}pt"'}
    view = f'viewBox="{x:.2f} {y:.2f} {w:.2f} {h:.2f}"'
    match = _ROOT.search(svg)
    if match is None:
        raise ValueError("matplotlib wrote an SVG without a sized root element; cannot crop it")
    root = _SIZE.sub(lambda m: values.get(m.group(1), view), match.group(0))
    fill = f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="{background}"/>'
    return svg[: match.start()] + root + "\n " + fill + svg[match.end() :], w, h


@contextlib.contextmanager
def _without_show() -> Iterator[None]:
    """`plt.show()` does nothing: in a notebook it would hand the figure to the inline
    backend, which shows it in the cell and closes it; here the frame shows it."""
    show = plt.show
    plt.show = lambda *args, **kwargs: None
    try:
        yield
    finally:
        plt.show = show


class Frames:
    """Call `draw(**values)` and return its `Frame`, every figure cropped to a steady box.

    `self.boxes` holds the box of each figure, the union of all it has drawn so far.
    `headroom=True` leaves room above the first box for one more line of title (the live
    widget, which cannot know what comes next); the book passes False and crops every
    frame, once all are drawn, to the final `self.boxes`.
    """

    def __init__(self, draw: Callable[..., Any], headroom: bool = True) -> None:
        self.draw = draw
        self.headroom = headroom
        self.boxes: list[Bbox] = []  # per figure, in the order draw made them

    def _box(self, index: int, fig) -> Bbox:
        box = content_box(fig)
        if index == len(self.boxes):
            if self.headroom:
                box = Bbox([box.p0, [box.x1, box.y1 + title_room(fig)]])
            self.boxes.append(box)
        else:
            self.boxes[index] = Bbox.union([self.boxes[index], box])
        return self.boxes[index]

    def __call__(self, **values: Any) -> Frame:
        before = set(plt.get_fignums())
        try:
            with capture_output() as captured, plt.ioff(), _without_show():
                self.draw(**values)
            figures = [plt.figure(n) for n in plt.get_fignums() if n not in before]
            frame = Frame(text=captured.stdout + captured.stderr)
            frame.outputs = [
                {"output_type": "display_data", "data": o.data, "metadata": o.metadata}
                for o in captured.outputs
            ]
            for index, fig in enumerate(figures):
                svg = to_svg(fig)
                box = self._box(index, fig)
                height = float(fig.get_size_inches()[1])
                frame.pictures.append(Picture(svg, box, height, to_hex(fig.get_facecolor())))
            return frame
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
