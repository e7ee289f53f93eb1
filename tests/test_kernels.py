"""The numba shuffle kernels agree with plain-Python and numpy oracles.

Hashes must equal `portable_hash` key for key (the row path and the columnar
path must send a key to the same reducer), in any process; partitioning,
aggregation and merging must equal what a dict, a list sort or numpy give.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minibig.shuffle import columnar as C
from minibig.shuffle import kernels as K
from minibig.shuffle.hashing import portable_hash

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])

int64s = st.integers(-2**63, 2**63 - 1)
edge_ints = st.sampled_from([0, 1, -1, -2, 2**61 - 1, 2**61, -(2**61 - 1), -2**61, 2**62 + 5,
                             2**63 - 1, -2**63, -2**63 + 1])
finite_floats = st.floats(allow_nan=False)
partitions = st.integers(1, 300)


def oracle_hash(key):
    return 0 if key is None else portable_hash(key)


def sliced(values, dtype, data):
    """An Arrow array of `values`, sometimes a slice of a longer one (shared buffers, offset > 0)."""
    pad_front = data.draw(st.lists(st.sampled_from(values or [None]), max_size=3))
    pad_back = data.draw(st.lists(st.sampled_from(values or [None]), max_size=3))
    arr = pa.array(pad_front + values + pad_back, type=dtype)
    return arr.slice(len(pad_front), len(values))


# -- hashing ----------------------------------------------------------------------
@FAST
@given(st.lists(st.one_of(int64s, edge_ints)))
def test_int64_hash_equals_portable_hash(keys):
    got = C.hash_keys(np.array(keys, dtype=np.int64))
    assert got.tolist() == [portable_hash(k) for k in keys]


@FAST
@given(st.lists(st.one_of(finite_floats, st.sampled_from([0.0, -0.0, math.inf, -math.inf, 5e-324,
                                                            2.0**61, -2.0**63, 1e308]))))
def test_float64_hash_equals_portable_hash(keys):
    got = C.hash_keys(np.array(keys, dtype=np.float64))
    assert got.tolist() == [portable_hash(k) for k in keys]


def test_float_hash_equals_int_hash_for_integral_values_and_signed_zero():
    ints = np.array([0, 1, -1, 2**52, -(2**60)], dtype=np.int64)
    assert C.hash_keys(ints.astype(np.float64)).tolist() == C.hash_keys(ints).tolist()
    assert C.hash_keys(np.array([-0.0, 0.0])).tolist() == [0, 0]


def test_nan_hashes_to_zero_in_every_process():
    # CPython 3.10+ hashes NaN by identity; the kernels pin it to 0 (see kernels' docstring).
    assert C.hash_keys(np.array([math.nan, -math.nan])).tolist() == [0, 0]


@FAST
@given(st.data(), st.lists(st.one_of(st.text(), st.none())), st.sampled_from([pa.string(), pa.large_string()]))
def test_string_hash_from_arrow_buffers_equals_portable_hash(data, words, dtype):
    arr = sliced(words, dtype, data)
    assert C.hash_keys(arr).tolist() == [oracle_hash(w) for w in words]


@FAST
@given(st.data(), st.lists(st.one_of(st.binary(), st.none())), st.sampled_from([pa.binary(), pa.large_binary()]))
def test_bytes_hash_from_arrow_buffers_equals_portable_hash(data, blobs, dtype):
    arr = sliced(blobs, dtype, data)
    assert C.hash_keys(arr).tolist() == [oracle_hash(b) for b in blobs]


def test_non_ascii_and_empty_strings():
    words = ["", "é", "naïve", "日本語", "😀 emoji", "Ω" * 1000, "ascii"]
    assert C.hash_keys(pa.array(words)).tolist() == [portable_hash(w) for w in words]
    assert C.hash_keys(words).tolist() == [portable_hash(w) for w in words]


@FAST
@given(st.data(), st.lists(st.one_of(st.integers(-2**63, 2**63 - 1), st.none())))
def test_arrow_ints_with_nulls_and_slices(data, keys):
    arr = sliced(keys, pa.int64(), data)
    assert C.hash_keys(arr).tolist() == [oracle_hash(k) for k in keys]


@FAST
@given(st.lists(st.one_of(finite_floats, st.none())))
def test_arrow_floats_with_nulls(keys):
    assert C.hash_keys(pa.array(keys, type=pa.float64())).tolist() == [oracle_hash(k) for k in keys]


def test_other_arrow_and_numpy_key_types():
    small = [1, None, -3, 127]
    assert C.hash_keys(pa.array(small, type=pa.int8())).tolist() == [oracle_hash(k) for k in small]
    bools = [True, None, False]
    assert C.hash_keys(pa.array(bools)).tolist() == [oracle_hash(k) for k in bools]
    assert C.hash_keys(np.array([True, False])).tolist() == [portable_hash(True), portable_hash(False)]
    assert C.hash_keys(np.array([3, 4], dtype=np.uint32)).tolist() == [portable_hash(3), portable_hash(4)]
    assert C.hash_keys(np.array([0.5], dtype=np.float32)).tolist() == [portable_hash(0.5)]
    words = ["b", None, "a", "b"]
    dictionary = pa.array(words).dictionary_encode()
    assert C.hash_keys(dictionary).tolist() == [oracle_hash(w) for w in words]
    chunked = pa.chunked_array([["x", "y"], ["z"]])
    assert C.hash_keys(chunked).tolist() == [portable_hash(w) for w in "xyz"]
    assert C.hash_keys(pa.array([None, None])).tolist() == [0, 0]
    with pytest.raises(OverflowError):
        C.hash_keys(np.array([2**64 - 1], dtype=np.uint64))


def test_empty_batches_hash_to_empty_arrays():
    for keys in (np.zeros(0, np.int64), np.zeros(0, np.float64), pa.array([], pa.string()),
                 pa.array([], pa.large_binary()), pa.array(["a"]).slice(1)):
        out = C.hash_keys(keys)
        assert out.dtype == np.int64 and out.size == 0


def test_hash_is_the_same_in_fresh_processes():
    script = textwrap.dedent("""
        import json, sys
        import numpy as np, pyarrow as pa
        from minibig.shuffle.columnar import hash_keys
        words = ["spark", "straße", "日本", "", None, "plumless"]
        print(json.dumps({
            "str": hash_keys(pa.array(words)).tolist(),
            "bytes": hash_keys(pa.array([b"\\x00\\xff", b"abc"])).tolist(),
            "int": hash_keys(np.array([-1, 2**62, -2**63, 12345], dtype=np.int64)).tolist(),
            "float": hash_keys(np.array([0.1, -2.5, 1e300, float("inf")])).tolist(),
        }))
    """)
    runs = []
    for seed in ("1", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=ROOT)
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, timeout=120, check=True)
        runs.append(json.loads(out.stdout))
    assert runs[0] == runs[1]
    expected = {
        "str": [oracle_hash(w) for w in ["spark", "straße", "日本", "", None, "plumless"]],
        "bytes": [portable_hash(b"\x00\xff"), portable_hash(b"abc")],
        "int": [portable_hash(k) for k in (-1, 2**62, -2**63, 12345)],
        "float": [portable_hash(k) for k in (0.1, -2.5, 1e300, float("inf"))],
    }
    assert runs[0] == expected


def test_kernels_are_cached_on_disk_and_loaded_by_the_next_process(tmp_path):
    # A private NUMBA_CACHE_DIR: the first process compiles and writes, the second only loads.
    script = ("import numpy as np\nfrom minibig.shuffle import kernels as K\n"
              "K.hash_int64(np.arange(3, dtype=np.int64))\n"
              "s = K.hash_int64.stats\nprint(sum(s.cache_hits.values()), sum(s.cache_misses.values()))")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)
    first, second = (subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                                    text=True, timeout=180, check=True).stdout.split() for _ in range(2))
    assert first == ["0", "1"] and second == ["1", "0"]
    assert any(name.endswith(".nbi") for _, _, files in os.walk(tmp_path) for name in files)


def test_kernels_compile_without_a_disk_cache_when_no_cache_folder_is_writable(monkeypatch):
    # numba raises RuntimeError at decoration when no cache locator works; simulate that.
    real_njit, tried = K.njit, []

    def njit(**options):
        tried.append(options.get("cache", False))
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(**options)

    monkeypatch.setattr(K, "njit", njit)
    monkeypatch.setattr(K.numba.config, "CACHE_DIR", "")
    double = K._kernel(lambda x: 2 * x)
    assert double(21) == 42
    assert tried == [True, True, False]                 # in-tree/user cache, private temp folder, none
    assert K.numba.config.CACHE_DIR == K._private_cache_dir()


def test_import_minibig_does_not_import_numba():
    script = ("import sys, minibig, minibig.shuffle.writer, minibig.shuffle.reader, minibig.cli\n"
              "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.stdout.strip() == "False"


# -- partitioning ------------------------------------------------------------------
@FAST
@given(st.lists(st.one_of(int64s, edge_ints)), partitions)
def test_partition_of_int_keys_is_portable_hash_mod_n(keys, n):
    got = C.partition_of(np.array(keys, dtype=np.int64), n)
    assert got.tolist() == [portable_hash(k) % n for k in keys]


@FAST
@given(st.lists(st.one_of(st.text(max_size=8), st.none())), partitions)
def test_partition_of_strings_matches_the_row_path(words, n):
    assert C.partition_of(pa.array(words, pa.string()), n).tolist() == [oracle_hash(w) % n for w in words]


def test_partition_of_writes_into_a_reused_int32_buffer():
    out = np.full(10, -7, dtype=np.int32)
    for keys in (np.arange(5), pa.array(["a", "b", None, "c", "d"])):
        got = C.partition_of(keys, 6, out)
        assert got.dtype == np.int32 and np.shares_memory(got, out)
        assert got.tolist() == [oracle_hash(k) % 6 for k in (keys.tolist() if isinstance(keys, np.ndarray)
                                                              else keys.to_pylist())]
    with pytest.raises(ValueError):
        C.partition_of(np.arange(5), 4, np.empty(3, np.int32))
    with pytest.raises(ValueError):
        C.partition_of(np.arange(5), 4, np.empty(5, np.int64))


def check_partition_batch(parts, perm, offsets, n):
    assert offsets[0] == 0 and offsets[-1] == len(parts) and len(offsets) == n + 1
    for p in range(n):
        rows = perm[offsets[p]:offsets[p + 1]].tolist()
        assert rows == [i for i, q in enumerate(parts) if q == p]      # stable: batch order


@FAST
@given(st.lists(st.integers(-50, 50) | int64s), partitions)
def test_partition_batch_is_a_stable_counting_sort(keys, n):
    keys = np.array(keys, dtype=np.int64)
    perm, offsets = C.partition_batch(keys, n)
    check_partition_batch([portable_hash(int(k)) % n for k in keys], perm, offsets.tolist(), n)


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_partition_batch_skewed_and_empty(n):
    skewed = np.array([42] * 500 + [7, 8, 9] + [42] * 10, dtype=np.int64)
    perm, offsets = C.partition_batch(skewed, n)
    check_partition_batch([portable_hash(int(k)) % n for k in skewed], perm, offsets.tolist(), n)
    perm, offsets = C.partition_batch(np.zeros(0, np.int64), n)
    assert perm.size == 0 and offsets.tolist() == [0] * (n + 1)


def test_counting_sort_rejects_out_of_range_ids_and_partition_of_rejects_zero():
    with pytest.raises(ValueError):
        K.counting_sort(np.array([0, 3], dtype=np.int64), 3)
    with pytest.raises(ValueError):
        C.partition_of(np.array([1]), 0)


# -- aggregation -------------------------------------------------------------------
def oracle_aggregate(keys, values, op):
    """{key: folded} in first-seen order, folding left to right as Python would."""
    out = {}
    for k, v in zip(keys, values):
        if op == "count":
            out[k] = out.get(k, 0) + 1
        elif k not in out:
            out[k] = v
        else:
            out[k] = {"sum": lambda a, b: a + b, "min": min, "max": max}[op](out[k], v)
    return out


ops = st.sampled_from(["sum", "min", "max", "count"])
int_values = st.integers(-2**40, 2**40)
float_values = st.floats(-1e12, 1e12, allow_nan=False)


@FAST
@given(st.data(), st.lists(st.integers(-5, 5) | int64s, max_size=300), ops, st.booleans())
def test_int_key_aggregation_sort_and_hash(data, keys, op, floats):
    values = data.draw(st.lists(float_values if floats else int_values, min_size=len(keys), max_size=len(keys)))
    expected = oracle_aggregate(keys, values, op)
    k = np.array(keys, dtype=np.int64)
    v = np.array(values, dtype=np.float64 if floats else np.int64)
    sk, sv = C.aggregate(k, v, op, "sort")
    assert sk.tolist() == sorted(expected)
    assert dict(zip(sk.tolist(), sv.tolist())) == expected
    hk, hv = C.aggregate(k, v, op, "hash")
    assert list(zip(hk.tolist(), hv.tolist())) == list(expected.items())     # first-seen order


@FAST
@given(st.data(), st.lists(st.one_of(st.sampled_from(["a", "é", "日本", ""]), st.text(max_size=5), st.none()),
                           max_size=300), ops, st.sampled_from(["hash", "dictionary"]),
       st.sampled_from([pa.string(), pa.large_string()]))
def test_string_key_aggregation(data, words, op, method, dtype):
    values = data.draw(st.lists(float_values, min_size=len(words), max_size=len(words)))
    arr = sliced(words, dtype, data)
    keys, folded = C.aggregate(arr, np.array(values, dtype=np.float64), op, method)
    assert list(zip(keys.to_pylist(), folded.tolist())) == list(oracle_aggregate(words, values, op).items())


def test_string_aggregation_separates_crc32_collisions():
    assert portable_hash("plumless") == portable_hash("buckeroo")          # a known CRC-32 collision
    words = ["plumless", "buckeroo", "codding", "gnu", "plumless", "gnu"]
    for method in ("hash", "dictionary"):
        keys, counts = C.aggregate(words, op="count", method=method)
        assert dict(zip(keys.to_pylist(), counts.tolist())) == {"plumless": 2, "buckeroo": 1,
                                                                 "codding": 1, "gnu": 2}


def test_aggregation_grows_its_table_past_many_distinct_keys():
    rng = np.random.default_rng(5)
    keys = rng.integers(-10**12, 10**12, size=60_000)
    keys[::3] = 17                                              # plus one heavy key
    values = rng.random(keys.size)
    expected_keys, inverse = np.unique(keys, return_inverse=True)
    expected = np.zeros(expected_keys.size)
    np.add.at(expected, inverse, values)
    sk, sv = C.aggregate(keys, values, "sum", "sort")
    assert np.array_equal(sk, expected_keys) and np.allclose(sv, expected)
    hk, hv = C.aggregate(keys, values, "sum", "hash")
    order = np.argsort(hk)
    assert np.array_equal(hk[order], expected_keys) and np.allclose(hv[order], expected)
    words = pa.array([f"w{k}" for k in keys[:20_000]])
    wk, wc = C.aggregate(words, op="count")
    assert dict(zip(wk.to_pylist(), wc.tolist())) == oracle_aggregate(words.to_pylist(), [0] * 20_000, "count")


def test_min_max_skip_nan_and_empty_aggregation():
    keys, mins = C.aggregate(np.array([1, 1, 2]), np.array([math.nan, 3.0, math.nan]), "min", "hash")
    assert keys.tolist() == [1, 2] and mins[0] == 3.0 and math.isnan(mins[1])
    for method in ("sort", "hash"):
        keys, values = C.aggregate(np.zeros(0, np.int64), np.zeros(0), "max", method)
        assert keys.size == 0 and values.size == 0
    keys, values = C.aggregate(pa.array([], pa.string()), np.zeros(0), "sum")
    assert len(keys) == 0 and values.size == 0
    with pytest.raises(ValueError):
        C.aggregate(np.array([1]), np.array([1]), "median")
    with pytest.raises(ValueError):
        C.aggregate(np.array([1]), None, "sum")


# -- merging sorted runs -------------------------------------------------------------
@FAST
@given(st.lists(st.lists(st.integers(-20, 20) | int64s, max_size=40), max_size=8))
def test_merge_int_runs_equals_stable_sort(runs):
    runs = [np.sort(np.array(r, dtype=np.int64)) for r in runs]
    keys, payload = C.merge_sorted(runs)
    flat = np.concatenate(runs) if runs else np.zeros(0, np.int64)
    order = np.argsort(flat, kind="stable")
    assert keys.tolist() == flat[order].tolist() and payload.tolist() == order.tolist()


@FAST
@given(st.lists(st.lists(st.floats(-5, 5) | st.sampled_from([math.nan, -0.0, 0.0]),
                         max_size=30), min_size=1, max_size=6))
def test_merge_float_runs_with_nan_last(runs):
    runs = [np.sort(np.array(r, dtype=np.float64)) for r in runs]
    payloads = [np.arange(len(r)) + 100 * i for i, r in enumerate(runs)]
    keys, payload = C.merge_sorted(runs, payloads)
    flat, flat_payload = np.concatenate(runs), np.concatenate(payloads)
    order = np.argsort(flat, kind="stable")
    assert np.array_equal(keys, flat[order], equal_nan=True)
    assert payload.tolist() == flat_payload[order].tolist()


@FAST
@given(st.lists(st.lists(st.one_of(st.text(max_size=4), st.none()), max_size=20), min_size=1, max_size=6))
def test_merge_string_runs_by_utf8_bytes_nulls_last(runs):
    def sort_key(w):
        return (w is None, "" if w is None else w)
    runs = [sorted(r, key=sort_key) for r in runs]
    keys, payload = C.merge_sorted([pa.array(r, pa.string()) for r in runs])
    flat = [w for r in runs for w in r]
    order = sorted(range(len(flat)), key=lambda i: sort_key(flat[i]))       # Python's sort is stable
    assert keys.to_pylist() == [flat[i] for i in order] and payload.tolist() == order


def test_merge_edge_cases():
    keys, payload = C.merge_sorted([])
    assert keys.size == 0 and payload.size == 0
    keys, payload = C.merge_sorted([np.array([], np.int64), np.array([1, 2]), np.array([], np.int64)])
    assert keys.tolist() == [1, 2] and payload.tolist() == [0, 1]
    with pytest.raises(ValueError):
        C.merge_sorted([np.array([1])], [np.array([1, 2])])


def test_binary_buffers_of_a_sliced_array_with_nulls():
    arr = pa.array(["zero", None, "two", "three"]).slice(1, 3)
    offsets, data, validity, bit = C.binary_buffers(arr)
    assert len(offsets) == 4 and bit == 1 and validity.size > 0
    assert bytes(data[offsets[1]:offsets[2]]) == b"two"
    with pytest.raises(TypeError):
        C.binary_buffers(pa.array([1, 2]))
