"""The shuffle's inner loops in numba: hashing, partitioning, aggregation, merging.

Everything here works on flat numpy arrays (Arrow buffers are viewed as numpy
arrays by `minibig.shuffle.columnar`, which is the friendlier entry point) and
returns numpy arrays. The design in five points:

1. **One hash everywhere.** A key must land in the same partition whether the
   row path (`minibig.shuffle.hashing.portable_hash`, one Python call per
   record) or a columnar kernel hashed it, in every process and on every run.
   So the kernels re-implement exactly what `portable_hash` computes:

   ======================  ==================================================
   key                     hash (a non-negative int64)
   ======================  ==================================================
   int64                   CPython's `hash(int)`: sign * (|x| mod 2**61-1),
                           -1 becomes -2; then `& (2**63-1)`
   float64                 CPython's `hash(float)` (so `hash(2.0) == hash(2)`,
                           and -0.0 hashes like 0.0), `& (2**63-1)`; NaN -> 0
   str / bytes             CRC-32 (zlib's polynomial) of the UTF-8 bytes
   null (None)             0
   ======================  ==================================================

   CPython 3.10+ hashes a NaN by its object identity, which no other process
   can reproduce; the kernels give every NaN the hash 0 instead (what CPython
   did before 3.10). NaN is never equal to itself, so no grouping depends on it.

2. **Partitioning is a counting sort.** `partition_ids` is `hash % n` (int32
   ids, written into a caller's buffer so a writer can reuse one per batch);
   `counting_sort` then returns a stable permutation that puts the rows of
   partition 0 first, then partition 1, ..., plus the n+1 offsets where each
   partition starts. Gathering keys and values through the permutation gives
   one contiguous slice per reducer, in the order the rows came.

3. **Aggregation two ways.** Sort-based (stable argsort, then one pass over
   runs of equal keys; output in key order) and hash-based (open addressing
   with linear probing, table at most half full, doubled when it fills;
   output in order of first appearance). Both fold values in row order, so
   float sums equal a left-to-right Python `sum`. String keys are grouped by
   CRC-32 and every probe compares the actual bytes, so a CRC collision
   never merges two keys. The ops are SUM, MIN, MAX (MIN/MAX skip NaN, like
   `np.fmin`); COUNT is a SUM of ones (see `columnar.aggregate`).

4. **Merging sorted runs** (spilled runs of a sort-based shuffle) with a
   binary heap of run indices, O(N log k). Ties go to the earlier run, and
   within a run keep their order, so the merge is stable: it equals a stable
   sort of the runs' concatenation. NaN sorts last, as in numpy; string runs
   compare UTF-8 bytes, which is the order of Python's `str` comparison.

5. **Compiled once per process, cached on disk.** Every kernel is
   `@njit(cache=True)`: the first process compiles and writes the machine
   code next to this file (`__pycache__/`), later processes load it in
   milliseconds. When that folder is not writable numba falls back to the
   user's cache folder; when no folder works we point `NUMBA_CACHE_DIR`'s
   setting at a private temporary folder, and as a last resort compile
   without a disk cache. Importing this module imports numba (about half a
   second), so nothing in `import minibig` imports it: only code that runs
   the kernels does. `warm_up()` compiles or loads the common signatures, so
   a worker can pay that once at start-up instead of inside its first task.
"""

from __future__ import annotations

import math
import os
import tempfile

import numba
import numpy as np
from numba import njit

from minibig.shuffle.crc32_tables import crc32_slicing_tables

# Aggregation ops, passed as small ints so one compiled kernel serves them all.
SUM, MIN, MAX = 0, 1, 2
OPS = {"sum": SUM, "min": MIN, "max": MAX}

_MASK = np.int64((1 << 63) - 1)           # portable_hash's mask
_MODULUS = np.uint64((1 << 61) - 1)       # CPython's _PyHASH_MODULUS
_BITS = 61
_INF_HASH = np.int64(314159)              # CPython's _PyHASH_INF
_EMPTY = np.int64(-1)


# Global arrays are frozen into the compiled code as constants.
_CRC_TABLES = crc32_slicing_tables(8).astype(np.int64)
_CRC_TABLE = _CRC_TABLES[0].copy()


def _private_cache_dir() -> str:
    return os.path.join(tempfile.gettempdir(), f"minibig-numba-cache-{os.getuid()}")


def _kernel(fn=None, *, inline: bool = False):
    """njit(cache=True, nogil=True), degrading gracefully when no cache folder works.

    numba picks the cache folder when the function is decorated and raises
    RuntimeError if neither the in-tree `__pycache__` nor the user cache folder
    is writable; then we try a private temporary folder, then no disk cache.
    `inline=True` inlines a small helper into its callers at numba's level
    (worth ~20% on short strings, where the call costs as much as the work).
    """
    if fn is None:
        return lambda f: _kernel(f, inline=inline)
    options = {"nogil": True, "inline": "always" if inline else "never"}
    try:
        return njit(cache=True, **options)(fn)
    except RuntimeError:
        pass
    if not numba.config.CACHE_DIR:
        numba.config.CACHE_DIR = _private_cache_dir()
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError:
            pass
    return njit(**options)(fn)


# -- hashing --------------------------------------------------------------------
@_kernel(inline=True)
def int_hash(x):
    """portable_hash of one int64: CPython's int hash masked to 63 bits."""
    if x >= 0:
        ux = np.uint64(x)
    else:
        ux = np.uint64(-(x + 1)) + np.uint64(1)    # |x| without overflow at -2**63
    # x mod 2**61-1 by folding the bits above 61 back in (a Mersenne modulus).
    r = (ux & _MODULUS) + (ux >> np.uint64(_BITS))
    if r >= _MODULUS:
        r -= _MODULUS
    h = np.int64(r)
    if x < 0:
        h = -h
    if h == -1:
        h = np.int64(-2)
    return h & _MASK


@_kernel(inline=True)
def float_hash(v):
    """portable_hash of one float64: CPython's `_Py_HashDouble`, NaN -> 0."""
    if math.isnan(v):
        return np.int64(0)
    if math.isinf(v):
        return _INF_HASH if v > 0 else (-_INF_HASH) & _MASK
    m, e = math.frexp(v)
    negative = m < 0
    if negative:
        m = -m
    x = np.uint64(0)
    # Take the mantissa 28 bits at a time, rotating within 61 bits, as CPython does.
    while m != 0.0:
        x = ((x << np.uint64(28)) & _MODULUS) | (x >> np.uint64(_BITS - 28))
        m *= 268435456.0
        e -= 28
        y = np.uint64(m)
        m -= y
        x += y
        if x >= _MODULUS:
            x -= _MODULUS
    e = e % _BITS if e >= 0 else _BITS - 1 - ((-1 - e) % _BITS)
    x = ((x << np.uint64(e)) & _MODULUS) | (x >> np.uint64(_BITS - e))
    h = np.int64(x)
    if negative:
        h = -h
    if h == -1:
        h = np.int64(-2)
    return h & _MASK


@_kernel(inline=True)
def crc32(data, start, end):
    """zlib.crc32 of data[start:end] (a uint8 array): eight bytes a step, then one."""
    crc = np.int64(0xFFFFFFFF)
    t = _CRC_TABLES
    k = start
    while k + 8 <= end:
        lo = crc ^ (np.int64(data[k]) | (np.int64(data[k + 1]) << 8)
                    | (np.int64(data[k + 2]) << 16) | (np.int64(data[k + 3]) << 24))
        crc = (t[7, lo & 0xFF] ^ t[6, (lo >> 8) & 0xFF] ^ t[5, (lo >> 16) & 0xFF] ^ t[4, lo >> 24]
               ^ t[3, data[k + 4]] ^ t[2, data[k + 5]] ^ t[1, data[k + 6]] ^ t[0, data[k + 7]])
        k += 8
    while k < end:
        crc = _CRC_TABLE[(crc ^ data[k]) & 0xFF] ^ (crc >> 8)
        k += 1
    return crc ^ 0xFFFFFFFF


@_kernel
def hash_int64(keys):
    """portable_hash of every int64 key."""
    out = np.empty(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        out[i] = int_hash(keys[i])
    return out


@_kernel
def hash_float64(keys):
    """portable_hash of every float64 key (NaN -> 0)."""
    out = np.empty(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        out[i] = float_hash(keys[i])
    return out


@_kernel(inline=True)
def _is_valid(validity, bit_offset, i):
    if len(validity) == 0:                  # no bitmap: no nulls
        return True
    j = bit_offset + i
    return (validity[j >> 3] >> (j & 7)) & 1 == 1


@_kernel
def hash_binary(offsets, data, validity, bit_offset):
    """CRC-32 of every value of an Arrow string/binary array, nulls -> 0.

    `offsets` are the array's n+1 offsets into `data` (int32 or int64,
    already sliced by the array's offset); `validity` is its bitmap as uint8,
    or empty when there are no nulls, and `bit_offset` the bitmap's start bit.
    """
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        if _is_valid(validity, bit_offset, i):
            out[i] = crc32(data, offsets[i], offsets[i + 1])
        else:
            out[i] = 0
    return out


# -- partitioning ---------------------------------------------------------------
@_kernel
def partition_ids(hashes, n, out):
    """`hash % n` of every (non-negative) hash into `out` (int32): each row's reducer.

    A power-of-two n takes a mask instead of a division (the same value for
    non-negative hashes, about four times faster).
    """
    if n & (n - 1) == 0:
        mask = n - 1
        for i in range(len(hashes)):
            out[i] = hashes[i] & mask
    else:
        for i in range(len(hashes)):
            out[i] = hashes[i] % n
    return out


@_kernel
def partition_int64(keys, n, out):
    """`portable_hash(key) % n` of int64 keys into `out` (int32), in one pass."""
    if n & (n - 1) == 0:
        mask = n - 1
        for i in range(len(keys)):
            out[i] = int_hash(keys[i]) & mask
    else:
        for i in range(len(keys)):
            out[i] = int_hash(keys[i]) % n
    return out


@_kernel
def counting_sort(parts, n):
    """Stable counting sort of rows by partition id in [0, n).

    Returns (perm, offsets): rows perm[offsets[p]:offsets[p+1]] are those of
    partition p, in their original order.
    """
    offsets = np.zeros(n + 1, dtype=np.int64)
    for i in range(len(parts)):
        p = parts[i]
        if p < 0 or p >= n:
            raise ValueError("partition id out of range")
        offsets[p + 1] += 1
    for p in range(n):
        offsets[p + 1] += offsets[p]
    fill = offsets[:-1].copy()
    perm = np.empty(len(parts), dtype=np.int64)
    for i in range(len(parts)):
        p = parts[i]
        perm[fill[p]] = i
        fill[p] += 1
    return perm, offsets


# -- aggregation ----------------------------------------------------------------
@_kernel
def _fold(acc, v, op):
    if op == SUM:
        return acc + v
    if op == MIN:
        return v if (v < acc or acc != acc) else acc    # NaN-skipping, like np.fmin
    return v if (v > acc or acc != acc) else acc


@_kernel
def _mix(h):
    """splitmix64's finaliser: spreads any int64 over the table's low bits."""
    z = np.uint64(h)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@_kernel
def _grow(a):
    return np.concatenate((a, np.empty_like(a)))


@_kernel(inline=True)
def _table_size(n):
    """Groups room for `n` rows to start with: a power of two from 16 to 1024 (grown on demand)."""
    size = 16
    while size < min(n, 1024):
        size *= 2
    return size


@_kernel(inline=True)
def _add_group(ids, hashes, acc, g, ident, h, value):
    """Store group `g` (growing the arrays when full); return the arrays."""
    if g == len(ids):
        ids, hashes, acc = _grow(ids), _grow(hashes), _grow(acc)
    ids[g], hashes[g], acc[g] = ident, h, value
    return ids, hashes, acc


@_kernel
def _rehash(hashes, ngroups, capacity, skip):
    """A fresh probe table of `capacity` slots holding groups 0..ngroups-1 but `skip`."""
    slots = np.full(capacity, _EMPTY, dtype=np.int64)
    mask = np.uint64(capacity - 1)
    for g in range(ngroups):
        if g == skip:                       # the null group lives outside the table
            continue
        j = np.int64(hashes[g] & mask)
        while slots[j] != _EMPTY:
            j = (j + 1) & (capacity - 1)
        slots[j] = g
    return slots


@_kernel
def sort_aggregate_int64(keys, values, op):
    """Group int64 keys by sorting; return (unique keys ascending, folded values)."""
    n = len(keys)
    order = np.argsort(keys, kind="mergesort")       # stable: row order within a key
    ukeys = np.empty(n, dtype=np.int64)
    acc = np.empty(n, dtype=values.dtype)
    g = -1
    for i in range(n):
        row = order[i]
        if g < 0 or keys[row] != ukeys[g]:
            g += 1
            ukeys[g] = keys[row]
            acc[g] = values[row]
        else:
            acc[g] = _fold(acc[g], values[row], op)
    return ukeys[:g + 1].copy(), acc[:g + 1].copy()


@_kernel
def hash_aggregate_int64(keys, values, op):
    """Group int64 keys in a hash table; return (unique keys in first-seen order, folded values)."""
    n = len(keys)
    size = _table_size(n)
    capacity = 2 * size                               # the table stays at most half full
    slots = np.full(capacity, _EMPTY, dtype=np.int64)
    gkeys = np.empty(size, dtype=np.int64)
    ghash = np.empty(size, dtype=np.uint64)
    acc = np.empty(size, dtype=values.dtype)
    ngroups = 0
    for i in range(n):
        key = keys[i]
        h = _mix(key)
        j = np.int64(h & np.uint64(capacity - 1))
        while True:
            g = slots[j]
            if g == _EMPTY:
                gkeys, ghash, acc = _add_group(gkeys, ghash, acc, ngroups, key, h, values[i])
                slots[j] = ngroups
                ngroups += 1
                if 2 * ngroups > capacity:
                    capacity *= 2
                    slots = _rehash(ghash, ngroups, capacity, -1)
                break
            if gkeys[g] == key:
                acc[g] = _fold(acc[g], values[i], op)
                break
            j = (j + 1) & (capacity - 1)
    return gkeys[:ngroups].copy(), acc[:ngroups].copy()


@_kernel
def _same_bytes(data, offsets, a, b):
    sa, ea, sb, eb = offsets[a], offsets[a + 1], offsets[b], offsets[b + 1]
    if ea - sa != eb - sb:
        return False
    for k in range(ea - sa):
        if data[sa + k] != data[sb + k]:
            return False
    return True


@_kernel
def hash_aggregate_binary(offsets, data, validity, bit_offset, values, op):
    """Group the values of an Arrow string/binary array by key in a hash table.

    Buckets by CRC-32 and confirms every match byte by byte. Returns (rows,
    folded values): `rows[g]` is the first row holding group g's key (null
    keys form one group), groups in order of first appearance.
    """
    n = len(offsets) - 1
    size = _table_size(n)
    capacity = 2 * size
    slots = np.full(capacity, _EMPTY, dtype=np.int64)
    grows = np.empty(size, dtype=np.int64)
    ghash = np.empty(size, dtype=np.uint64)
    acc = np.empty(size, dtype=values.dtype)
    ngroups = 0
    null_group = -1
    for i in range(n):
        if not _is_valid(validity, bit_offset, i):
            if null_group < 0:
                null_group = ngroups
                # The null group never enters the probe table: its hash is unused.
                grows, ghash, acc = _add_group(grows, ghash, acc, ngroups, i, np.uint64(0), values[i])
                ngroups += 1
                if 2 * ngroups > capacity:
                    capacity *= 2
                    slots = _rehash(ghash, ngroups, capacity, null_group)
            else:
                acc[null_group] = _fold(acc[null_group], values[i], op)
            continue
        h = _mix(crc32(data, offsets[i], offsets[i + 1]))
        j = np.int64(h & np.uint64(capacity - 1))
        while True:
            g = slots[j]
            if g == _EMPTY:
                grows, ghash, acc = _add_group(grows, ghash, acc, ngroups, i, h, values[i])
                slots[j] = ngroups
                ngroups += 1
                if 2 * ngroups > capacity:
                    capacity *= 2
                    slots = _rehash(ghash, ngroups, capacity, null_group)
                break
            if ghash[g] == h and _same_bytes(data, offsets, grows[g], i):
                acc[g] = _fold(acc[g], values[i], op)
                break
            j = (j + 1) & (capacity - 1)
    return grows[:ngroups].copy(), acc[:ngroups].copy()


@_kernel
def dense_aggregate(codes, k, values, op):
    """Fold values by small integer codes in [0, k) (dictionary indices).

    Returns (first, folded): first[c] is the first row with code c (-1 when
    no row has it) and folded[c] its folded value.
    """
    first = np.full(k, _EMPTY, dtype=np.int64)
    acc = np.empty(k, dtype=values.dtype)
    for i in range(len(codes)):
        c = codes[i]
        if first[c] == _EMPTY:
            first[c] = i
            acc[c] = values[i]
        else:
            acc[c] = _fold(acc[c], values[i], op)
    return first, acc


# -- merging sorted runs --------------------------------------------------------
@_kernel
def _before(keys, offsets, data, validity, bit_offset, binary, a, b):
    """True when element a sorts strictly before element b (NaN and null last)."""
    if binary:
        if not _is_valid(validity, bit_offset, a):
            return False
        if not _is_valid(validity, bit_offset, b):
            return True
        sa, sb = offsets[a], offsets[b]
        la, lb = offsets[a + 1] - sa, offsets[b + 1] - sb
        for k in range(min(la, lb)):
            x, y = data[sa + k], data[sb + k]
            if x != y:
                return x < y
        return la < lb
    x, y = keys[a], keys[b]
    return x < y or (y != y and x == x)


@_kernel
def _sift_down(heap, size, i, heads, keys, offsets, data, validity, bit_offset, binary):
    """Restore the heap below slot i; a run ranks by (its head element, run index)."""
    while True:
        best = i
        for child in (2 * i + 1, 2 * i + 2):
            if child < size:
                c, b = heap[child], heap[best]
                hc, hb = heads[c], heads[b]
                if _before(keys, offsets, data, validity, bit_offset, binary, hc, hb) or (
                        c < b and not _before(keys, offsets, data, validity, bit_offset, binary, hb, hc)):
                    best = child
        if best == i:
            return
        heap[i], heap[best] = heap[best], heap[i]
        i = best


@_kernel
def _merge(keys, offsets, data, validity, bit_offset, binary, run_offsets):
    k = len(run_offsets) - 1
    heads = run_offsets[:-1].copy()
    heap = np.empty(k, dtype=np.int64)
    size = 0
    for r in range(k):
        if run_offsets[r] < run_offsets[r + 1]:
            heap[size] = r
            size += 1
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, i, heads, keys, offsets, data, validity, bit_offset, binary)
    order = np.empty(run_offsets[k] - run_offsets[0], dtype=np.int64)
    for i in range(len(order)):
        r = heap[0]
        order[i] = heads[r]
        heads[r] += 1
        if heads[r] == run_offsets[r + 1]:      # run exhausted: its slot goes to the last run
            size -= 1
            heap[0] = heap[size]
        if size > 0:
            _sift_down(heap, size, 0, heads, keys, offsets, data, validity, bit_offset, binary)
    return order


_NO_BYTES = np.zeros(0, dtype=np.uint8)
_NO_OFFSETS = np.zeros(1, dtype=np.int64)
_NO_KEYS = np.zeros(0, dtype=np.float64)


def merge_runs(keys: np.ndarray, run_offsets: np.ndarray) -> np.ndarray:
    """Stable k-way merge of sorted numeric runs laid end to end in `keys`.

    Run r is keys[run_offsets[r]:run_offsets[r+1]], each sorted ascending
    (NaN last). Returns the merged order as indices into `keys`.
    """
    return _merge(keys, _NO_OFFSETS, _NO_BYTES, _NO_BYTES, 0, False, run_offsets)


def merge_binary_runs(offsets, data, validity, bit_offset, run_offsets) -> np.ndarray:
    """Stable k-way merge of sorted runs of one Arrow string/binary array's values.

    The array is given by its buffers, as for `hash_binary`; runs compare by
    their UTF-8 bytes, nulls last. Returns the merged order as row indices.
    """
    return _merge(_NO_KEYS, offsets, data, validity, bit_offset, True, run_offsets)


def warm_up() -> None:
    """Compile, or load from the disk cache, the kernels' common signatures."""
    ints = np.arange(4, dtype=np.int64)
    floats = ints.astype(np.float64)
    for offsets in (np.zeros(5, dtype=np.int32), np.zeros(5, dtype=np.int64)):
        hash_binary(offsets, _NO_BYTES, _NO_BYTES, 0)
        for values in (ints, floats):
            hash_aggregate_binary(offsets, _NO_BYTES, _NO_BYTES, 0, values, SUM)
        merge_binary_runs(offsets, _NO_BYTES, _NO_BYTES, 0, np.array([0, 2, 4], dtype=np.int64))
    hashes = hash_int64(ints)
    hash_float64(floats)
    parts = np.empty(4, dtype=np.int32)
    counting_sort(partition_ids(hashes, 2, parts), 2)
    partition_int64(ints, 2, parts)
    for values in (ints, floats):
        sort_aggregate_int64(ints, values, SUM)
        hash_aggregate_int64(ints, values, SUM)
        dense_aggregate(ints, 4, values, SUM)
    for keys in (ints, floats):
        merge_runs(keys, np.array([0, 2, 4], dtype=np.int64))
