"""The book's explorers in Chromium: every control of every explorer moves its figure.

Uses the book that tests/test_book.py builds (its `build_log`, `book`, `site` and `browser`
fixtures: the test fraction, book/_build/test-html, Debian's Chromium) and opens every
chapter page with an explorer. Each explorer must come alive (its frames inflated by
book/_static/d2l-book.js), and moving each of its controls, one step with the
keyboard for a slider and the next option for a list, must change the figure's SVG
and the readout, keep the figure's size, and leave the page without a console error
and without a request to another host. Screenshots go to test-artifacts/book/.
"""

from __future__ import annotations

import hashlib

import nbformat
import pytest
from test_book import (
    ARTIFACTS,
    CHAPTERS,
    book,
    browser,
    build_log,
    in_chromium,
    open_page,
    site,
)

pytestmark = pytest.mark.slow
__all__ = ["book", "browser", "build_log", "site"]  # fixtures this module uses, from test_book.py

MIN_TRACK_PX = 250
CONTROLS = ", ".join(
    f".d2l-explore-controls {kind}" for kind in ("input[type=range]", "select:not([disabled])")
)


def _explorers(path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(c.source.count("d2l.explore(") for c in nb.cells if c.cell_type == "code")


EXPLORER_CHAPTERS = [p for p in sorted(CHAPTERS.glob("*.ipynb")) if _explorers(p)]

# The figures a box shows (a digest of each SVG, read back from its data: or blob: URL),
# each figure's size, and the readouts and selections of its controls.
STATE_JS = """async box => {
    const figures = [];
    for (const image of box.querySelectorAll('.d2l-explore-figure')) {
        const text = await (await fetch(image.src)).text();
        const rect = image.getBoundingClientRect();
        figures.push({text, width: rect.width, height: rect.height,
                      loaded: image.complete && image.naturalWidth > 0});
    }
    const readouts = Array.from(box.querySelectorAll('.d2l-explore-controls label'))
        .map(l => { const o = l.querySelector('output'); const s = l.querySelector('select');
                    return o ? o.textContent : s ? s.value : ''; });
    return {figures, readouts, text: box.querySelector('.d2l-explore-text').textContent};
}"""


def _state(box) -> dict:
    state = box.evaluate(STATE_JS)
    for figure in state["figures"]:
        figure["text"] = hashlib.sha256(figure["text"].encode()).hexdigest()
    return state


@in_chromium
@pytest.mark.parametrize("chapter", EXPLORER_CHAPTERS, ids=lambda p: p.stem)
def test_every_control_of_every_explorer_moves_its_figure(browser, site, chapter):
    expected = _explorers(chapter)
    with open_page(browser, site, f"{chapter.stem}.html") as view:
        page = view.page
        boxes = page.locator(".d2l-explore")
        assert boxes.count() == expected, (
            f"{chapter.name} has {expected} explorers; its page shows {boxes.count()}"
        )
        page.wait_for_function(
            "n => document.querySelectorAll('.d2l-explore-live').length === n", arg=expected
        )
        moved = 0
        for b in range(expected):
            box = boxes.nth(b)
            box.scroll_into_view_if_needed()
            controls = box.locator(CONTROLS)
            assert controls.count(), f"{chapter.name}: explorer {b + 1} has no control to move"
            for c in range(controls.count()):
                control = controls.nth(c)
                label = control.get_attribute("aria-label")
                what = f"{chapter.name}, explorer {b + 1}, {label!r}"
                before = _state(box)
                assert before["figures"] and all(f["loaded"] for f in before["figures"]), what
                if control.evaluate("e => e.type") == "range":
                    width = control.evaluate("e => e.getBoundingClientRect().width")
                    assert width >= MIN_TRACK_PX, f"{what}: a track of {width:.0f} px"
                    at_end = control.evaluate("e => e.value === e.max")
                    control.focus()
                    page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
                else:
                    count = control.evaluate("e => e.options.length")
                    index = control.evaluate("e => e.selectedIndex")
                    control.select_option(index=(index + 1) % count)
                after = _state(box)
                assert after["readouts"] != before["readouts"], f"{what}: the readout stayed"
                assert [f["text"] for f in after["figures"]] != [
                    f["text"] for f in before["figures"]
                ], f"{what}: the figure did not change"
                sizes = [[(f["width"], f["height"]) for f in s["figures"]] for s in (before, after)]
                assert sizes[0] == sizes[1], f"{what}: the figure changed size {sizes}"
                assert all(f["loaded"] for f in after["figures"]), f"{what}: a figure did not load"
                moved += 1
            box.screenshot(path=str(ARTIFACTS / f"{chapter.stem}-explorer-{b + 1}-moved.png"))
        print(f"{chapter.name}: {expected} explorers, {moved} controls moved")
