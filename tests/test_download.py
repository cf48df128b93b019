import hashlib
import importlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

import d2lhelpers as d2l

dl = importlib.import_module("d2lhelpers.download")


def _register(monkeypatch, name, url, payload: bytes | None = None, algo="sha1"):
    digest = getattr(hashlib, algo)(payload).hexdigest() if payload is not None else None
    monkeypatch.setitem(d2l.DATA_HUB, name, (url, digest))
    return digest


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_data_root_reads_env_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "a"))
    assert d2l.data_root() == tmp_path / "a"
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "b"))
    assert d2l.data_root() == tmp_path / "b"


def test_data_root_defaults_to_checkout_data(monkeypatch):
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    assert d2l.data_root() == Path(dl.__file__).resolve().parent.parent / "data"


def test_data_root_outside_a_checkout_is_a_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    monkeypatch.setattr(dl, "__file__", str(tmp_path / "site-packages" / "d2lhelpers" / "x.py"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(dl.sys, "platform", "linux")
    assert d2l.data_root() == tmp_path / "cache" / "d2lhelpers"


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
