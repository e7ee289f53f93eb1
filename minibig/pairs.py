"""Operations on datasets of (key, value) pairs, mixed into `RDD`.

Everything by key is built on one primitive, `combineByKey`: a shuffle with
an aggregator (map-side combine where the aggregation allows it) unless the
data is already partitioned by the wanted partitioner, in which case the
combine runs in place, without a shuffle.
"""

from __future__ import annotations

import copy
import itertools
from typing import Callable

from minibig.dependency import Aggregator, Partitioner, RangePartitioner
from minibig.shuffle.hashing import portable_hash


class ResultIterable(list):
    """The values of one key after groupByKey (a list)."""


def _identity(x):
    return x


def _default_partitions(rdd, numPartitions):
    return rdd.getNumPartitions() if numPartitions is None else int(numPartitions)


class PairRDDFunctions:
    """Key-value operations; `self` is an RDD of 2-tuples."""

    # -- shuffles ---------------------------------------------------------------
    def partitionBy(self, numPartitions: int, partitionFunc: Callable = portable_hash):
        """Partition by key with `partitionFunc(key) % numPartitions`.

        >>> pairs = sc.parallelize([1, 2, 3, 4, 2, 4, 1]).map(lambda x: (x, x))
        >>> sets = pairs.partitionBy(2).glom().collect()
        >>> len(set(sets[0]).intersection(set(sets[1])))
        0
        """
        partitioner = Partitioner(numPartitions, partitionFunc)
        if self.partitioner == partitioner:
            return self
        return _shuffled(self, partitioner, None)

    def combineByKey(self, createCombiner: Callable, mergeValue: Callable, mergeCombiners: Callable,
                     numPartitions: int | None = None, partitionFunc: Callable = portable_hash):
        """Turn each key's values into one combiner, with map-side combine.

        >>> x = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> def to_list(a): return [a]
        >>> def append(a, b): a.append(b); return a
        >>> def extend(a, b): a.extend(b); return a
        >>> sorted(x.combineByKey(to_list, append, extend).collect())
        [('a', [1, 2]), ('b', [1])]
        """
        return self._combine(Aggregator(createCombiner, mergeValue, mergeCombiners),
                             numPartitions, partitionFunc, map_side_combine=True)

    def _combine(self, aggregator: Aggregator, numPartitions, partitionFunc, map_side_combine: bool):
        from minibig.shuffle.writer import combine_values
        partitioner = Partitioner(_default_partitions(self, numPartitions), partitionFunc)
        if self.partitioner == partitioner:
            # Already partitioned this way: every key's values sit in one partition.
            return self.mapPartitions(lambda it: iter(combine_values(it, aggregator).items()), True)
        return _shuffled(self, partitioner, aggregator, map_side_combine)

    def reduceByKey(self, func: Callable, numPartitions: int | None = None,
                    partitionFunc: Callable = portable_hash):
        """Merge each key's values with an associative, commutative func.

        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        return self.combineByKey(_identity, func, func, numPartitions, partitionFunc)

    def foldByKey(self, zeroValue, func: Callable, numPartitions: int | None = None,
                  partitionFunc: Callable = portable_hash):
        """Fold each key's values, starting from zeroValue in each partition.

        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        """
        return self.combineByKey(lambda v: func(copy.deepcopy(zeroValue), v), func, func,
                                 numPartitions, partitionFunc)

    def aggregateByKey(self, zeroValue, seqFunc: Callable, combFunc: Callable,
                       numPartitions: int | None = None, partitionFunc: Callable = portable_hash):
        """Aggregate each key's values with seqFunc, merge partials with combFunc.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> seqFunc = (lambda x, y: (x[0] + y, x[1] + 1))
        >>> combFunc = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sorted(rdd.aggregateByKey((0, 0), seqFunc, combFunc).collect())
        [('a', (3, 2)), ('b', (1, 1))]
        """
        return self.combineByKey(lambda v: seqFunc(copy.deepcopy(zeroValue), v), seqFunc, combFunc,
                                 numPartitions, partitionFunc)

    def groupByKey(self, numPartitions: int | None = None, partitionFunc: Callable = portable_hash):
        """All values of each key, as one iterable (no map-side combine).

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.groupByKey().mapValues(len).collect())
        [('a', 2), ('b', 1)]
        >>> sorted(rdd.groupByKey().mapValues(list).collect())
        [('a', [1, 1]), ('b', [1])]
        """
        def create(v):
            return ResultIterable([v])

        def append(acc, v):
            acc.append(v)
            return acc

        def extend(acc, more):
            acc.extend(more)
            return acc
        return self._combine(Aggregator(create, append, extend), numPartitions, partitionFunc,
                             map_side_combine=False)

    def sortByKey(self, ascending: bool = True, numPartitions: int | None = None,
                  keyfunc: Callable = _identity):
        """Sort by key; partition i holds keys before those of partition i + 1.

        >>> tmp = [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        >>> sc.parallelize(tmp).sortByKey().first()
        ('1', 3)
        >>> sc.parallelize(tmp).sortByKey(True, 1).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        >>> sc.parallelize(tmp).sortByKey(True, 2).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        >>> tmp2 = [('Mary', 1), ('had', 2), ('a', 3), ('little', 4), ('lamb', 5)]
        >>> tmp2.extend([('whose', 6), ('fleece', 7), ('was', 8), ('white', 9)])
        >>> sc.parallelize(tmp2).sortByKey(True, 3, keyfunc=lambda k: k.lower()).collect()
        [('a', 3), ('fleece', 7), ('had', 2), ('lamb', 5),...('white', 9), ('whose', 6)]
        """
        n = _default_partitions(self, numPartitions)

        def sort_partition(it):
            return iter(sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=not ascending))
        if n <= 1:
            return self.coalesce(1).mapPartitions(sort_partition, True)
        bounds = _range_bounds(self, n, keyfunc)
        partitioner = RangePartitioner(bounds, ascending, keyfunc)
        return _shuffled(self, partitioner, None).mapPartitions(sort_partition, True)

    # -- per-value transformations ------------------------------------------------
    def mapValues(self, f: Callable):
        """Apply f to each value, keeping keys and partitioning.

        >>> x = sc.parallelize([("a", ["apple", "banana", "lemon"]), ("b", ["grapes"])])
        >>> x.mapValues(len).collect()
        [('a', 3), ('b', 1)]
        """
        return self.map(lambda kv: (kv[0], f(kv[1])), preservesPartitioning=True)

    def flatMapValues(self, f: Callable):
        """Apply f to each value and emit one pair per item it returns.

        >>> x = sc.parallelize([("a", ["x", "y", "z"]), ("b", ["p", "r"])])
        >>> x.flatMapValues(lambda v: v).collect()
        [('a', 'x'), ('a', 'y'), ('a', 'z'), ('b', 'p'), ('b', 'r')]
        """
        return self.flatMap(lambda kv: ((kv[0], v) for v in f(kv[1])), preservesPartitioning=True)

    def keys(self):
        """The keys.

        >>> sc.parallelize([(1, 2), (3, 4)]).keys().collect()
        [1, 3]
        """
        return self.map(lambda kv: kv[0])

    def values(self):
        """The values.

        >>> sc.parallelize([(1, 2), (3, 4)]).values().collect()
        [2, 4]
        """
        return self.map(lambda kv: kv[1])

    # -- joins ------------------------------------------------------------------
    def cogroup(self, other, numPartitions: int | None = None):
        """For each key, the list of its values in self and in other.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> [(x, tuple(map(list, y))) for x, y in sorted(list(x.cogroup(y).collect()))]
        [('a', ([1], [2])), ('b', ([4], []))]
        """
        n = numPartitions or max(self.getNumPartitions(), other.getNumPartitions())
        left = self.mapValues(lambda v: (0, v))
        right = other.mapValues(lambda v: (1, v))

        def split(values):
            sides = (ResultIterable(), ResultIterable())
            for side, v in values:
                sides[side].append(v)
            return sides
        return left.union(right).groupByKey(n).mapValues(split)

    def join(self, other, numPartitions: int | None = None):
        """Pairs (k, (v, w)) for every v of k in self and w of k in other.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("a", 3)])
        >>> sorted(x.join(y).collect())
        [('a', (1, 2)), ('a', (1, 3))]
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0], vw[1]))

    def leftOuterJoin(self, other, numPartitions: int | None = None):
        """Like join, with (v, None) for keys missing from other.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(x.leftOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None))]
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0], vw[1] or [None]))

    def rightOuterJoin(self, other, numPartitions: int | None = None):
        """Like join, with (None, w) for keys missing from self.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(y.rightOuterJoin(x).collect())
        [('a', (2, 1)), ('b', (None, 4))]
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0] or [None], vw[1]))

    def fullOuterJoin(self, other, numPartitions: int | None = None):
        """Like join, with None on the side where a key is missing.

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("c", 8)])
        >>> sorted(x.fullOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None)), ('c', (None, 8))]
        """
        return self.cogroup(other, numPartitions).flatMapValues(
            lambda vw: itertools.product(vw[0] or [None], vw[1] or [None]))

    # -- actions ------------------------------------------------------------------
    def countByKey(self) -> dict:
        """How many pairs each key has.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.countByKey().items())
        [('a', 2), ('b', 1)]
        """
        return self.keys().countByValue()

    def collectAsMap(self) -> dict:
        """The pairs as a dict (later values win).

        >>> m = sc.parallelize([(1, 2), (3, 4)]).collectAsMap()
        >>> m[1], m[3]
        (2, 4)
        """
        return dict(self.collect())

    def lookup(self, key) -> list:
        """The values of `key`; reads one partition when a partitioner is known.

        >>> l = range(1000)
        >>> rdd = sc.parallelize(zip(l, l), 10)
        >>> rdd.lookup(42)
        [42]
        >>> sorted = rdd.sortByKey()
        >>> sorted.lookup(1024)
        []
        """
        values = self.filter(lambda kv: kv[0] == key).values()
        if self.partitioner is not None:
            part = self.partitioner.partition_of(key)
            return list(itertools.chain.from_iterable(values.ctx._run_job(values, list, [part])))
        return values.collect()


def _shuffled(rdd, partitioner, aggregator, map_side_combine: bool = False):
    from minibig.dependency import ShuffleDependency
    from minibig.shuffled import ShuffledRDD
    return ShuffledRDD(rdd, ShuffleDependency(rdd, partitioner, aggregator, map_side_combine))


def _range_bounds(rdd, n: int, keyfunc: Callable) -> list:
    """n - 1 boundaries from a weighted sample of keys (one pass over the data).

    Each partition reports its size and a reservoir sample of its keys; a key
    sampled from a partition of size S out of k samples stands for S / k keys,
    as in Spark's RangePartitioner.
    """
    import random
    per_partition = max(1, (20 * n * 3) // max(1, rdd.getNumPartitions()) + 1)

    def sample(split, it):
        rng = random.Random(split)
        reservoir, seen = [], 0
        for kv in it:
            seen += 1
            if len(reservoir) < per_partition:
                reservoir.append(kv[0])
            else:
                j = rng.randrange(seen)
                if j < per_partition:
                    reservoir[j] = kv[0]
        return [(seen, reservoir)]
    weighted = []
    for seen, keys in rdd.mapPartitionsWithIndex(sample).collect():
        weight = seen / len(keys) if keys else 0
        weighted.extend((keyfunc(k), weight) for k in keys)
    if not weighted:
        return []
    weighted.sort(key=lambda kw: kw[0])
    step = sum(w for _, w in weighted) / n
    bounds, acc, target = [], 0.0, step
    for key, weight in weighted:
        acc += weight
        if acc >= target and len(bounds) < n - 1 and (not bounds or key > bounds[-1]):
            bounds.append(key)
            target += step
    return bounds
