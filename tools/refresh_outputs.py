"""Run chapter notebooks and store only the outputs that nbval checks.

Usage: python tools/refresh_outputs.py chapters/04_momentum.ipynb [...]

Each notebook runs top to bottom in a fresh kernel (from chapters/, as nbval runs it),
then is written in the stored form of tools/notebook_form.py: cells tagged
`nbval-check-output` keep their outputs, which nbval compares on every test run; every
other output, execution count and saved widget state is dropped, so the repository holds
no stale figures and learners see the results their own run produces. A checked cell that
shows anything but text is an error, with the cell's number: a learner's save would store
it, and their checkout would no longer be clean.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from notebook_form import FormError, stored_form


def refresh(path: Path) -> float:
    """Execute `path`, write it back in the stored form; return the seconds it ran."""
    nb = nbformat.read(path, as_version=4)
    begin = time.perf_counter()
    NotebookClient(
        nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    seconds = time.perf_counter() - begin
    path.write_text(stored_form(nb, path.name), encoding="utf-8")
    return seconds


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        try:
            print(f"{arg}: ran in {refresh(Path(arg)):.1f} s")
        except FormError as error:
            sys.exit(f"{arg}: not written: {error}")
