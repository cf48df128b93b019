"""download_extract: archives are checked whole before anything is written, and land whole.

Each archive is served by a loopback HTTP server and registered in DATA_HUB.
"""

import gzip
import importlib
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from loopback import leftovers, register

import d2lhelpers as d2l

archives = importlib.import_module("d2lhelpers.archives")


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
    register(monkeypatch, "arch", base + fname, payload)


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
    ids=["zip-parent", "tar-parent", "tar-absolute", "tar-symlink"],
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


# --- layout, size and whole-or-nothing -----------------------------------------------------


def test_a_single_gzip_file_is_not_an_archive_and_says_how_to_read_it(
    http_root, data_dir, monkeypatch
):
    _serve_archive(http_root, monkeypatch, "labels-idx1-ubyte.gz", gzip.compress(b"\0" * 100))
    with pytest.raises(ValueError, match="is one gzip-compressed file, not a tar archive") as info:
        d2l.download_extract("arch")
    assert "gzip.open" in str(info.value)
    assert sorted(p.name for p in data_dir.iterdir()) == ["labels-idx1-ubyte.gz"]


@pytest.mark.parametrize(
    "members",
    [
        [(_info("set/f"), b"file"), (_info("set/f/g"), b"inside")],
        [(_info("set/f/g"), b"inside"), (_info("set/f"), b"file")],
        [(_info("set/f", tarfile.DIRTYPE), b""), (_info("set/f"), b"file")],
    ],
    ids=["file-then-inside", "inside-then-file", "folder-and-file"],
)
def test_a_name_used_as_file_and_folder_refuses_the_archive_before_writing(
    http_root, data_dir, monkeypatch, members
):
    _serve_archive(http_root, monkeypatch, "set.tar.gz", _tar_of(*members))
    with pytest.raises(ValueError, match="its member 'set/f' is both a file and a folder"):
        d2l.download_extract("arch")
    assert sorted(p.name for p in data_dir.iterdir()) == ["set.tar.gz"]


def test_a_member_that_would_replace_a_file_on_disk_with_a_folder_is_refused(
    http_root, data_dir, monkeypatch
):
    (data_dir / "set").write_text("mine")
    _serve_archive(http_root, monkeypatch, "set.zip", _zip_bytes({"set/a.txt": b"A"}))
    with pytest.raises(ValueError, match="its member 'set' would have to replace the file"):
        d2l.download_extract("arch")
    assert (data_dir / "set").read_text() == "mine" and leftovers(data_dir) == []


def test_a_member_named_like_the_archive_is_refused(http_root, data_dir, monkeypatch):
    payload = _zip_bytes({"set.zip": b"not the archive"})
    _serve_archive(http_root, monkeypatch, "set.zip", payload)
    with pytest.raises(ValueError, match="has the archive's own name and would overwrite it"):
        d2l.download_extract("arch")
    assert (data_dir / "set.zip").read_bytes() == payload


def test_an_archive_bomb_is_refused_before_it_is_inflated(http_root, data_dir, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("set/zeros", bytes(20 << 20))  # 20 MiB of zeros in about 20 KB
    _serve_archive(http_root, monkeypatch, "set.zip", buf.getvalue())
    with pytest.raises(ValueError, match="brings the extracted size past .* an archive bomb"):
        d2l.download_extract("arch")
    assert sorted(p.name for p in data_dir.iterdir()) == ["set.zip"]


def test_a_tar_bomb_is_refused_at_the_header_of_its_large_member(http_root, data_dir, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("set/zeros")
        info.size = 20 << 20
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    _serve_archive(http_root, monkeypatch, "set.tar.gz", buf.getvalue())
    with pytest.raises(ValueError, match="its member '#1' brings the extracted size past"):
        d2l.download_extract("arch")
    assert sorted(p.name for p in data_dir.iterdir()) == ["set.tar.gz"]


def test_too_many_members_are_refused(http_root, data_dir, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBERS", 3)
    payload = _zip_bytes({f"set/{i}.txt": b"x" for i in range(4)})
    _serve_archive(http_root, monkeypatch, "set.zip", payload)
    with pytest.raises(ValueError, match="makes more than 3 members"):
        d2l.download_extract("arch")
    assert sorted(p.name for p in data_dir.iterdir()) == ["set.zip"]


def test_a_damaged_tar_is_a_named_error(http_root, data_dir, monkeypatch):
    members = [(_info("set/a.txt"), b"A" * 5000), (_info("set/b.txt"), bytes(range(256)) * 400)]
    raw = gzip.decompress(_tar_of(*members))
    cut = gzip.compress(raw[: len(raw) - 60_000])  # b.txt's data ends early
    _serve_archive(http_root, monkeypatch, "set.tar.gz", cut)
    with pytest.raises(ValueError, match="set.tar.gz is not a readable archive") as info:
        d2l.download_extract("arch")
    assert "Delete it and run again" in str(info.value)
    assert sorted(p.name for p in data_dir.iterdir()) == ["set.tar.gz"]


def test_an_archive_that_breaks_while_extracting_leaves_nothing_half_extracted(
    http_root, data_dir, monkeypatch
):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("set/a.txt", b"A" * 1000)
        zf.writestr("set/b.txt", b"B" * 1000)
    payload = bytearray(buf.getvalue())
    payload[payload.find(b"B" * 1000) + 500] ^= 0xFF  # b.txt fails its CRC when read
    _serve_archive(http_root, monkeypatch, "set.zip", bytes(payload))
    with pytest.raises(ValueError, match="set.zip is not a readable archive"):
        d2l.download_extract("arch")
    assert sorted(p.name for p in data_dir.iterdir()) == ["set.zip"]  # not even set/a.txt


def test_extracting_again_replaces_files_and_keeps_the_others(http_root, data_dir, monkeypatch):
    (data_dir / "set").mkdir()
    (data_dir / "set" / "mine.txt").write_text("mine")
    (data_dir / "set" / "a.txt").write_text("old")
    _serve_archive(http_root, monkeypatch, "set.zip", _zip_bytes({"set/a.txt": b"new"}))
    d2l.download_extract("arch")
    assert (data_dir / "set" / "a.txt").read_text() == "new"
    assert (data_dir / "set" / "mine.txt").read_text() == "mine"
    assert leftovers(data_dir) == []
