import dataclasses
import gzip
import hashlib
import json
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import d2lhelpers as d2l
from d2lhelpers.datasets import FASHION_MNIST
from d2lhelpers.idx import parse_idx, write_idx


def test_load_array_batches_and_dataloader_compatibility():
    X, y = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    loader = d2l.load_array((X, y), batch_size=4, is_train=False)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[0] for b in batches]), X)
    assert loader.batch_size == 4 and len(loader.dataset) == 10


def test_shuffle_matches_dataloader_for_the_same_seed():
    X, y = torch.randn(50, 3), torch.arange(50)
    torch.manual_seed(7)
    ours = [b[1] for _ in range(2) for b in d2l.load_array((X, y), 8)]
    torch.manual_seed(7)
    ref = [b[1] for _ in range(2) for b in DataLoader(TensorDataset(X, y), 8, shuffle=True)]
    assert all(torch.equal(a, b) for a, b in zip(ours, ref, strict=True))


def test_loader_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be a positive whole number"):
        d2l.load_array((torch.zeros(3),), 0)
    with pytest.raises(ValueError, match="same length"):
        d2l.load_array((torch.zeros(3), torch.zeros(4)), 2)


def test_get_dataloader_workers_is_never_hard_coded(monkeypatch):
    monkeypatch.setattr(d2l.data.os, "cpu_count", lambda: 2)
    assert d2l.get_dataloader_workers() <= 1
    monkeypatch.setattr(d2l.data.multiprocessing, "get_start_method", lambda allow_none: "spawn")
    assert d2l.get_dataloader_workers() == 0


def test_get_data_ch11_standardises_airfoil(airfoil_root):
    data_iter, feature_dim = d2l.get_data_ch11(batch_size=10, n=1500)
    X, y = data_iter.dataset.tensors
    assert feature_dim == 5 and X.shape == (1500, 5) and y.shape == (1500,)
    assert len(data_iter) == 150
    full = torch.cat([X, y[:, None]], 1)
    assert full.mean(0).abs().max() < 0.05


def test_get_data_ch11_names_a_broken_airfoil_file(data_dir, monkeypatch):
    bad = data_dir / "airfoil_self_noise.dat"
    bad.write_text("1\t2\n3\t4\n")
    url, _ = d2l.DATA_HUB["airfoil"]
    monkeypatch.setitem(d2l.DATA_HUB, "airfoil", (url, None))
    with pytest.raises(ValueError, match="is not the airfoil table"):
        d2l.get_data_ch11()


# Fashion-MNIST: finding and verifying (on tiny IDX files made here) ------------------


def _expect(monkeypatch, key, **changes):
    """Change what the Fashion-MNIST record says about file `key`, for this test only."""
    new = dataclasses.replace(FASHION_MNIST.files[key], **changes)
    monkeypatch.setitem(FASHION_MNIST.files, key, new)


def _write_fashion(folder, monkeypatch, n_train=64, n_test=32):
    """Write four tiny IDX files into `folder` and make them the expected content."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for key, n in (("train", n_train), ("test", n_test)):
        arrays = {
            f"{key}-images": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            f"{key}-labels": rng.integers(0, 10, n, dtype=np.uint8),
        }
        for name, array in arrays.items():
            path = folder / FASHION_MNIST.files[name].name
            write_idx(path, array)
            content = gzip.decompress(path.read_bytes())
            sha256 = hashlib.sha256(content).hexdigest()
            _expect(monkeypatch, name, content_sha256=sha256, content_bytes=len(content))


@pytest.fixture
def fashion_raw(data_dir, monkeypatch):
    raw = data_dir / "FashionMNIST" / "raw"
    _write_fashion(raw, monkeypatch)
    return raw


def test_idx_roundtrip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    raw = gzip.decompress((tmp_path / "a.gz").read_bytes())
    assert torch.equal(parse_idx(raw, "a.gz"), torch.from_numpy(array))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not gzip at all", "not a readable IDX file"),
        (gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x01x"), "bad magic number"),
        (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abc"), "truncated or padded"),
        (gzip.compress(b"\x00\x00\x08\x03\x00\x00"), "header is incomplete"),
        (gzip.compress(b"\x00\x00\x08\x03\x00\x00\x00\x00" + bytes(8)), "holds no data"),
    ],
    ids=["not gzip", "bad magic", "wrong length", "short header", "no data"],
)
def test_corrupt_idx_errors_name_the_file(fashion_raw, content, message):
    path = fashion_raw / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(d2l.IDXError, match=message) as info:
        d2l.load_data_fashion_mnist(16)
    assert str(path) in str(info.value) and "Delete it" in str(info.value)


def test_verified_files_are_loaded_as_float_batches(fashion_raw):
    train_iter, test_iter = d2l.load_data_fashion_mnist(16)
    X, y = next(iter(train_iter))
    assert X.shape == (16, 1, 28, 28) and X.dtype == torch.float32 and 0 <= X.min() <= X.max() <= 1
    assert y.dtype == torch.int64 and len(train_iter) == 4 and len(test_iter) == 2
    assert d2l.locate_fashion_mnist()["train-images"] == fashion_raw / "train-images-idx3-ubyte.gz"


def test_a_file_with_other_content_is_an_error_that_names_it(fashion_raw, monkeypatch):
    _expect(monkeypatch, "test-images", content_sha256="0" * 64)
    with pytest.raises(d2l.IDXError, match="not the original Fashion-MNIST file") as info:
        d2l.load_data_fashion_mnist(16)
    assert str(fashion_raw / "t10k-images-idx3-ubyte.gz") in str(info.value)


def test_any_faithful_copy_is_accepted_whatever_its_gzip_header(fashion_raw):
    path = fashion_raw / "train-labels-idx1-ubyte.gz"
    content = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(content, compresslevel=9, mtime=12345))
    d2l.load_data_fashion_mnist(16)
    path.write_bytes(content)  # uncompressed under the .gz name is not accepted
    with pytest.raises(d2l.IDXError, match="not a readable IDX file"):
        d2l.load_data_fashion_mnist(16)


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The files whose content is hashed from now on, in a fresh session each time."""
    calls = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(
        d2l.fashion_mnist.hashlib, "sha256", lambda data: calls.append(1) or real_sha256(data)
    )
    return calls


def _new_session() -> None:
    d2l.fashion_mnist._read_cached.cache_clear()


def test_a_verified_file_is_remembered_while_it_stays_the_same(fashion_raw, monkeypatch, hashed):
    monkeypatch.setattr(d2l.fashion_mnist, "SETTLED_SECONDS", 0)
    d2l.load_data_fashion_mnist(16)
    assert len(hashed) == 4
    _new_session()
    d2l.load_data_fashion_mnist(16)
    assert len(hashed) == 4  # all four remembered
    path = fashion_raw / "train-labels-idx1-ubyte.gz"
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
    _new_session()
    d2l.load_data_fashion_mnist(16)
    assert len(hashed) == 5  # the touched one hashed again


def _stored_gzip(content: bytes) -> bytes:
    """Gzip without compression: the same length for any content of the same length."""
    return gzip.compress(content, compresslevel=0, mtime=0)


@pytest.mark.parametrize("how", ["in-place", "replaced"])
def test_a_swapped_file_with_its_size_and_mtime_restored_is_not_trusted(
    fashion_raw, monkeypatch, hashed, how
):
    """Same size, mtime restored: only its ctime (and, when replaced, its inode) differ."""
    monkeypatch.setattr(d2l.fashion_mnist, "SETTLED_SECONDS", 0)
    path = fashion_raw / "train-labels-idx1-ubyte.gz"
    original = gzip.decompress(path.read_bytes())
    path.write_bytes(_stored_gzip(original))
    d2l.load_data_fashion_mnist(16)
    _new_session()
    d2l.load_data_fashion_mnist(16)
    assert len(hashed) == 4  # remembered before the swap
    before = path.stat()
    time.sleep(0.05)  # a tick of the file system's clock
    shifted = original[:8] + bytes((b + 1) % 10 for b in original[8:])  # every label wrong
    if how == "in-place":
        path.write_bytes(_stored_gzip(shifted))
    else:
        (fashion_raw / "swap.tmp").write_bytes(_stored_gzip(shifted))
        os.replace(fashion_raw / "swap.tmp", path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    _new_session()
    with pytest.raises(d2l.IDXError, match="not the original Fashion-MNIST file"):
        d2l.load_data_fashion_mnist(16)


def test_a_file_changed_just_before_its_check_is_not_remembered(fashion_raw, hashed):
    d2l.load_data_fashion_mnist(16)  # the files were written a moment ago
    _new_session()
    d2l.load_data_fashion_mnist(16)
    assert len(hashed) == 8  # hashed again: a change within the same tick would not show


def test_the_memo_keeps_only_the_newest_entries(fashion_raw, monkeypatch):
    monkeypatch.setattr(d2l.fashion_mnist, "SETTLED_SECONDS", 0)
    monkeypatch.setattr(d2l.fashion_mnist, "MEMO_MAX_ENTRIES", 2)
    d2l.load_data_fashion_mnist(16)
    memo = json.loads(d2l.fashion_mnist._memo_file().read_text())
    names = [Path(path).name for path in memo]
    assert names == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.mark.parametrize(
    "memo", ["[1, 2]", "not json", '{"x": 1}', " " * (2 << 20), "[" * 100_000 + "]" * 100_000]
)
def test_a_memo_that_is_damaged_or_too_large_counts_as_empty(fashion_raw, monkeypatch, memo):
    monkeypatch.setattr(d2l.fashion_mnist, "SETTLED_SECONDS", 0)
    path = d2l.fashion_mnist._memo_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(memo)
    d2l.load_data_fashion_mnist(16)
    assert len(json.loads(path.read_text())) == 4


def test_a_read_only_data_root_works_and_stays_untouched(fashion_raw):
    before = sorted(p.name for p in fashion_raw.iterdir())
    for p in [fashion_raw, *fashion_raw.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        d2l.load_data_fashion_mnist(16)
    finally:
        fashion_raw.chmod(0o755)
    assert sorted(p.name for p in fashion_raw.iterdir()) == before


def test_the_data_root_comes_before_system_folders(data_dir, tmp_path, monkeypatch):
    system = tmp_path / "usr-share"
    _write_fashion(system, monkeypatch, n_train=48)
    monkeypatch.setattr(FASHION_MNIST, "system_dirs", [system])
    train_iter, _ = d2l.load_data_fashion_mnist(16)
    assert len(train_iter.dataset) == 48  # read from the system folder
    _write_fashion(data_dir / "FashionMNIST" / "raw", monkeypatch, n_train=80)
    train_iter, _ = d2l.load_data_fashion_mnist(16)
    assert len(train_iter.dataset) == 80


def test_missing_files_are_downloaded_into_the_data_root(data_dir, http_root, monkeypatch):
    served, base = http_root
    _write_fashion(served, monkeypatch)
    for file in FASHION_MNIST.files.values():
        digest = hashlib.md5((served / file.name).read_bytes()).hexdigest()
        monkeypatch.setitem(d2l.DATA_HUB, file.hub_name, (base + file.name, digest))
    train_iter, _ = d2l.load_data_fashion_mnist(16)
    assert len(train_iter.dataset) == 64
    assert (data_dir / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()


def test_missing_data_is_an_error_that_says_how_to_get_it(data_dir, dead_url, monkeypatch):
    for key in ("train-images", "train-labels", "test-images", "test-labels"):
        url, digest = d2l.DATA_HUB[f"fashion-mnist-{key}"]
        monkeypatch.setitem(
            d2l.DATA_HUB, f"fashion-mnist-{key}", (dead_url + url.split("/")[-1], digest)
        )
    with pytest.raises(FileNotFoundError) as info:
        d2l.load_data_fashion_mnist(16)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(data_dir / "FashionMNIST" / "raw") in message and "D2L_DATA_DIR" in message
    assert "fashion-mnist.s3-website" not in message  # the URLs tried are the patched ones
    assert dead_url in message


def test_epoch_fraction_shortens_epochs(fashion_raw, monkeypatch, capsys):
    monkeypatch.setenv("D2L_EPOCH_FRACTION", "0.25")
    train_iter, test_iter = d2l.load_data_fashion_mnist(8)
    assert len(train_iter) == 2 and len(list(train_iter)) == 2 and len(test_iter) == 1
    assert "D2L_EPOCH_FRACTION=0.25" in capsys.readouterr().out


def test_resize_and_device(fashion_raw):
    train_iter, _ = d2l.load_data_fashion_mnist(8, resize=32, device="cpu")
    X, _ = next(iter(train_iter))
    assert X.shape == (8, 1, 32, 32) and train_iter.device == torch.device("cpu")


# The real Fashion-MNIST ----------------------------------------------------------------


def test_the_real_data_set_loads_offline_from_an_empty_data_root(tmp_path, monkeypatch):
    """Needs the real files (Debian's dataset-fashion-mnist, or a data root that holds them)."""
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("D2L_EPOCH_FRACTION", raising=False)
    found = d2l.locate_fashion_mnist()
    missing = [key for key, path in found.items() if path is None]
    assert not missing, d2l.fashion_mnist.how_to_get_fashion_mnist(missing)
    train_x, train_y, test_x, test_y = d2l.read_fashion_mnist()
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert torch.bincount(train_y).tolist() == [6000] * 10
    assert torch.bincount(test_y).tolist() == [1000] * 10
    assert not (tmp_path / "empty").exists()  # reading wrote nothing into the data root


@pytest.mark.parametrize("batch_size", [2.5, 0, -1, True, "8", None])
def test_load_array_rejects_a_bad_batch_size_up_front(batch_size):
    X, y = torch.zeros(6, 2), torch.zeros(6)
    with pytest.raises(
        ValueError, match=f"batch_size must be a positive whole number, got {batch_size!r}"
    ):
        d2l.load_array((X, y), batch_size)


def test_load_array_rejects_an_empty_list_of_tensors():
    with pytest.raises(ValueError, match="needs at least one tensor"):
        d2l.load_array((), 2)


# Bad arguments and bad files fail at once, by name -----------------------------------------


def test_a_gzip_bomb_is_refused_without_being_inflated(fashion_raw):
    path = fashion_raw / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 64]))  # a valid header for 64 labels
        for _ in range(256):
            f.write(bytes(1 << 20))  # then 256 MiB of zeros, about 250 KB on disk
    tracemalloc.start()
    try:
        with pytest.raises(d2l.IDXError, match="its content is longer than the 72 bytes"):
            d2l.load_data_fashion_mnist(16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize("batch_size", [0, -10000, 2.5])
def test_a_bad_batch_size_fails_before_anything_is_read_or_printed(
    data_dir, monkeypatch, capsys, batch_size
):
    """No data here at all: the argument must be checked before any file is looked for."""
    monkeypatch.setenv("D2L_EPOCH_FRACTION", "0.5")
    with pytest.raises(ValueError, match="batch_size must be a positive whole number"):
        d2l.load_data_fashion_mnist(batch_size)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("resize", [0, -5, 2.5, (14,), (14, 0), "28", True])
def test_a_bad_resize_fails_at_the_call_by_name(data_dir, resize):
    with pytest.raises(ValueError, match=r"resize(\[\d\])? must be"):
        d2l.load_data_fashion_mnist(16, resize=resize)


@pytest.mark.parametrize("resize, shape", [(20, (20, 20)), ((14, 21), (14, 21)), ([7, 9], (7, 9))])
def test_resize_takes_one_size_or_a_pair(fashion_raw, resize, shape):
    train_iter, _ = d2l.load_data_fashion_mnist(8, resize=resize)
    assert next(iter(train_iter))[0].shape == (8, 1, *shape)


def test_an_empty_loader_yields_no_batch_at_all():
    loader = d2l.TensorLoader((torch.zeros(0, 2), torch.zeros(0)), 4, max_batches=3)
    assert len(loader) == 0 and list(loader) == [] and loader.examples() == 0
    assert list(loader.with_options(batch_size=2)) == []


@pytest.mark.parametrize("max_batches", [-5, 1.5, True])
def test_a_bad_max_batches_is_refused_by_name(max_batches):
    expected = f"max_batches must be a whole number >= 0, got {max_batches!r}"
    with pytest.raises(ValueError, match=expected):
        d2l.TensorLoader((torch.zeros(10),), 4, max_batches=max_batches)


@pytest.mark.parametrize("max_batches, batches", [(0, 0), (1, 1), (2, 2), (9, 3), (None, 3)])
def test_max_batches_cuts_an_epoch_short_and_never_lengthens_it(max_batches, batches):
    loader = d2l.TensorLoader((torch.arange(10),), 4, max_batches=max_batches)
    assert len(loader) == batches == len(list(loader))


def test_get_data_ch11_checks_its_arguments_before_reading(data_dir):
    with pytest.raises(ValueError, match="n must be a positive whole number, got 0"):
        d2l.get_data_ch11(10, n=0)
    with pytest.raises(ValueError, match="batch_size must be a positive whole number, got -1"):
        d2l.get_data_ch11(-1)
