"""The form the chapters are stored in, and the git filter that keeps a learner's checkout clean.

Usage:
    python tools/notebook_form.py [--check] [chapters/NN_name.ipynb ...]
    python tools/notebook_form.py --install-filter

A learner runs a chapter in JupyterLab and saves it: the file then holds every output (a
chapter grows from 50 KB to several MB), the kernel's Python version and the cells'
execution counts. `make lab` therefore installs a git filter, nbstripout (from PyPI), that
strips those from the version git sees, so `git status` stays clean and `git pull` of a
course update goes through, while the learner's file keeps its outputs.

One kind of output stays: nbval compares the stored outputs of the cells tagged
`nbval-check-output` on every test run, so those are kept, by the filter too (nbstripout
keeps the outputs of a cell whose metadata has `keep_output: true`; this tool sets it on
exactly the checked cells). A learner's full-length run must print the same text in those
cells, so they print nothing that depends on `D2L_EPOCH_FRACTION` or on timing.

The stored form of a chapter is therefore what the filter makes of JupyterLab's save:
- the kernelspec JupyterLab writes (so opening a chapter does not modify it);
- nbval's cell tags instead of its `# NBVAL_...` comments (`# NBVAL_IGNORE_OUTPUT` is
  dropped: under `--nbval-lax` only checked cells are compared);
- `keep_output: true` on the checked cells, and their consecutive stream outputs merged,
  as JupyterLab merges them;
- then nbstripout with `FILTER_ARGS`: no other outputs, no execution counts, no saved
  widget state, no Python version.

Without arguments the tool rewrites every chapter in that form (idempotent); `--check`
writes nothing and exits 1 when a chapter is not in it. `--install-filter` configures the
filter in this checkout (`make lab` runs it): nbstripout's own `--install`, then these
options; `.gitattributes` names the files it applies to.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
CHECK_TAG = "nbval-check-output"
# nbval's comment markers and the tags that replace them (None: no tag needed under --nbval-lax)
MARKERS = {
    "NBVAL_CHECK_OUTPUT": CHECK_TAG,
    "NBVAL_IGNORE_OUTPUT": None,
    "NBVAL_SKIP": "nbval-skip",
    "NBVAL_RAISES_EXCEPTION": "raises-exception",
}
MARKER_LINE = re.compile(r"^[ \t]*#[ \t]*(NBVAL_\w+)[ \t]*$")
# nbstripout's options, set here only: keep the cell ids (so a diff shows what changed, not
# a renumbering), and drop the kernel's Python version, which differs between learners.
FILTER_ARGS = ["--keep-id", "--extra-keys", "metadata.language_info.version"]


class FormError(ValueError):
    """A chapter that cannot be put in the stored form; the message says why and what to do."""


def markers_to_tags(cell: nbformat.NotebookNode, where: str) -> None:
    """Replace the `# NBVAL_...` comment lines of a code cell by nbval's cell tags."""
    lines, tags = [], list(cell.metadata.get("tags", []))
    for line in cell.source.splitlines():
        match = MARKER_LINE.match(line)
        if not match:
            lines.append(line)
            continue
        if match.group(1) not in MARKERS:
            raise FormError(f"{where}: unknown nbval marker {match.group(1)}; use a cell tag")
        tag = MARKERS[match.group(1)]
        if tag and tag not in tags:
            tags.append(tag)
    while lines and not lines[0].strip():
        lines.pop(0)
    cell.source = "\n".join(lines)
    if tags:
        cell.metadata["tags"] = tags


def merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of the same name as one, as JupyterLab saves them."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def check_outputs(cell: nbformat.NotebookNode, where: str) -> None:
    """Checked outputs must be text a learner's save reproduces, in every mime type."""
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            if "\r" in output["text"] or "\b" in output["text"]:
                raise FormError(
                    f"{where}: a checked cell prints a carriage return or backspace (a progress "
                    "bar?); print plain lines, or remove the tag nbval-check-output"
                )
        elif kind not in ("execute_result", "display_data") or set(output.get("data", {})) != {
            "text/plain"
        }:
            shown = kind if kind == "error" else ", ".join(sorted(output.get("data", {})))
            raise FormError(
                f"{where}: a checked cell shows {shown}, which a learner's save would store and "
                "the course cannot compare; print text only, or remove the tag nbval-check-output"
            )


def strip(texts: list[str]) -> list[str]:
    """`texts` (notebooks) as the git filter passes them on: nbstripout with FILTER_ARGS.

    One nbstripout run for all of them (it starts slowly), on copies in a scratch folder.
    """
    with tempfile.TemporaryDirectory() as scratch:
        paths = [Path(scratch) / f"{i}.ipynb" for i in range(len(texts))]
        for path, text in zip(paths, texts):
            path.write_text(text, encoding="utf-8")
        command = [sys.executable, "-m", "nbstripout", *FILTER_ARGS, *map(str, paths)]
        run = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if run.returncode:
            raise FormError(f"nbstripout failed (`make lab` installs it):\n{run.stderr}")
        return [path.read_text(encoding="utf-8") for path in paths]


def normalize(nb: nbformat.NotebookNode, where: str) -> str:
    """`nb` as JupyterLab would save it, with tags for markers; its text, before nbstripout."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        at = f"{where}, cell {index}"
        markers_to_tags(cell, at)
        if CHECK_TAG in cell.metadata.get("tags", []):
            cell.metadata["keep_output"] = True
            cell.outputs = merge_streams(cell.outputs)
            check_outputs(cell, at)
        else:
            cell.metadata.pop("keep_output", None)
    return nbformat.writes(nb) + "\n"


def stored_forms(notebooks: list[tuple[nbformat.NotebookNode, str]]) -> list[str]:
    """The text of each (notebook, name) in the stored form (see the module docstring)."""
    return strip([normalize(nb, where) for nb, where in notebooks])


def stored_form(nb: nbformat.NotebookNode, where: str) -> str:
    """The text of `nb` in the stored form; `where` names it in errors."""
    return stored_forms([(nb, where)])[0]


def main(argv: list[str]) -> int:
    if argv == ["--install-filter"]:
        return install_filter()
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"] or sorted(CHAPTERS.glob("*.ipynb"))
    old = [path.read_text(encoding="utf-8") for path in paths]
    try:
        new = stored_forms([(nbformat.reads(t, as_version=4), p.name) for t, p in zip(old, paths)])
    except FormError as error:
        print(error, file=sys.stderr)
        return 2
    differ = [path for path, before, after in zip(paths, old, new) if after != before]
    if not check:
        for path in differ:
            path.write_text(new[paths.index(path)], encoding="utf-8")
    verb = "not in the stored form" if check else "rewritten"
    print(f"{len(differ)} notebooks {verb}: {', '.join(p.name for p in differ) or 'none'}")
    if check and differ:
        print("Run: python tools/notebook_form.py", file=sys.stderr)
    return 1 if check and differ else 0


def install_filter() -> int:
    """Configure nbstripout as the git filter of this checkout, with FILTER_ARGS."""
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=REPO, capture_output=True).returncode:
        print(f"{REPO} is not a git checkout: no filter to install")
        return 0
    python = Path(sys.executable).as_posix()
    steps = [
        [sys.executable, "-m", "nbstripout", "--install", "--attributes", ".gitattributes"],
        ["git", "config", "filter.nbstripout.clean", f'"{python}" -m nbstripout ' + _args()],
        ["git", "config", "diff.ipynb.textconv", f'"{python}" -m nbstripout -t ' + _args()],
    ]
    for step in steps:
        run = subprocess.run(step, cwd=REPO, capture_output=True, text=True)
        if run.returncode:
            print(f"Could not install the git filter ({' '.join(step[:4])}):\n{run.stdout}"
                  f"{run.stderr}", file=sys.stderr)  # fmt: skip
            return 1
    print("git filter nbstripout installed: saved outputs stay out of `git status`")
    return 0


def _args() -> str:
    return " ".join(f'"{a}"' if " " in a else a for a in FILTER_ARGS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
