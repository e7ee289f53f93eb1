"""The join of sides that hold each key once, as PageRank's links and ranks do.

A join reads a side in place (no shuffle) when the side is partitioned as
the join is; when that side is also an aggregation's output, or keeps one's
keys (mapValues, filter, a cache), each partition holds a key once
(`RDD._unique_keys`), and the join skips its checks for repeated keys: the
right side goes into the table with `dict.update`, the left side is probed
without naming keys by the first equal one. Each combination of sides that
do and do not repeat keys must give what plain Python gives, key types and
the naming of equal keys included (1, 1.0 and True are one key); a side
that repeats keys must never be taken for one that does not.
"""

from __future__ import annotations

import itertools
from operator import add

import pytest

from minibig.core.dependency import OneToOneDependency
from minibig.rdd.cogroup import JoinedRDD, _hash_table, _probe

from test_pagerank_path import typed as typed_in_order

N = 3

# Keys that are equal across types (1, 1.0, True; 0 and -0.0) come first as int in the
# data, so the first equal key of a side is an int; portable_hash sends equal keys alike.
LEFT = [(k % 7, f"l{k}") for k in range(40)] + [(1.0, "float"), (True, "bool"), (-0.0, "nz")]
LEFT += [(f"s{k % 5}", k) for k in range(20)]
RIGHT = [(k % 9, k) for k in range(30)] + [(f"s{k % 3}", -k) for k in range(10)] + [(1.0, 0.5)]


def typed(records) -> list:
    """Sorted records as text with every type shown (1, 1.0 and True differ)."""
    return sorted(typed_in_order(records))


def first_keys(records) -> dict:
    """{key: the first key equal to it} of records, as a cogroup names its groups."""
    named: dict = {}
    for key, _ in records:
        named.setdefault(key, key)
    return named


def oracle_join(left, right) -> list:
    named = first_keys(left)
    return [(named[k], (v, w)) for k, v in left for q, w in right if k == q]


# Each side, partitioned by N partitions of portable_hash: (name, dataset from pairs,
# the pairs it holds, whether its keys are each once in a partition).
def repeated(sc, pairs):
    return sc.parallelize(pairs, 3).partitionBy(N), pairs, False


def summed(sc, pairs):
    rdd = sc.parallelize(pairs, 3).mapValues(str).reduceByKey(add, N)
    return rdd, _summed(pairs), True


def summed_in_place(sc, pairs):
    # Already partitioned as reduceByKey wants: the combine runs in the partition's task.
    rdd = sc.parallelize(pairs, 3).mapValues(str).partitionBy(N).reduceByKey(add, N)
    return rdd, _summed(pairs), True


def grouped_cached(sc, pairs):
    rdd = sc.parallelize(pairs, 3).groupByKey(N).mapValues(sorted).filter(lambda kv: True).cache()
    return rdd, [(k, sorted(vs)) for k, vs in _groups(pairs).items()], True


def cogrouped(sc, pairs):
    rdd = sc.parallelize(pairs, 3).cogroup(sc.parallelize(pairs[:3], 2), N).mapValues(
        lambda vw: len(vw[0]))
    return rdd, [(k, len(vs)) for k, vs in _groups(pairs).items()], True


def _groups(pairs) -> dict:
    groups: dict = {}
    named = first_keys(pairs)
    for k, v in pairs:
        groups.setdefault(named[k], []).append(v)
    return groups


def _summed(pairs) -> list:
    return [(k, "".join(map(str, vs))) for k, vs in _groups(pairs).items()]


SIDES = [repeated, summed, summed_in_place, grouped_cached, cogrouped]


@pytest.mark.parametrize("left_side,right_side", list(itertools.product(SIDES, SIDES)),
                         ids=lambda f: f.__name__)
def test_a_join_of_sides_read_in_place_gives_what_plain_python_gives(sc, left_side, right_side):
    left, left_pairs, left_unique = left_side(sc, LEFT)
    right, right_pairs, right_unique = right_side(sc, RIGHT)
    joined = left.join(right)
    assert isinstance(joined, JoinedRDD)
    assert all(isinstance(dep, OneToOneDependency) for dep in joined.deps)     # read in place
    assert (left._unique_keys, right._unique_keys) == (left_unique, right_unique)
    try:
        if right_side is grouped_cached:     # a group's values, sorted by the job: comparable
            got = [(k, (v, tuple(w))) for k, (v, w) in joined.collect()]
            want = [(k, (v, tuple(w))) for k, (v, w) in oracle_join(left_pairs, right_pairs)]
        elif left_side is grouped_cached:
            got = [(k, (tuple(v), w)) for k, (v, w) in joined.collect()]
            want = [(k, (tuple(v), w)) for k, (v, w) in oracle_join(left_pairs, right_pairs)]
        else:
            got, want = joined.collect(), oracle_join(left_pairs, right_pairs)
        assert typed(got) == typed(want)
    finally:
        for rdd in (left, right):
            rdd.unpersist()


def test_what_keeps_an_aggregations_keys_keeps_the_mark_and_nothing_else_gets_it(sc):
    summed_pairs = sc.parallelize(RIGHT, 2).reduceByKey(add)
    assert summed_pairs._unique_keys
    assert summed_pairs.mapValues(str)._unique_keys and summed_pairs.filter(bool)._unique_keys
    assert summed_pairs.cache()._unique_keys
    summed_pairs.unpersist()
    for loses in (summed_pairs.map(lambda kv: kv), summed_pairs.flatMapValues(lambda v: [v, v]),
                  summed_pairs.partitionBy(3), summed_pairs.join(summed_pairs),
                  summed_pairs.join(sc.parallelize(RIGHT)), summed_pairs.union(summed_pairs),
                  sc.parallelize(RIGHT).distinct(), sc.parallelize(RIGHT).partitionBy(2),
                  summed_pairs.keys(), summed_pairs.mapPartitions(lambda it: it, True)):
        assert not loses._unique_keys, loses
    # Shuffled from an aggregation by another partitioner: each key still once.
    assert summed_pairs.groupByKey(3)._unique_keys
    # A checkpoint cuts the lineage, not what the records are.
    checkpointed = sc.parallelize(RIGHT, 2).reduceByKey(add)
    checkpointed.localCheckpoint()
    assert checkpointed.count() == len(dict(RIGHT))
    assert type(checkpointed).__name__ == "CheckpointedRDD" and checkpointed._unique_keys


def test_the_table_of_a_side_with_each_key_once_is_the_general_tables():
    records = [(k, -k) for k in range(5000)] + [(f"k{k}", k) for k in range(5000)]
    assert _hash_table(iter(records), 1 << 40, True) == _hash_table(iter(records), 1 << 40)
    # Past its limit the table stops alike, the rest of the side left in the iterator.
    unique_rest, general_rest = iter(records), iter(records)
    unique = _hash_table(unique_rest, 64 << 10, True)
    general = _hash_table(general_rest, 64 << 10)
    assert unique[2] and unique == general
    assert list(unique_rest) == list(general_rest) and len(unique[0]) < len(records)


def test_a_probe_of_records_with_each_key_once_names_each_by_its_own_key():
    left = [(1.0, "float"), (2, "int"), ("a", "str"), (-0.0, "nz"), (b"b", "bytes"), (9, "none")]
    table = {1: "one", 2.0: "two", "a": "A", 0: "zero", b"b": "B"}
    unique = list(_probe(iter(left), table, {}, True))
    assert typed(unique) == typed(oracle_join(left, list(table.items())))
    assert typed(unique) == typed(_probe(iter(left), table, {}))
    # A table with several values for a key takes the general loop, named alike.
    more = {2.0: ["again"]}
    assert typed(_probe(iter(left), table, more, True)) == typed(_probe(iter(left), table, more))
