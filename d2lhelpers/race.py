"""Several optimizers' trajectories on 2-D test problems: a static picture and an animation.

`show_trace_2d` draws one trajectory, as d2l does. To compare optimizers we draw many
over the same contours (`draw_race`) and replay them in lock-step (`animate_race`, a
`matplotlib.animation` rendered to an HTML/JavaScript player that loads nothing from
another host, and works in JupyterLab, Colab and the book without a widget). The
trajectories come from anywhere, e.g. `d2l.trajectory_2d` for a `torch.optim`-style
class; a run that overflowed is drawn up to its last finite point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import animation

from .plotting import draw_contours, plt
from .problems import Problem2D

GREY = "#c8c8c8"  # contour lines behind a race: the trajectories are what we look at

Styles = Mapping[str, Mapping[str, Any]]


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


def _style(styles: Styles | None, name: str, i: int) -> dict[str, Any]:
    """How run `name`, the `i`-th, is drawn: matplotlib's colour cycle, unless `styles` says."""
    return {"color": f"C{i}", "linestyle": "-", "linewidth": 1.3} | dict(
        (styles or {}).get(name, {})
    )


def draw_race(
    ax, problem: Problem2D, trajectories: Mapping[str, Sequence], styles: Styles | None = None
) -> None:
    """Draw each named trajectory over the contours of `problem`, with a dot at its end.

    Colours follow matplotlib's cycle in the order of `trajectories`, unless `styles` maps a
    name to keyword arguments of `ax.plot` (`color`, `linestyle`, `linewidth`). The legend
    names a run that overflowed "(diverged)".
    """
    runs = _check(problem, trajectories)
    draw_contours(ax, problem, log=True, color=GREY)
    for i, (name, pts) in enumerate(runs.items()):
        diverged = len(pts) < len(trajectories[name])
        style = _style(styles, name, i)
        ax.plot(pts[:, 0], pts[:, 1], **style, label=f"{name} (diverged)" if diverged else name)
        ax.plot(*pts[-1], "o", color=style["color"], markersize=4)
    ax.set_title(problem.name, fontsize=9)


def _race_figure(
    problems: Sequence[Problem2D],
    trajectory_dicts: Sequence[Mapping[str, Sequence]],
    frames: int,
    groups: Mapping[str, Sequence[str]] | None,
    styles: Styles | None,
    ncols: int | None,
):
    """The figure of `animate_race` at its last frame, and its `update(frame)` function."""
    rows = [_check(p, t) for p, t in zip(problems, trajectory_dicts)]
    steps = [max(len(t) for t in d.values()) - 1 for d in trajectory_dicts]
    order = list(dict.fromkeys(name for runs in rows for name in runs))
    panel_names = {name: list(names) for name, names in groups.items()} if groups else {"": order}
    unknown = sorted({n for names in panel_names.values() for n in names} - set(order))
    if unknown:
        raise ValueError(f"groups name runs that have no trajectory: {unknown}.")
    panels = [(r, group) for r in range(len(rows)) for group in panel_names]
    ncols = ncols or len(panel_names)
    nrows = -(-len(panels) // ncols)
    width = 4.2 if ncols == 1 else 2.8  # inches per panel
    entry = 0.6 + 0.08 * max(len(name) for name in order)  # inches: line, gap, name
    per_legend = max(1, int(width * ncols / len(panel_names) / entry))  # names side by side
    legend_lines = max(-(-len(names) // per_legend) for names in panel_names.values())
    legend_height = 0.3 + 0.22 * (legend_lines + bool(groups))  # inches, with the group title
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, 0.9 * width * nrows + 0.3 + legend_height),
        dpi=min(100, 760 / (width * ncols)),  # at most 760 pixels wide: a page's width
    )
    axes = np.ravel(axes)
    artists = []  # (problem's row, points, line, dot)
    for ax, (r, group) in zip(axes, panels):
        draw_contours(ax, problems[r], levels=10, log=True, color=GREY, antialiased=False)
        ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
        ax.set_title(problems[r].name, fontsize=9)
        for name in panel_names[group]:
            if name in rows[r]:
                style = _style(styles, name, order.index(name))
                (line,) = ax.plot([], [], **style, label=name)
                (dot,) = ax.plot([], [], "o", color=style["color"], markersize=5)
                artists.append((r, rows[r][name], line, dot))
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    size = plt.rcParams["axes.labelsize"]  # legends as large as the axis labels
    for c, group in enumerate(panel_names):
        handles = {}
        for ax, (_, panel_group) in zip(axes, panels):
            if panel_group == group:
                handles |= {line.get_label(): line for line in ax.lines}
        handles = {label: line for label, line in handles.items() if not label.startswith("_")}
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="upper center",
            bbox_to_anchor=((c + 0.5) / len(panel_names), legend_height / fig.get_figheight()),
            ncol=per_legend,
            title=group or None,
            fontsize=size,
            title_fontsize=size,
            frameon=False,
        )

    def progress(frame: int) -> str:
        fraction = frame / (frames - 1)
        done = f"step {round(fraction * steps[0])} of {steps[0]}"
        done = done if len(rows) == 1 else f"{fraction:.0%} of the steps"
        return f"{done} (square: start, star: minimum)"

    title = fig.suptitle(progress(frames - 1), fontsize=10)
    fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 1))

    def update(frame: int):
        for r, pts, line, dot in artists:
            upto = min(round(frame / (frames - 1) * steps[r]), len(pts) - 1)
            line.set_data(pts[: upto + 1, 0], pts[: upto + 1, 1])
            dot.set_data(pts[upto : upto + 1, 0], pts[upto : upto + 1, 1])
        title.set_text(progress(frame))
        return [artist for *_, line, dot in artists for artist in (line, dot)]

    update(frames - 1)
    return fig, update


def animate_race(
    problem: Problem2D | Sequence[Problem2D],
    trajectories: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]],
    frames: int = 30,
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    styles: Styles | None = None,
    ncols: int | None = None,
) -> str:
    """An HTML player replaying the trajectories in lock-step, `frames` frames in all.

    `problem` is one problem with its `trajectories`, or a list of problems with a list
    of trajectory dicts, one per problem. Each problem gets one panel, or, with `groups`
    (a dict {group name: [run names]}), one panel per group, so that no panel holds more
    paths than the eye can follow. Panels are laid out `ncols` to a row (by default, one
    row per problem); under them, one legend per group. Every run advances by the same
    fraction of its problem's steps per frame (the longest run of a problem sets its
    pace). `styles` as in `draw_race`.

    Returns the HTML of `FuncAnimation.to_jshtml`, with its icons drawn inline, so that the
    player loads nothing from another host (`_self_contained`); show it with
    `IPython.display.HTML(...)`. The figure itself is closed, so it is not shown twice.
    """
    if not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2; got {frames!r}.")
    if isinstance(problem, Problem2D):
        problems, trajectory_dicts = [problem], [trajectories]
    else:
        problems, trajectory_dicts = list(problem), list(trajectories)
        if not problems or len(problems) != len(trajectory_dicts):
            raise ValueError(
                f"got {len(problems)} problems and {len(trajectory_dicts)} trajectory dicts: "
                "pass one dict {name: trajectory} per problem, in the same order."
            )
    fig, update = _race_figure(problems, trajectory_dicts, frames, groups, styles, ncols)
    anim = animation.FuncAnimation(fig, update, frames=frames, interval=200)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return _self_contained(html)


# The player's buttons as inline SVG, in place of the Font Awesome icons that matplotlib's
# player loads from a CDN (16 x 16, drawn in the button's text colour).
_ICON_PATHS = {
    "fa-minus": "M2 7h12v2H2z",
    "fa-plus": "M7 2h2v5h5v2H9v5H7V9H2V7h5z",
    "fa-fast-backward": "M1 2h2v12H1zM9 2 3 8l6 6zM15 2 9 8l6 6z",
    "fa-step-backward": "M2 2h3v12H2zM14 2 5 8l9 6z",
    "fa-play fa-flip-horizontal": "M12 2 2 8l10 6z",
    "fa-pause": "M3 2h4v12H3zM9 2h4v12H9z",
    "fa-play": "M4 2l10 6-10 6z",
    "fa-step-forward": "M2 2l9 6-9 6zM11 2h3v12h-3z",
    "fa-fast-forward": "M1 2l6 6-6 6zM7 2l6 6-6 6zM13 2h2v12h-2z",
}
_ICON = re.compile(r'<i class="fa ([\w -]+)"></i>')
_FONT_AWESOME_LINK = re.compile(r"<link\b[^>]*font-awesome[^>]*>")


def _self_contained(html: str) -> str:
    """Matplotlib's animation player (`to_jshtml`) with its icons inline, loading nothing.

    The player links Font Awesome from a CDN for the icons of its buttons; offline, or in
    a page that may load nothing from another host, that is a console error and blank
    buttons. We drop the link and draw each icon as a small inline SVG.
    """

    def icon(match: re.Match) -> str:
        name = match.group(1)
        if name not in _ICON_PATHS:
            raise RuntimeError(
                f"matplotlib's animation player has an icon we do not draw ({name!r}); "
                "add it to d2lhelpers.race._ICON_PATHS."
            )
        return (
            '<svg viewBox="0 0 16 16" width="14" height="14" fill="currentColor" '
            'aria-hidden="true" style="vertical-align: middle">'
            f'<path d="{_ICON_PATHS[name]}"/></svg>'
        )

    return _ICON.sub(icon, _FONT_AWESOME_LINK.sub("", html))
