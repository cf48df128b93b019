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
and a damaged or different file is an error that names it, never used. A read stops
one byte past the file's known length. Reading writes nothing into the data root: a
read-only one works. The tensors are kept in memory for the rest of the session.

The memo of verified files. Hashing 55 MB takes a fraction of a second, so a file that
passed is remembered in the per-user cache (`verified.json`, at most
`MEMO_MAX_ENTRIES` files) and later sessions skip the hashing. The memo trusts a file
that still has the device, inode, size, modification time and status-change time
(ctime) it had when it passed. Any write, copy, rename or `touch` gives a file a new
ctime or a new inode, and no ordinary tool can set a ctime back, so a swapped file is
hashed again even when its size and mtime were restored. A file changed less than
`SETTLED_SECONDS` before it was checked is not remembered: within one tick of the file
system's clock a second change would keep the same ctime. The memo does not defend
against someone who can reset the system clock or edit the user's own cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from .datasets import FASHION_MNIST, DataFile
from .download import DownloadError, download
from .idx import IDXError, parse_idx, read_idx_bytes
from .settings import user_cache_dir

TEXT_LABELS = [
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]  # fmt: skip

# The record's list of system folders (tests and offline runs empty it in place).
SYSTEM_DIRS = FASHION_MNIST.system_dirs

MEMO_MAX_ENTRIES = 64
SETTLED_SECONDS = 2.0
_MEMO_MAX_BYTES = 1 << 20


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
    checked = time.time_ns()
    st = path.stat()
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    settled = checked - st.st_ctime_ns >= SETTLED_SECONDS * 1e9
    return _read_cached(str(path), identity, settled, file.content_bytes, file.content_sha256)


def _fix(path: str) -> str:
    """What to do about a bad copy at `path`."""
    if any(Path(path).parent == folder for folder in FASHION_MNIST.system_dirs):
        return f"Reinstall it: sudo apt-get install --reinstall {FASHION_MNIST.debian_package}."
    return "Delete it and run again to download it afresh, or put the original file there."


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, identity: tuple, settled: bool, size: int, sha256: str) -> torch.Tensor:
    """Read (at most `size` + 1 bytes), verify and parse `path` once per session and identity."""
    raw = read_idx_bytes(path, size, _fix(path))
    tensor = parse_idx(raw, path, _fix(path))
    key = [*identity, sha256]
    if _verified().get(path) != key:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise IDXError(
                f"{path} is not the original Fashion-MNIST file: the SHA-256 of its "
                f"uncompressed content is {digest}, expected {sha256}. {_fix(path)}"
            )
        if settled:
            _remember(path, key)
    return tensor


def _memo_file() -> Path:
    return user_cache_dir() / "verified.json"


def _verified() -> dict[str, list]:
    """The files verified earlier: path -> [device, inode, size, mtime_ns, ctime_ns, sha256].

    A memo that is unreadable, too large or not of this shape counts as empty.
    """
    try:
        with open(_memo_file(), "rb") as f:
            entries = json.loads(f.read(_MEMO_MAX_BYTES + 1)[:_MEMO_MAX_BYTES])
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(v, list)}


def _remember(path: str, key: list) -> None:
    """Record that `path`, as it is now, passed; skipped where the cache is not writable."""
    memo = _memo_file()
    entries = _verified()
    entries.pop(path, None)
    entries[path] = key  # the newest last; the oldest go first
    entries = dict(list(entries.items())[-MEMO_MAX_ENTRIES:])
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
