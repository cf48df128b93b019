"""tools/book_explore.py: the book's explorers, drawn over a grid and packed into the page."""

from __future__ import annotations

import base64
import gzip
import json
import re
import sys
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
import pytest
import torch
from IPython.utils.capture import capture_output

import d2lhelpers as d2l
from d2lhelpers.frames import Frames

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
try:
    import book_explore
finally:
    sys.path.remove(str(REPO / "tools"))


@pytest.fixture(autouse=True)
def live_explore_afterwards(monkeypatch):
    """`book_explore.install` replaces `d2l.explore` for the process: put the live one back."""
    monkeypatch.setattr(d2l, "explore", d2l.explore)
    monkeypatch.setattr(d2l.widgets, "explore", d2l.widgets.explore)


def _values(axis) -> list:
    return [round(v, 6) for v in axis.values]


def test_a_small_grid_keeps_every_value():
    lr = d2l.slider(0.1, 0.01, 0.6, 0.01, "learning rate η")
    schedule = ipywidgets.Dropdown(options=["constant", "decay"], value="decay")
    axes = book_explore._grid({"lr": lr, "schedule": schedule}, 500)
    assert len(axes[0].values) == 60 and axes[1].values == ["constant", "decay"]
    assert axes[1].default == 1


def test_a_large_grid_thins_its_sliders_in_steps_counted_from_the_default():
    lr = d2l.slider(0.3, 0.01, 1.5, 0.01, "learning rate η")
    beta1 = d2l.slider(0.9, 0.0, 0.99, 0.01, "β1")
    beta2 = d2l.slider(0.999, 0.9, 0.999, 0.001, "β2", readout_format=".3f")
    axes = book_explore._grid({"lr": lr, "beta1": beta1, "beta2": beta2}, 500)
    sizes = [len(a.values) for a in axes]
    assert 100 < sizes[0] * sizes[1] * sizes[2] <= 500 and min(sizes) >= 5
    for axis, control in zip(axes, (lr, beta1, beta2)):
        values = _values(axis)
        assert values[0] == control.min and values[-1] == control.max
        assert round(control.value, 6) in values
        inner = [b - a for a, b in zip(values[1:-2], values[2:-1])]
        assert max(inner) - min(inner) < 1e-6, f"uneven steps inside {values}"


def test_a_list_that_selects_several_items_keeps_its_selection():
    names = ipywidgets.SelectMultiple(options=["a", "b", "c"], value=("a", "c"))
    (axis,) = book_explore._grid({"names": names}, 500)
    assert axis.kind == "fixed" and axis.values == [("a", "c")]


def test_the_pool_stores_each_line_once_and_runs_rebuild_the_text():
    pool = book_explore._Pool()
    first = pool.runs(["a", "b", "c", "d"])
    second = pool.runs(["a", "b", "x", "d"])
    assert first == [0, 4] and second == [0, 2, 4, 1, 3, 1]
    assert pool.items == ["a", "b", "c", "d", "x"]


def _page(draw, **controls) -> str:
    """The HTML that book_explore.explore shows (display() needs IPython; this test has none)."""
    shown = []
    original, book_explore.display = book_explore.display, shown.append
    try:
        with capture_output():
            book_explore.explore(draw, **controls)
    finally:
        book_explore.display = original
    (output,) = shown
    return output.data


def _unpack(page: str) -> dict:
    blob = re.search(r'class="d2l-explore-data">([^<]*)</script>', page).group(1)
    return json.loads(gzip.decompress(base64.b64decode(blob)))


def _svg(data: dict, runs: list[int]) -> str:
    """A figure of a frame, rebuilt as book/_static/d2l-book.js rebuilds it."""
    lines = []
    for start, length in zip(runs[::2], runs[1::2]):
        lines += data["lines"][start : start + length]
    return "\n".join(lines)


def _draw(lr, schedule):
    torch.rand(1)  # a draw that uses the global generator
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, lr, 2 * lr if schedule == "constant" else lr / 2])
    ax.set_title(f"{schedule}, lr = {lr:.2f}" + ("\ndiverges" if lr > 0.5 else ""))
    print(f"{schedule} {lr:.2f}")


def test_the_page_holds_every_frame_as_the_chapter_draws_it():
    lr = d2l.slider(0.2, 0.1, 0.6, 0.1, "learning rate η")
    schedule = ipywidgets.Dropdown(options=["constant", "decay"], value="decay")
    book_explore.install(max_frames=500)
    page = _page(_draw, lr=lr, schedule=schedule)
    data = _unpack(page)
    assert data["sizes"] == [6, 2] and len(data["frames"]) == 12
    assert data["readouts"][0] == ["0.10", "0.20", "0.30", "0.40", "0.50", "0.60"]
    frames = Frames(_draw, headroom=False)
    drawn = [
        frames(lr=v, schedule=s)
        for v in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
        for s in ("constant", "decay")
    ]
    for (figures, text), frame in zip(data["frames"], drawn):
        (runs,) = figures
        svg = frame.pictures[0].cropped(frames.boxes[0])[0]
        assert _svg(data, runs).splitlines() == svg.splitlines()
        assert data["texts"][text] == frame.text
    sizes = {re.search(r'viewBox="([^"]*)"', _svg(data, f[0][0])).group(1) for f in data["frames"]}
    assert len(sizes) == 1, f"the frames have different boxes: {sizes}"
    default = re.search(r'<div class="d2l-explore" data-frame="(\d+)"', page).group(1)
    assert default == "3"  # lr 0.2 (the second value) with "decay" (the second option)
    assert '<input type="range" min="0" max="5" step="1" value="1"' in page
    assert '<option value="1" selected>decay</option>' in page
    assert "decay 0.20" in page  # the default frame's text, shown before the script runs


def test_the_grid_leaves_the_random_generators_as_the_live_widget_leaves_them():
    def after(explore) -> float:
        torch.manual_seed(0)
        lr = d2l.slider(0.2, 0.1, 0.6, 0.1, "learning rate η")
        schedule = ipywidgets.Dropdown(options=["constant", "decay"], value="decay")
        explore(_draw, lr=lr, schedule=schedule)
        return torch.rand(1).item()

    assert after(lambda draw, **controls: _page(draw, **controls)) == after(d2l.explore)


def test_the_book_accepts_an_explorer_that_draws_ahead():
    lr = d2l.slider(0.2, 0.1, 0.6, 0.1, "learning rate η")
    schedule = ipywidgets.Dropdown(options=["constant", "decay"], value="decay")
    page = _page(_draw, precompute=["lr"], lr=lr, schedule=schedule)
    assert _unpack(page)["sizes"] == [6, 2]


@pytest.mark.parametrize("budget", [48, 500])
def test_a_list_of_several_items_is_shown_disabled_with_a_note(budget):
    book_explore.install(max_frames=budget)
    names = ipywidgets.SelectMultiple(options=["a", "b", "c"], value=("a", "c"), description="who")
    lr = d2l.slider(0.2, 0.1, 0.6, 0.1, "learning rate η")
    page = _page(lambda names, lr: _draw(lr, "constant"), names=names, lr=lr)
    assert re.search(r"<select multiple disabled[^>]*><option selected>a</option>", page)
    assert "choose others in JupyterLab or Colab" in page
    assert _unpack(page)["sizes"][0] == 1
