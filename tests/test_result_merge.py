"""What the driver makes of the partitions' results: collect's list and countByValue's dict.

collect joins the partitions' lists by extending the first one (each a fresh list of
its own, never a cached block's), and countByValue adds a partition's counts into
its total with one C-level update while the total is empty, then `get(k, 0) + v`
(`minibig.rdd.actions`: concatenated, add_counts). The oracle is plain Python: the
records in partition order, and each partition's Counter added with `total[k] += v`
in partition order (the same keys kept, of the same types, in the same order).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import pytest

from minibig import Context
from minibig.core.storagelevel import StorageLevel
from minibig.rdd.actions import add_counts, concatenated

NAN = float("nan")


class Tagged(str):
    """A str subclass: equal to the plain str, its type kept by whichever key came first."""


def typed(items) -> list:
    """Items with the types that matter shown (1, 1.0 and True are one key, not one type)."""
    return [(type(k), repr(k), type(v), v) for k, v in items]


def loop_total(partitions: list) -> defaultdict:
    """countByValue's definition: each partition's Counter added with `total[k] += v`."""
    total: defaultdict = defaultdict(int)
    for part in partitions:
        for k, v in Counter(part).items():
            total[k] += v
    return total


MIXED = [
    ["a", 1, "b", 2.5, None, b"a", "a", -0.0, (1, "x"), NAN],
    [True, "b", 1.0, 0.0, "c", b"a", Tagged("a"), (1, "x"), 2.5, NAN],
    [],
    [1, "c", "d", 0, False, None, Tagged("z"), "z", 2.5],
]


def test_add_counts_is_the_loop():
    total: defaultdict = defaultdict(int)
    for part in MIXED:
        add_counts(total, list(Counter(part).items()))
    expected = loop_total(MIXED)
    assert type(total) is defaultdict and total.default_factory is int
    assert typed(total.items()) == typed(expected.items())
    assert [type(k) for k in total] == [type(k) for k in expected]


def test_add_counts_on_random_words_is_the_loop():
    rng = random.Random(14)
    words = [f"w{rng.randrange(3000)}" for _ in range(20000)]
    parts = [words[i::5] for i in range(5)]
    total: defaultdict = defaultdict(int)
    for part in parts:
        add_counts(total, list(Counter(part).items()))
    assert list(total.items()) == list(loop_total(parts).items())


def test_count_by_value_on_a_cluster_is_plain_pythons(sc):
    got = sc.parallelize(MIXED, len(MIXED)).flatMap(lambda part: part).countByValue()
    # The NaN objects travel pickled: each partition's is its own object, as in the loop
    # over what the tasks sent; compare everything else, and the NaNs' counts.
    expected = loop_total(MIXED)
    plain = [(k, v) for k, v in got.items() if not (isinstance(k, float) and math.isnan(k))]
    assert typed(plain) == typed([(k, v) for k, v in expected.items() if k is not NAN])
    assert sorted(v for k, v in got.items() if isinstance(k, float) and math.isnan(k)) == [1, 1]
    assert type(got) is defaultdict and got["absent"] == 0


def test_concatenated_extends_the_first_list():
    parts = [[1, 2], [], [3], [("a", 4)]]
    first = parts[0]
    assert concatenated(parts) is first and first == [1, 2, 3, ("a", 4)]
    assert concatenated([]) == [] and concatenated([[]]) == []


@pytest.mark.parametrize("level", [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_AND_DISK_DESER])
def test_a_collect_changed_by_its_caller_leaves_the_next_one_alone(sc, level):
    """The first partition's list becomes the answer: it must be the task's own, never
    the cached block's, on a cluster and inline."""
    data = [("k", 1), ("j", 2), ("k", 3)]
    with Context(master="inline", progress=False) as inline:
        for ctx in (sc, inline):
            for slices in (1, 3):
                rdd = ctx.parallelize(data, slices).persist(level)
                got = rdd.collect()
                assert got == data
                got.append("spoiled")
                got[:1] = []
                assert rdd.collect() == data and rdd.collect() is not rdd.collect()
                rdd.unpersist()


def test_a_big_collect_is_the_records_in_partition_order(sc):
    """Frames and the report's rest of several partitions, joined: plain Python's list."""
    data = [(f"w{i}", i) for i in range(30000)]
    assert sc.parallelize(data, 3).collect() == data
    pairs = sc.parallelize(data, 3).reduceByKey(lambda a, b: a + b, 2).collect()
    assert sorted(pairs) == sorted(data) and len(pairs) == len(data)
