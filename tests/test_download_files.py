"""What a download leaves on disk: a whole verified file or nothing, and errors that say why.

File-system faults (a data root that is a file, a full disk, an unreadable cached file,
a folder in the way, an overlong name) are `DownloadError`s that name the path and say
what to do. Temporary files of downloads that were killed are cleaned up by the next
download of the same name.
"""

import errno
import importlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback import leftovers, raw_server, register

import d2lhelpers as d2l
from d2lhelpers.datasets import FASHION_MNIST

dl = importlib.import_module("d2lhelpers.download")
REPO = Path(__file__).resolve().parent.parent


def _serve(http_root, monkeypatch, name="f.dat", payload=b"hello"):
    served, base = http_root
    (served / name).write_bytes(payload)
    register(monkeypatch, "f", base + name, payload)
    return payload


# --- the data root and the destination ----------------------------------------------------


@pytest.mark.parametrize("below", [False, True], ids=["root-is-a-file", "root-below-a-file"])
def test_a_data_root_that_is_a_file_is_explained(http_root, tmp_path, monkeypatch, below):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("I am a file")
    root = blocker / "data" if below else blocker
    monkeypatch.setenv("D2L_DATA_DIR", str(root))
    _serve(http_root, monkeypatch)
    with pytest.raises(d2l.DownloadError) as info:
        d2l.download("f")
    assert f"Cannot save f.dat: {blocker} is a file, not a folder." in str(info.value)
    assert "D2L_DATA_DIR" in str(info.value)
    assert blocker.read_text() == "I am a file"


def test_fashion_mnist_below_a_file_gives_its_how_to(tmp_path, dead_url, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("D2L_DATA_DIR", str(blocker / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(FASHION_MNIST, "system_dirs", [])
    with pytest.raises(FileNotFoundError) as info:
        d2l.read_fashion_mnist()
    message = str(info.value)
    assert message.startswith("Fashion-MNIST is missing")
    assert f"{blocker} is a file, not a folder" in message


def test_a_folder_in_the_way_of_the_file_is_explained(http_root, data_dir, monkeypatch):
    _serve(http_root, monkeypatch)
    (data_dir / "f.dat").mkdir()
    with pytest.raises(d2l.DownloadError, match="a folder is in the way at .*f.dat"):
        d2l.download("f")
    assert (data_dir / "f.dat").is_dir() and leftovers(data_dir) == []


def test_an_unreadable_cached_file_is_explained(http_root, data_dir, monkeypatch):
    """Tests run as root, whom chmod does not stop, so reading is refused by a stand-in."""
    _serve(http_root, monkeypatch)
    (data_dir / "f.dat").write_bytes(b"hello")

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(dl, "open", refuse, raising=False)
    with pytest.raises(d2l.DownloadError) as info:
        d2l.download("f")
    assert f"Cannot read {data_dir / 'f.dat'} (Permission denied)" in str(info.value)
    assert "chmod u+r" in str(info.value)


def test_a_long_file_name_is_saved_whatever_the_temporary_name_adds(
    http_root, data_dir, monkeypatch
):
    name = "x" * 240 + ".dat"  # 244 characters; the file system allows 255
    _serve(http_root, monkeypatch, name)
    assert d2l.download("f") == str(data_dir / name)
    assert leftovers(data_dir) == []


def test_a_file_name_too_long_for_the_file_system_is_explained(data_dir, dead_url, monkeypatch):
    name = "x" * 300 + ".dat"
    register(monkeypatch, "f", dead_url + name, b"x")
    with pytest.raises(d2l.DownloadError, match="the name is too long for the file system"):
        d2l.download("f")
    assert list(data_dir.iterdir()) == []


# --- a full disk -----------------------------------------------------------------------


class _FullDisk(io.RawIOBase):
    """A file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return self.f.write(b)

    def close(self) -> None:
        self.f.close()
        super().close()


@pytest.fixture
def full_disk(monkeypatch):
    """Every temporary download file takes 1 MiB, then the disk is full."""
    real_open, real_fdopen = os.open, os.fdopen
    parts = set()

    def fake_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if str(path).endswith(".part"):
            parts.add(fd)
        return fd

    def fake_fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        return _FullDisk(f, 1 << 20) if fd in parts else f

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "fdopen", fake_fdopen)


def test_a_full_disk_is_an_error_that_names_the_folder_on_a_line_of_its_own(
    http_root, data_dir, monkeypatch, capsys, full_disk
):
    _serve(http_root, monkeypatch, payload=bytes(3 << 20))  # large enough to show progress
    with pytest.raises(d2l.DownloadError) as info:
        d2l.download("f")
    message = str(info.value)
    assert f"Cannot save f.dat: no space is left on the disk that holds {data_dir}" in message
    assert "Free some space, or set D2L_DATA_DIR to a folder on another disk" in message
    err = capsys.readouterr().err
    assert "Downloading f.dat" in err and err.endswith("\n")  # the progress line was ended
    assert list(data_dir.iterdir()) == []


def test_a_full_disk_while_fetching_fashion_mnist_gives_its_how_to(
    http_root, data_dir, monkeypatch, full_disk
):
    served, base = http_root
    for f in FASHION_MNIST.files.values():
        (served / f.name).write_bytes(bytes(2 << 20))
        monkeypatch.setitem(d2l.DATA_HUB, f.hub_name, (base + f.name, None))
    with pytest.raises(FileNotFoundError) as info:
        d2l.read_fashion_mnist()
    message = str(info.value)
    assert message.startswith("Fashion-MNIST is missing") and "no space is left" in message


# --- temporary files of downloads that were killed ------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_are_removed_by_the_next_download(http_root, data_dir, monkeypatch):
    _serve(http_root, monkeypatch)
    host, dead = dl._HOST, _dead_pid()
    stale_here = data_dir / f".f.dat.{host}-{dead}-0123abcd.part"
    stale_old = data_dir / f".f.dat.ffffff-{os.getpid()}-0123abcd.part"  # another machine's
    stale_dir = data_dir / f".f.dat.{host}-{dead}-4567abcd.extract"
    live = data_dir / f".f.dat.{host}-{os.getpid()}-89abcdef.part"  # this process: running
    other_name = data_dir / f".g.dat.{host}-{dead}-0123abcd.part"
    for path in (stale_here, stale_old, live, other_name):
        path.write_bytes(b"partial")
    stale_dir.mkdir()
    (stale_dir / "member").write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale_old, (two_hours_ago, two_hours_ago))
    d2l.download("f")
    assert leftovers(data_dir) == sorted([live.name, other_name.name])


@pytest.mark.slow
def test_a_download_killed_midway_leaves_a_part_file_that_the_next_one_removes(
    data_dir, monkeypatch
):
    def respond(conn, stop):
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\nabc")
        stop.wait(60)

    with raw_server(respond) as base:
        register(monkeypatch, "f", base + "f.dat", b"x" * 1000)
        code = (
            "import d2lhelpers as d2l\n"
            f"d2l.DATA_HUB['f'] = {d2l.DATA_HUB['f']!r}\n"
            "d2l.download('f')\n"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO))
        )
        try:
            deadline = time.monotonic() + 60
            while not leftovers(data_dir) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.3)  # the body has started
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert len(leftovers(data_dir)) == 1  # what the killed process left

    def whole(conn, stop):
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000)

    with raw_server(whole) as base:
        register(monkeypatch, "f", base + "f.dat", b"x" * 1000)
        d2l.download("f")
    assert leftovers(data_dir) == [] and (data_dir / "f.dat").read_bytes() == b"x" * 1000
