import math
import subprocess
import sys
import textwrap

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import d2lhelpers as d2l


def test_plot_cycles_formats_beyond_four_series():
    plt.figure()
    axes = d2l.plot(
        np.arange(5),
        [np.arange(5) * k for k in range(6)],
        "x",
        "y",
        legend=[f"s{k}" for k in range(6)],
    )
    assert len(axes.get_lines()) == 6
    assert axes.get_xlabel() == "x" and len(axes.get_legend().get_texts()) == 6
    plt.close("all")


def test_plot_accepts_tensors_that_require_grad():
    plt.figure()
    x = torch.linspace(0, 1, 5, requires_grad=True)
    axes = d2l.plot(x, [x * 2])
    assert np.allclose(axes.get_lines()[0].get_ydata(), np.linspace(0, 2, 5))
    plt.close("all")


def test_show_trace_draws_curve_and_iterates():
    plt.figure()
    axes = d2l.show_trace([10.0, 6.0, 3.6], lambda x: x**2)
    curve, trace = axes.get_lines()
    assert list(trace.get_xdata()) == [10.0, 6.0, 3.6]
    assert trace.get_ydata()[0] == 100.0
    plt.close("all")


def test_show_trace_2d_plots_a_diverged_run(capsys):
    plt.figure()
    results = [(-5.0, -2.0), (10.0, 4.0), (math.inf, 8.0), (math.nan, math.nan)]
    ax = d2l.show_trace_2d(lambda x1, x2: x1**2 + x2**2, results)
    assert list(ax.get_lines()[0].get_xdata()) == [-5.0, 10.0]
    assert "diverged" in ax.get_title()
    assert "The run diverged" in capsys.readouterr().out
    plt.close("all")


def test_show_trace_2d_keeps_the_view_readable_when_a_run_escapes():
    plt.figure()
    results = [(-5.0, -2.0), (-4.0, 3.0), (-3.0, -1673.0)]
    ax = d2l.show_trace_2d(lambda x1, x2: x1**2 + x2**2, results)
    assert ax.get_xlim() == (-5.5, 1.0)
    assert ax.get_ylim() == (-7.0, 3.0)  # grown to the points, by at most one box height
    assert "diverging" in ax.get_title()
    plt.close("all")


def test_show_trace_2d_grows_the_view_to_a_nearby_trajectory():
    plt.figure()
    ax = d2l.show_trace_2d(lambda x1, x2: x1**2 + x2**2, [(-5.0, -2.0), (1.5, 0.5)])
    assert ax.get_xlim() == (-5.5, 1.5) and ax.get_title() == ""
    plt.close("all")


def _levels_in_view(ax):
    """The contour levels drawn on `ax` that lie below the largest value of f in its view."""
    (contours,) = [c for c in ax.collections if hasattr(c, "levels")]
    return contours


def test_show_trace_2d_redraws_the_contours_for_limits_set_afterwards():
    f = d2l.problems.ill_conditioned.f
    escaping = [(-5.0, -2.0), (-4.0, 2.8), (-3.5, -30.0)]
    plt.figure()
    ax = d2l.show_trace_2d(f, escaping, ylim=(-3.0, 3.0))
    assert ax.get_ylim() == (-9.0, 3.0)
    ax.set_ylim(-3.0, 3.0)  # back to the box, as a chapter does to keep panels comparable
    contours = _levels_in_view(ax)
    top = float(f(-5.5, 3.0))  # the largest value of f in the box
    assert sum(level < top for level in contours.levels) >= 6
    assert len([c for c in ax.collections if hasattr(c, "levels")]) == 1  # the old set is gone
    plt.close("all")


def test_show_trace_2d_redraws_a_panel_whose_shared_axis_grows():
    f = d2l.problems.quadratic.f
    fig, axes = plt.subplots(1, 2, sharey=True)
    d2l.show_trace_2d(f, [(-5.0, -2.0), (-1.0, -0.5)], ax=axes[0])
    d2l.show_trace_2d(f, [(-5.0, -2.0), (-1.0, 4.0)], ax=axes[1])
    vertices = np.concatenate([p.vertices for p in _levels_in_view(axes[0]).get_paths()])
    assert axes[0].get_ylim() == (-3.0, 4.0) and vertices[:, 1].max() > 3.0
    plt.close(fig)


def test_show_run_marks_the_final_point_and_the_minimum_with_a_legend():
    problem = d2l.problems.quadratic
    plt.figure()
    results = [(-5.0, -2.0), (-3.0, -1.0), (-1.0, -0.2)]
    ax = d2l.show_run(problem.f, results, "gd", minimum=problem.minimum)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["iterates", "final point", "minimum"]
    final, minimum = ax.lines[-2], ax.lines[-1]
    assert (final.get_xdata()[0], final.get_ydata()[0]) == (-1.0, -0.2)
    assert (minimum.get_xdata()[0], minimum.get_ydata()[0]) == (0.0, 0.0)
    assert ax.get_title() == "gd"
    plt.close("all")


def test_show_run_keeps_the_divergence_note_under_its_title(capsys):
    plt.figure()
    results = [(-5.0, -2.0), (1.0, 40.0), (math.inf, math.nan)]
    ax = d2l.show_run(d2l.problems.quadratic.f, results, "too large", labels=("a", "b"))
    assert ax.get_title().splitlines() == ["too large", "diverged: inf/NaN at step 2"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert "The run diverged" in capsys.readouterr().out
    plt.close("all")


def test_animator_records_series_and_skips_none():
    animator = d2l.Animator(legend=["a", "b"])
    animator.add(1, (0.5, None))
    animator.add([2, 2], [0.25, 0.75])
    animator.show()
    assert animator.X == [[1.0, 2.0], [2.0]] and animator.Y == [[0.5, 0.25], [0.75]]
    line_a, line_b = animator.axes[0].get_lines()
    assert list(line_a.get_ydata()) == [0.5, 0.25] and list(line_b.get_xdata()) == [2.0]


def test_animator_in_a_script_prints_nothing():
    code = textwrap.dedent("""
        import d2lhelpers as d2l
        a = d2l.Animator(xlabel="epoch", legend=["loss"])
        for i in range(50):
            a.add(i, i * 0.1)
        a.show()
        print("done", len(a.Y[0]))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done 50\n"
    assert "Figure" not in result.stderr


def test_animator_in_a_kernel_keeps_one_final_figure():
    cell = textwrap.dedent("""
        import d2lhelpers as d2l
        a = d2l.Animator(xlabel="step", ylabel="value", legend=["a", "b"])
        for i in range(2000):
            a.add(i, (i, None if i % 2 else -i))
        print("points", len(a.X[0]), len(a.X[1]))
    """)
    nb = new_notebook(cells=[new_code_cell(cell), new_code_cell("print(a._pending)")])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    figures = [o for o in outputs if o.output_type == "display_data"]
    texts = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert len(figures) == 1 and "image/svg+xml" in figures[0].data
    assert texts == "points 2000 1000\n" and "<Figure" not in texts
    assert nb.cells[1].outputs[0].text == "False\n"  # flushed when the cell finished
    assert nbformat.validate(nb) is None


def test_animator_rescales_an_open_axis():
    animator = d2l.Animator(xlabel="epoch", xlim=[0, 10], legend=["loss"])
    animator.add(1, 2.5)
    animator.add(2, 4.0)
    animator.show()
    ax = animator.axes[0]
    assert ax.get_xlim() == (0.0, 10.0)
    assert ax.get_ylim()[1] >= 4.0


def test_animator_accepts_zero_dimensional_tensors_and_arrays():
    animator = d2l.Animator(legend=["loss"])
    animator.add(torch.tensor(1), torch.tensor(0.5))
    animator.add(np.float64(2.0), np.array(0.25))
    assert animator.X == [[1.0, 2.0]] and animator.Y == [[0.5, 0.25]]


def test_animator_refuses_more_series_than_its_first_call_set_up():
    animator = d2l.Animator()
    animator.add(1, (0.5, 0.6))
    with pytest.raises(ValueError, match="got 3 y values, but this animator draws 2 series"):
        animator.add(2, (0.1, 0.2, 0.3))
    animator.add(3, (0.7,))  # fewer values leave the other series without a point
    assert animator.Y == [[0.5, 0.7], [0.6]]


def test_animator_refuses_x_values_that_do_not_match_the_y_values():
    animator = d2l.Animator()
    with pytest.raises(ValueError, match="got 3 x values for 2 y values"):
        animator.add([1, 2, 3], (0.5, 0.6))


def _airfoil_sgd(lr, batch_size, num_epochs=1):
    def sgd(params, states, hyperparams):
        for p in params:
            with torch.no_grad():
                p -= hyperparams["lr"] * p.grad
            p.grad.zero_()

    torch.manual_seed(0)
    X = torch.randn(1500, 5)
    data_iter = d2l.load_array((X, X.sum(dim=1)), batch_size)
    return d2l.train_ch11(
        sgd, None, {"lr": lr}, data_iter, 5, num_epochs, plot=False, verbose=False
    )


def test_show_losses_draws_each_loss_at_the_epoch_train_ch11_measured_it():
    runs = {"batch 10": _airfoil_sgd(0.05, 10), "batch 7": _airfoil_sgd(0.05, 7, 2)}
    ax = d2l.show_losses(runs, minimum=0.24)
    ten, seven = ax.get_lines()[:2]
    assert list(ten.get_xdata()) == [k * 200 / 1500 for k in range(1, 8)]
    # 7 does not divide 1,500 (each epoch ends with a batch of 2): the loss is evaluated
    # where 200 divides the examples seen, at 1,400, 2,200 and 3,000 of them.
    assert list(seven.get_xdata()) == pytest.approx([1400 / 1500, 2200 / 1500, 2.0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["batch 10", "batch 7", "least-squares minimum 0.2400"]
    assert ax.get_xscale() == "log"
    plt.close("all")


def test_show_losses_refuses_no_runs_and_curves_that_do_not_say_where_they_were_measured():
    with pytest.raises(ValueError, match="runs is empty"):
        d2l.show_losses({})
    with pytest.raises(TypeError, match="the run 'a' is a tuple; pass what d2l.train_ch11"):
        d2l.show_losses({"a": ([0.1], [0.3])})
    plt.close("all")


def test_a_string_legend_is_one_name_and_empty_formats_or_data_are_errors():
    ax = d2l.plot([1.0, 2.0, 3.0], legend="loss")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["loss"]
    animator = d2l.Animator(legend="loss")
    assert animator.legend == ["loss"]
    with pytest.raises(ValueError, match="fmts is empty"):
        d2l.Animator(fmts=[])
    with pytest.raises(ValueError, match="fmts is empty"):
        d2l.plot([1.0, 2.0], fmts=[])
    with pytest.raises(ValueError, match="plot\\(\\) got no data"):
        d2l.plot([])
    plt.close("all")


def _contour_sets(ax):
    return [c for c in ax.collections if hasattr(c, "levels")]


def test_draw_contours_draws_only_contour_lines_in_the_box_it_is_given():
    _, ax = plt.subplots()
    d2l.draw_contours(ax, d2l.problems.ill_conditioned.f, xlim=(-5.5, 1.5), ylim=(-3.0, 3.0))
    assert ax.get_xlim() == (-5.5, 1.5) and ax.get_ylim() == (-3.0, 3.0)
    assert ax.get_lines() == [] and len(_contour_sets(ax)) == 1  # no trajectory to remove
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    plt.close("all")


def test_draw_contours_of_a_problem_use_its_box_and_mark_its_start_and_minimum():
    problem = d2l.problems.rosenbrock
    _, ax = plt.subplots()
    d2l.draw_contours(ax, problem)
    assert ax.get_xlim() == problem.xlim and ax.get_ylim() == problem.ylim
    marks = {(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines()}
    assert marks == {problem.start, problem.minimum}
    plt.close("all")


def test_draw_contours_log_levels_show_the_floor_of_a_valley():
    problem = d2l.problems.rosenbrock
    _, (linear, log) = plt.subplots(1, 2)
    d2l.draw_contours(linear, problem)
    d2l.draw_contours(log, problem, log=True)
    low = [sum(level < 10 for level in _contour_sets(ax)[0].levels) for ax in (linear, log)]
    assert low[0] <= 1 and low[1] >= 4  # linear levels skip the valley; log levels show it
    ratios = np.diff(np.log(_contour_sets(log)[0].levels))
    assert np.allclose(ratios, ratios[0])
    plt.close("all")


def test_draw_contours_log_levels_fall_back_to_linear_where_f_is_negative():
    _, ax = plt.subplots()
    d2l.draw_contours(ax, d2l.problems.saddle, levels=10, log=True)
    levels = _contour_sets(ax)[0].levels
    assert (
        len(levels) == 10
        and levels.min() < 0
        and np.allclose(np.diff(levels), levels[1] - levels[0])
    )
    plt.close("all")
