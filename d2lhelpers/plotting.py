"""Plotting: d2l's figure helpers and an `Animator` that updates one figure in place.

The functions keep d2l's names and signatures. Differences worth knowing:

- `plot` cycles through `fmts` instead of silently dropping every series after the
  fourth, and accepts tensors that require grad.
- `show_trace_2d` plots the finite part of a diverged trajectory and says it diverged,
  instead of crashing on inf or NaN, and redraws its contour lines when the view changes
  (`draw_contours`, ours, draws them, and the contours of the 2-D races).
- `show_run` (ours, not d2l's) draws a 2-D run with its final point, a legend and a
  title, and `show_losses` compares the loss curves of several `train_ch11` runs on
  one axis: the run-and-plot figures of the chapters, written once.
- `Animator` draws into one figure through one display handle and redraws at most
  every two seconds; d2l's clears the output and re-plots every point on every `add()`,
  so 2,000 points take minutes and the output flickers.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import numpy as np
import torch

from .problems import Problem2D

_FMTS = ("-", "m--", "g-.", "r:")


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, VS Code, nbval, nbconvert)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    try:
        from ipykernel.zmqshell import ZMQInteractiveShell
    except ImportError:
        return False
    return isinstance(shell, ZMQInteractiveShell)


def use_svg_display() -> None:
    """Use the svg format to display plots in Jupyter (a no-op outside a notebook)."""
    if not _in_notebook():
        return
    from matplotlib_inline import backend_inline

    backend_inline.set_matplotlib_formats("svg")


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set the default figure size for matplotlib."""
    use_svg_display()
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend) -> None:
    """Set the labels, limits, scales and legend of matplotlib axes."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(_names(legend))
    axes.grid(True)


def _names(legend) -> list[str]:
    """A legend as a list of names: a string is one name, not one name per letter."""
    return [legend] if isinstance(legend, str) else list(legend)


def _formats(fmts) -> list[str]:
    """The line formats to cycle through; at least one is needed."""
    fmts = [fmts] if isinstance(fmts, str) else list(fmts)
    if not fmts:
        raise ValueError('fmts is empty: give at least one line format, e.g. fmts=["-"].')
    return fmts


def _to_numpy(x):
    """Turn a tensor (possibly on a GPU, possibly requiring grad) or a sequence into numpy."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], torch.Tensor):
        return np.array([float(v) for v in x])
    return np.asarray(x)


def plot(
    X,
    Y=None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    legend: Sequence[str] | None = None,
    xlim=None,
    ylim=None,
    xscale: str = "linear",
    yscale: str = "linear",
    fmts: Sequence[str] = _FMTS,
    figsize: tuple[float, float] = (3.5, 2.5),
    axes=None,
):
    """Plot one or several series of data points.

    `X` and `Y` are each a series or a list of series; with `Y` omitted, `X` holds the
    y-values and the x-values are the indices. Returns the axes.
    """

    def has_one_axis(x) -> bool:
        return (hasattr(x, "ndim") and x.ndim == 1) or (
            isinstance(x, list) and not hasattr(x[0], "__len__")
        )

    if len(X) == 0 or (Y is not None and len(Y) == 0):
        raise ValueError("plot() got no data: pass at least one series of values.")
    fmts = _formats(fmts)
    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    set_figsize(figsize)
    if axes is None:
        axes = plt.gca()
    axes.cla()
    for i, (x, y) in enumerate(zip(X, Y)):
        fmt = fmts[i % len(fmts)]
        if len(x):
            axes.plot(_to_numpy(x), _to_numpy(y), fmt)
        else:
            axes.plot(_to_numpy(y), fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    return axes


def _evaluate(f: Callable, xs: torch.Tensor) -> torch.Tensor:
    """Evaluate `f` on a 1-D tensor, vectorised when `f` allows it."""
    try:
        ys = f(xs)
        if isinstance(ys, torch.Tensor) and ys.shape == xs.shape:
            return ys
    except (TypeError, RuntimeError, ValueError):
        pass
    return torch.tensor([float(f(x)) for x in xs])


def show_trace(results: Sequence[float], f: Callable):
    """Plot a 1-D trajectory `results` of gradient descent over the curve of `f`."""
    xs = np.array([float(x) for x in results])
    finite = xs[np.isfinite(xs)]
    n = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-3)
    f_line = torch.arange(-n, n, n / 500)
    set_figsize()
    trace = torch.tensor(finite, dtype=torch.float32)
    return plot(
        [f_line, trace],
        [_evaluate(f, f_line), _evaluate(f, trace)],
        "x",
        "f(x)",
        fmts=["-", "-o"],
    )


def _view(lo: float, hi: float, points: np.ndarray) -> tuple[float, float, bool]:
    """Widen the box [lo, hi] to the points, by at most one box width per side.

    Returns the view and whether some point lies beyond it.
    """
    width = hi - lo
    if points.size == 0:
        return lo, hi, False
    view_lo = max(min(lo, points.min()), lo - width)
    view_hi = min(max(hi, points.max()), hi + width)
    return view_lo, view_hi, bool(points.min() < view_lo or points.max() > view_hi)


def _contour_lines(f: Callable, ax, levels: int, log: bool, color: str, antialiased: bool):
    """One set of contour lines of `f` on a 160 x 160 grid over the current view of `ax`."""
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    x1, x2 = torch.meshgrid(
        torch.linspace(x_lo, x_hi, 160, dtype=torch.float64),
        torch.linspace(y_lo, y_hi, 160, dtype=torch.float64),
        indexing="ij",
    )
    z = _to_numpy(f(x1, x2))
    lines = levels
    if log and z.min() < 0:  # log levels need f > 0: linear ones over the whole range
        lines = np.linspace(z.min(), z.max(), levels)
    elif log:
        lines = np.geomspace(max(z.min(), 1e-3), z.max(), levels)
    return ax.contour(
        x1.numpy(),
        x2.numpy(),
        z,
        levels=lines,
        colors=color,
        linewidths=0.8,
        antialiased=antialiased,
        zorder=1,
    )


def draw_contours(
    ax,
    f: Callable | Problem2D,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    levels: int = 12,
    log: bool = False,
    color: str = "#1f77b4",
    antialiased: bool = True,
) -> None:
    """Draw the contour lines of `f(x1, x2)` over the view of `ax`, now and whenever it changes.

    `xlim` and `ylim`, if given, set the view first. `f` may be a `d2l.problems.Problem2D`:
    then its box is the default view, and its start (square) and minimum (star) are marked.
    `levels` lines, spaced linearly (matplotlib's round values); `log=True` spaces them
    logarithmically, so the floor of a valley shows, as long as `f` stays positive in the
    view (else linearly over its range, as on a saddle). `antialiased=False` draws faster,
    for the many frames of an animation.

    The lines are redrawn when the limits change (`set_xlim` after the call, or a panel
    sharing its axis with a wider one), so the final view always has a full set of
    contours, not the few lowest levels of a view that was wider when they were drawn.
    """
    problem = f if isinstance(f, Problem2D) else None
    if problem is not None:
        f, xlim, ylim = problem.f, xlim or problem.xlim, ylim or problem.ylim
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    state = {"contours": None, "busy": False}

    def redraw(_ax=None) -> None:
        if state["busy"]:
            return
        state["busy"] = True
        try:
            if state["contours"] is not None:
                state["contours"].remove()
            state["contours"] = _contour_lines(f, ax, levels, log, color, antialiased)
        finally:
            state["busy"] = False

    redraw()
    ax.callbacks.connect("xlim_changed", redraw)
    ax.callbacks.connect("ylim_changed", redraw)
    if problem is not None:
        if problem.minimum is not None:
            ax.plot(*problem.minimum, "*", color="#444444", markersize=11, zorder=3)
        ax.plot(*problem.start, "s", color="#444444", markersize=5, zorder=3)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


def show_trace_2d(
    f: Callable,
    results: Sequence[tuple[float, float]],
    xlim: tuple[float, float] = (-5.5, 1.0),
    ylim: tuple[float, float] = (-3.0, 1.0),
    ax=None,
):
    """Plot a 2-D trajectory `results` over the contour lines of `f(x1, x2)`.

    `xlim` and `ylim` give the box to draw (d2l's fixed box by default); the view
    grows to follow a trajectory that leaves it, by at most one box width per side,
    so the contours stay readable. A trajectory that runs further is marked as
    diverging, and one that reached inf or NaN is plotted up to its last finite point
    with a printed note; d2l's raises an error or squashes the contours instead. The
    contour lines follow the view: set other limits afterwards and they are redrawn.
    """
    pts = np.array([(float(a), float(b)) for a, b in results], dtype=float).reshape(-1, 2)
    finite = np.isfinite(pts).all(axis=1)
    first_bad = int(np.argmin(finite)) if not finite.all() else len(pts)
    shown = pts[:first_bad]
    x_lo, x_hi, x_out = _view(*xlim, shown[:, 0])
    y_lo, y_hi, y_out = _view(*ylim, shown[:, 1])
    if ax is None:
        set_figsize()
        ax = plt.gca()
    ax.plot(shown[:, 0], shown[:, 1], "-o", color="#ff7f0e", markersize=3, linewidth=1.2, zorder=2)
    draw_contours(ax, f, (x_lo, x_hi), (y_lo, y_hi))
    if first_bad < len(pts):
        ax.set_title(f"diverged: inf/NaN at step {first_bad}", color="#d62728", fontsize=9)
        print(
            f"The run diverged: the iterate became inf or NaN at step {first_bad}; "
            f"plotting the {first_bad} finite points. Try a smaller learning rate."
        )
    elif x_out or y_out:
        ax.set_title("diverging: the trajectory leaves the plot", color="#d62728", fontsize=9)
    return ax


def show_run(
    f: Callable,
    results: Sequence[tuple[float, float]],
    title: str | None = None,
    xlim: tuple[float, float] = (-5.5, 1.0),
    ylim: tuple[float, float] = (-3.0, 1.0),
    ax=None,
    minimum: tuple[float, float] | None = None,
    labels: Sequence[str] = ("iterates", "final point"),
):
    """Draw a 2-D run like `show_trace_2d`, mark its final point, add a legend and a title.

    `minimum`, if given (e.g. `problem.minimum`), is marked with a black star. A title is
    kept beside `show_trace_2d`'s note on a diverging run, and both turn red then.
    `labels` names the trajectory and the final point in the legend. Returns the axes.
    """
    ax = show_trace_2d(f, results, xlim=xlim, ylim=ylim, ax=ax)
    handles, names = [ax.lines[-1]], [labels[0]]
    finite = [(float(a), float(b)) for a, b in results if math.isfinite(a) and math.isfinite(b)]
    if finite:
        (star,) = ax.plot(*finite[-1], "*", color="#d62728", markersize=11, zorder=4)
        handles.append(star)
        names.append(labels[1])
    if minimum is not None:
        (best,) = ax.plot(*minimum, "k*", markersize=8, zorder=3)
        handles.append(best)
        names.append("minimum")
    ax.legend(handles=handles, labels=names, loc="lower right", fontsize=8)
    note = ax.get_title()  # show_trace_2d's note when the run diverges
    if title:
        ax.set_title(
            f"{title}\n{note}" if note else title,
            fontsize=10 if not note else 9,
            color="#d62728" if note else "black",
        )
    return ax


def _is_scalar(v) -> bool:
    """True for a number, None, or a 0-d tensor or array: one value, not a sequence."""
    return not hasattr(v, "__len__") or getattr(v, "ndim", None) == 0


def _epochs_and_losses(label: str, run) -> tuple[list[float], list[float]]:
    """Where and what a `train_ch11` run measured: its `history`'s `epoch` and `loss`."""
    history = getattr(run, "history", run)
    if not (isinstance(history, Mapping) and "epoch" in history and "loss" in history):
        raise TypeError(
            f"show_losses: the run {label!r} is a {type(run).__name__}; pass what "
            "d2l.train_ch11 or d2l.train_concise_ch11 returned, which records the epoch of "
            "each loss (or a dict with lists 'epoch' and 'loss')."
        )
    return list(history["epoch"]), list(history["loss"])


def show_losses(
    runs: Mapping[str, object],
    minimum: float | None = None,
    xscale: str = "log",
    title: str | None = None,
    ax=None,
    fmts: Sequence[str] = ("-", "--", "-.", ":", "-"),
):
    """Compare the loss curves of several `train_ch11` runs on one axis, against epochs.

    `runs` maps a label to what `train_ch11` or `train_concise_ch11` returned; each loss
    is drawn at the epoch where it was measured. `minimum`, if given, is drawn as a dotted
    line: the lowest loss the model can reach, so the gap above it is what the optimizer
    leaves. The epoch axis is logarithmic by default, so the early steps, where the curves
    differ most, take as much room as the long flat end. The legend sits beside the axes,
    where it hides no curve. Returns the axes.
    """
    if not runs:
        raise ValueError("runs is empty: pass a dict {label: what train_ch11 returned}.")
    curves = {label: _epochs_and_losses(label, run) for label, run in runs.items()}
    if ax is None:
        use_svg_display()
        _, ax = plt.subplots(figsize=(6, 2.6))
    for i, (label, (epochs, losses)) in enumerate(curves.items()):
        ax.plot(epochs, losses, fmts[i % len(fmts)], label=label, linewidth=1.5)
    if minimum is not None:
        ax.axhline(
            minimum,
            color="black",
            linestyle=(0, (2, 2)),
            linewidth=1,
            label=f"least-squares minimum {minimum:.4f}",
        )
    ax.set_xscale(xscale)
    if xscale == "log":  # ticks at 0.1, 0.2, 0.5, 1, 2, 5, ... written as plain numbers
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("epoch" + (" (log scale)" if xscale == "log" else ""))
    ax.set_ylabel("loss")
    ax.grid(True, which="major")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return ax


class Animator:
    """Plot data in animation: `add(x, y)` appends points and the figure updates in place.

    One figure, shown through one display handle. A redraw happens at most every
    `min_interval` seconds, counted from the figure's creation (longer when drawing
    is slow, so plotting costs no more than about a tenth of the time), and pending
    points are always drawn when the notebook cell finishes or `show()` is called,
    so the final state is on screen and a loop shorter than `min_interval` draws once.
    In a plain Python script nothing is displayed; `animator.fig` holds the figure.
    Under nbval and nbconvert the cell keeps one figure output, the final one.
    """

    min_interval = 2.0

    def __init__(
        self,
        xlabel: str | None = None,
        ylabel: str | None = None,
        legend: Sequence[str] | None = None,
        xlim=None,
        ylim=None,
        xscale: str = "linear",
        yscale: str = "linear",
        fmts: Sequence[str] = _FMTS,
        nrows: int = 1,
        ncols: int = 1,
        figsize: tuple[float, float] = (3.5, 2.5),
    ) -> None:
        use_svg_display()
        self.fig, axes = plt.subplots(nrows, ncols, figsize=figsize)
        plt.close(self.fig)  # shown through our display handle, not by the inline backend
        self.axes = [axes] if nrows * ncols == 1 else list(np.ravel(axes))
        self.legend = _names(legend) if legend else []
        self.fmts = _formats(fmts)
        self.X: list[list[float]] | None = None
        self.Y: list[list[float]] | None = None
        self._lines: list = []
        self._handle = None
        self._pending = False
        self._next_draw = time.perf_counter() + self.min_interval
        set_axes(self.axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale, None)
        # set_xlim(None) / set_ylim(None) switch autoscaling off; keep it on for an open axis
        self.axes[0].set_autoscalex_on(xlim is None)
        self.axes[0].set_autoscaley_on(ylim is None)
        self._autoscale = xlim is None or ylim is None

    def add(self, x, y) -> None:
        """Add one point to each series: `y` is a number or a sequence (`None` skips).

        A number may be a 0-d tensor or array. The first call fixes the number of
        series; a later `y` with more values than that is a `ValueError` (d2l's raises
        an `IndexError`), and `x`, when a sequence, must match `y` in length.
        """
        if _is_scalar(y):
            y = [y]
        n = len(y)
        if _is_scalar(x):
            x = [x] * n
        elif len(x) != n:
            raise ValueError(
                f"Animator.add() got {len(x)} x values for {n} y values; pass one x, or one "
                "per y value."
            )
        if self.X is not None and n > len(self.X):
            raise ValueError(
                f"Animator.add() got {n} y values, but this animator draws {len(self.X)} "
                f"series (fixed by its first add()). Pass at most {len(self.X)} values, "
                "with None where a series has no point, or make a new Animator."
            )
        if self.X is None:
            self.X = [[] for _ in range(n)]
            self.Y = [[] for _ in range(n)]
            ax = self.axes[0]
            for i in range(n):
                label = self.legend[i] if i < len(self.legend) else None
                (line,) = ax.plot([], [], self.fmts[i % len(self.fmts)], label=label)
                self._lines.append(line)
            if self.legend:
                ax.legend()
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        self._pending = True
        _PENDING.add(self)
        if time.perf_counter() >= self._next_draw:
            self.show()

    def show(self) -> None:
        """Draw the pending points now and update the displayed figure."""
        if not self._pending:
            return
        begin = time.perf_counter()
        for line, xs, ys in zip(self._lines, self.X, self.Y):
            line.set_data(xs, ys)
        if self._autoscale:
            ax = self.axes[0]
            ax.relim()
            ax.autoscale_view()
        self._pending = False
        _PENDING.discard(self)
        if _in_notebook():
            from IPython.display import display

            if self._handle is None:
                self._handle = display(self.fig, display_id=True)
            else:
                self._handle.update(self.fig)
        cost = time.perf_counter() - begin
        self._next_draw = time.perf_counter() + max(self.min_interval, 10 * cost)


_PENDING: weakref.WeakSet[Animator] = weakref.WeakSet()


def _flush_animators(*_args) -> None:
    """IPython post-execute hook: draw what any animator has not drawn yet."""
    for animator in list(_PENDING):
        animator.show()


def _register_flush_hook() -> None:
    if not _in_notebook():
        return
    from IPython import get_ipython

    events = get_ipython().events
    if _flush_animators not in events.callbacks["post_execute"]:
        events.register("post_execute", _flush_animators)


_register_flush_hook()

__all__ = [
    "Animator",
    "draw_contours",
    "plot",
    "set_axes",
    "set_figsize",
    "show_trace",
    "show_run",
    "show_trace_2d",
    "use_svg_display",
]
