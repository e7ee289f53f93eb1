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
