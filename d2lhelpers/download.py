"""Downloads: the data hub, the data root, and checksummed, atomic, resumable-by-retry fetching.

`DATA_HUB` maps a name to `(url, checksum)`; the checksum is a SHA-1 (40 hex digits,
as in d2l) or an MD5 (32 hex digits, as Fashion-MNIST publishes). Compared with
d2l's `download`:

- a fresh download is verified too, not only a cached file;
- the file is written to a temporary name and renamed, so a broken download never
  leaves a partial file at the final path;
- a corrupt cached file is replaced;
- large files show their progress;
- offline, the error names the file, the URL and where to put the file by hand.

The data root is `D2L_DATA_DIR` when set (read at every call), else the checkout's
`data/` folder, else a per-user cache directory.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

DATA_HUB: dict[str, tuple[str, str | None]] = {
    "airfoil": (DATA_URL + "airfoil_self_noise.dat", "76e5be1548fd8222e5074cf0faae75edff8cf93f"),
    "fashion-mnist-train-images": (
        FASHION_MNIST_URL + "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    ),
    "fashion-mnist-train-labels": (
        FASHION_MNIST_URL + "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    "fashion-mnist-test-images": (
        FASHION_MNIST_URL + "t10k-images-idx3-ubyte.gz",
        "bef4ecab320f06d8554ea6380940ec79",
    ),
    "fashion-mnist-test-labels": (
        FASHION_MNIST_URL + "t10k-labels-idx1-ubyte.gz",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
}

_PROGRESS_MIN_BYTES = 1 << 20
_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be downloaded, or what arrived is not the expected file."""


def _user_cache_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "d2lhelpers"


def data_root() -> Path:
    """Return the folder data sets live in: `D2L_DATA_DIR`, the checkout's `data/`, or a cache."""
    env = os.environ.get("D2L_DATA_DIR")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "chapters").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return _user_cache_dir()


def _hasher(checksum: str):
    if len(checksum) == 32:
        return hashlib.md5(usedforsecurity=False)
    if len(checksum) == 40:
        return hashlib.sha1(usedforsecurity=False)
    raise ValueError(f"Checksum {checksum!r} is neither an MD5 (32 hex) nor a SHA-1 (40 hex).")


def file_checksum(path: str | os.PathLike, like: str) -> str:
    """Return the checksum of `path`, of the same kind (MD5 or SHA-1) as `like`."""
    h = _hasher(like)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, dest: Path, checksum: str | None) -> None:
    """Stream `url` into a temporary file beside `dest`, verify it, then rename it."""
    h = _hasher(checksum) if checksum else None
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=30)
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(
                    f"Could not download {dest.name} from {url} ({reason}).\n"
                    f"If you are offline, download that URL on a connected machine and save "
                    f"it as {dest}, or set D2L_DATA_DIR to a folder that already has it."
                ) from e
            with response:
                total = int(response.headers.get("Content-Length") or 0)
                done, shown = 0, -1
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if h is not None:
                        h.update(chunk)
                    if total >= _PROGRESS_MIN_BYTES and (pct := 100 * done // total) != shown:
                        shown = pct
                        sys.stderr.write(
                            f"\rDownloading {dest.name}: {pct:3d}% "
                            f"({done / 1e6:.1f} of {total / 1e6:.1f} MB)"
                        )
                if total >= _PROGRESS_MIN_BYTES:
                    sys.stderr.write("\n")
        if h is not None and h.hexdigest() != checksum:
            raise DownloadError(
                f"The download of {url} is corrupt: checksum {h.hexdigest()}, expected "
                f"{checksum}. Nothing was saved; try again, or fetch the file by hand "
                f"and save it as {dest}."
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download(name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Download the `DATA_HUB` file `name` into `cache_dir` (default: the data root).

    Returns the local path. A cached file with the right checksum is reused; a
    corrupt one is downloaded again.
    """
    if name not in DATA_HUB:
        known = ", ".join(sorted(DATA_HUB))
        raise KeyError(
            f"{name!r} is not in DATA_HUB (known: {known}). "
            f"Register it first: DATA_HUB[{name!r}] = (url, sha1)."
        )
    url, checksum = DATA_HUB[name]
    folder = Path(cache_dir) if cache_dir is not None else data_root()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / url.split("/")[-1]
    if dest.exists():
        if checksum is None or file_checksum(dest, checksum) == checksum:
            return str(dest)
        print(f"{dest} is corrupt (checksum mismatch); downloading it again.", file=sys.stderr)
    _fetch(url, dest, checksum)
    return str(dest)


def _check_member(base: Path, name: str, archive: str) -> None:
    target = (base / name).resolve()
    if base != target and base not in target.parents:
        raise ValueError(
            f"Refusing to extract {archive}: its member {name!r} would land outside {base}."
        )


def download_extract(
    name: str, folder: str | None = None, cache_dir: str | os.PathLike | None = None
) -> str:
    """Download and extract a zip or tar file; return the extracted folder.

    Members that would land outside the cache directory (absolute paths, `..`, or
    links pointing out) are refused before anything is extracted.
    """
    fname = Path(download(name, cache_dir))
    base = fname.parent.resolve()
    data_dir, ext = os.path.splitext(fname)
    if ext == ".zip":
        with zipfile.ZipFile(fname, "r") as zf:
            for member in zf.namelist():
                _check_member(base, member, fname.name)
            zf.extractall(base)
    elif ext in (".tar", ".gz", ".tgz"):
        with tarfile.open(fname, "r") as tf:
            for member in tf.getmembers():
                _check_member(base, member.name, fname.name)
                if member.issym() or member.islnk():
                    link_base = (base / member.name).parent if member.issym() else base
                    _check_member(base, str(link_base / member.linkname), fname.name)
                elif not (member.isfile() or member.isdir()):
                    raise ValueError(
                        f"Refusing to extract {fname.name}: member {member.name!r} is a "
                        "device or pipe, not a file or folder."
                    )
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(base, **safe)
    else:
        raise ValueError(f"{fname.name}: only .zip, .tar, .tar.gz and .tgz files can be extracted.")
    return str(base / folder) if folder else data_dir
