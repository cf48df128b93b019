"""Downloads: checksummed, atomic, resumable-by-retry fetching of `DATA_HUB` files.

`DATA_HUB` maps a name to `(url, checksum)` (derived from the data set records in
`datasets`); the checksum is a SHA-1 (40 hex digits, as in d2l) or an MD5 (32 hex
digits, as Fashion-MNIST publishes). Compared with d2l's `download`:

- a fresh download is verified too, not only a cached file;
- the file is written to a temporary name and renamed, so a broken download never
  leaves a partial file at the final path;
- a corrupt cached file is replaced;
- large files show their progress;
- offline, the error names the file, the URL and where to put the file by hand;
- a reset, a stall, a transfer slower than a deadline and a body shorter than its
  `Content-Length` are each a `DownloadError` (d2l's saves a truncated body);
- saved files get the mode of any new file (the umask), names drop query strings,
  and two processes fetching the same file at once both succeed;
- archives are checked member by member before anything is extracted: links,
  devices, pipes and paths leaving the folder are refused.

The data root (`data_root`) is read by `settings`.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import posixpath
import secrets
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from .datasets import DATA_HUB, DATA_URL
from .settings import DATA_DIR, data_root

__all__ = ["DATA_HUB", "DATA_URL", "DownloadError", "data_root", "download", "download_extract"]

_PROGRESS_MIN_BYTES = 1 << 20
_CHUNK = 1 << 16
# A read that waits longer than READ_TIMEOUT seconds for the next bytes is a stall;
# a download that takes longer than DEADLINE seconds in all is given up (26 MB, the
# largest file of the course, needs a link of 22 KB/s to finish in time).
READ_TIMEOUT = 30.0
DEADLINE = 1200.0


class DownloadError(OSError):
    """A file could not be downloaded, or what arrived is not the expected file."""


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


def _file_name(url: str) -> str:
    """The file name a URL is saved under: its last path segment, without query or fragment."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path)
    if not name:
        raise ValueError(f"{url} does not end in a file name; register a URL of a file.")
    return name


def _not_writable(folder: Path, dest: Path, url: str, error: OSError) -> DownloadError:
    return DownloadError(
        f"Cannot save {dest.name}: the folder {folder} is not writable "
        f"({error.strerror or error}).\n"
        f"Set {DATA_DIR} to a folder you can write to, or download {url} on any machine "
        f"and save it as {dest}."
    )


def _open_temporary(dest: Path, url: str) -> tuple[int, Path]:
    """Create a temporary file beside `dest`, with a name no other process uses.

    It is created with mode 0o666 minus the umask, the mode any new file gets, and
    keeps that mode when it is renamed to `dest`.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = dest.parent / f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
            try:
                return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
            except FileExistsError:
                continue
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise _not_writable(dest.parent, dest, url, e) from e
        raise


def _fetch(url: str, dest: Path, checksum: str | None) -> None:
    """Stream `url` into a temporary file beside `dest`, verify it, then rename it.

    Any failure (refused, reset, stalled for `READ_TIMEOUT` seconds, slower than
    `DEADLINE` in all, shorter than its Content-Length, wrong checksum) is a
    `DownloadError` naming the file and URL, and leaves nothing behind.
    """
    h = _hasher(checksum) if checksum else None
    fd, tmp = _open_temporary(dest, url)
    by_hand = (
        f"If you are offline, download that URL on a connected machine and save it as "
        f"{dest}, or set {DATA_DIR} to a folder that already has it."
    )
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=READ_TIMEOUT)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(
                    f"Could not download {dest.name} from {url} ({reason}).\n{by_hand}"
                ) from e
            with response:
                _copy_body(response, out, h, dest, url, by_hand)
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


def _copy_body(response, out, h, dest: Path, url: str, by_hand: str) -> None:
    """Copy the body of `response` into `out`, within the deadline, showing progress."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    big = total is not None and total >= _PROGRESS_MIN_BYTES
    deadline = time.monotonic() + DEADLINE
    done, shown = 0, -1
    while True:
        try:
            chunk = response.read1(_CHUNK)
        except (OSError, http.client.HTTPException) as e:
            what = "stalled" if isinstance(e, TimeoutError) else "broke off"
            raise DownloadError(
                f"The download of {dest.name} from {url} {what} after {done} bytes ({e!r}). "
                f"Nothing was saved; try again.\n{by_hand}"
            ) from e
        if not chunk:
            break
        out.write(chunk)
        done += len(chunk)
        if h is not None:
            h.update(chunk)
        if time.monotonic() > deadline:
            raise DownloadError(
                f"The download of {dest.name} from {url} did not finish within {DEADLINE:g} "
                f"seconds ({done} bytes arrived): the connection is too slow. Nothing was "
                f"saved; try again later.\n{by_hand}"
            )
        if big and (pct := 100 * done // total) != shown:
            shown = pct
            sys.stderr.write(
                f"\rDownloading {dest.name}: {pct:3d}% ({done / 1e6:.1f} of {total / 1e6:.1f} MB)"
            )
    if big:
        sys.stderr.write("\n")
    if total is not None and done != total:
        raise DownloadError(
            f"The download of {dest.name} from {url} is incomplete: {done} bytes arrived, "
            f"the server announced {total}. Nothing was saved; try again.\n{by_hand}"
        )


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
    dest = folder / _file_name(url)
    if dest.exists():
        if checksum is None or file_checksum(dest, checksum) == checksum:
            return str(dest)
        print(f"{dest} is corrupt (checksum mismatch); downloading it again.", file=sys.stderr)
    _fetch(url, dest, checksum)
    return str(dest)


def _refuse(archive: str, member: str, why: str) -> ValueError:
    return ValueError(
        f"Refusing to extract {archive}: its member {member!r} {why}. Nothing was extracted; "
        "the archive is damaged or malicious; delete it and get it from a trusted source."
    )


def _check_path(base: Path, name: str, archive: str) -> None:
    """Refuse a member name that is absolute, climbs with `..`, or lands outside `base`."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        raise _refuse(archive, name, f"would land outside {base}")
    target = (base / name).resolve()
    if base != target and base not in target.parents:
        raise _refuse(archive, name, f"would land outside {base}")


def _check_tar(tf: tarfile.TarFile, base: Path, archive: str) -> None:
    for member in tf.getmembers():
        _check_path(base, member.name, archive)
        if member.issym() or member.islnk():
            raise _refuse(archive, member.name, f"is a link (to {member.linkname!r})")
        if not (member.isfile() or member.isdir()):
            raise _refuse(archive, member.name, "is a device or pipe, not a file or folder")


def _check_zip(zf: zipfile.ZipFile, base: Path, archive: str) -> None:
    for info in zf.infolist():
        _check_path(base, info.filename, archive)
        # Unix archivers (create_system 3) keep the file type in the high 16 bits; 0 = none.
        kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
        if kind == stat.S_IFLNK:
            raise _refuse(archive, info.filename, "is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive, info.filename, "is a device or pipe, not a file or folder")


def download_extract(
    name: str, folder: str | None = None, cache_dir: str | os.PathLike | None = None
) -> str:
    """Download and extract a zip or tar file; return the extracted folder.

    Every member is checked before anything is written, and the whole archive is
    refused if one member is a link (symbolic or hard), a device or a pipe, or would
    land outside the cache directory (an absolute path or `..`). Links are refused
    outright: a chain of harmless-looking links can point out of the folder, and the
    course's data sets have none. Tar files are extracted with `filter='data'` where
    Python has it, as a second line of defence.
    """
    fname = Path(download(name, cache_dir))
    base = fname.parent.resolve()
    data_dir, ext = os.path.splitext(fname)
    if ext == ".zip":
        with zipfile.ZipFile(fname, "r") as zf:
            _check_zip(zf, base, fname.name)
            zf.extractall(base)
    elif ext in (".tar", ".gz", ".tgz"):
        with tarfile.open(fname, "r") as tf:
            _check_tar(tf, base, fname.name)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(base, **safe)
    else:
        raise ValueError(f"{fname.name}: only .zip, .tar, .tar.gz and .tgz files can be extracted.")
    return str(base / folder) if folder else data_dir
