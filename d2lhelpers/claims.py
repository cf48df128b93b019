"""Claim checks: each number or comparison a chapter's prose states, checked by the chapter.

A chapter states "the minimum is at -1.83" or "Yogi is first in all 3 seeds" about a
computation it runs; the cell right after that computation checks the sentence with
`claim`, so a change that makes the prose false fails the chapter's run. The cells carry
the tag `claim-check`: the book hides them and JupyterLab shows them collapsed.
"""

from __future__ import annotations

import math
import numbers

import torch

from .devices import try_gpu
from .settings import epoch_fraction

# The prose's full-length numbers come from runs on one CPU thread: another thread count or a
# GPU sums in another order, so a seeded run there rounds its last digits differently.
REFERENCE = "a full-length run on one CPU thread (OMP_NUM_THREADS=1)"


def _unlike_reference() -> str | None:
    """How this run differs from the one the prose's full-length numbers come from, or None."""
    if epoch_fraction() < 1:
        return f"D2L_EPOCH_FRACTION={epoch_fraction():g}"
    if try_gpu().type != "cpu":
        return f"this run trains on {try_gpu().type}"
    if torch.get_num_threads() != 1:
        return f"this run uses {torch.get_num_threads()} CPU threads"
    return None


def _show(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        return f"{float(value):.6g}"
    return repr(value)


def claim(
    statement: str,
    actual,
    expected=True,
    tol: float | None = None,
    full_length: bool = False,
) -> None:
    """Check that `statement` holds: `actual` equals `expected`, or lies within `tol` of it.

    Prints the statement with what was measured; raises an `AssertionError` that says what
    was measured and expected when it does not hold. A claim about a full-length run
    (`full_length=True`) is checked only in the setting its number was measured in: full
    length (`D2L_EPOCH_FRACTION` unset), on the CPU, on one thread. Elsewhere the same seeded
    run rounds differently, so the claim says, visibly, that it was not checked and why.
    """
    if full_length and (difference := _unlike_reference()):
        print(f"not checked ({difference}; the number is from {REFERENCE}): {statement}")
        return
    if tol is not None:
        holds = isinstance(actual, numbers.Real) and abs(float(actual) - float(expected)) <= tol
        wanted = f"{_show(expected)} ± {tol:g}"
        if isinstance(actual, numbers.Real) and math.isnan(float(actual)):
            holds = False
    else:
        holds, wanted = bool(actual == expected), _show(expected)
    if not holds:
        raise AssertionError(
            f"claim does not hold: {statement}\n  measured {_show(actual)}, expected {wanted}. "
            "Fix the sentence, or find what changed in the computation."
        )
    shown = "" if expected is True and tol is None else f": {_show(actual)} ({wanted})"
    print(f"✓ {statement}{shown}")
