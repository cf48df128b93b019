"""Timing and counting: `Timer` for wall-clock intervals, `Accumulator` for running sums.

`Timer` waits for queued CUDA work before reading the clock, so a GPU timing measures
the work and not only its launch. `Accumulator` keeps tensors as tensors until a value
is read, so adding a GPU loss does not wait for the GPU on every batch.
"""

from __future__ import annotations

import time

import numpy as np
import torch


def _sync_cuda() -> None:
    """Wait for queued CUDA kernels, so the clock measures the work and not its launch."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


class Timer:
    """Record several running times; starts on creation."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        """Start the timer."""
        _sync_cuda()
        self.tik = time.perf_counter()

    def stop(self) -> float:
        """Stop the timer, record the interval since `start()` and return it."""
        _sync_cuda()
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        """Return the average recorded interval."""
        if not self.times:
            raise ValueError("Timer.avg(): no interval recorded yet; call stop() first.")
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        """Return the sum of the recorded intervals."""
        return sum(self.times)

    def cumsum(self) -> list[float]:
        """Return the accumulated time after each recorded interval."""
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Accumulate sums over `n` variables.

    Values may be numbers or tensors. Tensors stay tensors (detached) until an entry
    is read with `acc[i]`, which returns a float.
    """

    def __init__(self, n: int) -> None:
        self.data: list = [0.0] * n

    def add(self, *args) -> None:
        """Add one value to each of the `n` running sums."""
        if len(args) != len(self.data):
            raise ValueError(
                f"Accumulator.add() got {len(args)} values but accumulates {len(self.data)}."
            )
        self.data = [
            a + (b.detach() if isinstance(b, torch.Tensor) else float(b))
            for a, b in zip(self.data, args)
        ]

    def reset(self) -> None:
        """Set every sum back to zero."""
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return float(self.data[idx])

    def __len__(self) -> int:
        return len(self.data)
