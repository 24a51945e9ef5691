"""The IDX format of the official Fashion-MNIST files (optionally gzip-compressed), read with
bounds: a header declaring billions of images or a gzip bomb costs at most the declared size
plus one block."""

from __future__ import annotations

import functools
import gzip
import struct
import zlib
from pathlib import Path
from typing import Protocol

import numpy as np

from fmnist.errors import DataError

__all__ = ["read_idx"]

_BLOCK = 1 << 24


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _header(f: _Readable, path: Path) -> tuple[int, ...]:
    """The dimensions an unsigned-byte IDX header declares."""
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path} is not an IDX file: only {len(head)} bytes")
    zero, dtype_code, ndim = struct.unpack(">HBB", head)
    if zero != 0 or dtype_code != 0x08:
        raise DataError(
            f"{path} is not an unsigned-byte IDX file: magic {head.hex()} "
            "(expected 0000 08 <ndim>)"
        )
    dim_bytes = f.read(4 * ndim)
    if len(dim_bytes) != 4 * ndim:
        raise DataError(f"{path}: the header is cut short ({ndim} dimensions announced)")
    return tuple(struct.unpack(f">{ndim}I", dim_bytes))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a read-only uint8 array. A process
    that runs many jobs (a sweep's resident worker) reads each file once: the array is kept
    for as long as the file's size and modification time stay the same.

    >>> read_idx("train-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
    (60000,)
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    return _read_idx(path.absolute(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_idx(path: Path, size: int, mtime_ns: int) -> np.ndarray:
    """:func:`read_idx` of a file of that size and modification time."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            dims = _header(f, path)
            expected = int(np.prod(dims, dtype=object))
            # Read in blocks up to what the header declares, so that neither a header declaring
            # billions of images nor a small compressed file expanding to gigabytes (a gzip
            # bomb) makes this allocate more than the declared size plus one block.
            chunks, held = [], 0
            while held <= expected:
                block = f.read(min(_BLOCK, expected + 1 - held))
                if not block:
                    break
                chunks.append(block)
                held += len(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    if held != expected:
        raise DataError(
            f"{path}: header says {dims} = {expected} bytes, file holds "
            f"{'more' if held > expected else held}"
        )
    body = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    return body.reshape(dims)
