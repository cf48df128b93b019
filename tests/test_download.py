import contextlib
import errno
import hashlib
import importlib
import io
import os
import socket
import stat
import struct
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

import d2lhelpers as d2l

dl = importlib.import_module("d2lhelpers.download")
settings = importlib.import_module("d2lhelpers.settings")


def _register(monkeypatch, name, url, payload: bytes | None = None, algo="sha1"):
    digest = getattr(hashlib, algo)(payload).hexdigest() if payload is not None else None
    monkeypatch.setitem(d2l.DATA_HUB, name, (url, digest))
    return digest


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_fresh_download_is_verified_and_saved(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello world")
    _register(monkeypatch, "f", base + "f.dat", b"hello world")
    path = d2l.download("f")
    assert Path(path) == data_dir / "f.dat"
    assert Path(path).read_bytes() == b"hello world"


def test_md5_checksums_are_understood(http_root, tmp_path, monkeypatch):
    served, base = http_root
    (served / "g.gz").write_bytes(b"abc")
    _register(monkeypatch, "g", base + "g.gz", b"abc", algo="md5")
    assert Path(d2l.download("g", cache_dir=tmp_path / "c")).read_bytes() == b"abc"


def test_corrupt_fresh_download_is_refused_and_leaves_nothing(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"tampered")
    _register(monkeypatch, "f", base + "f.dat", b"original")
    with pytest.raises(d2l.DownloadError, match="corrupt: checksum"):
        d2l.download("f")
    assert not (data_dir / "f.dat").exists()
    assert _leftovers(data_dir) == []


def test_corrupt_cached_file_is_replaced(http_root, data_dir, monkeypatch, capsys):
    served, base = http_root
    (served / "f.dat").write_bytes(b"good")
    _register(monkeypatch, "f", base + "f.dat", b"good")
    (data_dir / "f.dat").write_bytes(b"bad")
    d2l.download("f")
    assert (data_dir / "f.dat").read_bytes() == b"good"
    assert "corrupt" in capsys.readouterr().err


def test_valid_cached_file_is_not_downloaded_again(data_dir, dead_url, monkeypatch):
    (data_dir / "f.dat").write_bytes(b"cached")
    _register(monkeypatch, "f", dead_url + "f.dat", b"cached")
    assert Path(d2l.download("f")).read_bytes() == b"cached"


def test_offline_error_names_file_url_and_destination(data_dir, dead_url, monkeypatch):
    _register(monkeypatch, "f", dead_url + "f.dat", b"x")
    with pytest.raises(d2l.DownloadError) as info:
        d2l.download("f")
    message = str(info.value)
    assert "f.dat" in message and dead_url + "f.dat" in message
    assert str(data_dir / "f.dat") in message and "D2L_DATA_DIR" in message
    assert not (data_dir / "f.dat").exists() and _leftovers(data_dir) == []


def test_unknown_name_error_contains_the_name():
    with pytest.raises(KeyError, match="no-such-set"):
        d2l.download("no-such-set")


def test_large_downloads_show_progress(http_root, data_dir, monkeypatch, capsys):
    served, base = http_root
    payload = bytes(3 << 20)
    (served / "big.bin").write_bytes(payload)
    _register(monkeypatch, "big", base + "big.bin", payload)
    d2l.download("big")
    err = capsys.readouterr().err
    assert "Downloading big.bin" in err and "100%" in err


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar_bytes(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


def _serve_archive(http_root, monkeypatch, fname, payload):
    served, base = http_root
    (served / fname).write_bytes(payload)
    _register(monkeypatch, "arch", base + fname, payload)


def test_download_extract_zip_and_tar(http_root, data_dir, monkeypatch):
    _serve_archive(http_root, monkeypatch, "set.zip", _zip_bytes({"set/a.txt": b"A"}))
    folder = d2l.download_extract("arch", "set")
    assert (Path(folder) / "a.txt").read_bytes() == b"A"
    _serve_archive(http_root, monkeypatch, "tset.tar.gz", _tar_bytes({"tset/b.txt": b"B"}))
    assert d2l.download_extract("arch") == str(data_dir / "tset.tar")
    assert (data_dir / "tset" / "b.txt").read_bytes() == b"B"


@pytest.mark.parametrize(
    "fname, payload",
    [
        ("evil.zip", _zip_bytes({"../escaped.txt": b"x"})),
        ("evil.tar.gz", _tar_bytes({"../escaped.txt": b"x"})),
        ("abs.tar.gz", _tar_bytes({"/tmp/d2l-escaped.txt": b"x"})),
        ("link.tar.gz", _tar_bytes({}, symlinks={"inside": "../../escaped"})),
    ],
)
def test_download_extract_refuses_members_outside_the_cache(
    http_root, data_dir, monkeypatch, fname, payload
):
    _serve_archive(http_root, monkeypatch, fname, payload)
    with pytest.raises(ValueError, match="Refusing to extract"):
        d2l.download_extract("arch")
    assert not (data_dir.parent / "escaped.txt").exists()
    assert not (data_dir / "inside").exists()


def test_download_extract_rejects_other_formats(http_root, data_dir, monkeypatch):
    _serve_archive(http_root, monkeypatch, "plain.dat", b"1 2 3")
    with pytest.raises(ValueError, match="only .zip"):
        d2l.download_extract("arch")


# --- network faults, against a loopback server that misbehaves on purpose ---------------


@contextlib.contextmanager
def _raw_server(respond):
    """Serve `respond(conn, stop)` on 127.0.0.1 for every connection; yield the base URL.

    `stop` is an Event set when the test is done, so a stalling handler can end.
    """
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    threads = []

    def handle(conn):
        with conn:
            conn.recv(65536)  # the request
            with contextlib.suppress(OSError):
                respond(conn, stop)

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=handle, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        acceptor.join(5)
        for thread in threads:
            thread.join(5)
        listener.close()


def _headers(length: int) -> bytes:
    return f"HTTP/1.0 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()


@pytest.fixture
def short_timeouts(monkeypatch):
    """Shrink the stall timeout and the overall deadline so each fault test takes ~1 s."""
    monkeypatch.setattr(dl, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(dl, "DEADLINE", 1.0)


def _reset_midway(conn, stop):
    conn.sendall(_headers(1000) + b"x" * 100)
    time.sleep(0.1)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST


def _stall_before_headers(conn, stop):
    stop.wait(10)


def _stall_after_headers(conn, stop):
    conn.sendall(_headers(1000) + b"x" * 10)
    stop.wait(10)


def _trickle(conn, stop):
    conn.sendall(_headers(1000))
    while not stop.wait(0.1):
        conn.sendall(b"x")


def _truncate(conn, stop):
    conn.sendall(_headers(1000) + b"x" * 500)


@pytest.mark.parametrize(
    "respond, says",
    [
        (_reset_midway, "broke off after 100 bytes"),
        (_stall_before_headers, "Could not download f.dat from"),
        (_stall_after_headers, "stalled after 10 bytes"),
        (_trickle, "did not finish within 1 seconds"),
        (_truncate, "incomplete: 500 bytes arrived, the server announced 1000"),
    ],
    ids=["reset", "silent", "stall", "trickle", "truncated"],
)
def test_network_faults_are_download_errors_naming_file_and_url(
    data_dir, monkeypatch, short_timeouts, respond, says
):
    with _raw_server(respond) as base:
        _register(monkeypatch, "f", base + "f.dat")  # no checksum: only the length can tell
        begin = time.monotonic()
        with pytest.raises(d2l.DownloadError) as info:
            d2l.download("f")
        assert time.monotonic() - begin < 3
    message = str(info.value)
    assert says in message and "f.dat" in message and base + "f.dat" in message
    assert list(data_dir.iterdir()) == []


def test_a_chunked_body_without_content_length_is_saved(data_dir, monkeypatch, short_timeouts):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for part in (b"hello ", b"world"):
            conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        conn.sendall(b"0\r\n\r\n")

    with _raw_server(respond) as base:
        _register(monkeypatch, "f", base + "f.dat", b"hello world")
        assert Path(d2l.download("f")).read_bytes() == b"hello world"


def test_downloaded_files_get_the_mode_the_umask_gives(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello")
    _register(monkeypatch, "f", base + "f.dat", b"hello")
    old = os.umask(0o027)
    try:
        path = d2l.download("f")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_query_strings_are_not_part_of_the_file_name(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello")
    _register(monkeypatch, "f", base + "f.dat?raw=true#top", b"hello")
    assert Path(d2l.download("f")) == data_dir / "f.dat"
    assert [p.name for p in data_dir.iterdir()] == ["f.dat"]


def test_a_url_without_a_file_name_is_refused(monkeypatch, data_dir):
    _register(monkeypatch, "f", "http://127.0.0.1/folder/?file=x", b"x")
    with pytest.raises(ValueError, match="does not end in a file name"):
        d2l.download("f")


def _deny_writes_under(monkeypatch, folder: Path):
    """Make creating files or folders under `folder` fail with EACCES.

    The tests run as root, for whom `chmod 555` does not stop writes, so a read-only
    folder is simulated by making `os.open` and `Path.mkdir` refuse paths below it.
    """
    real_open, real_mkdir = os.open, Path.mkdir

    def denied(path):
        return PermissionError(errno.EACCES, "Permission denied", str(path))

    def fake_open(path, flags, *args, **kwargs):
        if Path(path).is_relative_to(folder) and flags & os.O_CREAT:
            raise denied(path)
        return real_open(path, flags, *args, **kwargs)

    def fake_mkdir(self, *args, **kwargs):
        if self.is_relative_to(folder) and not self.exists():
            raise denied(self)
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(Path, "mkdir", fake_mkdir)


@pytest.mark.parametrize("subfolder", ["", "FashionMNIST/raw"])
def test_read_only_data_root_with_a_missing_file_says_what_to_do(
    http_root, data_dir, monkeypatch, subfolder
):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello")
    _register(monkeypatch, "f", base + "f.dat", b"hello")
    _deny_writes_under(monkeypatch, data_dir)
    folder = data_dir / subfolder
    with pytest.raises(d2l.DownloadError) as info:
        d2l.download("f", folder)
    message = str(info.value)
    assert f"the folder {folder} is not writable" in message
    assert "D2L_DATA_DIR" in message and base + "f.dat" in message
    assert str(folder / "f.dat") in message


def test_two_downloads_of_the_same_file_at_once_both_succeed(data_dir, monkeypatch):
    """Both requests are in flight before either body is sent, so the writes overlap."""
    both_asked = threading.Barrier(2, timeout=5)
    payload = b"0123456789" * 10_000

    def respond(conn, stop):
        both_asked.wait()
        conn.sendall(_headers(len(payload)))
        for i in range(0, len(payload), 10_000):
            conn.sendall(payload[i : i + 10_000])
            time.sleep(0.01)

    with _raw_server(respond) as base:
        _register(monkeypatch, "f", base + "f.dat", payload)
        results, errors = [], []

        def fetch():
            try:
                results.append(d2l.download("f"))
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)

        threads = [threading.Thread(target=fetch) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert errors == [] and results == [str(data_dir / "f.dat")] * 2
    assert (data_dir / "f.dat").read_bytes() == payload
    assert _leftovers(data_dir) == []


# --- archives -------------------------------------------------------------------------


def _tar_of(*infos: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in infos:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _info(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


CHAINED_SYMLINKS = _tar_of(
    (_info("a", tarfile.SYMTYPE, "."), b""),
    (_info("b", tarfile.SYMTYPE, "a/.."), b""),
    (_info("b/x"), b"escaped"),
)


@pytest.mark.parametrize("data_filter", [True, False], ids=["with-filter", "old-python"])
def test_chained_symlinks_are_refused_before_anything_is_written(
    http_root, data_dir, monkeypatch, data_filter
):
    """`a -> .`, `b -> a/..`, `b/x` writes outside the root on Pythons without filter='data'."""
    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter")
    _serve_archive(http_root, monkeypatch, "chain.tar.gz", CHAINED_SYMLINKS)
    with pytest.raises(ValueError, match="Refusing to extract chain.tar.gz: its member 'a'"):
        d2l.download_extract("arch")
    assert sorted(p.name for p in data_dir.iterdir()) == ["chain.tar.gz"]
    assert not (data_dir.parent / "x").exists()


@pytest.mark.parametrize(
    "member, says",
    [
        (_info("set/hard", tarfile.LNKTYPE, "set/ok.txt"), "is a link"),
        (_info("set/soft", tarfile.SYMTYPE, "ok.txt"), "is a link"),
        (_info("set/fifo", tarfile.FIFOTYPE), "is a device or pipe"),
        (_info("set/null", tarfile.CHRTYPE), "is a device or pipe"),
    ],
    ids=["hardlink", "symlink-inside", "fifo", "device"],
)
def test_tar_links_devices_and_pipes_refuse_the_whole_archive(
    http_root, data_dir, monkeypatch, member, says
):
    payload = _tar_of((_info("set/ok.txt"), b"fine"), (member, b""))
    _serve_archive(http_root, monkeypatch, "set.tar.gz", payload)
    with pytest.raises(ValueError, match=f"its member '{member.name}' {says}"):
        d2l.download_extract("arch")
    assert not (data_dir / "set").exists()  # not even the good member came out


def test_zip_symlink_members_are_refused(http_root, data_dir, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/ok.txt", b"fine")
        link = zipfile.ZipInfo("set/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../outside")
    _serve_archive(http_root, monkeypatch, "set.zip", buf.getvalue())
    with pytest.raises(ValueError, match="its member 'set/link' is a symbolic link"):
        d2l.download_extract("arch")
    assert not (data_dir / "set").exists()
