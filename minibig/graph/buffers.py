"""Arrays of a megabyte or more that cost no page faults: memory of Arrow's pool.

A worker pins glibc's mmap threshold at 1 MiB (`minibig.shuffle.sizing`, so
that freed shuffle buffers go back to the system), so every numpy array of a
megabyte or more is fresh pages, each 4 KB a page fault when first written (about
2 µs each on the 2-core machine: 0.64 ms for 160k int64, ten times the fill).
Arrow's pool keeps the pages of what was freed for its next allocation, so a
graph's load and a run's per-superstep buffers take their big arrays there
(a Debian partition's build: 979 page faults to none). The price: a worker
keeps the pages of the biggest load it ran in that pool, as it does for
Arrow's CSV reader, whose tables of the same load are bigger still.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa          # a hard dependency of minibig.graph (see load.py)


def pooled(count: int, dtype) -> np.ndarray:
    """An uninitialised, writable 1-D array of `count` items of `dtype` in Arrow's pool (freed
    back there with the array)."""
    dtype = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(count * dtype.itemsize), dtype)


def pooled_like(like: np.ndarray) -> np.ndarray:
    """`pooled` shaped and typed as `like`."""
    return pooled(like.size, like.dtype).reshape(like.shape)


def pooled_indices(rows: np.ndarray) -> np.ndarray:
    """`rows` as int64, numpy's index type: the array itself when it is already, else a copy in
    Arrow's pool. numpy casts the int32 indices of a take or a bincount to int64 in a fresh
    array first: a page fault per 512 indices on a worker (a Debian range's take of 158k
    positions: 1.9 against 0.5 ms with a pooled cast)."""
    if rows.dtype == np.int64:
        return rows
    out = pooled(len(rows), np.int64)
    np.copyto(out, rows)
    return out
