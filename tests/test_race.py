import math
import re

import matplotlib.pyplot as plt
import pytest
from matplotlib import animation

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


QUADRATIC = d2l.problems.ill_conditioned
RUNS = {
    "a": [(-5.0, -2.0), (-4.0, -1.0), (-3.0, 0.0), (-2.0, 0.5), (-1.0, 0.2)],
    "b": [(-5.0, -2.0), (-4.5, -1.5), (-4.0, -1.0), (-3.5, -0.5), (-3.0, 0.0)],
    "c": [(-5.0, -2.0), (-5.0, -1.0), (-5.0, 0.0), (-5.0, 0.5), (-5.0, 0.2)],
}


def _paths(ax):
    """The labelled lines of a panel (the paths), by label."""
    return {
        line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")
    }


def test_draw_race_draws_each_run_in_the_style_it_is_given():
    _, ax = plt.subplots()
    styles = {"a": {"color": "#123456", "linestyle": "--", "linewidth": 3.0}}
    d2l.draw_race(ax, QUADRATIC, RUNS, styles=styles)
    a, b = _paths(ax)["a"], _paths(ax)["b"]
    assert (a.get_color(), a.get_linestyle(), a.get_linewidth()) == ("#123456", "--", 3.0)
    assert b.get_color() == "C1" and b.get_linestyle() == "-"  # the cycle, where none is given
    end_dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert end_dots[0].get_color() == "#123456"
    plt.close("all")


def test_animate_race_gives_each_group_its_own_panel_with_only_its_paths():
    groups = {"first": ["a", "b"], "second": ["c"]}
    fig, _ = d2l.race._race_figure([QUADRATIC, ROSENBROCK], [RUNS, RUNS], 5, groups, None, None)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 4  # two problems x two groups, one row per problem
    assert [sorted(_paths(ax)) for ax in panels] == [["a", "b"], ["c"], ["a", "b"], ["c"]]
    assert [legend.get_title().get_text() for legend in fig.legends] == ["first", "second"]
    plt.close(fig)


def test_animate_race_without_groups_draws_every_path_in_one_panel_per_problem():
    fig, _ = d2l.race._race_figure([QUADRATIC, ROSENBROCK], [RUNS, RUNS], 5, None, None, 2)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2 and all(sorted(_paths(ax)) == ["a", "b", "c"] for ax in panels)
    assert len(fig.legends) == 1
    plt.close(fig)


def test_animate_race_moves_every_run_in_lock_step():
    fig, update = d2l.race._race_figure([QUADRATIC], [RUNS], 5, None, None, None)
    (panel,) = fig.axes
    update(2)  # halfway: two of the four steps
    assert all(len(line.get_xdata()) == 3 for line in _paths(panel).values())
    assert fig._suptitle.get_text().startswith("step 2 of 4")
    update(4)
    assert all(len(line.get_xdata()) == 5 for line in _paths(panel).values())
    plt.close(fig)


def test_animate_race_legends_are_as_large_as_the_axis_labels():
    fig, _ = d2l.race._race_figure([QUADRATIC], [RUNS], 5, {"g": ["a", "b", "c"]}, None, None)
    label_size = fig.axes[0].xaxis.label.get_fontsize()
    (legend,) = fig.legends
    assert min(text.get_fontsize() for text in legend.get_texts()) >= label_size
    assert legend.get_title().get_fontsize() >= label_size
    plt.close(fig)


def test_animate_race_rejects_groups_naming_unknown_runs_and_unmatched_problems():
    with pytest.raises(ValueError, match=r"no trajectory: \['z'\]"):
        d2l.animate_race(QUADRATIC, RUNS, frames=3, groups={"g": ["a", "z"]})
    with pytest.raises(ValueError, match="2 problems and 1 trajectory dicts"):
        d2l.animate_race([QUADRATIC, ROSENBROCK], [RUNS], frames=3)
    assert not plt.get_fignums()


EXTERNAL = re.compile(r"(?:https?:)?//[\w-]+(?:\.[\w-]+)+")  # a URL on another host


def test_animate_race_player_loads_nothing_from_another_host():
    fig, update = d2l.race._race_figure([QUADRATIC], [RUNS], 3, None, None, None)
    raw = animation.FuncAnimation(fig, update, frames=3).to_jshtml()
    plt.close(fig)
    assert EXTERNAL.search(raw)  # matplotlib's own player links Font Awesome from a CDN
    html = d2l.animate_race(QUADRATIC, RUNS, frames=3)
    assert not EXTERNAL.search(html) and 'class="fa' not in html
    for title in ("Play", "Pause", "Next frame", "Previous frame", "First frame", "Last frame"):
        button = re.search(
            rf'<button title="{title}"[^>]*>\s*(<svg[^>]*><path d="[^"]+"/></svg>)', html
        )
        assert button, f"the {title!r} button has no inline icon"


def test_a_player_icon_we_do_not_draw_is_an_error_that_says_where_to_add_it():
    with pytest.raises(RuntimeError, match="fa-rocket.*_ICON_PATHS"):
        d2l.race._self_contained('<button title="Launch"><i class="fa fa-rocket"></i></button>')
