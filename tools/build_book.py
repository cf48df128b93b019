"""Build the course as a static HTML site: `make book` (README, "Reading the course as a book").

Usage: python tools/build_book.py [--out book/_build/html] [--jobs N] [--chapters GLOB]
                                  [--frames N] [--source DIR] [--cache DIR]

1. Execute. Every notebook in chapters/ (all of them, sorted by name) runs top to
   bottom in a fresh kernel from chapters/, as nbval runs it, with the environment of
   this process (D2L_EPOCH_FRACTION included) and one thread unless OMP_NUM_THREADS says
   otherwise (the setting of the prose's full-length numbers and their claim checks). In
   that kernel `d2l.explore` is replaced by tools/book_explore.py: every explorer is drawn
   over a grid of its controls' values (at most --frames frames each) and moves in the
   page without a kernel. The executed
   copy is cached in book/_build/executed/ under a key made of the notebook's bytes, the
   epoch fraction, the frame budget, the package's sources and tools/book_explore.py: a
   rebuild with nothing changed executes nothing. How long
   each chapter took, and on what machine, goes to times.json beside the executed copies
   (`python tools/chapter_times.py` prints the table of a full-length build).
2. Stage. book/ (the landing page, the Jupyter Book config, the static files) and the
   executed chapters go into a staging folder beside the output, with a table of
   contents that lists the chapters. Each chapter page gets a bar of links under its
   title: its notebook and the course's wheel to download, and Colab once the course has
   a public home (tools/colab_cell.py). A book built with D2L_EPOCH_FRACTION set says so
   in a banner on every page: its numbers are not the ones the text discusses.
3. Render with Jupyter Book 1.x (Sphinx and myst-nb; nothing is executed again), and
   add MathJax 3 from the `django-static-mathjax` package, so the maths typesets offline.
   The chapters' notebooks and the wheel (built as `make dist` builds it, offline) go
   into downloads/. A cell whose metadata has `{"mystnb": {"figure": {"caption": ...,
   "name": ...}}}` shows its figure numbered per chapter ("Figure 4.2") with that
   caption; the chapter's text refers to it with {numref}`name` (book/_ext).
4. Check that no page loads anything from another host: the book reads offline; that no
   explorer weighs more than EXPLORER_LIMIT bytes of page; print what the book weighs.

The notebooks in chapters/ are read, never written.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from colab_cell import colab_url, package_version, project_home, wheel_name

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
BOOK = REPO / "book"
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
DOWNLOADS = "downloads"  # the site's folder of the chapters' notebooks and the wheel
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# A claim check (tools/claim_cells.py) tests the prose against the computation; the page
# shows the prose, not the test.
CLAIM_CHECK = "claim-check"
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


def cached_path(path: Path, key: str, cache: Path) -> Path:
    return cache / f"{cached_prefix(path)}{key}.ipynb"


def kernel_config():
    """Configuration for the chapters' kernels: encrypted sockets where they can be had.

    ipykernel 7 warns, at every start, that a kernel running over TCP without encryption
    can be overheard (make book printed it 13 times); jupyter_client 8.10 provisions
    CurveZMQ keys when asked to, which encrypts the sockets and ends the warning.
    """
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config()
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    return config


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
        nb,
        config=kernel_config(),
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    seconds = time.perf_counter() - begin
    nb.metadata.setdefault("d2l_book", {})["seconds"] = round(seconds, 1)
    partial = target.with_suffix(".partial")
    nbformat.write(nb, partial)
    partial.replace(target)
    return seconds


def machine() -> dict:
    """What a chapter's time depends on: cores, GPU, load, threads, chapters run at once."""
    gpu = None
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        run = subprocess.run(query, capture_output=True, text=True)
        gpu = run.stdout.strip().splitlines()[0] if run.returncode == 0 and run.stdout else None
    return {
        "cpus": os.cpu_count(),
        "gpu": gpu,
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_at_start": round(os.getloadavg()[0], 1),
    }


def record_time(cache: Path, path: Path, seconds: float, jobs: int, before: dict) -> None:
    """Add a chapter's execution time to times.json in `cache` (keyed by chapter, fraction)."""
    fraction = os.environ.get("D2L_EPOCH_FRACTION") or "full"
    record = {
        "seconds": round(seconds, 1),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "jobs": jobs,
        **before,
        "load_average_at_end": round(os.getloadavg()[0], 1),
    }
    write_times(cache, path, fraction, record)


def record_reused_time(cache: Path, path: Path, target: Path) -> None:
    """A reused copy's time, from its metadata, where times.json has none for it."""
    times_file = cache / "times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    fraction = os.environ.get("D2L_EPOCH_FRACTION") or "full"
    if fraction not in times.get(path.name, {}):
        seconds = nbformat.read(target, as_version=4).metadata.get("d2l_book", {}).get("seconds")
        if seconds is not None:
            write_times(cache, path, fraction, {"seconds": seconds, "machine": "not recorded"})


def write_times(cache: Path, path: Path, fraction: str, record: dict) -> None:
    times_file = cache / "times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    times.setdefault(path.name, {})[fraction] = record
    partial = times_file.with_suffix(".partial")
    partial.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    partial.replace(times_file)


def execute_all(
    chapters: list[Path], jobs: int, timeout: int | None, frames: int, cache: Path
) -> list[Path]:
    """The executed copy of each chapter, from the cache or run now (`jobs` at a time)."""
    cache.mkdir(parents=True, exist_ok=True)
    targets = [cached_path(path, cache_key(path, frames), cache) for path in chapters]
    todo = [(p, t) for p, t in zip(chapters, targets) if not t.exists()]
    for path, target in zip(chapters, targets):
        if target.exists():
            print(f"{path.name}: unchanged, executed copy reused ({target.name})", flush=True)
            record_reused_time(cache, path, target)
    env_mpl = os.environ.pop("MPLBACKEND", None)  # kernels use the inline backend
    # One thread unless told otherwise: the setting the prose's full-length numbers (and so
    # the chapters' full-length claim checks) were measured in; more threads round differently.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    before = machine()
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            runs = {pool.submit(execute, p, t, timeout, frames): p for p, t in todo}
            for run in concurrent.futures.as_completed(runs):
                path = runs[run]
                try:
                    print(f"{path.name}: executed in {run.result():.1f} s", flush=True)
                    record_time(cache, path, run.result(), jobs, before)
                except Exception as exc:  # noqa: BLE001 - reported with the chapter's name
                    for other in runs:
                        other.cancel()
                    fail(f"{path.name} failed to run; fix the chapter and build again:\n{exc}")
    finally:
        if env_mpl is not None:
            os.environ["MPLBACKEND"] = env_mpl
    for path, target in zip(chapters, targets):  # older copies of the same chapter and fraction
        for old in cache.glob(f"{cached_prefix(path)}*.ipynb"):
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


def page_links(chapter: str, version: str, home: str | None) -> str:
    """The bar under a chapter's title: its notebook and the wheel to download, and Colab."""
    links = [
        f'<a class="d2l-book-notebook" href="{DOWNLOADS}/{chapter}" download>Notebook (.ipynb)</a>',
        f'<a class="d2l-book-wheel" href="{DOWNLOADS}/{wheel_name(version)}" download '
        'title="Until the package is on PyPI, the Colab cell asks for this file">'
        "The course's package (.whl), for Colab</a>",
    ]
    url = colab_url(home, version, chapter)
    if url:
        links.append(f'<a class="d2l-book-colab" href="{html.escape(url)}">Open in Colab</a>')
    return '<p class="d2l-book-links">\n' + "\n".join(links) + "\n</p>"


def for_the_page(executed: Path, links: str) -> nbformat.NotebookNode:
    """The executed chapter as the page shows it: `links` under the title, no claim check.

    Nor the figure above an explorer tagged REPLACES_FIGURE_ABOVE: the explorer's live
    figure starts where that one is.
    """
    nb = nbformat.read(executed, as_version=4)
    hidden = (INJECTED, CLAIM_CHECK)
    nb.cells = [c for c in nb.cells if not set(hidden) & set(c.metadata.get("tags", []))]
    nb.metadata.pop("widgets", None)
    title = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(title + 1, nbformat.v4.new_markdown_cell(links))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.execution_count:
            cell.execution_count -= 1
        outputs = []
        for output in cell.outputs:
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                print(f"{executed.stem}: a widget outside d2l.explore is shown as a note")
                output = widget_note()
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


def fraction_banner(fraction: str) -> str:
    """The banner of a book whose chapters ran at D2L_EPOCH_FRACTION=`fraction`."""
    try:
        share = f"{float(fraction):.0%} of its batches"
    except ValueError:
        share = "a fraction of its batches"
    return (
        f"<strong>A quick build:</strong> every Fashion-MNIST epoch ran {share} "
        f"(<code>D2L_EPOCH_FRACTION={html.escape(fraction)}</code>), so the figures and "
        "numbers of this book are not the ones its text discusses, which hold at full length "
        "only. <code>make book</code> without that setting builds the full-length book."
    )


def stage_config(src: Path) -> None:
    """The staged _config.yml: book/_config.yml, with the banner of a quick build."""
    import yaml  # PyYAML, which Jupyter Book needs

    fraction = os.environ.get("D2L_EPOCH_FRACTION", "").strip()
    if not fraction:
        return
    config_file = src / "_config.yml"
    config = yaml.safe_load(config_file.read_text())
    # (book/_config.yml sets html_theme_options itself, so Jupyter Book's html.announcement
    # would be overridden: the banner goes among those options, as the theme reads it.)
    options = config["sphinx"]["config"].setdefault("html_theme_options", {})
    options["announcement"] = fraction_banner(fraction)
    config_file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def stage(chapters: list[Path], executed: list[Path], src: Path) -> None:
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    stage_config(src)
    version, home = package_version(), project_home()
    toc = ["format: jb-book", "root: index", "chapters:"]
    for chapter, path in zip(chapters, executed):
        page = for_the_page(path, page_links(chapter.name, version, home))
        nbformat.write(page, src / chapter.name)
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


def build_wheel(folder: Path) -> Path:
    """The course's wheel, built as `make dist` builds it (from the sdist), without network."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", scratch, str(REPO)]
        run = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(scratch).glob("*.whl"))
        if run.returncode or len(wheels) != 1:
            fail(f"building the wheel failed ({' '.join(command)}):\n{run.stdout}{run.stderr}")
        return Path(shutil.copy2(wheels[0], folder))


def add_downloads(chapters: list[Path], out: Path) -> None:
    """Each chapter's notebook, as in the repository, and the wheel, in the site's downloads/."""
    folder = out / DOWNLOADS
    folder.mkdir()
    for chapter in chapters:
        shutil.copy2(chapter, folder / chapter.name)
    wheel = build_wheel(folder)
    if wheel.name != wheel_name(package_version()):
        fail(f"the wheel is {wheel.name}, the chapters' pages link {wheel_name(package_version())}")


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
    parser.add_argument("--source", type=Path, default=CHAPTERS, help="the chapters' folder")
    parser.add_argument(
        "--cache", type=Path, default=BOOK / "_build" / "executed", help="executed copies"
    )
    args = parser.parse_args()
    frames = args.frames or (FRAMES_QUICK if os.environ.get("D2L_EPOCH_FRACTION") else FRAMES_FULL)
    out = args.out.resolve()
    chapters = sorted(args.source.resolve().glob(args.chapters))
    if not chapters:
        fail(f"no notebooks in {args.source}")
    begin = time.perf_counter()
    executed = execute_all(chapters, args.jobs, args.timeout, frames, args.cache.resolve())
    src = out.parent / f"{out.name}-src"
    stage(chapters, executed, src)
    render(src, out)
    add_downloads(chapters, out)
    if loads := external_loads(out):
        fail("pages load files from other hosts (the book must read offline):\n" + "\n".join(loads))
    report_weights(out)
    print(f"book: {len(chapters)} chapters in {time.perf_counter() - begin:.0f} s")
    print(f"book: open {out / 'index.html'}  (or: cd {out} && python -m http.server)")


if __name__ == "__main__":
    main()
