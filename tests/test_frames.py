"""d2lhelpers.frames: one call of an explorer's draw, as SVG pictures of a steady size."""

import re

import matplotlib.pyplot as plt
import pytest

from d2lhelpers.frames import Frames


def _view_box(svg: str) -> list[float]:
    return [float(v) for v in re.search(r'viewBox="([^"]*)"', svg).group(1).split()]


def _draw(label, far=False):
    fig, ax = plt.subplots(figsize=(3, 2), facecolor="#eeeeee")
    ax.plot([0, 1], [0, 1])
    ax.set_title(label)
    if far:
        ax.text(0, 400, "far away")  # data coordinates: hundreds of inches above the axes
    print(label)


def test_the_same_values_give_the_same_svg():
    frames = Frames(_draw)
    first, second = frames(label="a"), frames(label="a")
    assert first.pictures[0].cropped()[0] == second.pictures[0].cropped()[0]
    assert first.text == "a\n"


def test_the_box_only_grows_and_leaves_room_for_a_second_title_line():
    frames = Frames(_draw)
    one = frames(label="one line")
    _, _, width, height = _view_box(one.pictures[0].cropped()[0])
    two = frames(label="two\nlines")
    assert _view_box(two.pictures[0].cropped()[0])[2:] == [width, height]
    without_room = Frames(_draw, headroom=False)
    assert _view_box(without_room(label="one line").pictures[0].cropped()[0])[3] < height


def test_a_stray_text_far_away_does_not_make_the_picture_huge():
    picture = Frames(_draw)(label="x", far=True).pictures[0]
    _, _, width, height = _view_box(picture.cropped()[0])
    assert height <= (2 + 2) * 72 and width <= (3 + 2) * 72  # within an inch of the canvas


def test_outside_the_canvas_the_figure_keeps_its_colour():
    svg = Frames(_draw)(label="x").pictures[0].cropped()[0]
    assert re.search(r'<svg[^>]*>\s*<rect [^>]*fill="#eeeeee"/>', svg)


def test_plt_show_is_restored_even_when_draw_fails():
    show = plt.show

    def draw():
        plt.figure()
        plt.show()
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        Frames(draw)()
    assert plt.show is show and not plt.get_fignums()
