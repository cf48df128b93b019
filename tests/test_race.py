import math

import matplotlib.pyplot as plt
import pytest

import d2lhelpers as d2l

ROSENBROCK = d2l.problems.rosenbrock


def test_draw_race_draws_one_line_and_one_end_dot_per_run():
    _, ax = plt.subplots()
    runs = {"a": [(-1.5, 2.0), (-1.0, 1.5), (0.0, 0.5)], "b": [(-1.5, 2.0), (-1.4, 1.9)]}
    d2l.draw_race(ax, ROSENBROCK, runs)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["a"].get_xdata()) == [-1.5, -1.0, 0.0]
    assert list(lines["b"].get_ydata()) == [2.0, 1.9]
    end_dots = [line for line in ax.get_lines() if list(line.get_xdata()) in ([0.0], [-1.4])]
    assert len(end_dots) == 2
    plt.close("all")


def test_draw_race_stops_a_diverged_run_at_its_last_finite_point():
    _, ax = plt.subplots()
    d2l.draw_race(ax, ROSENBROCK, {"gd": [(-1.5, 2.0), (30.0, -40.0), (math.inf, math.nan)]})
    labels = [line.get_label() for line in ax.get_lines()]
    assert "gd (diverged)" in labels
    line = ax.get_lines()[labels.index("gd (diverged)")]
    assert list(line.get_xdata()) == [-1.5, 30.0]
    plt.close("all")


def test_draw_race_rejects_bad_input_with_a_message():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="trajectories is empty"):
        d2l.draw_race(ax, ROSENBROCK, {})
    with pytest.raises(ValueError, match="'a' is empty"):
        d2l.draw_race(ax, ROSENBROCK, {"a": []})
    with pytest.raises(TypeError, match="Problem2D"):
        d2l.draw_race(ax, lambda x1, x2: x1, {"a": [(0.0, 0.0)]})
    plt.close("all")


def test_animate_race_returns_a_player_with_every_frame():
    runs = {"a": [(-1.5, 2.0), (-1.0, 1.5), (0.0, 0.5)], "b": [(-1.5, 2.0)]}
    html = d2l.animate_race(ROSENBROCK, runs, frames=3)
    assert html.count("data:image/png;base64") == 3
    assert not plt.get_fignums()  # the figure is closed, so it is not shown twice


def test_animate_race_rejects_too_few_frames():
    with pytest.raises(ValueError, match="frames must be an integer >= 2"):
        d2l.animate_race(ROSENBROCK, {"a": [(0.0, 0.0)]}, frames=1)
