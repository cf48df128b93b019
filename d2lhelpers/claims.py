"""Claim checks: each number or comparison a chapter's prose states, checked by the chapter.

A chapter states "the minimum is at -1.83" or "Yogi is first in all 3 seeds" about a
computation it runs; the cell right after that computation checks the sentence with
`claim`, so a change that makes the prose false fails the chapter's run. The cells carry
the tag `claim-check`: the book hides them and JupyterLab shows them collapsed.
"""

from __future__ import annotations

import math
import numbers

from .settings import epoch_fraction


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
    (`full_length=True`) is only checked when the epochs are not shortened
    (`D2L_EPOCH_FRACTION` unset): otherwise it says, visibly, that it was skipped.
    """
    if full_length and epoch_fraction() < 1:
        print(
            f"skipped at D2L_EPOCH_FRACTION={epoch_fraction():g} (holds at full length): "
            f"{statement}"
        )
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
