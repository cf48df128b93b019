"""Fashion-MNIST: find the four files, verify their content, and read them into tensors.

What the course knows about the data set (files, URLs, checksums, sizes, Debian's
package) is its record, `datasets.FASHION_MNIST`. Each file is looked for in this
order, and the first copy found is used:

1. the data root, `<root>/FashionMNIST/raw/` (torchvision's layout);
2. system folders, such as `/usr/share/datasets/fashion-mnist/`, where Debian's and
   Ubuntu's package `dataset-fashion-mnist` puts it;
3. a download from the canonical URL into the data root (checked against the
   published MD5 of the compressed file).

Every copy is verified on its uncompressed content (SHA-256 of the IDX bytes), so any
faithful copy is accepted whatever its gzip header (Debian recompressed the files),
and a damaged or different file is an error that names it, never used. A file that
passed is remembered, by path, size and modification time, in the per-user cache, so
later sessions skip the hashing. Reading writes nothing into the data root: a
read-only one works. The tensors are kept in memory for the rest of the session.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import tempfile
import zlib
from pathlib import Path

import torch

from .datasets import FASHION_MNIST, DataFile
from .download import DownloadError, download
from .idx import IDXError, parse_idx
from .settings import user_cache_dir

TEXT_LABELS = [
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]  # fmt: skip

# The record's list of system folders (tests and offline runs empty it in place).
SYSTEM_DIRS = FASHION_MNIST.system_dirs


def raw_folder() -> Path:
    """The folder of the data root the files are read from and downloaded to."""
    return FASHION_MNIST.folder()


def locate_fashion_mnist() -> dict[str, Path | None]:
    """Return where each of the four files is found (data root first), or None if nowhere."""
    return FASHION_MNIST.locate()


def how_to_get_fashion_mnist(missing: list[str]) -> str:
    """Say which files are missing, where they were looked for, and how to get them."""
    return FASHION_MNIST.how_to(missing)


def read_fashion_mnist() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return `(train_images, train_labels, test_images, test_labels)` as tensors.

    Images are uint8, N x 28 x 28; labels int64. Files found nowhere are downloaded;
    where that fails, the error says which files are missing and how to get them.
    """
    paths = locate_fashion_mnist()
    missing = [key for key, path in paths.items() if path is None]
    try:
        for key in missing:
            paths[key] = Path(download(FASHION_MNIST.files[key].hub_name, raw_folder()))
    except DownloadError as e:
        raise FileNotFoundError(f"{how_to_get_fashion_mnist(missing)}\n({e})") from e
    out = []
    for split in ("train", "test"):
        images = _read_verified(paths[f"{split}-images"], FASHION_MNIST.files[f"{split}-images"])
        labels = _read_verified(paths[f"{split}-labels"], FASHION_MNIST.files[f"{split}-labels"])
        out += [images, labels.long()]
    return tuple(out)


def _read_verified(path: Path, file: DataFile) -> torch.Tensor:
    stat = path.stat()
    return _read_cached(str(path), stat.st_size, stat.st_mtime_ns, file.content_sha256)


def _fix(path: str) -> str:
    """What to do about a bad copy at `path`."""
    if any(Path(path).parent == folder for folder in FASHION_MNIST.system_dirs):
        return f"Reinstall it: sudo apt-get install --reinstall {FASHION_MNIST.debian_package}."
    return "Delete it and run again to download it afresh, or put the original file there."


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, size: int, mtime_ns: int, sha256: str) -> torch.Tensor:
    """Inflate, verify and parse `path` once per session (per size and modification time)."""
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            raw = bytearray(f.read())
    except (OSError, EOFError, zlib.error) as e:
        raise IDXError(f"{path} is not a readable IDX file ({e}). {_fix(path)}") from e
    tensor = parse_idx(raw, path, _fix(path))
    key = [size, mtime_ns, sha256]
    if _verified().get(path) != key:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise IDXError(
                f"{path} is not the original Fashion-MNIST file: the SHA-256 of its "
                f"uncompressed content is {digest}, expected {sha256}. {_fix(path)}"
            )
        _remember(path, key)
    return tensor


def _memo_file() -> Path:
    return user_cache_dir() / "verified.json"


def _verified() -> dict[str, list]:
    """The files verified earlier: path -> [size, mtime_ns, sha256]."""
    try:
        return json.loads(_memo_file().read_text())
    except (OSError, ValueError):
        return {}


def _remember(path: str, key: list) -> None:
    """Record that `path`, at this size and mtime, passed; skipped where the cache is read-only."""
    memo = _memo_file()
    entries = _verified()
    entries[path] = key
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".verified.", suffix=".part", dir=memo.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f)
        os.replace(tmp, memo)
    except OSError:
        Path(tmp).unlink(missing_ok=True)  # a full disk: leave no half-written file behind
