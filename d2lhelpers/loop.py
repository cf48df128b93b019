"""The one training loop of the package, and the rule that says a run diverged.

Every helper that trains over minibatches goes through this module, so they all stop a
diverging run the same way.
"""

from __future__ import annotations

import math


def diverged(value: float, limit: float = math.inf) -> bool:
    """Whether a loss says the run diverged: it is inf or NaN, or above `limit`.

    The one divergence rule of the course. Training loops stop at the first minibatch loss
    for which it holds; the range test applies it to its smoothed loss with a limit of four
    times the lowest value so far.
    """
    return not math.isfinite(value) or value > limit
