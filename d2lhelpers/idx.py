"""The IDX file format of (Fashion-)MNIST: parse bytes into tensors, and write small files.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian 32-bit size per dimension, then the data. The course
reads only unsigned bytes (type 0x08). Unlike torchvision, a damaged file is an
`IDXError` that names it, never a silent short tensor, and a read stops one byte past
the length the file should have, so a compressed bomb is refused without being inflated.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch


class IDXError(ValueError):
    """An IDX file is damaged or is not the file it should be."""


def read_idx_bytes(path: str, limit: int, fix: str = "") -> bytearray:
    """Read `path` (inflated if it ends in `.gz`), refusing content longer than `limit` bytes.

    `fix` is appended to every error: what the learner should do about a bad file.
    """
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            raw = bytearray(f.read(limit + 1))
    except (OSError, EOFError, zlib.error) as e:
        raise IDXError(f"{path} is not a readable IDX file ({e}). {fix}") from e
    if len(raw) > limit:
        raise IDXError(
            f"{path} is not the original file: its content is longer than the {limit} bytes "
            f"the original has (it was not read further). {fix}"
        )
    return raw


def parse_idx(raw: bytes | bytearray, path: str, fix: str = "") -> torch.Tensor:
    """Check the IDX header and length of `raw` (read from `path`) and return a uint8 tensor.

    `fix` is appended to every error: what the learner should do about a bad file.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise IDXError(f"{path} is not an IDX file of unsigned bytes (bad magic number). {fix}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise IDXError(f"{path} is truncated: its header is incomplete. {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if 0 in dims:
        raise IDXError(f"{path} declares shape {dims}: it holds no data. {fix}")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise IDXError(
            f"{path} is truncated or padded: {len(raw)} bytes for shape {dims}, "
            f"expected {expected}. {fix}"
        )
    buffer = raw if isinstance(raw, bytearray) else bytearray(raw)  # writable, for torch
    return torch.frombuffer(buffer, dtype=torch.uint8, offset=header).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file (used by the tests)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(Path(path), "wb", compresslevel=1) as f:
        f.write(header + array.tobytes())
