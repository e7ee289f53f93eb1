"""`hash_partitions` of a cut of a bigger batch (`total`: how the shuffle writer hashes a
combine's dict, `CUT_KEYS` keys at a time): tuple keys are mixed in numpy's uint64 as
the whole batch would be, and the partitions are `portable_hash`'s, key by key."""

from __future__ import annotations

import pytest

from minibig.shuffle import hashing
from minibig.shuffle.hashing import UINT64_BATCH, hash_partitions, portable_hash

KEYS = [("a", 1), ("é", -(2 ** 70)), (None, 2.5), (-0.0, "x"), (True, b"y"), ("", 2 ** 63)]


@pytest.mark.parametrize("n", [1, 2, 7, 16])
def test_a_cut_hashes_as_portable_hash_in_either_mix(n):
    keys = [(f"{i}", i * 7919) for i in range(100)] + KEYS
    expected = [portable_hash(k) % n for k in keys]
    assert hash_partitions(keys, n, {tuple}) == expected
    assert hash_partitions(keys, n, {tuple}, total=UINT64_BATCH) == expected


def test_the_batchs_size_decides_the_mix(monkeypatch):
    import numpy  # noqa: F401  (loaded, as in a worker that has it: UINT64_BATCH decides)
    calls = []
    mix = hashing._mixed_columns_uint64
    monkeypatch.setattr(hashing, "_mixed_columns_uint64",
                        lambda *args: calls.append(args[2]) or mix(*args))
    hash_partitions(KEYS, 2, {tuple})
    assert calls == []                       # a small batch: Python's ints, no numpy import
    hash_partitions(KEYS, 2, {tuple}, total=UINT64_BATCH)
    assert calls == [len(KEYS)]
