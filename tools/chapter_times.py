"""Print how long each chapter took to run in the book's build: the README's table of times.

Usage: python tools/chapter_times.py [--fraction full] [--cache book/_build/executed]

`make book` records how long each chapter ran top to bottom, and on what machine, in
times.json beside the executed chapters (tools/build_book.py). This prints those times as a
markdown table for the build at one epoch fraction: by default the full-length build
(`make book` without D2L_EPOCH_FRACTION), whose times the README quotes. A chapter with no
time at that fraction is marked "not measured".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def duration(seconds: float) -> str:
    """`seconds` as the README writes times: 8 s, 3 min 39 s, 46 min."""
    seconds = round(seconds)
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    if minutes >= 20 or not rest:
        return f"{minutes + (rest >= 30)} min"
    return f"{minutes} min {rest} s"


def machine(record: dict) -> str:
    if "cpus" not in record:
        return "not recorded"
    device = record.get("gpu") or f"{record['cpus']}-core CPU, no GPU"
    load = f"load {record['load_average_at_start']}-{record['load_average_at_end']}"
    threads = f", OMP_NUM_THREADS={record['omp_threads']}" if record.get("omp_threads") else ""
    return f"{device}, {load}{threads}"


def table(times: dict, chapters: list[str], fraction: str) -> str:
    rows = ["| chapter | time | machine |", "| --- | ---: | --- |"]
    for chapter in chapters:
        record = times.get(chapter, {}).get(fraction)
        if record:
            rows.append(
                f"| `{Path(chapter).stem}` | {duration(record['seconds'])} | {machine(record)} |"
            )
        else:
            rows.append(f"| `{Path(chapter).stem}` | not measured | |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fraction", default="full", help="D2L_EPOCH_FRACTION of the build")
    parser.add_argument("--cache", type=Path, default=REPO / "book" / "_build" / "executed")
    args = parser.parse_args()
    times_file = args.cache / "times.json"
    if not times_file.exists():
        print(f"{times_file} does not exist: build the book first (`make book`)", file=sys.stderr)
        return 1
    times = json.loads(times_file.read_text())
    chapters = sorted({p.name for p in (REPO / "chapters").glob("*.ipynb")} | set(times))
    print(table(times, chapters, args.fraction))
    return 0


if __name__ == "__main__":
    sys.exit(main())
