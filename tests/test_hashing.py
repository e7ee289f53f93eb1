"""Keys hash the same in every process, whatever PYTHONHASHSEED says."""

import json
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from minibig.shuffle.hashing import portable_hash

from support import env

KEYS = ["", "word", "ünïcode", "東京", b"raw", 0, 1, -1, 2**70, 3.5, -0.0, None, True,
        ("tuple", 1), ("nested", ("t", 2.0)), frozenset({"a", "b"})]

PROBE = ("import json, sys\n"
         "from minibig.shuffle.hashing import portable_hash\n"
         "keys = [{keys}]\n"
         "print(json.dumps([portable_hash(k) for k in keys]))\n")


def _hashes_in_child(seed: str) -> list:
    code = PROBE.format(keys=", ".join(map(repr, KEYS)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env(PYTHONHASHSEED=seed), timeout=60, check=True).stdout
    return json.loads(out)


def test_same_hash_in_processes_with_different_hash_seeds():
    here = [portable_hash(k) for k in KEYS]
    assert _hashes_in_child("1") == here
    assert _hashes_in_child("4242") == here


@given(st.text())
@settings(max_examples=200)
def test_string_hash_is_crc32_of_utf8(text):
    import zlib
    assert portable_hash(text) == zlib.crc32(text.encode("utf-8", "surrogatepass"))


@given(st.integers() | st.floats(allow_nan=False))
@settings(max_examples=200)
def test_equal_numbers_hash_equal(number):
    assert portable_hash(number) >= 0
    if isinstance(number, float) and number.is_integer():
        assert portable_hash(number) == portable_hash(int(number))


def test_equal_tuples_hash_equal_and_differ_by_order():
    assert portable_hash((1, "a")) == portable_hash((1, "a"))
    assert portable_hash((1, "a")) != portable_hash(("a", 1))


def test_reduce_by_key_on_two_workers_puts_each_key_in_one_partition(sc):
    keys = [f"k{i}" for i in range(200)] + ["ünïcode", "東京"]
    parts = (sc.parallelize([(k, 1) for k in keys * 3], 4)
               .reduceByKey(lambda a, b: a + b, 3).glom().collect())
    seen = [k for part in parts for k, _ in part]
    assert sorted(seen) == sorted(keys)
    for index, part in enumerate(parts):
        assert all(portable_hash(k) % 3 == index and v == 3 for k, v in part)


def test_nan_hashes_the_same_in_every_process():
    assert portable_hash(float("nan")) == portable_hash(float("-nan")) == 0
