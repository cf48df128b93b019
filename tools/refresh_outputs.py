"""Run chapter notebooks and store only the outputs that nbval checks.

Usage: python tools/refresh_outputs.py chapters/04_momentum.ipynb [...]

Each notebook runs top to bottom in a fresh kernel (from chapters/, as nbval runs
it). Cells marked `# NBVAL_CHECK_OUTPUT` keep their text outputs, which nbval then
compares on every test run; every other output (and saved widget state) is cleared,
so the repository holds no stale figures and learners see the results their own run produces.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def refresh(path: Path) -> float:
    """Execute `path`, keep checked outputs only, write it back; return seconds taken."""
    nb = nbformat.read(path, as_version=4)
    begin = time.perf_counter()
    NotebookClient(
        nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    seconds = time.perf_counter() - begin
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "NBVAL_CHECK_OUTPUT" in cell.source:
            cell.outputs = [
                o
                for o in cell.outputs
                if o.get("output_type") == "stream" or "text/plain" in o.get("data", {})
            ]
            for o in cell.outputs:
                if "data" in o:
                    o["data"] = {"text/plain": o["data"]["text/plain"]}
                    o["metadata"] = {}
        else:
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)  # saved widget state would hold stale figures
    nbformat.write(nb, path)
    return seconds


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: ran in {refresh(Path(arg)):.1f} s")
