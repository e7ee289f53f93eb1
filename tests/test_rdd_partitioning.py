"""Partition counts and partitioner awareness: which operations shuffle, and which do not.

Shuffles are counted in the lineage (every `ShuffleDependency` reachable
from a dataset); computations are counted with accumulators incremented
inside a map, which count each record once per time it is computed.
"""

import operator

from minibig.core.dependency import RangePartitioner
from minibig.core.dag import shuffle_dependencies
from support import lineage_shuffles


def all_shuffles(rdd) -> int:
    """Every shuffle in the whole lineage of `rdd`."""
    return len(lineage_shuffles(rdd))


def pairs(sc, n=4, size=200):
    return sc.parallelize([(i % 13, i) for i in range(size)], n)


def test_default_partition_counts_follow_pyspark(sc):
    a, b = pairs(sc, 3), pairs(sc, 5)
    assert sc.defaultParallelism == 2
    assert sc.parallelize(range(10)).getNumPartitions() == 2
    assert a.reduceByKey(operator.add).getNumPartitions() == 3
    assert a.groupByKey().getNumPartitions() == 3
    assert a.distinct().getNumPartitions() == 3
    assert a.sortByKey().getNumPartitions() == 3
    assert a.partitionBy(None).getNumPartitions() == 3
    assert a.join(b).getNumPartitions() == 8          # PySpark: the union's partitions
    assert a.cogroup(b).getNumPartitions() == 8
    assert a.union(b).getNumPartitions() == 8
    assert a.cartesian(b).getNumPartitions() == 15
    assert a.zip(a).getNumPartitions() == 3
    assert a.join(b, 2).getNumPartitions() == 2


def test_reduce_by_key_after_partition_by_does_not_shuffle_again(sc):
    computed = sc.accumulator(0)

    def count(v):
        computed.add(1)
        return v
    parted = pairs(sc).partitionBy(4)
    counted = parted.mapValues(count)
    reduced = counted.reduceByKey(operator.add)
    assert reduced.partitioner == parted.partitioner
    assert all_shuffles(reduced) == 1
    assert shuffle_dependencies(reduced) == shuffle_dependencies(parted)
    assert dict(reduced.collect()) == dict(pairs(sc).reduceByKey(operator.add).collect())
    assert computed.value == 200, "the partitioned parent is computed once, in the same stage"
    # The same with groupByKey, combineByKey and foldByKey: all in place.
    for same in (counted.groupByKey(), counted.foldByKey(0, operator.add),
                 counted.combineByKey(lambda v: v, operator.add, operator.add, 4)):
        assert all_shuffles(same) == 1


def test_a_different_partitioner_or_a_map_shuffles_again(sc):
    parted = pairs(sc).partitionBy(4)
    assert all_shuffles(parted.reduceByKey(operator.add, 3)) == 2
    assert all_shuffles(parted.reduceByKey(operator.add, 4, lambda k: k)) == 2
    assert all_shuffles(parted.map(lambda kv: kv).reduceByKey(operator.add)) == 2


def test_which_transformations_keep_the_partitioner(sc):
    parted = pairs(sc).partitionBy(4)
    p = parted.partitioner
    assert parted.mapValues(str).partitioner == p
    assert parted.flatMapValues(lambda v: [v, v]).partitioner == p
    assert parted.filter(lambda kv: kv[1] > 3).partitioner == p
    assert parted.sample(False, 0.5, 1).partitioner == p
    assert parted.mapPartitions(lambda it: it, preservesPartitioning=True).partitioner == p
    assert parted.map(lambda kv: kv).partitioner is None
    assert parted.keys().partitioner is None
    assert parted.values().partitioner is None
    assert parted.mapPartitions(lambda it: it).partitioner is None
    assert isinstance(pairs(sc).sortByKey().partitioner, RangePartitioner)
    assert parted.partitionBy(4) is parted


def test_join_of_co_partitioned_datasets_adds_no_shuffle(sc):
    left_seen, right_seen = sc.accumulator(0), sc.accumulator(0)

    def seen_left(v):
        left_seen.add(1)
        return v

    def seen_right(v):
        right_seen.add(1)
        return v
    left = pairs(sc, 3, 120).partitionBy(4).mapValues(seen_left)
    right = sc.parallelize([(k, -k) for k in range(0, 20, 2)], 5).partitionBy(4).mapValues(seen_right)
    joined = left.join(right)
    assert all_shuffles(joined) == 2, "only the two partitionBy shuffles"
    assert joined.partitioner == left.partitioner and joined.getNumPartitions() == 4
    expected = sorted((k, (v, -k)) for k, v in pairs(sc, 3, 120).collect() if k % 2 == 0 and k < 20)
    assert sorted(joined.collect()) == expected
    assert (left_seen.value, right_seen.value) == (120, 10), "each side computed once"
    for other in (left.leftOuterJoin(right), left.rightOuterJoin(right),
                  left.fullOuterJoin(right), left.cogroup(right), left.subtractByKey(right),
                  left.groupWith(right, left)):
        assert all_shuffles(other) == 2
    # A reduceByKey of the join's values is still in place.
    assert all_shuffles(joined.mapValues(lambda vw: vw[0]).reduceByKey(operator.add)) == 2


def test_join_with_one_partitioned_side_shuffles_only_the_other(sc):
    left = pairs(sc).partitionBy(4)
    right = pairs(sc, 2)
    joined = left.join(right, 4)
    assert all_shuffles(joined) == 2
    assert len(shuffle_dependencies(joined)) == 2     # left's partitionBy + right's shuffle
    assert joined.count() == sum(len([1 for i in range(200) if i % 13 == k]) ** 2
                                 for k in range(13))


def test_self_join_shuffles_its_parent_once(sc):
    rdd = pairs(sc)
    assert all_shuffles(rdd.join(rdd)) == 1


def test_union_of_co_partitioned_datasets_keeps_the_partitioner(sc):
    a = pairs(sc).partitionBy(4)
    b = sc.parallelize([(k, 1000) for k in range(13)], 2).partitionBy(4)
    both = a.union(b)
    assert both.getNumPartitions() == 4 and both.partitioner == a.partitioner
    assert all_shuffles(both.reduceByKey(operator.add)) == 2
    expected = dict(pairs(sc).reduceByKey(operator.add).mapValues(lambda v: v + 1000).collect())
    assert dict(both.reduceByKey(operator.add).collect()) == expected
    assert pairs(sc).union(pairs(sc)).partitioner is None


def test_lookup_computes_only_the_partition_of_the_key(sc):
    computed = sc.accumulator(0)

    def count(v):
        computed.add(1)
        return v
    parted = sc.parallelize([(i % 10, i) for i in range(1000)], 3).partitionBy(5).mapValues(count)
    assert sorted(parted.lookup(7)) == list(range(7, 1000, 10))
    assert computed.value == 200, "two keys of ten live in that partition"
    sorted_rdd = sc.parallelize([(i, i) for i in range(100)], 4).sortByKey()
    assert sorted_rdd.lookup(42) == [42] and sorted_rdd.lookup(1024) == []


def test_cached_partitioned_dataset_is_computed_once_across_joins(sc):
    computed = sc.accumulator(0)

    def count(v):
        computed.add(1)
        return v
    table = pairs(sc).partitionBy(4).mapValues(count).cache()
    other = sc.parallelize([(k, str(k)) for k in range(13)], 2).partitionBy(4)
    assert table.join(other).count() == 200
    assert table.leftOuterJoin(other).count() == 200
    assert table.reduceByKey(operator.add).count() == 13
    assert computed.value == 200
    table.unpersist()
