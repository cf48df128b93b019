"""Fashion-MNIST files: read and write IDX, find the data set, and a synthetic stand-in.

The real files live at `<data root>/FashionMNIST/raw/*-idx?-ubyte.gz` (torchvision's
layout). They are parsed straight into uint8 tensors, with no per-image PIL work,
and kept in memory for the rest of the session. The first read of a gzip file also
leaves an uncompressed copy beside it (hidden, named after the file's size and
modification time), so later sessions skip the inflating, as torchvision does.

Where the real images cannot be had (offline machines, CI) and the caller opted in
with `D2L_SYNTHETIC_DATA=1`, a synthetic stand-in with the same shapes and IDX format
is generated once into `FashionMNIST/synthetic-v1/`: ten garment-like silhouettes with
random shifts, contrast, blending and noise, and 8% of labels flipped, so a LeNet
learns it well but stays clearly below 100% accuracy. Every load says it is synthetic.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from .download import DATA_HUB, DownloadError, data_root, download

TEXT_LABELS = [
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]  # fmt: skip

_FILES = {
    "train-images": "train-images-idx3-ubyte.gz",
    "train-labels": "train-labels-idx1-ubyte.gz",
    "test-images": "t10k-images-idx3-ubyte.gz",
    "test-labels": "t10k-labels-idx1-ubyte.gz",
}
_SYNTHETIC_DIR = "synthetic-v1"


class IDXError(ValueError):
    """An IDX file is damaged or is not the file it should be."""


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Parse an IDX file of unsigned bytes (gzip-compressed or not) into a uint8 tensor."""
    path = Path(path)
    stat = path.stat()
    return _read_idx_cached(str(path), stat.st_mtime_ns, stat.st_size)


def _plain_copy(path: str, mtime_ns: int, size: int) -> Path:
    """Where the uncompressed copy of the gzip file `path`, in its current version, is kept."""
    gz = Path(path)
    return gz.with_name(f".{gz.name[:-3]}.{size}-{mtime_ns}.idx")


def _read_plain_copy(path: str, mtime_ns: int, size: int) -> torch.Tensor | None:
    """Parse the uncompressed copy of `path` if there is a sound one (it is dropped if not)."""
    plain = _plain_copy(path, mtime_ns, size)
    try:
        with open(plain, "rb") as f:
            raw = bytearray(os.fstat(f.fileno()).st_size)
            f.readinto(raw)
        return _parse_idx(raw, str(plain), "")
    except FileNotFoundError:
        return None
    except (OSError, IDXError):
        plain.unlink(missing_ok=True)
        return None


def _write_plain_copy(path: str, mtime_ns: int, size: int, raw: bytes) -> None:
    """Keep an uncompressed copy beside `path` (as torchvision does), replacing older ones."""
    plain = _plain_copy(path, mtime_ns, size)
    for old in plain.parent.glob(f".{Path(path).name[:-3]}.*.idx"):
        old.unlink(missing_ok=True)
    tmp = plain.with_name(f"{plain.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(raw)
        os.replace(tmp, plain)
    except OSError:  # a read-only data root: decompress every session instead
        tmp.unlink(missing_ok=True)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, _mtime_ns: int, _size: int) -> torch.Tensor:
    """Parse `path`; a gzip file is inflated once and then read from its uncompressed copy.

    Inflating the 47 MB of training images costs about 0.3 s at every session start;
    reading the copy costs a few milliseconds.
    """
    compressed = path.endswith(".gz")
    if compressed and (tensor := _read_plain_copy(path, _mtime_ns, _size)) is not None:
        return tensor
    fix = f"Delete {path} and run again to download it afresh, or replace it by hand."
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise IDXError(f"{path} is not a readable IDX file ({e}). {fix}") from e
    tensor = _parse_idx(raw, path, fix)
    if compressed:
        _write_plain_copy(path, _mtime_ns, _size, raw)
    return tensor


def _parse_idx(raw: bytes | bytearray, path: str, fix: str) -> torch.Tensor:
    """Check the IDX header and length of `raw` and return its data as a uint8 tensor."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise IDXError(f"{path} is not an IDX file of unsigned bytes (bad magic number). {fix}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path} is truncated: its header is incomplete. {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise IDXError(
            f"{path} is truncated or padded: {len(raw)} bytes for shape {dims}, "
            f"expected {expected}. {fix}"
        )
    buffer = raw if isinstance(raw, bytearray) else bytearray(raw)  # writable, for torch
    return torch.frombuffer(buffer, dtype=torch.uint8, offset=header).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file, atomically."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    tmp = path.with_name(f".{path.name}.part")
    with gzip.open(tmp, "wb", compresslevel=1) as f:
        f.write(header + array.tobytes())
    os.replace(tmp, path)


# Rectangles (class, rows, columns, value) that sketch each garment, drawn in order.
_SHAPES = [
    (0, (6, 25), (9, 19), 1.0),
    (0, (6, 11), (4, 24), 1.0),  # t-shirt: body, short sleeves
    (1, (3, 8), (9, 19), 1.0),
    (1, (3, 26), (9, 13), 1.0),
    (1, (3, 26), (15, 19), 1.0),  # trouser
    (2, (5, 25), (8, 20), 1.0),
    (2, (5, 23), (3, 8), 0.8),
    (2, (5, 23), (20, 25), 0.8),  # pullover
    (4, (4, 26), (7, 21), 1.0),
    (4, (4, 24), (3, 7), 1.0),
    (4, (4, 24), (21, 25), 1.0),  # coat
    (4, (4, 26), (14, 15), 0.3),  # coat: zip
    (5, (17, 22), (3, 25), 1.0),
    (5, (14, 17), (3, 25), 0.5),  # sandal: sole, straps
    (6, (5, 25), (8, 20), 0.9),
    (6, (5, 14), (4, 24), 0.9),
    (6, (5, 8), (12, 16), 0.4),  # shirt
    (7, (15, 22), (3, 25), 1.0),
    (7, (12, 15), (12, 25), 1.0),
    (7, (21, 22), (3, 25), 0.5),  # sneaker
    (8, (9, 25), (5, 23), 1.0),
    (8, (4, 9), (9, 11), 1.0),
    (8, (4, 9), (17, 19), 1.0),  # bag
    (8, (4, 5), (9, 19), 1.0),  # bag: handle
    (9, (5, 23), (13, 21), 1.0),
    (9, (16, 23), (4, 21), 1.0),
    (9, (22, 23), (4, 21), 0.6),  # boot
]


def _silhouettes() -> np.ndarray:
    """Ten crude 28x28 garment shapes in [0, 1], in Fashion-MNIST's class order."""
    s = np.zeros((10, 28, 28), dtype=np.float32)
    for cls, (r0, r1), (c0, c1), value in _SHAPES:
        s[cls, r0:r1, c0:c1] = value
    rows = np.arange(28)[:, None]
    half_width = 3 + (rows - 3) * 0.3  # the dress widens towards the hem
    s[3, 3:26] = (np.abs(np.arange(28) - 14) < half_width[3:26]).astype(np.float32)
    for _ in range(2):  # soften the edges with a 3x3 box blur
        padded = np.pad(s, ((0, 0), (1, 1), (1, 1)))
        s = sum(padded[:, i : i + 28, j : j + 28] for i in range(3) for j in range(3)) / 9
    return s


def make_synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generate `n` synthetic images (uint8, n x 28 x 28) and labels (uint8)."""
    rng = np.random.default_rng(seed)
    protos = _silhouettes()
    labels = rng.integers(0, 10, n)
    other = (labels + rng.integers(1, 10, n)) % 10
    mix = rng.uniform(0.0, 0.5, n)[:, None, None]
    contrast = rng.uniform(0.6, 1.1, n)[:, None, None]
    imgs = contrast * ((1 - mix) * protos[labels] + mix * protos[other])
    shifts = rng.integers(-2, 3, (n, 2))
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            sel = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            imgs[sel] = np.roll(imgs[sel], (dy, dx), axis=(1, 2))
    imgs += rng.normal(0.0, 0.12, imgs.shape) * (0.3 + imgs)
    flip = rng.random(n) < 0.08
    labels[flip] = rng.integers(0, 10, int(flip.sum()))
    return (np.clip(imgs, 0, 1) * 255).round().astype(np.uint8), labels.astype(np.uint8)


def _synthetic_paths(root: Path) -> dict[str, Path]:
    folder = root / "FashionMNIST" / _SYNTHETIC_DIR
    paths = {key: folder / name for key, name in _FILES.items()}
    if not all(p.exists() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for split, n, seed in (("train", 60000, 0), ("test", 10000, 1)):
            images, labels = make_synthetic(n, seed)
            write_idx(paths[f"{split}-images"], images)
            write_idx(paths[f"{split}-labels"], labels)
    return paths


def _read_split(paths: dict[str, Path]) -> tuple[torch.Tensor, ...]:
    out = []
    for split in ("train", "test"):
        images, labels = read_idx(paths[f"{split}-images"]), read_idx(paths[f"{split}-labels"])
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise IDXError(
                f"{paths[f'{split}-images']} holds shape {tuple(images.shape)}, "
                "not N x 28 x 28 images."
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise IDXError(
                f"{paths[f'{split}-labels']} holds {tuple(labels.shape)} labels for "
                f"{len(images)} images in {paths[f'{split}-images'].name}."
            )
        if int(labels.max()) > 9:
            raise IDXError(f"{paths[f'{split}-labels']} has a label above 9.")
        out += [images, labels.long()]
    return tuple(out)


def synthetic_opt_in() -> bool:
    """True when `D2L_SYNTHETIC_DATA=1`: a missing data set may be replaced by a stand-in."""
    return os.environ.get("D2L_SYNTHETIC_DATA", "").strip().lower() in ("1", "true", "yes")


def fashion_mnist_status() -> str:
    """Say which Fashion-MNIST files the data root holds: 'real', 'synthetic' or 'missing'."""
    root = data_root()
    if all((root / "FashionMNIST" / "raw" / name).exists() for name in _FILES.values()):
        return "real"
    return "synthetic" if synthetic_opt_in() else "missing"


def read_fashion_mnist() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return `(train_images, train_labels, test_images, test_labels)` as tensors.

    Images are uint8, N x 28 x 28; labels int64. Missing real files are downloaded;
    where that fails, `D2L_SYNTHETIC_DATA=1` switches to the synthetic stand-in, and
    otherwise the error says what to do. A damaged file is always an error.
    """
    root = data_root()
    raw = root / "FashionMNIST" / "raw"
    paths = {key: raw / name for key, name in _FILES.items()}
    missing = [key for key, p in paths.items() if not p.exists()]
    if missing and synthetic_opt_in():
        print(
            f"NOTE: Fashion-MNIST images not found in {raw}; using the SYNTHETIC stand-in "
            "(D2L_SYNTHETIC_DATA=1). Accuracies are not comparable with the real data set."
        )
        return _read_split(_synthetic_paths(root))
    try:
        for key in missing:
            download(f"fashion-mnist-{key}", raw)
    except DownloadError as e:
        names = "\n  ".join(f"{DATA_HUB[f'fashion-mnist-{k}'][0]} -> {paths[k]}" for k in missing)
        raise FileNotFoundError(
            f"Fashion-MNIST is missing from {raw} and could not be downloaded ({e}).\n"
            f"Download these files by hand and save them there:\n  {names}\n"
            "or set D2L_DATA_DIR to a folder that holds FashionMNIST/raw/, or set "
            "D2L_SYNTHETIC_DATA=1 to use a clearly labelled synthetic stand-in."
        ) from e
    return _read_split(paths)
