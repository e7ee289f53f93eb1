"""Columnar batches meet the kernels: Arrow and numpy arrays in, numpy arrays out.

`minibig.shuffle.kernels` works on flat buffers; this module turns the arrays
a shuffle holds into those buffers without copying and wraps each kernel in a
function that takes ordinary arrays:

- `hash_keys(keys)` hashes a whole column, equal to `portable_hash` of each
  key: numpy integer, bool and float arrays; Arrow integer, float, string,
  large_string, binary, large_binary and dictionary arrays (sliced or not,
  with nulls, which hash like None: 0); chunked arrays; or a Python sequence,
  which pyarrow converts first (so `[1, 2.5]` becomes floats, and ints beyond
  int64 are refused).
- `partition_of(keys, n)` is `hash % n`, and `partition_batch(keys, n)` the
  stable permutation and per-partition offsets that cut a batch into one
  slice per reducer.
- `aggregate(keys, values, op, method)` folds numeric values by key: "sum",
  "min", "max" or "count", by "sort" or "hash" for integer keys, by "hash"
  (CRC-32 buckets, byte-by-byte collision checks) or "dictionary" (Arrow's
  dictionary_encode, then a dense fold over the codes) for string keys.
- `merge_sorted(runs)` merges sorted runs of keys, carrying a payload index.

An Arrow string array is three buffers: a validity bitmap (absent without
nulls), n+1 offsets (int32, or int64 for the large types) and the UTF-8 data.
A slice shares them and records where it starts (`arr.offset`): the offsets
we pass are the slice's own n+1, still pointing into the shared data, and the
bitmap is read from bit `arr.offset` on.

Importing this module imports numba (through the kernels); import it only
where the columnar path runs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minibig.shuffle import kernels as K

_NO_BITMAP = np.zeros(0, dtype=np.uint8)
_LARGE_BINARY = (pa.types.is_large_string, pa.types.is_large_binary)
_SMALL_BINARY = (pa.types.is_string, pa.types.is_binary)


def _flatten(arr):
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def is_binary_type(dtype: pa.DataType) -> bool:
    """True for the Arrow types the string kernels read: (large_)string and (large_)binary."""
    return any(test(dtype) for test in _SMALL_BINARY + _LARGE_BINARY)


def binary_buffers(arr) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(offsets, data, validity, bit_offset) of an Arrow string/binary array, zero-copy.

    >>> offsets, data, validity, bit = binary_buffers(pa.array(["ab", None, "c"]).slice(1))
    >>> offsets.tolist(), bytes(data).decode(), validity.size > 0, bit
    ([2, 2, 3], 'abc', True, 1)
    """
    arr = _flatten(arr)
    dtype = arr.type
    if any(test(dtype) for test in _SMALL_BINARY):
        offset_type = np.int32
    elif any(test(dtype) for test in _LARGE_BINARY):
        offset_type = np.int64
    else:
        raise TypeError(f"not a string or binary Arrow array: {dtype}")
    n, start = len(arr), arr.offset
    validity_buf, offsets_buf, data_buf = arr.buffers()[:3]
    width = np.dtype(offset_type).itemsize
    if offsets_buf is None or offsets_buf.size < (start + n + 1) * width:
        offsets = np.zeros(n + 1, dtype=offset_type)       # an empty array may have no offsets
    else:
        offsets = np.frombuffer(offsets_buf, dtype=offset_type, count=start + n + 1)[start:]
    data = _NO_BITMAP if data_buf is None else np.frombuffer(data_buf, dtype=np.uint8)
    if arr.null_count and validity_buf is not None:
        return offsets, data, np.frombuffer(validity_buf, dtype=np.uint8), start
    return offsets, data, _NO_BITMAP, 0


def _as_arrow_or_numpy(keys):
    """Arrow arrays and numpy arrays pass; numpy text and other sequences go through pyarrow."""
    if isinstance(keys, (pa.Array, pa.ChunkedArray)):
        return _flatten(keys)
    if isinstance(keys, np.ndarray) and keys.dtype.kind in "biuf":
        return keys
    return pa.array(keys)


def _numpy_int64(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
        raise OverflowError("unsigned keys above 2**63-1 have no int64 kernel")
    return np.ascontiguousarray(values, dtype=np.int64)


def _hash_numpy(keys: np.ndarray) -> np.ndarray:
    if keys.dtype.kind == "f":
        return K.hash_float64(np.ascontiguousarray(keys, dtype=np.float64))
    return K.hash_int64(_numpy_int64(keys))


def hash_keys(keys) -> np.ndarray:
    """portable_hash of every key, as an int64 array (nulls hash to 0, NaN to 0).

    >>> from minibig.shuffle.hashing import portable_hash
    >>> words = ["spark", "ünïcode", None]
    >>> hash_keys(words).tolist() == [portable_hash(w) for w in words]
    True
    >>> hash_keys(np.array([-1, 7, 2**62])).tolist() == [portable_hash(k) for k in (-1, 7, 2**62)]
    True
    """
    keys = _as_arrow_or_numpy(keys)
    if isinstance(keys, np.ndarray):
        return _hash_numpy(keys)
    dtype = keys.type
    if pa.types.is_dictionary(dtype):
        # Hash each distinct value once, then gather by the indices.
        codes = pc.fill_null(keys.indices, 0).to_numpy(zero_copy_only=False)
        hashes = hash_keys(keys.dictionary)[codes] if len(keys.dictionary) else np.zeros(len(keys), np.int64)
        if keys.null_count:
            hashes[keys.is_null().to_numpy(zero_copy_only=False)] = 0
        return hashes
    if is_binary_type(dtype):
        return K.hash_binary(*binary_buffers(keys))
    if pa.types.is_integer(dtype) or pa.types.is_boolean(dtype) or pa.types.is_floating(dtype):
        zero = pa.scalar(False if pa.types.is_boolean(dtype) else 0, type=dtype)
        filled = pc.fill_null(keys, zero) if keys.null_count else keys
        values = filled.to_numpy(zero_copy_only=False)
        hashes = _hash_numpy(values.astype(np.float64) if pa.types.is_floating(dtype) else values)
        if keys.null_count:
            hashes[keys.is_null().to_numpy(zero_copy_only=False)] = 0
        return hashes
    if pa.types.is_null(dtype):
        return np.zeros(len(keys), dtype=np.int64)
    raise TypeError(f"no columnar hash for keys of type {dtype}")


def partition_of(keys, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """The reduce partition of every key, `portable_hash(key) % n`, as int32.

    `out` (int32, at least as long as `keys`) lets a caller reuse one buffer
    for batch after batch; the result is then a view of it.

    >>> partition_of(np.array([0, 1, 2, 3, 4]), 3).tolist()
    [0, 1, 2, 0, 1]
    """
    if not 1 <= n < 2**31:
        raise ValueError("the number of partitions must be between 1 and 2**31-1")
    count = len(keys)
    if out is None:
        out = np.empty(count, dtype=np.int32)
    elif out.dtype != np.int32 or len(out) < count:
        raise ValueError("out must be an int32 array at least as long as the keys")
    else:
        out = out[:count]
    if isinstance(keys, np.ndarray) and keys.dtype.kind in "iub":
        return K.partition_int64(_numpy_int64(keys), n, out)      # fused: no hash array
    return K.partition_ids(hash_keys(keys), n, out)


def partition_batch(keys, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable split of a batch by hash partition: (perm, offsets).

    Rows perm[offsets[p]:offsets[p+1]] go to reducer p, in batch order.

    >>> perm, offsets = partition_batch(np.array([4, 3, 2, 1, 0]), 2)
    >>> perm.tolist(), offsets.tolist()
    ([0, 2, 4, 1, 3], [0, 3, 5])
    """
    return K.counting_sort(partition_of(keys, n), n)


def _values_array(values, n: int, op: str) -> tuple[np.ndarray, int]:
    if op == "count":
        return np.ones(n, dtype=np.int64), K.SUM              # a count is a sum of ones
    if op not in K.OPS:
        raise ValueError(f"unknown aggregation {op!r} (sum, min, max or count)")
    if values is None:
        raise ValueError(f"{op!r} needs values (only 'count' does without)")
    values = np.asarray(values.to_numpy(zero_copy_only=False)
                        if isinstance(values, (pa.Array, pa.ChunkedArray)) else values)
    if len(values) != n:
        raise ValueError(f"{len(values)} values for {n} keys")
    if values.dtype.kind in "iub":
        values = np.ascontiguousarray(values, dtype=np.int64)
    elif values.dtype.kind == "f":
        values = np.ascontiguousarray(values, dtype=np.float64)
    else:
        raise TypeError(f"values must be numeric, not {values.dtype}")
    return values, K.OPS[op]


def aggregate(keys, values=None, op: str = "sum", method: str = "hash"):
    """Fold numeric `values` by key; returns (unique keys, folded values).

    Integer keys (numpy or Arrow without nulls) give a numpy key array:
    ascending with method="sort", in first-seen order with "hash". String or
    binary keys give an Arrow array in first-seen order (nulls form one
    group), with "hash" or "dictionary". int values fold to int64 (sums wrap
    on overflow), float values to float64; "count" ignores `values`.

    >>> keys, sums = aggregate(np.array([3, 1, 3]), np.array([1.0, 2.0, 4.0]), "sum", "sort")
    >>> keys.tolist(), sums.tolist()
    ([1, 3], [2.0, 5.0])
    >>> keys, counts = aggregate(["b", "a", "b", None], op="count")
    >>> keys.to_pylist(), counts.tolist()
    (['b', 'a', None], [2, 1, 1])
    """
    keys = _as_arrow_or_numpy(keys)
    vals, code = _values_array(values, len(keys), op)
    if isinstance(keys, pa.Array) and (pa.types.is_integer(keys.type) or pa.types.is_boolean(keys.type)):
        if keys.null_count:
            raise ValueError("integer keys with nulls have no columnar aggregation")
        keys = keys.to_numpy(zero_copy_only=False)
    if isinstance(keys, np.ndarray):
        if keys.dtype.kind not in "iub":
            raise TypeError(f"no columnar aggregation for keys of dtype {keys.dtype}")
        ints = _numpy_int64(keys)
        if method == "sort":
            return K.sort_aggregate_int64(ints, vals, code)
        if method == "hash":
            return K.hash_aggregate_int64(ints, vals, code)
        raise ValueError(f"unknown method {method!r} for integer keys (sort or hash)")
    if pa.types.is_dictionary(keys.type):
        keys = keys.dictionary_decode()
    if not is_binary_type(keys.type):
        raise TypeError(f"no columnar aggregation for keys of type {keys.type}")
    if method == "hash":
        rows, folded = K.hash_aggregate_binary(*binary_buffers(keys), vals, code)
        return keys.take(pa.array(rows)), folded
    if method == "dictionary":
        return _dictionary_aggregate(keys, vals, code)
    raise ValueError(f"unknown method {method!r} for string keys (hash or dictionary)")


def _dictionary_aggregate(keys: pa.Array, values: np.ndarray, code: int):
    """Dictionary-encode (Arrow), fold densely over the codes, order groups by first row."""
    encoded = pc.dictionary_encode(keys)
    k = len(encoded.dictionary)
    # Nulls get the extra code k, so they form one group like the hash method's.
    codes = pc.fill_null(encoded.indices, k).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    first, folded = K.dense_aggregate(codes, k + 1, values, code)
    present = np.flatnonzero(first >= 0)
    present = present[np.argsort(first[present], kind="stable")]
    uniques = pa.concat_arrays([encoded.dictionary, pa.nulls(1, keys.type)])
    return uniques.take(pa.array(present)), folded[present]


def merge_sorted(runs, payloads=None):
    """Stable k-way merge of sorted runs; returns (merged keys, merged payload).

    Each run is a sorted numpy array (NaN last) or a sorted Arrow string or
    binary array (by UTF-8 bytes, nulls last). `payloads` gives each run's
    payload array (row indices, say); by default the payload is each key's
    position in the runs laid end to end. Ties keep run order, then row order.

    >>> keys, payload = merge_sorted([np.array([1, 3, 5]), np.array([2, 3])])
    >>> keys.tolist(), payload.tolist()
    ([1, 2, 3, 3, 5], [0, 3, 1, 4, 2])
    """
    runs = [_flatten(r) for r in runs]
    lengths = np.array([len(r) for r in runs], dtype=np.int64)
    run_offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    if payloads is None:
        payload = np.arange(run_offsets[-1], dtype=np.int64)
    else:
        if [len(p) for p in payloads] != lengths.tolist():
            raise ValueError("each run needs a payload of its own length")
        payload = np.concatenate([np.asarray(p) for p in payloads]) if payloads else np.zeros(0, np.int64)
    if runs and all(isinstance(r, pa.Array) and is_binary_type(r.type) for r in runs):
        merged = pa.concat_arrays(runs)
        order = K.merge_binary_runs(*binary_buffers(merged), run_offsets)
        return merged.take(pa.array(order)), payload[order]
    arrays = [np.asarray(r) for r in runs]
    keys = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    if keys.dtype.kind in "iub":
        keys = _numpy_int64(keys)
    elif keys.dtype.kind == "f":
        keys = np.ascontiguousarray(keys, dtype=np.float64)
    else:
        raise TypeError(f"no columnar merge for keys of dtype {keys.dtype}")
    order = K.merge_runs(keys, run_offsets)
    return keys[order], payload[order]
