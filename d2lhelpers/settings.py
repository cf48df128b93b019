"""The course's settings: the `D2L_*` environment variables, read here and nowhere else.

Every setting is read at each call, so a notebook that changes `os.environ` sees the
change at once.

- `D2L_DATA_DIR`: the data root, where data sets are looked for and downloaded to.
  Unset, empty or only spaces (`D2L_DATA_DIR=" "`), it means the default: the
  checkout's `data/` folder (when the package runs from a checkout of the course), else
  the per-user cache. A leading `~` is the home folder. A relative path is refused
  with a `ValueError`, never resolved: it would name another folder in every working
  directory (the notebooks run in `chapters/`, `make test` in the checkout), so data
  would be downloaded into several places, each a folder nobody asked for.
- `D2L_EPOCH_FRACTION`: a number in (0, 1], default 1; each Fashion-MNIST epoch yields
  only that share of its batches. For test runs of the course only.

The per-user cache is `$XDG_CACHE_HOME/d2lhelpers` (an absolute `XDG_CACHE_HOME`
only, as the XDG specification says; default `~/.cache`), `~/Library/Caches/d2lhelpers`
on macOS, `%LOCALAPPDATA%\\d2lhelpers` on Windows. It holds the data root outside a
checkout and the memo of verified files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DATA_DIR = "D2L_DATA_DIR"
EPOCH_FRACTION = "D2L_EPOCH_FRACTION"

# Each setting: what it means, and what holds when it is not set.
MEANINGS = {
    DATA_DIR: (
        "the data root, where data sets are looked for and downloaded to",
        "data/ in a checkout of the course, else the per-user cache",
    ),
    EPOCH_FRACTION: (
        "the share of each Fashion-MNIST epoch the loaders yield, in (0, 1]; for test runs",
        "1, full epochs (learners leave it unset)",
    ),
}


def raw(name: str) -> str | None:
    """The text setting `name` is set to, or None when it is unset, empty or only spaces."""
    value = os.environ.get(name)
    return value if value and value.strip() else None


def user_cache_dir() -> Path:
    """The per-user cache folder of the package (it need not exist yet)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "d2lhelpers"


def data_root() -> Path:
    """Return the folder data sets live in: `D2L_DATA_DIR`, the checkout's `data/`, or a cache."""
    value = raw(DATA_DIR)
    if value is not None:
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise ValueError(
                f"{DATA_DIR}={value!r} is a relative path: it would name another folder in "
                f"every working directory. Set it to an absolute path, such as "
                f"{DATA_DIR}={Path.home() / 'd2l-data'}, or unset it for the default."
            )
        return path
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "chapters").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return user_cache_dir()


def epoch_fraction() -> float:
    """Read `D2L_EPOCH_FRACTION` (default 1.0): the share of each epoch the loaders yield."""
    text = (raw(EPOCH_FRACTION) or "").strip()
    if not text:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise ValueError(f"{EPOCH_FRACTION}={text!r}: expected a number in (0, 1], like 0.1.")
    return value


def describe() -> str:
    """Each setting: its value (or that it is unset), what it means, and what it gives now."""
    lines = []
    for name, now in ((DATA_DIR, data_root), (EPOCH_FRACTION, epoch_fraction)):
        value = raw(name)
        try:
            effect = now()
        except ValueError as e:
            effect = f"an error: {e}"
        meaning, default = MEANINGS[name]
        lines += [
            f"{name} = {value!r}" if value is not None else f"{name} is not set",
            f"  meaning:   {meaning}",
            f"  default:   {default}",
            f"  in effect: {effect}",
        ]
    return "\n".join(lines)
