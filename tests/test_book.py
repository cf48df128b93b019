"""The course as a book: `tools/build_book.py` builds it, and Chromium reads it offline.

Builds the book at the test fraction (D2L_EPOCH_FRACTION, 0.05 unless set) into
book/_build/test-html; the executed chapters are cached in book/_build/executed, so a
second run with unchanged chapters only renders. Then serves the site on 127.0.0.1 and
opens it in Debian's Chromium (/usr/bin/chromium, launched as tests/test_browser.py
does) through Playwright. Every page must load without console errors and without a
request to another host; chapter pages must show each image their executed notebook
produced, typeset maths and links to their neighbours; chapter 10's animation must
play from its controls (tests/test_book_explorers.py moves every explorer's controls), and
the search must find a chapter and show its excerpts as text, without raw TeX. Every page of
this build (a quick one, at a fraction) carries the banner that says so; chapter pages
link to their notebook and the course's wheel, both served by the site, and show one
search box; the Colab cell is hidden. The build prints no warning, and records each
chapter's time in times.json. A small book built from a notebook of this test's own
shows figures numbered per chapter, with captions from cell metadata, and references to
them. Screenshots go to test-artifacts/book/.

The browser tests are skipped, with the reason, only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page
from test_browser import chromium_context, require_chromium

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from chapter_times import duration, table  # noqa: E402
from colab_cell import package_version, wheel_name  # noqa: E402

sys.path.remove(str(REPO / "tools"))
CHAPTERS = REPO / "chapters"
OUT = REPO / "book" / "_build" / "test-html"
STAGED = OUT.parent / f"{OUT.name}-src"  # the executed chapters as the pages show them
CACHE = REPO / "book" / "_build" / "executed"
FRACTION = os.environ.get("D2L_EPOCH_FRACTION") or "0.05"
ARTIFACTS = REPO / "test-artifacts" / "book"
BUILD_TIMEOUT_S = 2400
PAGE_TIMEOUT_S = 120  # a loaded CI machine; chapter 10's page holds a 2 MB animation
IMAGE_MIMES = ("image/png", "image/svg+xml", "image/jpeg", "image/gif")
BROKEN = ("Traceback (most recent call last)", "Error displaying widget", "widget-view+json")

pytestmark = pytest.mark.slow
in_chromium = pytest.mark.browser


def _chapter(pattern: str) -> Path:
    found = sorted(CHAPTERS.glob(pattern))
    assert found, f"no chapters/{pattern} to check in the book"
    return found[0]


def build(out: Path, *options: str, log_name: str = "build.log") -> str:
    """Run tools/build_book.py at the test fraction; its output, or a failure with its end."""
    env = dict(os.environ, D2L_EPOCH_FRACTION=FRACTION)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    begin = time.monotonic()
    # Its own process group: on a timeout the build and every kernel it started are stopped.
    build_process = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "build_book.py"), "--out", str(out), *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = build_process.communicate(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(build_process.pid, signal.SIGKILL)
        log, _ = build_process.communicate()
        log += f"\n[stopped after {BUILD_TIMEOUT_S} s, with the kernels it had started]"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / log_name).write_text(log)
    assert build_process.returncode == 0, (
        f"tools/build_book.py failed (exit status {build_process.returncode}); the end of its "
        f"output (all of it in {ARTIFACTS / log_name}):\n{log[-6000:]}"
    )
    print(f"book built in {time.monotonic() - begin:.0f} s")
    return log


@pytest.fixture(scope="module")
def build_log() -> str:
    """The output of building book/_build/test-html."""
    return build(OUT)


@pytest.fixture(scope="module")
def book(build_log) -> Path:
    """The built site (book/_build/test-html); fails with the build's output if it fails."""
    return OUT


def expected_images(chapter: Path) -> int:
    """Images the chapter's page must show: one per image output, each <img> of HTML ones.

    myst-nb renders an output's HTML before its images, as JupyterLab does.
    """
    nb = nbformat.read(STAGED / chapter.name, as_version=4)
    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                count += len(re.findall(r"<img\b", data["text/html"]))
            elif any(mime in data for mime in IMAGE_MIMES):
                count += 1
    return count


def test_the_book_has_a_page_per_chapter_and_loads_nothing_from_other_hosts(book):
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from build_book import external_loads
    finally:
        sys.path.remove(str(REPO / "tools"))
    chapters = sorted(CHAPTERS.glob("*.ipynb"))
    missing = [c.name for c in chapters if not (book / f"{c.stem}.html").exists()]
    assert not missing, f"no page in {book} for {missing}"
    assert (book / "_static" / "mathjax" / "tex-chtml.js").exists(), "MathJax was not copied"
    assert not external_loads(book)
    for chapter in chapters:
        text = (book / f"{chapter.stem}.html").read_text()
        shown = [marker for marker in BROKEN if marker in text]
        assert not shown, f"{chapter.stem}.html shows {shown}"


# ---------------------------------------------------------------- in Chromium


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(book):
    """The built book served on 127.0.0.1, as `python -m http.server` serves it."""
    handler = functools.partial(_QuietHandler, directory=str(book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    require_chromium()
    with chromium_context(tmp_path_factory) as context:
        yield context


@dataclass
class BookPage:
    page: Page
    name: str
    problems: list[str] = field(default_factory=list)

    def screenshot(self, label: str, **options) -> Path:
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), **options)
        return path


@contextlib.contextmanager
def open_page(browser, site: str, name: str):
    """Open `name` from the site; collect console errors and requests to other hosts."""
    page = browser.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    view = BookPage(page, Path(name).stem or "index")

    def route(route):
        url = route.request.url
        if url.startswith((site, "data:", "blob:")):
            route.continue_()
        else:
            view.problems.append(f"request to another host: {url}")
            route.abort()

    page.route("**/*", route)
    page.on(
        "console",
        lambda m: view.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else 0,
    )
    page.on("pageerror", lambda e: view.problems.append(f"page error: {e}"))
    try:
        page.goto(site + name, wait_until="load")
        # MathJax 3 typesets after the load event; its promise settles when it is done.
        page.evaluate(
            "() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null",
        )
        yield view
        assert not view.problems, f"{name}:\n" + "\n".join(view.problems)
    except BaseException:
        with contextlib.suppress(Exception):
            view.screenshot("failure", full_page=True)
        raise
    finally:
        page.close()


@in_chromium
def test_landing_page_introduces_the_course_and_lists_every_chapter(browser, site):
    chapters = sorted(CHAPTERS.glob("*.ipynb"))
    with open_page(browser, site, "index.html") as view:
        page = view.page
        text = page.locator("article").inner_text()
        for needed in ("make lab", "Colab"):
            assert needed in text, f"the landing page does not mention {needed!r}"
        links = page.eval_on_selector_all(
            "article .toctree-wrapper a.reference", "as => as.map(a => a.getAttribute('href'))"
        )
        assert links == [f"{c.stem}.html" for c in chapters], (
            f"the landing page's chapter list {links} is not the chapters in {CHAPTERS}"
        )
        side = page.eval_on_selector_all(
            ".bd-sidebar-primary a.reference", "as => as.map(a => a.getAttribute('href'))"
        )
        assert [f"{c.stem}.html" for c in chapters] == [s for s in side if s != "#"][
            -len(chapters) :
        ]
        view.screenshot("top")
        view.screenshot("full", full_page=True)


@in_chromium
@pytest.mark.parametrize("pattern", ["04_*.ipynb", "10_*.ipynb"], ids=["momentum", "comparison"])
def test_chapter_page_shows_its_figures_typeset_maths_and_neighbours(browser, site, pattern):
    chapter = _chapter(pattern)
    chapters = sorted(CHAPTERS.glob("*.ipynb"))
    with open_page(browser, site, f"{chapter.stem}.html") as view:
        page = view.page
        images = page.eval_on_selector_all(
            "article .cell_output img",
            """is => is.map(i => ({
                loaded: i.complete && i.naturalWidth > 0, src: i.src.slice(0, 80)}))""",
        )
        want = expected_images(chapter)
        assert want > 0, f"{chapter.name}: the executed notebook has no image output"
        assert len(images) == want, (
            f"{chapter.name}: the page shows {len(images)} images; its executed notebook "
            f"produced {want}"
        )
        broken = [i["src"] for i in images if not i["loaded"]]
        assert not broken, f"{chapter.name}: images that did not load: {broken}"

        maths = page.evaluate("""() => {
            const math = Array.from(document.querySelectorAll('article .math'));
            return {count: math.length,
                    raw: math.filter(m => !m.querySelector('mjx-container'))
                        .map(m => m.textContent),
                    errors: document.querySelectorAll('article mjx-merror').length};
        }""")
        assert maths["count"] > 0, f"{chapter.name}: no maths on the page"
        assert not maths["raw"], f"{chapter.name}: maths left untypeset: {maths['raw'][:5]}"
        assert not maths["errors"], f"{chapter.name}: {maths['errors']} maths errors"
        prose = page.evaluate("""() => {
            const article = document.querySelector('article').cloneNode(true);
            article.querySelectorAll('pre, code, script, .cell_output').forEach(e => e.remove());
            return article.innerText;
        }""")
        leftovers = [d for d in ("$$", "\\(", "\\[") if d in prose]
        assert not leftovers, f"{chapter.name}: raw maths delimiters {leftovers} in the prose"
        shown = page.locator("article").inner_text()
        assert not [m for m in BROKEN if m in shown], f"{chapter.name}: broken output shown"

        index = chapters.index(chapter)
        footer = page.locator(".prev-next-area")
        prev_href = footer.locator("a.left-prev").get_attribute("href")
        following = footer.locator("a.right-next")
        next_href = following.get_attribute("href") if following.count() else None
        want_prev = f"{chapters[index - 1].stem}.html" if index else "index.html"
        want_next = f"{chapters[index + 1].stem}.html" if index + 1 < len(chapters) else None
        assert (prev_href, next_href) == (want_prev, want_next)
        view.screenshot("top")
        page.locator("article .cell_output img").first.scroll_into_view_if_needed()
        view.screenshot("first-figure")


@in_chromium
def test_comparison_animation_plays_from_its_controls(browser, site):
    chapter = _chapter("10_*.ipynb")
    with open_page(browser, site, f"{chapter.stem}.html") as view:
        page = view.page
        player = page.locator("article .animation").first
        assert player.count(), f"{chapter.name}: no animation player on the page"
        for title in ("Play", "Pause", "Next frame", "Previous frame", "First frame"):
            assert player.locator(f"button[title='{title}']").count(), f"no {title!r} button"
        slider, image = player.locator("input.anim-slider"), player.locator("img")
        player.scroll_into_view_if_needed()
        player.locator("button[title='First frame']").click()
        first = image.get_attribute("src"), slider.input_value()
        player.locator("button[title='Next frame']").click()
        second = image.get_attribute("src"), slider.input_value()
        assert first[0] != second[0] and int(second[1]) == int(first[1]) + 1, (
            f"{chapter.name}: 'Next frame' did not advance the animation ({first[1]} -> "
            f"{second[1]})"
        )
        view.screenshot("animation")


@in_chromium
def test_search_finds_the_momentum_chapter_offline(browser, site):
    chapter = _chapter("04_*.ipynb")
    with open_page(browser, site, "search.html?q=Nesterov") as view:
        page = view.page
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results ul.search li').length > 0",
            timeout=PAGE_TIMEOUT_S * 1000,
        )
        hits = page.eval_on_selector_all(
            "#search-results ul.search li a", "as => as.map(a => a.getAttribute('href'))"
        )
        assert any(h.startswith(f"{chapter.stem}.html") for h in hits), hits
        view.screenshot("results")


# ---------------------------------------------------------------- what the build prints and records


def test_the_build_prints_no_warning_and_records_each_chapters_time(build_log):
    warnings = [line for line in build_log.splitlines() if re.search(r"\bWARNING\b", line)]
    assert not warnings, "the build printed warnings a learner reads as failure:\n" + "\n".join(
        warnings
    )
    times = json.loads((CACHE / "times.json").read_text())
    for chapter in sorted(CHAPTERS.glob("*.ipynb")):
        record = times.get(chapter.name, {}).get(FRACTION)
        assert record and record["seconds"] > 0, f"no time recorded for {chapter.name}"


def test_the_chapter_time_table_reads_as_the_readme_writes_times():
    assert [duration(s) for s in (8.1, 219, 287.4, 2760, 3960)] == [
        "8 s",
        "3 min 39 s",
        "4 min 47 s",
        "46 min",
        "66 min",
    ]
    times = {
        "09_lr_schedulers.ipynb": {
            "full": {
                "seconds": 2760,
                "cpus": 2,
                "gpu": None,
                "omp_threads": "1",
                "load_average_at_start": 2.0,
                "load_average_at_end": 6.1,
            },
            "0.05": {"seconds": 48.7, "machine": "not recorded"},
        }
    }
    rows = table(times, ["08_adam.ipynb", "09_lr_schedulers.ipynb"], "full").splitlines()
    assert rows[2] == "| `08_adam` | not measured | |"
    assert rows[3] == (
        "| `09_lr_schedulers` | 46 min | 2-core CPU, no GPU, load 2.0-6.1, OMP_NUM_THREADS=1 |"
    )
    assert "| 49 s | not recorded |" in table(times, ["09_lr_schedulers.ipynb"], "0.05")


# ---------------------------------------------------------------- banner, links, one search box

TEX = re.compile(r"\\[()\[\]]|\\(?:math\w*|frac|left|right|beta|eta|leftarrow|hat)\b")


def visible_search_boxes(page: Page) -> int:
    return page.evaluate("""() => Array.from(document.querySelectorAll(
            '.search-button-field, .search-button, input[type=search]'))
        .filter(e => { const r = e.getBoundingClientRect();
                       return r.width > 0 && r.height > 0
                           && getComputedStyle(e).visibility !== 'hidden'; }).length""")


@in_chromium
@pytest.mark.parametrize("name", ["index.html", "04", "search.html"])
def test_every_page_of_a_quick_build_says_its_numbers_are_not_the_texts(browser, site, name):
    if name == "04":
        name = f"{_chapter('04_*.ipynb').stem}.html"
    with open_page(browser, site, name) as view:
        banner = view.page.locator(".bd-header-announcement")
        assert banner.count() == 1 and banner.is_visible(), f"{name}: no banner"
        text = banner.inner_text()
        assert f"D2L_EPOCH_FRACTION={FRACTION}" in text, text
        assert "not the ones its text discusses" in text, text
        view.screenshot("banner")


@in_chromium
def test_a_chapter_page_offers_its_notebook_and_the_wheel_and_one_search_box(browser, site):
    chapter = _chapter("04_*.ipynb")
    with open_page(browser, site, f"{chapter.stem}.html") as view:
        page = view.page
        bar = page.locator("article .d2l-book-links")
        assert bar.count() == 1, f"{chapter.name}: no bar of links under the title"
        title_top = page.locator("article h1").first.bounding_box()["y"]
        first_code = page.locator("article .cell").first.bounding_box()["y"]
        assert title_top < bar.bounding_box()["y"] < first_code
        notebook = bar.locator("a.d2l-book-notebook").get_attribute("href")
        served = page.request.get(site + notebook)
        assert served.ok and served.body() == chapter.read_bytes(), notebook
        wheel = bar.locator("a.d2l-book-wheel").get_attribute("href")
        assert wheel.endswith(wheel_name(package_version()))
        served = page.request.get(site + wheel)
        assert served.ok and served.body()[:2] == b"PK", wheel  # a zip file: the wheel
        assert bar.locator("a.d2l-book-colab").count() == 0  # no home in pyproject yet
        article = page.locator("article").inner_text()
        assert "google.colab" not in article and "%pip" not in article, "the Colab cell shows"
        assert visible_search_boxes(page) == 1
        view.screenshot("links")


@in_chromium
def test_search_results_show_maths_as_text(browser, site):
    with open_page(browser, site, "search.html?q=Nesterov") as view:
        page = view.page
        page.wait_for_function(
            """() => { const hits = document.querySelectorAll('#search-results ul.search li');
                return hits.length > 0 && Array.from(hits).every(h => h.querySelector('p.context'));
            }""",
            timeout=PAGE_TIMEOUT_S * 1000,
        )
        excerpts = page.eval_on_selector_all(
            "#search-results ul.search li p.context", "ps => ps.map(p => p.innerText)"
        )
        raw = [e for e in excerpts if TEX.search(e)]
        assert not raw, f"search excerpts show raw TeX: {raw}"
        assert any("←" in e or "β" in e for e in excerpts), excerpts  # maths, as text
        view.screenshot("maths-as-text")


# ---------------------------------------------------------------- figures: numbers and captions


@pytest.fixture(scope="module")
def figures_book(tmp_path_factory) -> Path:
    """A book of one notebook, 03_captions, with two captioned figures and references."""
    root = tmp_path_factory.mktemp("figures-book")
    (root / "chapters").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 3. Captions\n\nThe parabola in {numref}`fig-parabola` and the line in "
            "{numref}`fig-line`."
        ),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt"),
        nbformat.v4.new_code_cell(
            "plt.plot([x * x for x in range(-5, 6)]);",
            metadata={"mystnb": {"figure": {"caption": "A parabola.", "name": "fig-parabola"}}},
        ),
        nbformat.v4.new_code_cell(
            "plt.plot([1, 2, 3]);",
            metadata={"mystnb": {"figure": {"caption": "A line.", "name": "fig-line"}}},
        ),
    ]
    nbformat.write(nb, root / "chapters" / "03_captions.ipynb")
    out = root / "html"
    build(out, "--source", str(root / "chapters"), "--cache", str(root / "cache"),
          log_name="figures-build.log")  # fmt: skip
    return out


@in_chromium
def test_figures_are_numbered_per_chapter_with_the_captions_of_their_cells(figures_book, browser):
    handler = functools.partial(_QuietHandler, directory=str(figures_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        site = f"http://127.0.0.1:{server.server_address[1]}/"
        with open_page(browser, site, "03_captions.html") as view:
            page = view.page
            captions = page.eval_on_selector_all(
                "article figure figcaption", "cs => cs.map(c => c.innerText.trim())"
            )
            assert captions == ["Fig. 3.1 A parabola.", "Fig. 3.2 A line."], captions
            assert page.locator("article figure img").count() == 2
            refs = page.eval_on_selector_all(
                "article p a.reference",
                "as => as.map(a => [a.innerText.trim(), a.getAttribute('href')])",
            )
            assert refs == [["Fig. 3.1", "#fig-parabola"], ["Fig. 3.2", "#fig-line"]], refs
            view.screenshot("figures")
    finally:
        server.shutdown()
        server.server_close()
