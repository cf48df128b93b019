"""Downloads: fetch `DATA_HUB` files into the data root, verified, bounded and atomic.

`DATA_HUB` maps a name to `(url, checksum)` (see `datasets`, which derives it from the
data set records); the checksum is a SHA-1 (40 hex digits, as in d2l) or an MD5 (32 hex
digits, as Fashion-MNIST publishes). Every fault is a `DownloadError` (an `OSError`)
that names the file, the URL and what to do; only a bad `DATA_HUB` entry or a refused
archive is a `ValueError`. Text from the server is shown with its control characters
escaped.

Budgets. A download ends within `DEADLINE` seconds in all: connecting, the headers,
every redirect (at most `MAX_REDIRECTS`) and the body share one clock, and a socket
still open at the deadline is shut. A wait of `READ_TIMEOUT` seconds for the next
bytes ends it sooner. It brings at most the file's `max_download_bytes` (its record in
`datasets`), or `MAX_UNKNOWN_BYTES` for a hub entry without a record: a larger
declared length is refused before the body, a larger body as soon as it passes. Name
resolution is the one step that runs on the system resolver's own timeouts.

What is kept. A file is written under a temporary name beside its destination
(`.NAME.HOST-PID-TOKEN.part`) and renamed only once complete and verified, so a broken
download leaves nothing at the final path. A process killed mid-download leaves its
temporary file behind; the next download of the same name removes it when its process
(on this machine) is gone, or when it is older than `DEADLINE`, which no live download
can be. A body is complete when it matches its checksum; without a checksum, only when
the server said how long it is (`Content-Length`, or chunked encoding) and it was that
long; otherwise it is refused rather than trusted. A cached file is reused when its
checksum matches, downloaded again when not.

Archives. `download_extract` checks and extracts them as `archives` says: whole and
checked, or not at all.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import posixpath
import re
import secrets
import shutil
import socket
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from contextlib import suppress
from pathlib import Path

from . import archives
from .datasets import DATA_HUB, DATA_URL, hub_file
from .settings import DATA_DIR, data_root

__all__ = ["DATA_HUB", "DATA_URL", "DownloadError", "data_root", "download", "download_extract"]

READ_TIMEOUT = 30.0  # seconds without a byte: a stall
# 26 MB, the course's largest file, needs a link of 22 KB/s to arrive within DEADLINE.
DEADLINE = 1200.0
MAX_REDIRECTS = 5
MAX_UNKNOWN_BYTES = 1 << 30  # the size cap of a hub entry the records do not know

_PROGRESS_MIN_BYTES = 1 << 20
_CHUNK = 1 << 16
_HOST = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:6]
_HEX = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}")


class DownloadError(OSError):
    """A file could not be downloaded or saved, or what arrived is not the expected file."""


def _printable(text: object, limit: int = 200) -> str:
    """`text` with control characters escaped and cut to `limit` characters: server text."""
    text = str(text)
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


def _hasher(checksum: str):
    if len(checksum) == 32:
        return hashlib.md5(usedforsecurity=False)
    return hashlib.sha1(usedforsecurity=False)


def file_checksum(path: str | os.PathLike, like: str) -> str:
    """Return the checksum of `path`, of the same kind (MD5 or SHA-1) as `like`."""
    h = _hasher(like)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _hub_entry(name: str) -> tuple[str, str | None]:
    """The `(url, checksum)` of `name`, checked: a URL of a file and a well-formed checksum."""
    if name not in DATA_HUB:
        known = ", ".join(sorted(DATA_HUB))
        raise KeyError(
            f"{name!r} is not in DATA_HUB (known: {known}). "
            f"Register it first: DATA_HUB[{name!r}] = (url, sha1)."
        )
    entry = DATA_HUB[name]
    if not (isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str)):
        raise ValueError(f"DATA_HUB[{name!r}] = {entry!r}: expected a pair (url, checksum).")
    url, checksum = entry
    if checksum is not None and not (isinstance(checksum, str) and _HEX.fullmatch(checksum)):
        raise ValueError(
            f"DATA_HUB[{name!r}] has the checksum {checksum!r}: expected an MD5 (32 hex "
            "digits) or a SHA-1 (40 hex digits), as the file's publisher gives it."
        )
    return url, checksum.lower() if checksum else None


def _file_name(url: str) -> str:
    """The file name a URL is saved under: its last path segment, without query or fragment."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url}: only http:// and https:// URLs can be downloaded.")
    name = posixpath.basename(parts.path)
    if not name:
        raise ValueError(f"{url} does not end in a file name; register a URL of a file.")
    if name in (".", "..") or any(c in "\\/:" or not c.isprintable() for c in name):
        raise ValueError(
            f"{url} ends in {name!r}, which is not a safe file name (a backslash, colon or "
            "control character, or . or ..); register a URL that ends in a plain file name."
        )
    return name


# --- temporary files ------------------------------------------------------------------


def _temp_prefix(name: str) -> str:
    """The start of every temporary name for `name`, short enough for any file system."""
    if len(name) > 100:
        name = name[:80] + "~" + hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f".{name}."


def _temp_path(dest: Path, suffix: str) -> Path:
    token = f"{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"
    return dest.parent / f"{_temp_prefix(dest.name)}{token}{suffix}"


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (assumed, where that cannot be asked)."""
    if pid == os.getpid() or os.name == "nt":  # on Windows, os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _clean_stale(dest: Path) -> None:
    """Remove the temporary files and folders of `dest` that killed processes left behind."""
    prefix = _temp_prefix(dest.name)
    try:
        entries = [e for e in os.scandir(dest.parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        match = re.fullmatch(
            r"([0-9a-f]{6})-(\d+)-[0-9a-f]{8}\.(part|extract)", entry.name[len(prefix) :]
        )
        if match is None:
            continue
        with suppress(OSError):
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            if (match[1] == _HOST and not _alive(int(match[2]))) or age > DEADLINE + 60:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.remove(entry.path)


def _open_temporary(dest: Path) -> tuple[int, Path]:
    """Create a temporary file beside `dest` with mode 0o666 minus the umask, as any new file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _temp_path(dest, ".part")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


# --- file-system faults -----------------------------------------------------------------


def _blocking_file(folder: Path) -> Path | None:
    """The file that stands where `folder` or one of its parents should be, if any."""
    for path in [folder, *folder.parents]:
        if os.path.lexists(path):
            return None if path.is_dir() else path
    return None


def _fs_error(e: OSError, dest: Path, url: str) -> DownloadError:
    """Say what a file-system error means for saving `dest`, and what to do."""
    folder, code = dest.parent, e.errno
    by_hand = f"Or download {url} on any machine and save it as {dest}."
    if code in (errno.EEXIST, errno.ENOTDIR) and (blocker := _blocking_file(folder)):
        what = f"{blocker} is a file, not a folder"
        fix = f"Move that file away, or set {DATA_DIR} to a folder."
    elif code == errno.EISDIR:
        what = f"a folder is in the way at {dest}"
        fix = "Remove or rename that folder, then run again."
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = f"the folder {folder} is not writable ({e.strerror or e})"
        fix = f"Set {DATA_DIR} to a folder you can write to. {by_hand}"
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        what = f"no space is left on the disk that holds {folder} ({e.strerror})"
        fix = f"Nothing was kept. Free some space, or set {DATA_DIR} to a folder on another disk."
    elif code == errno.ENAMETOOLONG:
        what = f"the name is too long for the file system of {folder}"
        fix = "Register the file under a URL with a shorter file name."
    else:
        what = f"{e.strerror or e} ({e.filename or folder})"
        fix = f"Nothing was kept. {by_hand}"
    return DownloadError(f"Cannot save {dest.name}: {what}.\n{fix}")


# --- the network, on one budget -----------------------------------------------------------


class _Budget:
    """The one deadline of a download: every socket it opens is shut when time is up."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Budget:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def over(self) -> bool:
        return self.expired.is_set() or time.monotonic() >= self.end

    def connect(self, address, timeout=None, source_address=None) -> socket.socket:
        """`socket.create_connection`, bounded by the deadline and shut at it."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        if not isinstance(timeout, (int, float)):
            timeout = READ_TIMEOUT
        sock = socket.create_connection(address, min(timeout, left), source_address)
        with self._lock:
            self._sockets.append(sock.dup())  # a duplicate stays valid when TLS takes the socket
            if self.expired.is_set():
                self._sockets[-1].shutdown(socket.SHUT_RDWR)
        return sock

    def _expire(self) -> None:
        self.expired.set()
        with self._lock:
            for sock in self._sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Budgeted:
    """A mixin for urllib's handlers: every connection they open runs on the budget."""

    def __init__(self, budget: _Budget) -> None:
        super().__init__()
        self.budget = budget

    def do_open(self, http_class, req, **kwargs):
        def connection(*args, **kw):
            conn = http_class(*args, **kw)
            conn._create_connection = self.budget.connect  # plain, proxied and TLS alike
            return conn

        return super().do_open(connection, req, **kwargs)


class _HTTPHandler(_Budgeted, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_Budgeted, urllib.request.HTTPSHandler):
    pass


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.URLError(f"redirected to {newurl}, which is not an http(s) URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str, budget: _Budget):
    opener = urllib.request.build_opener(_HTTPHandler(budget), _HTTPSHandler(budget), _Redirects())
    return opener.open(url, timeout=READ_TIMEOUT)


def _reason(e: BaseException) -> str:
    """Why opening a URL failed, in a few words."""
    if isinstance(e, urllib.error.HTTPError):
        if str(e.reason).startswith(urllib.request.HTTPRedirectHandler.inf_msg):
            return f"more than {MAX_REDIRECTS} redirects, or a redirect loop"
        return f"HTTP {e.code}: {_printable(e.reason)}"
    return _printable(getattr(e, "reason", None) or e)


class _Fetch:
    """One download of `url` into `dest`: what the messages need to say."""

    def __init__(self, name: str, url: str, dest: Path, checksum: str | None, cap: int) -> None:
        self.name, self.url, self.dest, self.checksum, self.cap = name, url, dest, checksum, cap
        self.by_hand = (
            f"If you are offline, download that URL on a connected machine and save it as "
            f"{dest}, or set {DATA_DIR} to a folder that already has it."
        )

    def error(self, what: str, fix: str = "Nothing was saved; try again.") -> DownloadError:
        return DownloadError(
            f"The download of {self.dest.name} from {self.url} {what}. {fix}\n{self.by_hand}"
        )

    def late(self, done: int) -> DownloadError:
        return self.error(
            f"did not finish within {DEADLINE:g} seconds ({done} bytes of the body arrived)",
            "Nothing was saved; the connection or the server is too slow. Try again later.",
        )

    def too_big(self, size: int, how: str) -> DownloadError:
        return self.error(
            f"{how} {size} bytes, more than the {self.cap} bytes {self.dest.name} can be",
            "Nothing was saved. The URL serves something else: check "
            f"DATA_HUB[{self.name!r}], or try again later.",
        )

    def run(self) -> None:
        """Stream the body into a temporary file, verify it, then rename it into place."""
        h = _hasher(self.checksum) if self.checksum else None
        fd, tmp = _open_temporary(self.dest)
        try:
            with os.fdopen(fd, "wb") as out, _Budget(DEADLINE) as budget:
                try:
                    response = _open(self.url, budget)
                except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                    if budget.over():
                        raise self.late(0) from e
                    raise DownloadError(
                        f"Could not download {self.dest.name} from {self.url} ({_reason(e)}).\n"
                        f"{self.by_hand}"
                    ) from e
                with response:
                    self.copy(response, out, h, budget)
            if h is not None and h.hexdigest() != self.checksum:
                raise DownloadError(
                    f"The download of {self.url} is corrupt: checksum {h.hexdigest()}, expected "
                    f"{self.checksum}. Nothing was saved; try again, or fetch the file by hand "
                    f"and save it as {self.dest}."
                )
            os.replace(tmp, self.dest)
        finally:
            with suppress(OSError):
                os.remove(tmp)

    def length(self, response) -> int | None:
        """The declared length of the body, or None; refused when malformed or too large."""
        raw = response.headers.get("Content-Length")
        if raw is None or getattr(response, "chunked", False):
            return None
        if not re.fullmatch(r"[0-9]{1,19}", raw.strip()):
            raise self.error(
                f"was refused: the server sent the invalid Content-Length {_printable(raw)!r}"
            )
        total = int(raw.strip())
        if total > self.cap:
            raise self.too_big(total, "was refused: the server announced")
        return total

    def copy(self, response, out, h, budget: _Budget) -> None:
        """Copy the body into `out` within the budget, showing progress for large files."""
        total = self.length(response)
        if total is None and self.checksum is None and not getattr(response, "chunked", False):
            raise self.error(
                "was refused: the server did not say how long the file is and DATA_HUB has no "
                "checksum for it, so a cut-off transfer could not be told from a whole one",
                f"Nothing was saved. Register its SHA-1: DATA_HUB[{self.name!r}] = (url, sha1).",
            )
        big = total is not None and total >= _PROGRESS_MIN_BYTES
        done, shown = 0, -1
        try:
            while True:
                try:
                    chunk = response.read1(_CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    if budget.over():
                        raise self.late(done) from e
                    what = "stalled" if isinstance(e, TimeoutError) else "broke off"
                    raise self.error(f"{what} after {done} bytes ({_printable(repr(e))})") from e
                if budget.over():
                    raise self.late(done)
                if not chunk:
                    break
                done += len(chunk)
                if done > self.cap:
                    raise self.too_big(done, "was stopped after")
                out.write(chunk)
                if h is not None:
                    h.update(chunk)
                if big and (pct := 100 * done // total) != shown:
                    shown = pct
                    sys.stderr.write(
                        f"\rDownloading {self.dest.name}: {pct:3d}% "
                        f"({done / 1e6:.1f} of {total / 1e6:.1f} MB)"
                    )
        finally:
            if shown >= 0:
                sys.stderr.write("\n")  # end the progress line, so no message is glued onto it
        if total is not None and done != total:
            raise self.error(f"is incomplete: {done} bytes arrived, the server announced {total}")


def download(name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Download the `DATA_HUB` file `name` into `cache_dir` (default: the data root).

    Returns the local path. A cached file with the right checksum is reused; a
    corrupt one is downloaded again.
    """
    url, checksum = _hub_entry(name)
    folder = Path(cache_dir) if cache_dir is not None else data_root()
    dest = folder / _file_name(url)
    record = hub_file(name)
    cap = record.max_download_bytes if record is not None else MAX_UNKNOWN_BYTES
    try:
        if dest.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(dest))
        if dest.is_file():
            if checksum is None:
                return str(dest)
            try:
                good = dest.stat().st_size <= cap and file_checksum(dest, checksum) == checksum
            except PermissionError as e:
                raise DownloadError(
                    f"Cannot read {dest} ({e.strerror}). Make it readable (chmod u+r), or "
                    "delete it so that it is downloaded again."
                ) from e
            if good:
                return str(dest)
            print(f"{dest} is corrupt (checksum mismatch); downloading it again.", file=sys.stderr)
        _clean_stale(dest)
        _Fetch(name, url, dest, checksum, cap).run()
    except DownloadError:
        raise
    except OSError as e:
        raise _fs_error(e, dest, url) from e
    return str(dest)


# --- archives ---------------------------------------------------------------------------


def download_extract(
    name: str, folder: str | None = None, cache_dir: str | os.PathLike | None = None
) -> str:
    """Download and extract a zip or tar file; return the extracted folder.

    Every member is checked before anything is written, and the extraction lands in
    place only when it completed (see `archives`).
    """
    fname = Path(download(name, cache_dir))
    data_dir, ext = os.path.splitext(fname)
    if ext not in (".zip", ".tar", ".gz", ".tgz"):
        raise ValueError(f"{fname.name}: only .zip, .tar, .tar.gz and .tgz files can be extracted.")
    base = fname.parent.resolve()
    _clean_stale(base / fname.name)
    scratch = _temp_path(base / fname.name, ".extract")
    try:
        archives.extract(fname, base, scratch)
    except tarfile.ReadError as e:
        if ext == ".gz" and not fname.name.endswith(".tar.gz"):
            raise ValueError(
                f"{fname.name} is one gzip-compressed file, not a tar archive: there is "
                f"nothing to extract. Use download({name!r}) and read it with gzip.open."
            ) from e
        raise _damaged(fname, e) from e
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise _damaged(fname, e) from e
    except OSError as e:
        raise DownloadError(
            f"Could not extract {fname.name} into {base} ({e.strerror or e}). Nothing was "
            f"extracted. Free some space or fix the folder's permissions, then run again."
        ) from e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return str(base / folder) if folder else data_dir


def _damaged(fname: Path, e: BaseException) -> ValueError:
    return ValueError(
        f"{fname} is not a readable archive ({_printable(e)}). Nothing was extracted. Delete "
        "it and run again to download it afresh."
    )
