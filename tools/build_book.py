"""Build the course as a static HTML site: `make book` (README, "Reading the course as a book").

Usage: python tools/build_book.py [--out book/_build/html] [--jobs N] [--chapters GLOB] [--frames N]

1. Execute. Every notebook in chapters/ (all of them, sorted by name) runs top to
   bottom in a fresh kernel from chapters/, as nbval runs it, with the environment of
   this process (D2L_EPOCH_FRACTION included). In that kernel `d2l.explore` is replaced
   by tools/book_explore.py: every explorer is drawn over a grid of its controls' values
   (at most --frames frames each) and moves in the page without a kernel. The executed
   copy is cached in book/_build/executed/ under a key made of the notebook's bytes, the
   epoch fraction, the frame budget, the package's sources and tools/book_explore.py: a
   rebuild with nothing changed executes nothing.
2. Stage. book/ (the landing page, the Jupyter Book config, the static files) and the
   executed chapters go into a staging folder beside the output, with a table of
   contents that lists the chapters.
3. Render with Jupyter Book 1.x (Sphinx and myst-nb; nothing is executed again), and
   add MathJax 3 from the `django-static-mathjax` package, so the maths typesets offline.
4. Check that no page loads anything from another host: the book reads offline; that no
   explorer weighs more than EXPLORER_LIMIT bytes of page; print what the book weighs.

The notebooks in chapters/ are read, never written.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
BOOK = REPO / "book"
CACHE = BOOK / "_build" / "executed"
TOOLS = Path(__file__).resolve().parent
# Frames per explorer (tools/book_explore.py): a full build's grid, and a quick build's
# (D2L_EPOCH_FRACTION set), whose sliders move in coarser steps. Drawing a frame takes
# about 0.1 s of CPU; an explorer may weigh at most EXPLORER_LIMIT bytes of its page.
FRAMES_FULL, FRAMES_QUICK = 500, 48
EXPLORER_LIMIT = 2_000_000
EXPLORER = re.compile(r'<div class="d2l-explore".*?</script></div>', re.DOTALL)
# An explorer cell with this tag starts at the figure of the code cell above it: in the
# page, its live figure stands for both, and the one above goes.
REPLACES_FIGURE_ABOVE = "book-replaces-figure-above"
INJECTED = "d2l-book-injected"
NBVAL_MARKER = re.compile(r"^# NBVAL_\w+[ \t]*\n?", re.MULTILINE)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# matplotlib's animation player (to_jshtml) links Font Awesome 4 from a CDN for its
# buttons' icons; the theme's own Font Awesome 6 (local) draws the same icon names.
FONT_AWESOME_CDN = re.compile(
    r"""<link\s+rel=["']stylesheet["']\s+href=["']https?://[^"']*font-awesome[^"']*["']\s*/?>"""
)
IMAGE_MIMES = ("image/png", "image/svg+xml", "image/jpeg", "image/gif")
# A page may load files only from the site itself: no scheme, or a fragment.
EXTERNAL_LOAD = re.compile(
    r"""<(?:script|img|iframe|source)\b[^>]*\bsrc=["']((?:https?:)?//[^"']+)"""
    r"""|<link\b[^>]*\bhref=["']((?:https?:)?//[^"']+)["'][^>]*>"""
    r"""|@import\s+(?:url\()?["']?((?:https?:)?//[^"')]+)""",
    re.IGNORECASE,
)


def fail(message: str) -> None:
    sys.exit(f"make book: {message}")


# ---------------------------------------------------------------- 1. execute


def cache_key(path: Path, frames: int) -> str:
    """What the executed notebook depends on: its bytes, the fraction, the code it runs."""
    digest = hashlib.sha256()
    digest.update(path.read_bytes())
    digest.update(f"D2L_EPOCH_FRACTION={os.environ.get('D2L_EPOCH_FRACTION', '')}".encode())
    sources = sorted((REPO / "d2lhelpers").glob("*.py"))
    for source in [*sources, TOOLS / "book_explore.py"]:
        digest.update(source.name.encode() + source.read_bytes())
    digest.update(f"frames={frames}".encode())
    return digest.hexdigest()[:16]


def cached_prefix(path: Path) -> str:
    """The cached copies of `path` at this epoch fraction are named prefix + key + .ipynb."""
    return f"{path.stem}.{os.environ.get('D2L_EPOCH_FRACTION') or 'full'}."


def cached_path(path: Path, key: str) -> Path:
    return CACHE / f"{cached_prefix(path)}{key}.ipynb"


def execute(path: Path, target: Path, timeout: int | None, frames: int) -> float:
    """Run `path` in a fresh kernel with the book's `explore`; write it to `target`."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    setup = (
        "import sys\n"
        f"sys.path.insert(0, {str(TOOLS)!r})\n"
        "import book_explore\n"
        f"sys.path.remove({str(TOOLS)!r})\n"
        f"book_explore.install(max_frames={frames})\n"
        "del sys, book_explore"
    )
    cell = nbformat.v4.new_code_cell(setup, metadata={"tags": [INJECTED]})
    nb.cells.insert(0, cell)
    begin = time.perf_counter()
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(CHAPTERS)}}
    ).execute()
    seconds = time.perf_counter() - begin
    nb.metadata.setdefault("d2l_book", {})["seconds"] = round(seconds, 1)
    partial = target.with_suffix(".partial")
    nbformat.write(nb, partial)
    partial.replace(target)
    return seconds


def execute_all(chapters: list[Path], jobs: int, timeout: int | None, frames: int) -> list[Path]:
    """The executed copy of each chapter, from the cache or run now (`jobs` at a time)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    targets = [cached_path(path, cache_key(path, frames)) for path in chapters]
    todo = [(p, t) for p, t in zip(chapters, targets) if not t.exists()]
    for path, target in zip(chapters, targets):
        if target.exists():
            print(f"{path.name}: unchanged, executed copy reused ({target.name})", flush=True)
    env_mpl = os.environ.pop("MPLBACKEND", None)  # kernels use the inline backend
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            runs = {pool.submit(execute, p, t, timeout, frames): p for p, t in todo}
            for run in concurrent.futures.as_completed(runs):
                path = runs[run]
                try:
                    print(f"{path.name}: executed in {run.result():.1f} s", flush=True)
                except Exception as exc:  # noqa: BLE001 - reported with the chapter's name
                    for other in runs:
                        other.cancel()
                    fail(f"{path.name} failed to run; fix the chapter and build again:\n{exc}")
    finally:
        if env_mpl is not None:
            os.environ["MPLBACKEND"] = env_mpl
    for path, target in zip(chapters, targets):  # older copies of the same chapter and fraction
        for old in CACHE.glob(f"{cached_prefix(path)}*.ipynb"):
            if old != target and "." not in old.name[len(cached_prefix(path)) : -len(".ipynb")]:
                old.unlink()
    return targets


# ---------------------------------------------------------------- 2. stage


def widget_note() -> nbformat.NotebookNode:
    text = (
        '<div class="admonition note d2l-book-sliders"><p class="admonition-title">'
        "Interactive output</p><p>This cell shows controls that need a live kernel: run "
        "<code>make lab</code>, or open the notebook in Colab, to use them.</p></div>"
    )
    return nbformat.v4.new_output(
        "display_data", data={"text/html": text, "text/plain": "(controls: see JupyterLab)"}
    )


def for_the_page(executed: Path) -> nbformat.NotebookNode:
    """The executed chapter as the page shows it: no injected cell, no test markers.

    Nor the figure above an explorer tagged REPLACES_FIGURE_ABOVE: the explorer's live
    figure starts where that one is.
    """
    nb = nbformat.read(executed, as_version=4)
    nb.cells = [c for c in nb.cells if INJECTED not in c.metadata.get("tags", [])]
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = NBVAL_MARKER.sub("", cell.source)
        if cell.execution_count:
            cell.execution_count -= 1
        outputs = []
        for output in cell.outputs:
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                print(f"{executed.stem}: a widget outside d2l.explore is shown as a note")
                output = widget_note()
            elif "text/html" in data:
                data["text/html"] = FONT_AWESOME_CDN.sub("", data["text/html"])
            outputs.append(output)
        cell.outputs = outputs
    code = [c for c in nb.cells if c.cell_type == "code"]
    for above, cell in zip(code, code[1:]):
        if REPLACES_FIGURE_ABOVE in cell.metadata.get("tags", []):
            above.outputs = [
                o for o in above.outputs if not any(m in o.get("data", {}) for m in IMAGE_MIMES)
            ]
    return nb


def mathjax_folder() -> Path:
    try:
        import mathjax  # the django-static-mathjax package: MathJax 3's es5 build
    except ImportError:
        fail("MathJax is missing: install the book's packages with `make book`")
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / "tex-chtml.js").exists():
        fail(f"{folder}/tex-chtml.js is missing: reinstall django-static-mathjax")
    return folder


def stage(chapters: list[Path], executed: list[Path], src: Path) -> None:
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    toc = ["format: jb-book", "root: index", "chapters:"]
    for chapter, path in zip(chapters, executed):
        nbformat.write(for_the_page(path), src / chapter.name)
        toc.append(f"  - file: {chapter.stem}")
    (src / "_toc.yml").write_text("\n".join(toc) + "\n")


# ---------------------------------------------------------------- 3. render, 4. check


def render(src: Path, out: Path) -> None:
    from jupyter_book.sphinx import build_sphinx

    if out.exists():
        shutil.rmtree(out)
    result = build_sphinx(
        src,
        out,
        noconfig=True,
        path_config=str(src / "_config.yml"),
        confoverrides={
            "external_toc_path": (src / "_toc.yml").as_posix(),
            "latex_individualpages": False,
        },
        doctreedir=str(out.parent / f"{out.name}-doctrees"),
        freshenv=True,
        quiet=True,
    )
    if result:
        fail(f"Jupyter Book stopped (exit status {result}); see its messages above")
    # MathJax goes in after Sphinx: Jupyter Book would load every script under _static.
    shutil.copytree(
        mathjax_folder(),
        out / "_static" / "mathjax",
        ignore=shutil.ignore_patterns("*-full*.js", "mml-*.js", "tex-mml-*.js", "tex-svg*.js"),
    )


def external_loads(out: Path) -> list[str]:
    """Every file that a page or stylesheet would load from another host."""
    found = []
    for page in [*out.rglob("*.html"), *out.rglob("*.css")]:
        for match in EXTERNAL_LOAD.finditer(page.read_text(errors="replace")):
            url = next(g for g in match.groups() if g)
            found.append(f"{page.relative_to(out)}: {url}")
    return found


def explorer_weights(out: Path) -> list[tuple[str, int]]:
    """(page, bytes) of every explorer in the built pages, in page order."""
    return [
        (page.name, len(match.group(0).encode()))
        for page in sorted(out.glob("*.html"))
        for match in EXPLORER.finditer(page.read_text())
    ]


def report_weights(out: Path) -> None:
    """Print what the explorers and the whole book weigh; fail on an explorer over the limit."""
    weights = explorer_weights(out)
    for page, size in weights:
        print(f"book: explorer on {page}: {size / 1e6:.2f} MB")
    heavy = [f"{page}: {size / 1e6:.2f} MB" for page, size in weights if size > EXPLORER_LIMIT]
    if heavy:
        fail(
            f"explorers over {EXPLORER_LIMIT / 1e6:.0f} MB of page (lower --frames):\n"
            + "\n".join(heavy)
        )
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    pages = sum(p.stat().st_size for p in out.glob("*.html"))
    print(
        f"book: {len(weights)} explorers, {sum(s for _, s in weights) / 1e6:.1f} MB; "
        f"pages {pages / 1e6:.1f} MB; the whole site {total / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=BOOK / "_build" / "html")
    parser.add_argument("--jobs", type=int, default=1, help="chapters executed at once")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    parser.add_argument(
        "--chapters", default="*.ipynb", help="a glob in chapters/ (default: every notebook)"
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        help=f"frames per explorer (default {FRAMES_FULL}; {FRAMES_QUICK} with D2L_EPOCH_FRACTION)",
    )
    args = parser.parse_args()
    frames = args.frames or (FRAMES_QUICK if os.environ.get("D2L_EPOCH_FRACTION") else FRAMES_FULL)
    out = args.out.resolve()
    chapters = sorted(CHAPTERS.glob(args.chapters))
    if not chapters:
        fail(f"no notebooks in {CHAPTERS}")
    begin = time.perf_counter()
    executed = execute_all(chapters, args.jobs, args.timeout, frames)
    src = out.parent / f"{out.name}-src"
    stage(chapters, executed, src)
    render(src, out)
    if loads := external_loads(out):
        fail("pages load files from other hosts (the book must read offline):\n" + "\n".join(loads))
    report_weights(out)
    print(f"book: {len(chapters)} chapters in {time.perf_counter() - begin:.0f} s")
    print(f"book: open {out / 'index.html'}  (or: cd {out} && python -m http.server)")


if __name__ == "__main__":
    main()
