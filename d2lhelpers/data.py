"""Data loaders: minibatches sliced from tensors in memory, for airfoil and Fashion-MNIST.

d2l builds these on `torch.utils.data.DataLoader`, which for data that already sits
in memory costs a Python call per example, per-image PIL transforms and (for
Fashion-MNIST) four worker processes, a number that breaks on small machines and
under the spawn start method. `TensorLoader` slices whole batches from tensors,
optionally on the GPU, with no worker processes at all. It shuffles with the same
random draws as `DataLoader(shuffle=True)`, so a seeded run sees the same order.

`D2L_EPOCH_FRACTION` (a number in (0, 1], default 1, read by `settings`) shortens every
Fashion-MNIST epoch to that fraction of its batches. It exists for test runs of the
course only; learners leave it unset. Arguments are checked before any data is read.
"""

from __future__ import annotations

import math
import multiprocessing
import numbers
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .datasets import AIRFOIL
from .download import download
from .fashion_mnist import read_fashion_mnist
from .settings import epoch_fraction
from .validate import non_negative_int, positive_int


def _random_permutation(n: int) -> torch.Tensor:
    """Draw a permutation with the same random draws as iterating `DataLoader(shuffle=True)`.

    A `DataLoader` iterator first draws a base seed for its workers, then its
    `RandomSampler` draws the seed of the permutation.
    """
    torch.empty((), dtype=torch.int64).random_()
    seed = int(torch.empty((), dtype=torch.int64).random_().item())
    generator = torch.Generator()
    generator.manual_seed(seed)
    return torch.randperm(n, generator=generator)


class TensorLoader:
    """Iterate over minibatches `[X, y, ...]` sliced from in-memory tensors.

    A drop-in for the `DataLoader` objects d2l returns: it has `len()`, `.dataset`
    and `.batch_size`, and yields lists of tensors. `transform` maps each batch (a
    list of tensors) to the batch that is yielded; `max_batches` cuts epochs short
    (never lengthens them). Tensors with no examples, or `max_batches=0`, make a loader
    that yields no batch at all, as an empty `DataLoader` does; the training loops say so.
    """

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        batch_size: int,
        shuffle: bool = False,
        transform: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None = None,
        max_batches: int | None = None,
    ) -> None:
        positive_int("batch_size", batch_size)
        if max_batches is not None:
            non_negative_int("max_batches", max_batches)
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor, got none.")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"All tensors need the same length; got {[len(t) for t in tensors]}.")
        self.tensors = list(tensors)
        self.dataset = TensorDataset(*self.tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        full = math.ceil(n / batch_size)
        self.max_batches = full if max_batches is None else min(max_batches, full)

    @property
    def device(self) -> torch.device:
        """The device the batches are drawn on."""
        return self.tensors[0].device

    def __len__(self) -> int:
        return self.max_batches

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        n, bs = len(self.tensors[0]), self.batch_size
        order = _random_permutation(n).to(self.device) if self.shuffle else None
        for i in range(self.max_batches):
            if order is None:
                batch = [t[i * bs : (i + 1) * bs] for t in self.tensors]
            else:
                idx = order[i * bs : (i + 1) * bs]
                batch = [t.index_select(0, idx) for t in self.tensors]  # 5x faster than t[idx]
            yield self.transform(batch) if self.transform else batch

    def with_options(
        self, tensors: Sequence[torch.Tensor] | None = None, **changes
    ) -> TensorLoader:
        """Return a loader over the same (or the given) tensors with some options changed."""
        options = dict(
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            transform=self.transform,
            max_batches=self.max_batches,
        )
        options.update(changes)
        return TensorLoader(self.tensors if tensors is None else tensors, **options)

    def to(self, device: torch.device | str) -> TensorLoader:
        """Return a loader whose tensors live on `device` (a no-op if they already do)."""
        device = torch.device(device)
        if self.device == device or (device.index is None and self.device.type == device.type):
            return self
        return self.with_options(tensors=[t.to(device) for t in self.tensors])

    def examples(self) -> int:
        """The number of examples one epoch yields."""
        return min(len(self.tensors[0]), self.max_batches * self.batch_size)


def load_array(data_arrays: Sequence[torch.Tensor], batch_size: int, is_train: bool = True):
    """Construct a data iterator over in-memory tensors (shuffled when `is_train`)."""
    return TensorLoader(data_arrays, batch_size, shuffle=is_train)


def get_dataloader_workers() -> int:
    """Return a sensible number of loader worker processes for `DataLoader`.

    d2l hard-codes 4, which oversubscribes small machines and fails under the spawn
    start method (Windows, macOS) outside an `if __name__ == '__main__'` guard. This
    course's own loaders need no workers at all.
    """
    if multiprocessing.get_start_method(allow_none=True) in ("spawn", "forkserver"):
        return 0
    if os.name == "nt":
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def get_data_ch11(batch_size: int = 10, n: int = 1500):
    """Return `(data_iter, feature_dim)` for the first `n` rows of airfoil, standardised."""
    positive_int("batch_size", batch_size)
    positive_int("n", n)
    path = download(AIRFOIL.files["airfoil"].hub_name)
    data = np.genfromtxt(path, dtype=np.float32, delimiter="\t")
    if data.ndim != 2 or data.shape[1] != 6 or np.isnan(data).any():
        raise ValueError(
            f"{path} is not the airfoil table (expected rows of 6 tab-separated numbers, "
            f"got shape {data.shape}). Delete it and run again to download it afresh."
        )
    data = torch.from_numpy((data - data.mean(axis=0)) / data.std(axis=0))
    data_iter = load_array((data[:n, :-1], data[:n, -1]), batch_size, is_train=True)
    return data_iter, data.shape[1] - 1


def _image_size(resize) -> tuple[int, int] | None:
    """`resize` as (height, width): None, one positive whole number, or a pair of them."""
    if resize is None:
        return None
    if isinstance(resize, numbers.Integral) and not isinstance(resize, bool):
        return positive_int("resize", resize), int(resize)
    if isinstance(resize, (tuple, list)) and len(resize) == 2:
        return positive_int("resize[0]", resize[0]), positive_int("resize[1]", resize[1])
    raise ValueError(
        f"resize must be None, a positive whole number or a pair (height, width) of them, "
        f"got {resize!r}."
    )


def _image_transform(size) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """Turn a batch of uint8 images into floats in [0, 1], shape B x 1 x H x W."""

    def transform(batch: list[torch.Tensor]) -> list[torch.Tensor]:
        images, labels = batch
        x = images.unsqueeze(1).float().div_(255)
        if size is not None:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        return [x, labels]

    return transform


def load_data_fashion_mnist(batch_size: int, resize=None, device: torch.device | str | None = None):
    """Return `(train_iter, test_iter)` over Fashion-MNIST, images as B x 1 x 28 x 28 floats.

    The data are parsed once into memory and batches are sliced from tensors on
    `device` (default: the CPU), with `resize` done per batch on that device.
    """
    positive_int("batch_size", batch_size)
    size = _image_size(resize)
    fraction = epoch_fraction()
    train_x, train_y, test_x, test_y = read_fashion_mnist()
    if device is not None:
        train_x, train_y, test_x, test_y = (
            t.to(device) for t in (train_x, train_y, test_x, test_y)
        )
    transform = _image_transform(size)
    limits = [None, None]
    if fraction < 1:
        limits = [math.ceil(fraction * math.ceil(len(t) / batch_size)) for t in (train_x, test_x)]
        print(
            f"D2L_EPOCH_FRACTION={fraction:g}: epochs shortened to {limits[0]} training and "
            f"{limits[1]} test batches (test runs only; unset it for the full course)."
        )
    train_iter = TensorLoader((train_x, train_y), batch_size, True, transform, limits[0])
    test_iter = TensorLoader((test_x, test_y), batch_size, False, transform, limits[1])
    return train_iter, test_iter
