"""`hash_partitions` of tuple keys into a power of two of partitions mixes without the
mix's masks (their low bits are the partition), and into two takes the parity of the
items' hashes alone: the partitions must be `portable_hash`'s for every width (the
empty tuple's too), item type and count, whichever way."""

from __future__ import annotations

import math

import pytest

from minibig.shuffle.hashing import LOW_BITS_WIDTH, hash_partitions, portable_hash

ITEMS = ["a", "é", "", 0, 1, -1, 2 ** 63, -(2 ** 70), 2.5, -0.0, math.inf, math.nan, None,
         True, b"y", ("x", 3), frozenset({1, "b"})]


def _keys(width: int) -> list:
    return [tuple(ITEMS[(i * 7 + j * 3) % len(ITEMS)] for j in range(width)) for i in range(200)]


@pytest.mark.parametrize("width", range(LOW_BITS_WIDTH + 2))
@pytest.mark.parametrize("n", [1, 2, 4, 64, 2 ** 40, 2 ** 63, 2 ** 64, 3, 10])
def test_tuple_keys_go_where_portable_hash_sends_them(width, n):
    keys = _keys(width)
    assert hash_partitions(keys, n) == [portable_hash(k) % n for k in keys]
    assert hash_partitions(keys, n, {tuple}) == [portable_hash(k) % n for k in keys]
