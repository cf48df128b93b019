"""One record per data set: DATA_HUB, the loaders' file names and the how-to all come from it."""

import gzip
import hashlib
import importlib

import pytest

import d2lhelpers as d2l
from d2lhelpers.datasets import AIRFOIL, DATASETS, FASHION_MNIST, hub_file


def test_data_hub_is_derived_from_the_records():
    expected = {
        f.hub_name: (f.url, f.checksum) for data_set in DATASETS for f in data_set.files.values()
    }
    assert {name: d2l.DATA_HUB[name] for name in expected} == expected
    assert importlib.import_module("d2lhelpers.download").DATA_HUB is d2l.DATA_HUB
    assert d2l.DATA_HUB["airfoil"] == (
        d2l.DATA_URL + "airfoil_self_noise.dat",
        "76e5be1548fd8222e5074cf0faae75edff8cf93f",
    )


def test_hub_file_finds_a_record_by_hub_name_and_nothing_for_other_names():
    assert hub_file("fashion-mnist-test-labels") is FASHION_MNIST.files["test-labels"]
    assert hub_file("airfoil") is AIRFOIL.files["airfoil"]
    assert hub_file("no-such-entry") is None


def test_each_file_name_is_the_last_segment_of_its_url():
    for data_set in DATASETS:
        for f in data_set.files.values():
            assert f.url.rsplit("/", 1)[-1] == f.name


def test_the_download_cap_leaves_room_for_any_faithful_copy():
    for data_set in DATASETS:
        for f in data_set.files.values():
            # stored uncompressed, or gzip's worst case (5 bytes per 32 KiB block + header)
            worst = f.content_bytes + 5 * (f.content_bytes // 32768 + 1) + 64
            assert max(f.download_bytes, worst) < f.max_download_bytes
            assert f.max_download_bytes < 2 * f.content_bytes + (1 << 17)


def test_how_to_names_the_missing_files_folders_urls_and_package(data_dir, monkeypatch):
    monkeypatch.setattr(FASHION_MNIST, "system_dirs", [data_dir.parent / "system"])
    text = FASHION_MNIST.how_to(["train-images", "test-labels"])
    raw = data_dir / "FashionMNIST" / "raw"
    assert text.startswith(
        "Fashion-MNIST is missing train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz.\n"
    )
    assert f"Looked in:\n  {raw}\n  {data_dir.parent / 'system'}\n" in text
    assert "sudo apt-get install dataset-fashion-mnist" in text
    assert FASHION_MNIST.files["train-images"].url in text
    assert FASHION_MNIST.files["train-labels"].url not in text  # not missing, not listed
    assert f"save them, unchanged, in {raw}" in text
    assert "set D2L_DATA_DIR to a folder that holds FashionMNIST/raw/ with its 4 files" in text


def test_how_to_for_one_file_without_a_package_says_where_to_save_it(data_dir):
    text = AIRFOIL.how_to(["airfoil"])
    assert text.startswith("airfoil is missing airfoil_self_noise.dat.\nLooked in:\n")
    assert "apt-get" not in text and "elsewhere" not in text
    assert "download this file (on any connected machine)" in text
    assert f"save it, unchanged, as {data_dir / 'airfoil_self_noise.dat'}" in text


def test_how_to_lists_the_url_data_hub_holds_now(data_dir, monkeypatch):
    monkeypatch.setitem(d2l.DATA_HUB, "airfoil", ("http://mirror.example/a.dat", None))
    text = AIRFOIL.how_to(["airfoil"])
    assert "http://mirror.example/a.dat" in text and AIRFOIL.files["airfoil"].url not in text


def test_locate_looks_in_the_data_root_then_the_system_folders(data_dir, tmp_path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setattr(FASHION_MNIST, "system_dirs", [system])
    (system / "train-labels-idx1-ubyte.gz").write_bytes(b"x")
    assert FASHION_MNIST.locate()["train-labels"] == system / "train-labels-idx1-ubyte.gz"
    assert FASHION_MNIST.locate()["test-labels"] is None
    raw = data_dir / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"x")
    assert FASHION_MNIST.locate()["train-labels"] == raw / "train-labels-idx1-ubyte.gz"


def test_describe_says_where_each_file_is_and_how_to_get_the_rest(data_dir):
    text = AIRFOIL.describe()
    assert "airfoil_self_noise.dat: not found" in text and "airfoil is missing" in text
    (data_dir / "airfoil_self_noise.dat").write_text("1\t2\n")
    text = AIRFOIL.describe()
    assert f"airfoil_self_noise.dat: {data_dir / 'airfoil_self_noise.dat'}" in text
    assert "missing" not in text


# The records' numbers, measured against the real files ------------------------------


def test_airfoils_record_matches_the_real_file(airfoil_root):
    f = AIRFOIL.files["airfoil"]
    content = (airfoil_root / f.name).read_bytes()
    assert len(content) == f.download_bytes == f.content_bytes
    assert hashlib.sha1(content).hexdigest() == f.checksum


@pytest.fixture(scope="module")
def debian_copy():
    """Debian's dataset-fashion-mnist: the real files, recompressed without their names."""
    folder = FASHION_MNIST.system_dirs[0]
    missing = [f.name for f in FASHION_MNIST.files.values() if not (folder / f.name).is_file()]
    assert not missing, FASHION_MNIST.how_to(
        [k for k, f in FASHION_MNIST.files.items() if f.name in missing]
    )
    return folder


def test_fashion_mnists_record_matches_the_real_content(debian_copy):
    for f in FASHION_MNIST.files.values():
        content = gzip.decompress((debian_copy / f.name).read_bytes())
        assert len(content) == f.content_bytes, f.name
        assert hashlib.sha256(content).hexdigest() == f.content_sha256, f.name


def test_the_canonical_sizes_are_debians_plus_the_gzip_name_field_it_dropped(debian_copy):
    for f in FASHION_MNIST.files.values():
        debian = (debian_copy / f.name).read_bytes()
        assert debian[3] & 0x08 == 0  # no FNAME field in Debian's header
        original_name_field = len(f.name.removesuffix(".gz")) + 1  # the name and its NUL
        assert len(debian) + original_name_field == f.download_bytes, f.name
