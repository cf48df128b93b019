"""Devices: pick a GPU when there is one (CUDA, or Apple's MPS), else the CPU."""

from __future__ import annotations

import torch


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def cpu() -> torch.device:
    """Return the CPU device."""
    return torch.device("cpu")


def num_gpus() -> int:
    """Return the number of GPUs: CUDA devices, or 1 for Apple's MPS."""
    if torch.cuda.is_available():
        return torch.cuda.device_count()
    return 1 if _mps_available() else 0


def try_gpu(i: int = 0) -> torch.device:
    """Return GPU `i` if it exists (on a Mac, Apple's MPS is GPU 0), else the CPU."""
    if torch.cuda.is_available() and torch.cuda.device_count() > i:
        return torch.device(f"cuda:{i}")
    if i == 0 and not torch.cuda.is_available() and _mps_available():
        return torch.device("mps")
    return cpu()


def try_all_gpus() -> list[torch.device]:
    """Return all available GPUs, or `[cpu()]` if there is none."""
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    if _mps_available():
        return [torch.device("mps")]
    return [cpu()]
