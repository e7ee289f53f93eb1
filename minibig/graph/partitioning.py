"""Which partition owns a vertex: an edge-cut by a deterministic hash of its id.

A partitioner is any callable `vertex_id -> partition` (an int in
`[0, num_partitions)`), given the user's original id. The default,
`HashPartitioner`, is `portable_hash(id) % n` with the engine's
process-independent hash (`minibig.shuffle.hashing`): CRC-32 of the UTF-8
bytes for str, Python's unsalted int hash for int. Every process therefore
agrees on the owner of a vertex, including one created by a mutation.

`partitions_of(partitioner, ids)` computes the owners of many ids at once:
numpy for the hash partitioner on int ids (Python's int hash re-done in
vectorised form), a vectorised CRC-32 over the UTF-8 bytes for str ids, one call
per id for a custom partitioner.

>>> p = HashPartitioner(4)
>>> [p(v) for v in (0, 5, -1, "a")] == partitions_of(p, [0, 5, -1]).tolist() + [p("a")]
True
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa          # a hard dependency of minibig.graph (see load.py)

from minibig.graph.ids import string_buffers
from minibig.shuffle.hashing import portable_hash

_MODULUS = (1 << 61) - 1          # CPython's int hash is x mod (2**61 - 1), sign kept
_MASK = (1 << 63) - 1             # portable_hash keeps the low 63 bits


class HashPartitioner:
    """`portable_hash(vertex_id) % num_partitions`: the default edge-cut."""

    def __init__(self, num_partitions: int):
        if num_partitions < 1:
            raise ValueError(f"num_partitions must be at least 1, not {num_partitions}")
        self.num_partitions = num_partitions

    def __call__(self, vertex_id) -> int:
        return portable_hash(vertex_id) % self.num_partitions

    def __eq__(self, other) -> bool:
        return isinstance(other, HashPartitioner) and other.num_partitions == self.num_partitions

    def __hash__(self) -> int:
        return hash(("HashPartitioner", self.num_partitions))

    def __repr__(self) -> str:
        return f"HashPartitioner({self.num_partitions})"

    def partitions_of(self, ids: np.ndarray) -> np.ndarray:
        """Owners of many ids at once (int64 array or object array of str)."""
        if self.num_partitions == 1:            # every id's owner, whatever its hash: no hashing
            return np.zeros(len(ids), np.int64)
        return portable_hashes(ids) % np.int64(self.num_partitions)


def partitions_of(partitioner, ids) -> np.ndarray:
    """Owner partition (int64) of every id in `ids`, vectorised where the partitioner allows."""
    if not isinstance(ids, (np.ndarray, pa.Array, pa.ChunkedArray)):
        ids = np.asarray(list(ids), dtype=_dtype_of(ids))
    vectorised = getattr(partitioner, "partitions_of", None)
    if vectorised is not None:
        return np.asarray(vectorised(ids), dtype=np.int64)
    return np.fromiter((partitioner(v) for v in ids.tolist()), dtype=np.int64, count=len(ids))


def rows_by_owner(owner: np.ndarray, num_partitions: int) -> list[np.ndarray]:
    """Per partition q, the positions i where `owner[i] == q`, ascending."""
    if num_partitions <= 8:                           # a few masks beat any sort
        return [np.flatnonzero(owner == q) for q in range(num_partitions)]
    if num_partitions <= 1 << 16:                     # numpy sorts 16-bit keys by radix: O(n)
        owner = owner.astype(np.uint16, copy=False)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(num_partitions + 1))
    return [order[bounds[q]:bounds[q + 1]] for q in range(num_partitions)]


def portable_hashes(ids) -> np.ndarray:
    """`portable_hash` of every id, as int64: numpy for ints, a CRC-32 over the UTF-8 bytes
    for str (a numpy object array or an Arrow string array)."""
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        return _int_hashes(ids.astype(np.int64))
    strings = _as_arrow_strings(ids)
    if strings is None:                     # not all str: one portable_hash per id
        return np.fromiter((portable_hash(v) for v in ids.tolist()), dtype=np.int64, count=len(ids))
    return crc32_strings(*string_buffers(strings))


def crc32_strings(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """zlib.crc32 of every string of an Arrow string array's buffers (offsets, UTF-8 bytes).

    Vectorised across the strings, one byte position at a time: the strings
    sorted longest first, so the ones still going at position j are a prefix.
    numpy, not numba: a worker's first numba call costs a second, more than
    hashing a few million ids this way.
    """
    starts, lengths = offsets[:-1], np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")
    starts, lengths = starts[order], lengths[order]
    crc = np.full(len(order), 0xFFFFFFFF, np.uint32)
    going = len(order)
    for j in range(int(lengths[0]) if len(order) else 0):
        going = int(np.searchsorted(-lengths, -j, side="left"))   # lengths[:going] > j
        c = crc[:going]
        crc[:going] = _CRC_TABLE[(c ^ data[starts[:going] + j]) & 0xFF] ^ (c >> np.uint32(8))
    out = np.empty(len(order), np.int64)
    out[order] = (crc ^ np.uint32(0xFFFFFFFF)).astype(np.int64)
    return out


def _crc_table() -> np.ndarray:
    c = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        c = np.where(c & 1, np.uint32(0xEDB88320) ^ (c >> np.uint32(1)), c >> np.uint32(1)).astype(np.uint32)
    return c


_CRC_TABLE = _crc_table()


def _as_arrow_strings(ids):
    """ids as an Arrow string array without nulls, or None when some id is not a str."""
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        strings = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        ok = pa.types.is_string(strings.type) or pa.types.is_large_string(strings.type)
        return strings if ok and not strings.null_count else None
    try:
        return pa.array(ids, pa.string(), from_pandas=False) if len(ids) else pa.array([], pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):     # not str, or a lone surrogate
        return None


def _int_hashes(x: np.ndarray) -> np.ndarray:
    """CPython's hash(int) & (2**63 - 1), for an int64 array."""
    negative = x < 0
    # |x| as uint64 without overflowing at -2**63
    magnitude = np.where(negative, -(x + 1), x).astype(np.uint64) + negative.astype(np.uint64)
    h = (magnitude % np.uint64(_MODULUS)).astype(np.int64)
    h = np.where(negative, -h, h)
    h[h == -1] = -2                                  # CPython reserves -1 for errors
    return h & np.int64(_MASK)


def _dtype_of(ids) -> type:
    items = list(ids)
    return np.int64 if all(type(v) is int for v in items) else object
