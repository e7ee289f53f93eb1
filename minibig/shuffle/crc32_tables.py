"""zlib's CRC-32 (reflected polynomial 0xEDB88320) as slicing tables, for the two
vectorised CRCs that must agree with `portable_hash`'s `zlib.crc32`: the numba kernels
(`minibig.shuffle.kernels`, slicing by eight) and the graph's owners of str ids
(`minibig.graph.partitioning`, a word at a time). numpy only: no numba import."""

from __future__ import annotations

import numpy as np


def crc32_slicing_tables(rows: int) -> np.ndarray:
    """`rows` x 256 uint32 tables: row 0 is the classic byte table, row k advances a byte's
    contribution by k more zero bytes (Intel's slicing-by-N)."""
    c = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        c = np.where(c & 1, np.uint32(0xEDB88320) ^ (c >> np.uint32(1)), c >> np.uint32(1)).astype(np.uint32)
    tables = np.empty((rows, 256), dtype=np.uint32)
    tables[0] = c
    for k in range(1, rows):
        tables[k] = (tables[k - 1] >> np.uint32(8)) ^ c[tables[k - 1] & 0xFF]
    return tables
