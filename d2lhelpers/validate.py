"""Argument checks shared by the package: one rule, one message, wherever an argument is read.

A bad argument is a `ValueError` that names the argument, shows the value and says
what is expected, raised before any work starts (a loader that would print
"-10000 training batches" first, or fail only at its first batch, helps nobody).
"""

from __future__ import annotations

import numbers


def positive_int(name: str, value: object) -> int:
    """Return `value` if it is a whole number >= 1 (not a bool); else raise a `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}.")
    return int(value)


def non_negative_int(name: str, value: object) -> int:
    """Return `value` if it is a whole number >= 0 (not a bool); else raise a `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}.")
    return int(value)
