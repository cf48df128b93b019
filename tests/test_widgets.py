"""d2l.slider and d2l.explore: the live explorer's widgets, frames and drawing ahead."""

import random

import ipywidgets
import matplotlib.pyplot as plt
import pytest
import torch

import d2lhelpers as d2l
from d2lhelpers import widgets as live


def _registry() -> dict:
    """Every live widget: ipywidgets 8 keeps them in `_instances`, 7 in `Widget.widgets`."""
    from ipywidgets.widgets import widget

    return getattr(widget, "_instances", None) or ipywidgets.Widget.widgets


def _images() -> list[ipywidgets.Image]:
    return [w for w in _registry().values() if isinstance(w, ipywidgets.Image)]


def _draw_line(lr, beta=0.5):
    """A small explorer's draw: a line, a title that wraps past lr 0.8, a printed line."""
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, lr, beta])
    ax.set_title(f"lr = {lr:.2f}" + ("\ndiverges" if lr > 0.8 else ""))
    print(f"lr {lr:.2f}, beta {beta:.2f}")


def test_a_slider_redraws_while_it_moves_with_a_long_track_and_its_value_shown():
    s = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    assert isinstance(s, ipywidgets.FloatSlider)
    assert s.value == 0.4 and s.description == "learning rate η"
    assert s.continuous_update is True and s.readout is True
    assert s.layout.min_width == "480px" and s.style.description_width == "initial"


def test_explore_draws_once_and_again_when_a_slider_moves():
    calls = []
    lr = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    beta = d2l.slider(0.5, 0.0, 0.99, 0.01, "momentum β")

    def draw(lr, beta):
        calls.append((lr, beta))
        _draw_line(lr, beta)

    result = d2l.explore(draw, lr=lr, beta=beta)
    assert calls == [(0.4, 0.5)]
    image = _images()[-1]
    first = bytes(image.value)
    assert image.format == "svg+xml" and first.startswith(b"<?xml") and b"<svg" in first
    lr.value = 0.6
    assert calls[-1] == (0.6, 0.5)
    assert bytes(image.value) != first
    assert result is None  # returning the box would show it twice at the end of a cell
    assert not plt.get_fignums(), "explore left figures open; the inline backend would show them"


def test_the_printed_text_is_shown_below_the_figure():
    lr = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    d2l.explore(_draw_line, lr=lr)
    texts = [w for w in _registry().values() if isinstance(w, ipywidgets.HTML)]
    assert "lr 0.40, beta 0.50" in texts[-1].value
    lr.value = 0.7
    assert "lr 0.70, beta 0.50" in texts[-1].value


def test_the_figure_keeps_its_size_when_its_title_wraps():
    lr = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    d2l.explore(_draw_line, lr=lr)
    image = _images()[-1]
    size = image.width, image.height
    lr.value = 0.9  # a second line of title
    assert (image.width, image.height) == size


def test_a_draw_that_calls_plt_show_is_shown_in_the_widget():
    def draw(lr):
        plt.plot([0, lr])
        plt.show()

    lr = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    d2l.explore(draw, lr=lr)
    assert b"<svg" in bytes(_images()[-1].value)


def test_an_error_in_the_first_draw_fails_the_cell():
    def draw(lr):
        raise RuntimeError("broken draw")

    with pytest.raises(RuntimeError, match="broken draw"):
        d2l.explore(draw, lr=d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η"))
    assert not plt.get_fignums()


def test_a_list_stands_beside_the_figure_with_every_option_in_view():
    names = ipywidgets.SelectMultiple(options=list("abcdefghijk"), value=("k",), rows=4)
    lr = d2l.slider(0.4, 0.01, 1.0, 0.01, "learning rate η")
    d2l.explore(lambda lr, names: _draw_line(lr), lr=lr, names=names)
    assert names.rows == 11
    box = [
        w for w in _registry().values() if isinstance(w, ipywidgets.HBox) and names in w.children
    ]
    assert box, "the list is not beside the figure"


def test_precompute_draws_every_slider_value_ahead_and_then_only_shows_them():
    calls = []

    def draw(lr, schedule):
        calls.append((lr, schedule))
        _draw_line(lr)

    lr = d2l.slider(0.2, 0.1, 0.5, 0.1, "learning rate η")
    schedule = ipywidgets.Dropdown(options=["constant", "decay"], value="constant")
    d2l.explore(draw, precompute=True, lr=lr, schedule=schedule)
    assert sorted(calls) == [(v, "constant") for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
    image = _images()[-1]
    before, count = bytes(image.value), len(calls)
    lr.value = 0.4
    assert len(calls) == count and bytes(image.value) != before  # a frame drawn ahead
    schedule.value = "decay"  # not precomputed: its frame now, then the slider's again
    assert len(calls) == count + 5
    assert {c for c in calls[count:]} == {(v, "decay") for v in (0.1, 0.2, 0.3, 0.4, 0.5)}
    schedule.value = "constant"
    assert len(calls) == count + 5  # every frame was kept


def test_drawing_ahead_leaves_the_random_generators_as_one_draw_leaves_them():
    def draw(lr):
        torch.rand(3)
        random.random()
        _draw_line(lr)

    def states_after(**options):
        torch.manual_seed(0)
        random.seed(0)
        d2l.explore(draw, lr=d2l.slider(0.2, 0.1, 0.5, 0.1, "learning rate η"), **options)
        return torch.rand(1).item(), random.random()

    assert states_after(precompute=True) == states_after()


def test_precompute_names_controls_and_refuses_too_many_frames():
    lr = d2l.slider(0.2, 0.1, 0.5, 0.1, "learning rate η")
    with pytest.raises(ValueError, match=r"\['beta'\], which are not controls"):
        d2l.explore(_draw_line, precompute=["beta"], lr=lr)
    fine = d2l.slider(0.5, 0.0, 1.0, 0.0001, "fine")
    with pytest.raises(ValueError, match="10001 frames, more than 600"):
        d2l.explore(lambda fine: None, precompute=True, fine=fine)


def test_a_slider_key_ignores_the_rounding_of_a_dragged_value():
    s = d2l.slider(0.3, 0.05, 1.2, 0.05, "learning rate η")
    assert live._key(s, 0.35000000000000003) == live._key(s, 0.35) == 6
