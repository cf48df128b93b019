"""Several optimizers' trajectories on one 2-D test problem: a static picture and an animation.

`show_trace_2d` draws one trajectory, as d2l does. To compare optimizers we draw many
over the same contours (`draw_race`) and replay them in lock-step (`animate_race`, a
`matplotlib.animation` rendered to a self-contained HTML/JavaScript player, which works
in JupyterLab and Colab without a widget). The trajectories come from anywhere, e.g.
`d2l.checks.trajectory_2d` for a `torch.optim`-style class; a run that overflowed is
drawn up to its last finite point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import animation

from .plotting import plt
from .problems import Problem2D


def _points(name: str, trajectory) -> np.ndarray:
    """The finite prefix of a trajectory as an (n, 2) float array."""
    pts = np.asarray([(float(a), float(b)) for a, b in trajectory], dtype=float).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError(f"the trajectory of {name!r} is empty: it needs at least the start point.")
    finite = np.isfinite(pts).all(axis=1)
    return pts if finite.all() else pts[: int(np.argmin(finite))]


def _check(problem: Problem2D, trajectories: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
    if not isinstance(problem, Problem2D):
        raise TypeError(
            f"problem must be a d2l.problems.Problem2D (e.g. d2l.problems.rosenbrock); "
            f"got {type(problem).__name__}."
        )
    if not trajectories:
        raise ValueError("trajectories is empty: pass a dict {name: [(x1, x2), ...]}.")
    return {name: _points(name, trajectory) for name, trajectory in trajectories.items()}


def draw_contours(ax, problem: Problem2D, levels: int = 12, antialiased: bool = True) -> None:
    """Contour lines of `problem.f` in its box, the start (square) and the minimum (star).

    Levels are log-spaced where the function is positive, so the floor of a valley shows,
    and linear where it goes negative (the saddle). `antialiased=False` draws faster, for
    the many frames of an animation.
    """
    x1, x2 = torch.meshgrid(
        torch.linspace(*problem.xlim, 160), torch.linspace(*problem.ylim, 160), indexing="ij"
    )
    z = np.asarray(problem.f(x1, x2), dtype=float)
    if z.min() < 0:
        lines = np.linspace(z.min(), z.max(), levels)
    else:
        lines = np.geomspace(max(z.min(), 1e-3), z.max(), levels)
    ax.contour(
        x1.numpy(),
        x2.numpy(),
        z,
        levels=lines,
        colors="#c8c8c8",
        linewidths=0.8,
        antialiased=antialiased,
    )
    if problem.minimum is not None:
        ax.plot(*problem.minimum, "*", color="#444444", markersize=11, zorder=3)
    ax.plot(*problem.start, "s", color="#444444", markersize=5, zorder=3)
    ax.set_xlim(problem.xlim)
    ax.set_ylim(problem.ylim)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


def draw_race(ax, problem: Problem2D, trajectories: Mapping[str, Sequence]) -> None:
    """Draw each named trajectory over the contours of `problem`, with a dot at its end.

    Colours follow matplotlib's cycle in the order of `trajectories`; the legend names
    a run that overflowed "(diverged)".
    """
    runs = _check(problem, trajectories)
    draw_contours(ax, problem)
    for i, (name, pts) in enumerate(runs.items()):
        diverged = len(pts) < len(trajectories[name])
        label = f"{name} (diverged)" if diverged else name
        ax.plot(pts[:, 0], pts[:, 1], "-", color=f"C{i}", lw=1.3, label=label)
        ax.plot(*pts[-1], "o", color=f"C{i}", markersize=4)
    ax.set_title(problem.name, fontsize=9)


def animate_race(problem: Problem2D, trajectories: Mapping[str, Sequence], frames: int = 30) -> str:
    """An HTML player replaying the trajectories in lock-step, `frames` frames in all.

    Every run advances by the same number of steps per frame (the longest run sets the
    pace). Returns the HTML of `FuncAnimation.to_jshtml`; show it with
    `IPython.display.HTML(...)`. The figure itself is closed, so it is not shown twice.
    """
    if not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2; got {frames!r}.")
    runs = _check(problem, trajectories)
    steps = max(len(trajectory) for trajectory in trajectories.values()) - 1
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=60)
    draw_contours(ax, problem, levels=10)
    artists = []
    for i, (name, pts) in enumerate(runs.items()):
        (line,) = ax.plot([], [], "-", color=f"C{i}", lw=1.5, label=name)
        (dot,) = ax.plot([], [], "o", color=f"C{i}", markersize=5)
        artists.append((pts, line, dot))
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.02, 0.5))
    title = ax.set_title(f"{problem.name}\nstep 0 of {steps}", fontsize=10)
    fig.tight_layout()  # with the two-line title in place, so that it fits

    def update(frame):
        upto_step = round(frame / (frames - 1) * steps)
        for pts, line, dot in artists:
            upto = min(upto_step, len(pts) - 1)
            line.set_data(pts[: upto + 1, 0], pts[: upto + 1, 1])
            dot.set_data(pts[upto : upto + 1, 0], pts[upto : upto + 1, 1])
        title.set_text(f"{problem.name}\nstep {upto_step} of {steps}")
        return [artist for _, line, dot in artists for artist in (line, dot)]

    anim = animation.FuncAnimation(fig, update, frames=frames, interval=150)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return html
