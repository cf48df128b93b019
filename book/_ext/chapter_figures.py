"""Number each chapter's figures under its chapter number: "Fig. 4.2", as d2l.ai does.

With `numfig` on, Sphinx numbers captioned figures; without a numbered table of contents
(the chapters' titles carry their own numbers) it counts them through the whole book.
This extension runs after Sphinx has numbered them and numbers each page's figures again
from 1, under the chapter number its file name starts with (04_momentum: chapter 4).
Captions and {numref} references both show the new numbers.
"""

from __future__ import annotations

import re

CHAPTER = re.compile(r"^(\d+)_")


def renumber(app, env) -> list[str]:
    """Renumber env.toc_fignumbers per chapter; Sphinx then writes pages with these."""
    for docname, by_type in env.toc_fignumbers.items():
        match = CHAPTER.match(docname)
        if not match:
            continue
        for numbers in by_type.values():
            for index, figure_id in enumerate(sorted(numbers, key=numbers.get), start=1):
                numbers[figure_id] = (int(match.group(1)), index)
    return []


def setup(app) -> dict:
    app.connect("env-get-updated", renumber, priority=900)  # after Sphinx's own numbering
    return {"parallel_read_safe": True, "parallel_write_safe": True}
