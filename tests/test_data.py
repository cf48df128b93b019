import gzip

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import d2lhelpers as d2l
from d2lhelpers.fashion_mnist import make_synthetic, write_idx


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
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
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


# Fashion-MNIST -------------------------------------------------------------


def _write_fashion(folder, n_train=64, n_test=32):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = make_synthetic(n, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


@pytest.fixture
def fashion_raw(data_dir):
    raw = data_dir / "FashionMNIST" / "raw"
    _write_fashion(raw)
    return raw


def test_idx_roundtrip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert torch.equal(d2l.fashion_mnist.read_idx(tmp_path / "a.gz"), torch.from_numpy(array))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not gzip at all", "not a readable IDX file"),
        (gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x01x"), "bad magic number"),
        (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abc"), "truncated or padded"),
        (gzip.compress(b"\x00\x00\x08\x03\x00\x00"), "header is incomplete"),
    ],
)
def test_corrupt_idx_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(d2l.IDXError, match=message) as info:
        d2l.fashion_mnist.read_idx(path)
    assert str(path) in str(info.value)


def test_real_files_are_loaded_as_float_batches(fashion_raw):
    train_iter, test_iter = d2l.load_data_fashion_mnist(16)
    X, y = next(iter(train_iter))
    assert X.shape == (16, 1, 28, 28) and X.dtype == torch.float32 and 0 <= X.min() <= X.max() <= 1
    assert y.dtype == torch.int64 and len(train_iter) == 4 and len(test_iter) == 2
    assert d2l.fashion_mnist_status() == "real"


def test_resize_and_device(fashion_raw):
    train_iter, _ = d2l.load_data_fashion_mnist(8, resize=32, device="cpu")
    X, _ = next(iter(train_iter))
    assert X.shape == (8, 1, 32, 32) and train_iter.device == torch.device("cpu")


def test_epoch_fraction_shortens_epochs(fashion_raw, monkeypatch, capsys):
    monkeypatch.setenv("D2L_EPOCH_FRACTION", "0.25")
    train_iter, test_iter = d2l.load_data_fashion_mnist(8)
    assert len(train_iter) == 2 and len(list(train_iter)) == 2 and len(test_iter) == 1
    assert "D2L_EPOCH_FRACTION=0.25" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "1.5", "fast"])
def test_bad_epoch_fraction_is_explained(monkeypatch, value):
    monkeypatch.setenv("D2L_EPOCH_FRACTION", value)
    with pytest.raises(ValueError, match="expected a number in"):
        d2l.epoch_fraction()


def test_missing_data_without_opt_in_is_an_error_with_instructions(data_dir, dead_url, monkeypatch):
    for key in ("train-images", "train-labels", "test-images", "test-labels"):
        url, digest = d2l.DATA_HUB[f"fashion-mnist-{key}"]
        monkeypatch.setitem(
            d2l.DATA_HUB, f"fashion-mnist-{key}", (dead_url + url.split("/")[-1], digest)
        )
    with pytest.raises(FileNotFoundError) as info:
        d2l.load_data_fashion_mnist(16)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "D2L_SYNTHETIC_DATA=1" in message
    assert str(data_dir / "FashionMNIST" / "raw") in message


def test_synthetic_stand_in_needs_opt_in_and_says_so(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("D2L_SYNTHETIC_DATA", "1")
    monkeypatch.setattr(
        d2l.fashion_mnist, "make_synthetic", lambda n, seed: make_synthetic(n // 500, seed)
    )
    train_iter, test_iter = d2l.load_data_fashion_mnist(32)
    out = capsys.readouterr().out
    assert "SYNTHETIC stand-in" in out and out.count("\n") == 1
    assert len(train_iter.dataset) == 120 and len(test_iter.dataset) == 20
    assert (data_dir / "FashionMNIST" / "synthetic-v1" / "train-images-idx3-ubyte.gz").exists()
    assert not (data_dir / "FashionMNIST" / "raw").exists()
    assert d2l.fashion_mnist_status() == "synthetic"


def test_corrupt_real_file_is_an_error_even_with_opt_in(fashion_raw, monkeypatch):
    monkeypatch.setenv("D2L_SYNTHETIC_DATA", "1")
    (fashion_raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(d2l.IDXError, match="t10k-labels-idx1-ubyte.gz"):
        d2l.load_data_fashion_mnist(16)


def test_mismatched_labels_are_an_error(fashion_raw):
    write_idx(fashion_raw / "train-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(d2l.IDXError, match="labels for 64 images"):
        d2l.load_data_fashion_mnist(16)


def test_synthetic_data_is_learnable_but_noisy():
    images, labels = make_synthetic(2000, 3)
    assert images.shape == (2000, 28, 28) and images.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    means = np.stack([images[labels == c].mean(0) for c in range(10)]).reshape(10, -1)
    nearest = np.argmin(((images.reshape(2000, 1, -1) - means) ** 2).sum(-1), axis=1)
    accuracy = (nearest == labels).mean()
    assert 0.5 < accuracy < 0.95, accuracy
