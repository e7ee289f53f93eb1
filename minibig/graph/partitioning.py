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

from zlib import crc32

import numpy as np
import pyarrow as pa          # a hard dependency of minibig.graph (see load.py)

from minibig.graph.buffers import pooled
from minibig.graph.ids import string_buffers
from minibig.shuffle.crc32_tables import crc32_slicing_tables
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
    """zlib.crc32 of every string of an Arrow string array's buffers (offsets, UTF-8 bytes),
    in batches of at most `_CRC_BATCH` strings and about `_CRC_BATCH_BYTES` bytes (a batch
    ends at a string's end). The word array is 4 bytes per byte hashed and each string has
    some 100 bytes of temporaries: all at once, 2M ids of 13 bytes peaked at 326 MB (Arrow's
    pool and numpy), in batches at ~60 MB, and faster (400k ids: 45 -> 27 ms; 40k, one batch:
    the same). A batch copies its strings' bytes only, not the buffer's start before them.
    A batch's loop runs to its longest string: the strings of more than `_CRC_LONG` bytes are
    left out of theirs (one 4 KB id in each batch made it ~1,000 word steps, not ~4), and
    hashed one at a time by zlib, the call's cost paid back by their length."""
    out = np.empty(len(offsets) - 1, np.int64)
    lengths = np.diff(offsets)
    long = lengths > _CRC_LONG
    short = np.where(long, 0, lengths) if long.any() else lengths
    lo = 0
    while lo < len(out):
        by_bytes = int(np.searchsorted(offsets, offsets[lo] + _CRC_BATCH_BYTES, side="right")) - 1
        hi = min(len(out), lo + _CRC_BATCH, max(lo + 1, by_bytes))
        _crc32_batch(offsets[lo:hi], short[lo:hi], data, out[lo:hi])
        lo = hi
    rows = np.flatnonzero(long)
    if len(rows):                                # zlib's own CRC, one long id at a time
        view = memoryview(data)
        out[rows] = [crc32(view[lo:hi]) for lo, hi in zip(offsets[rows].tolist(), offsets[rows + 1].tolist())]
    return out


_CRC_BATCH, _CRC_BATCH_BYTES, _CRC_LONG = 1 << 16, 1 << 20, 256


def _crc32_batch(starts: np.ndarray, lengths: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """zlib.crc32 of the strings `data[starts[i]:starts[i] + lengths[i]]`, ascending and each
    after the one before, into `out` (int64; a batch of `crc32_strings`; a string given a length
    of 0 where it is longer hashes as an empty one: 0).

    Vectorised across the strings, four bytes at a time (two lookups in 16-bit tables per
    word, against four byte steps of six numpy passes each: Debian's ~40k distinct ids of a
    range, 6.3 -> ~3 ms): the strings sorted by their count of words, most first, so the ones
    still going at word j are a prefix. Each string is aligned on its end: a string of L bytes
    starts with (-L) % 4 zero bytes, from a start state that these zeros take to CRC-32's
    0xFFFFFFFF (`_PAD_START`), so every string is whole words, no byte steps at its end.
    numpy, not numba: a worker's first numba call costs a second, more than hashing a few
    million ids this way.
    """
    pad = (-lengths) & 3
    words = (lengths + 3) >> 2
    most = int(words.max())
    if not most:                                 # empty strings, or all left to another batch
        out[:] = 0
        return
    # numpy sorts 16-bit keys by radix (a string of 256 KB or more: a general sort)
    order = np.argsort((most - words).astype(np.uint16 if most < 1 << 16 else np.int64), kind="stable")
    pad = pad[order]
    # a word per byte position, aligned (an unaligned gather costs 2.5x): 3 zero bytes before
    # the first string's padding, and the last word's 3 bytes after the end. It and every
    # temporary of the loop are arrays of Arrow's pool, written in place: on a worker a fresh
    # array of a megabyte or more is fresh pages, and one of a few hundred KB often is too (glibc
    # trims the heap's top), a page fault per 4 KB (buffers.py; a Debian range: 1,300 faults)
    # Only the batch's bytes: from its first string's start to its last one's end
    base, end = int(starts[0]), int(starts[-1] + lengths[-1])
    padded = pooled(end - base + 6, np.uint8)
    padded[:3] = padded[-3:] = 0
    padded[3:-3] = data[base:end]
    word = pooled(len(padded) - 3, np.uint32)
    np.copyto(word, np.ndarray((len(word),), "<u4", buffer=padded, strides=(1,)))
    first = starts[order] + (3 - base) - pad     # where each string's first (padded) word starts
    crc = _PAD_START[pad]
    going_at = np.searchsorted(-words[order], -np.arange(most), side="left")   # words[:going] > j
    at, c, half, low = (pooled(len(order), dtype) for dtype in (np.int64, np.uint32, np.int64, np.uint32))
    for j in range(most):
        going = int(going_at[j])
        np.add(first[:going], 4 * j, out=at[:going])
        np.take(word, at[:going], out=c[:going], mode="clip")     # in range: whole words of the data
        if j == 0:                               # the padding: zeros, not the bytes before
            c &= _PAD_MASK[pad]
        c[:going] ^= crc[:going]
        np.bitwise_and(c[:going], 0xFFFF, out=half[:going])
        np.take(_CRC_LOW, half[:going], out=low[:going], mode="clip")
        np.right_shift(c[:going], 16, out=half[:going])
        np.take(_CRC_HIGH, half[:going], out=crc[:going], mode="clip")
        crc[:going] ^= low[:going]
    out[order] = (crc ^ np.uint32(0xFFFFFFFF)).astype(np.int64)


def _crc_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CRC-32's byte table, and the two 16-bit tables of a word step: for c = crc ^ word
    (little-endian), the next crc is low[c & 0xFFFF] ^ high[c >> 16] (slicing by four,
    two slices merged in each table)."""
    sliced = crc32_slicing_tables(4)            # sliced[k]: a byte followed by k zero bytes
    c = sliced[0]
    x = np.arange(1 << 16, dtype=np.uint32)
    low = sliced[3][x & 0xFF] ^ sliced[2][x >> np.uint32(8)]
    high = sliced[1][x & 0xFF] ^ sliced[0][x >> np.uint32(8)]
    return c, low, high


def _pad_starts(table: np.ndarray) -> np.ndarray:
    """The state that k zero bytes take to 0xFFFFFFFF, for k in 0..3 (a zero byte's step
    s -> (s >> 8) ^ table[s & 0xFF] is invertible: the tables' top bytes are all distinct)."""
    by_top = np.empty(256, np.int64)
    by_top[table >> np.uint32(24)] = np.arange(256)
    states = [0xFFFFFFFF]
    for _ in range(3):
        after = states[-1]
        low = int(by_top[after >> 24])
        states.append((((after ^ int(table[low])) << 8) | low) & 0xFFFFFFFF)
    return np.array(states, np.uint32)


_CRC_TABLE, _CRC_LOW, _CRC_HIGH = _crc_tables()
_PAD_START = _pad_starts(_CRC_TABLE)
_PAD_MASK = np.array([0xFFFFFFFF, 0xFFFFFF00, 0xFFFF0000, 0xFF000000], np.uint32)   # k zero bytes, low first


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
