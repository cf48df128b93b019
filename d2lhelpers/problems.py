"""Two-dimensional test problems for the chapters, each with its analytic gradient.

Each `Problem2D` works on Python floats and on tensors alike (it uses only
arithmetic), so the same object feeds `train_2d`, `show_trace_2d` and autograd checks.
`f_grad(x1, x2)` returns `(df/dx1, df/dx2)`, the signature d2l's `train_2d` expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem2D:
    """A 2-D objective with its gradient, a start point and a box to draw it in."""

    name: str
    f: Callable
    f_grad: Callable
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minimum: tuple[float, float] | None


quadratic = Problem2D(
    name="quadratic x1² + 2·x2²",
    f=lambda x1, x2: x1**2 + 2 * x2**2,
    f_grad=lambda x1, x2: (2 * x1, 4 * x2),
    start=(-5.0, -2.0),
    xlim=(-5.5, 1.0),
    ylim=(-3.0, 1.0),
    minimum=(0.0, 0.0),
)

ill_conditioned = Problem2D(
    name="ill-conditioned 0.1·x1² + 2·x2²",
    f=lambda x1, x2: 0.1 * x1**2 + 2 * x2**2,
    f_grad=lambda x1, x2: (0.2 * x1, 4 * x2),
    start=(-5.0, -2.0),
    xlim=(-5.5, 1.0),
    ylim=(-3.0, 1.0),
    minimum=(0.0, 0.0),
)

rosenbrock = Problem2D(
    name="Rosenbrock (1-x1)² + 100·(x2-x1²)²",
    f=lambda x1, x2: (1 - x1) ** 2 + 100 * (x2 - x1**2) ** 2,
    f_grad=lambda x1, x2: (-2 * (1 - x1) - 400 * x1 * (x2 - x1**2), 200 * (x2 - x1**2)),
    start=(-1.5, 2.0),
    xlim=(-2.0, 2.0),
    ylim=(-1.0, 3.0),
    minimum=(1.0, 1.0),
)


def _beale_terms(x1, x2):
    return (1.5 - x1 + x1 * x2, 2.25 - x1 + x1 * x2**2, 2.625 - x1 + x1 * x2**3)


def _beale(x1, x2):
    a, b, c = _beale_terms(x1, x2)
    return a**2 + b**2 + c**2


def _beale_grad(x1, x2):
    a, b, c = _beale_terms(x1, x2)
    g1 = 2 * a * (x2 - 1) + 2 * b * (x2**2 - 1) + 2 * c * (x2**3 - 1)
    g2 = 2 * a * x1 + 2 * b * 2 * x1 * x2 + 2 * c * 3 * x1 * x2**2
    return g1, g2


beale = Problem2D(
    name="Beale",
    f=_beale,
    f_grad=_beale_grad,
    start=(-1.0, 1.5),
    xlim=(-4.5, 4.5),
    ylim=(-4.5, 4.5),
    minimum=(3.0, 0.5),
)

saddle = Problem2D(
    name="saddle x1² - x2²",
    f=lambda x1, x2: x1**2 - x2**2,
    f_grad=lambda x1, x2: (2 * x1, -2 * x2),
    start=(-1.5, 1e-3),
    xlim=(-2.0, 2.0),
    ylim=(-2.0, 2.0),
    minimum=None,
)

PROBLEMS: dict[str, Problem2D] = {
    "quadratic": quadratic,
    "ill_conditioned": ill_conditioned,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "saddle": saddle,
}
