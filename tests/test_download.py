import errno
import importlib
import os
import socket
import stat
import struct
import threading
import time
from pathlib import Path

import pytest
from loopback import headers, leftovers, raw_server, register

import d2lhelpers as d2l

dl = importlib.import_module("d2lhelpers.download")
settings = importlib.import_module("d2lhelpers.settings")


def test_fresh_download_is_verified_and_saved(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello world")
    register(monkeypatch, "f", base + "f.dat", b"hello world")
    path = d2l.download("f")
    assert Path(path) == data_dir / "f.dat"
    assert Path(path).read_bytes() == b"hello world"


def test_md5_checksums_are_understood(http_root, tmp_path, monkeypatch):
    served, base = http_root
    (served / "g.gz").write_bytes(b"abc")
    register(monkeypatch, "g", base + "g.gz", b"abc", algo="md5")
    assert Path(d2l.download("g", cache_dir=tmp_path / "c")).read_bytes() == b"abc"


def test_corrupt_fresh_download_is_refused_and_leaves_nothing(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"tampered")
    register(monkeypatch, "f", base + "f.dat", b"original")
    with pytest.raises(d2l.DownloadError, match="corrupt: checksum"):
        d2l.download("f")
    assert not (data_dir / "f.dat").exists()
    assert leftovers(data_dir) == []


def test_corrupt_cached_file_is_replaced(http_root, data_dir, monkeypatch, capsys):
    served, base = http_root
    (served / "f.dat").write_bytes(b"good")
    register(monkeypatch, "f", base + "f.dat", b"good")
    (data_dir / "f.dat").write_bytes(b"bad")
    d2l.download("f")
    assert (data_dir / "f.dat").read_bytes() == b"good"
    assert "corrupt" in capsys.readouterr().err


def test_valid_cached_file_is_not_downloaded_again(data_dir, dead_url, monkeypatch):
    (data_dir / "f.dat").write_bytes(b"cached")
    register(monkeypatch, "f", dead_url + "f.dat", b"cached")
    assert Path(d2l.download("f")).read_bytes() == b"cached"


def test_offline_error_names_file_url_and_destination(data_dir, dead_url, monkeypatch):
    register(monkeypatch, "f", dead_url + "f.dat", b"x")
    with pytest.raises(d2l.DownloadError) as info:
        d2l.download("f")
    message = str(info.value)
    assert "f.dat" in message and dead_url + "f.dat" in message
    assert str(data_dir / "f.dat") in message and "D2L_DATA_DIR" in message
    assert not (data_dir / "f.dat").exists() and leftovers(data_dir) == []


def test_unknown_name_error_contains_the_name():
    with pytest.raises(KeyError, match="no-such-set"):
        d2l.download("no-such-set")


def test_large_downloads_show_progress(http_root, data_dir, monkeypatch, capsys):
    served, base = http_root
    payload = bytes(3 << 20)
    (served / "big.bin").write_bytes(payload)
    register(monkeypatch, "big", base + "big.bin", payload)
    d2l.download("big")
    err = capsys.readouterr().err
    assert "Downloading big.bin" in err and "100%" in err


# --- network faults, against a loopback server that misbehaves on purpose ---------------


@pytest.fixture
def short_timeouts(monkeypatch):
    """Shrink the stall timeout and the overall deadline so each fault test takes ~1 s."""
    monkeypatch.setattr(dl, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(dl, "DEADLINE", 1.0)


def _reset_midway(conn, stop):
    conn.sendall(headers(1000) + b"x" * 100)
    time.sleep(0.1)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST


def _stall_before_headers(conn, stop):
    stop.wait(10)


def _stall_after_headers(conn, stop):
    conn.sendall(headers(1000) + b"x" * 10)
    stop.wait(10)


def _trickle(conn, stop):
    conn.sendall(headers(1000))
    while not stop.wait(0.1):
        conn.sendall(b"x")


def _truncate(conn, stop):
    conn.sendall(headers(1000) + b"x" * 500)


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
    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat")  # no checksum: only the length can tell
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

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", b"hello world")
        assert Path(d2l.download("f")).read_bytes() == b"hello world"


def test_downloaded_files_get_the_mode_the_umask_gives(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello")
    register(monkeypatch, "f", base + "f.dat", b"hello")
    old = os.umask(0o027)
    try:
        path = d2l.download("f")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_query_strings_are_not_part_of_the_file_name(http_root, data_dir, monkeypatch):
    served, base = http_root
    (served / "f.dat").write_bytes(b"hello")
    register(monkeypatch, "f", base + "f.dat?raw=true#top", b"hello")
    assert Path(d2l.download("f")) == data_dir / "f.dat"
    assert [p.name for p in data_dir.iterdir()] == ["f.dat"]


def test_a_url_without_a_file_name_is_refused(monkeypatch, data_dir):
    register(monkeypatch, "f", "http://127.0.0.1/folder/?file=x", b"x")
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
    register(monkeypatch, "f", base + "f.dat", b"hello")
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
        conn.sendall(headers(len(payload)))
        for i in range(0, len(payload), 10_000):
            conn.sendall(payload[i : i + 10_000])
            time.sleep(0.01)

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", payload)
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
    assert leftovers(data_dir) == []
