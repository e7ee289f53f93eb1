"""Operations on datasets of (key, value) pairs, mixed into `RDD`.

Aggregations by key are built on one primitive, `combineByKey`: a shuffle
with an aggregator (map-side combine where the aggregation allows it) unless
the data is already partitioned by the wanted partitioner, in which case the
combine runs in place, without a shuffle. Joins are built on `cogroup`
(`minibig.rdd.cogroup.CoGroupedRDD`), which shuffles only the parents not already
partitioned by the target partitioner; an inner join is a hash join on the
same dependencies (`minibig.rdd.cogroup.JoinedRDD`).

Default partition counts follow PySpark: an operation by key without
numPartitions keeps its parent's number of partitions; a cogroup or join
keeps the parents' common partitioner, or else uses the sum of their
partition counts (PySpark groups the union of the parents).
"""

from __future__ import annotations

import itertools
import math
import operator
import random
from typing import Callable

from minibig.core.dependency import ShuffleDependency
from minibig.core.serialization import copies_of
from minibig.core.task import collected_records, fail_on_stopiteration, task_memory
from minibig.shuffle.hashing import portable_hash
from minibig.shuffle.partitioners import (Aggregator, Partitioner, RangePartitioner, identity, reducing,
                                          shuffle_partition_count)
from minibig.shuffle.spill import ExternalSorter
from minibig.shuffle.writer import combine_values


_first = operator.itemgetter(0)
_second = operator.itemgetter(1)


class ResultIterable(list):
    """The values of one key after groupByKey (a list)."""


def _default_partitions(rdd, numPartitions):
    return shuffle_partition_count(numPartitions, [rdd])


class PairRDDFunctions:
    """Key-value operations; `self` is an RDD of 2-tuples."""

    # -- shuffles ---------------------------------------------------------------
    def partitionBy(self, numPartitions: int | None, partitionFunc: Callable = portable_hash):
        """Partition by key with `partitionFunc(key) % numPartitions`.

        The result remembers its partitioner: operations by key with the same
        partitioner (same count, same function object) need no new shuffle.

        >>> pairs = sc.parallelize([1, 2, 3, 4, 2, 4, 1]).map(lambda x: (x, x))
        >>> sets = pairs.partitionBy(2).glom().collect()
        >>> len(set(sets[0]).intersection(set(sets[1])))
        0
        """
        partitioner = Partitioner(_default_partitions(self, numPartitions), partitionFunc)
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
        partitioner = Partitioner(_default_partitions(self, numPartitions), partitionFunc)
        if self.partitioner == partitioner:
            # Already partitioned this way: every key's values sit in one partition.
            combined = self.mapPartitions(lambda it: _combine_in_task(it, aggregator), True)
            combined._unique_keys = True
            return combined
        source = _unshuffled_distinct(self)
        if source is not None:
            # distinct() then this: one shuffle by key instead of two (see DistinctCombinedRDD).
            from minibig.rdd.shuffled import DistinctCombinedRDD   # an RDD subclass: see _shuffled
            return DistinctCombinedRDD(source, partitioner, aggregator)
        return _shuffled(self, partitioner, aggregator, map_side_combine)

    def reduceByKey(self, func: Callable, numPartitions: int | None = None,
                    partitionFunc: Callable = portable_hash):
        """Merge each key's values with an associative, commutative func.

        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        return self._combine(reducing(func), numPartitions, partitionFunc, map_side_combine=True)

    def foldByKey(self, zeroValue, func: Callable, numPartitions: int | None = None,
                  partitionFunc: Callable = portable_hash):
        """Fold each key's values, starting from zeroValue in each partition.

        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        """
        zero = copies_of(zeroValue)
        return self.combineByKey(lambda v: func(zero(), v), func, func, numPartitions, partitionFunc)

    def aggregateByKey(self, zeroValue, seqFunc: Callable, combFunc: Callable,
                       numPartitions: int | None = None, partitionFunc: Callable = portable_hash):
        """Aggregate each key's values with seqFunc, merge partials with combFunc.

        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> seqFunc = (lambda x, y: (x[0] + y, x[1] + 1))
        >>> combFunc = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sorted(rdd.aggregateByKey((0, 0), seqFunc, combFunc).collect())
        [('a', (3, 2)), ('b', (1, 1))]
        """
        zero = copies_of(zeroValue)
        return self.combineByKey(lambda v: seqFunc(zero(), v), seqFunc, combFunc,
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
        return self._combine(Aggregator(create, append, extend, "group"), numPartitions,
                             partitionFunc, map_side_combine=False)

    def sortByKey(self, ascending: bool = True, numPartitions: int | None = None,
                  keyfunc: Callable = identity):
        """Sort by keyfunc(key); partition i holds keys before those of partition i + 1.

        A first job samples the keys to choose numPartitions - 1 boundaries
        (a range partitioner); the shuffle then sends each key to its range and
        each partition is sorted, so the partitions read in order are in total
        order. An empty dataset is returned as it is, as in PySpark.

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
            return _sort_in_task(it, keyfunc, ascending)
        if n <= 1:
            return self.coalesce(1).mapPartitions(sort_partition, True)
        bounds = _range_bounds(self, n, keyfunc)
        if bounds is None:
            return self
        partitioner = RangePartitioner(bounds, ascending, keyfunc)
        return _shuffled(self, partitioner, None).mapPartitions(sort_partition, True)

    def repartitionAndSortWithinPartitions(self, numPartitions: int | None = None,
                                           partitionFunc: Callable = portable_hash,
                                           ascending: bool = True, keyfunc: Callable = identity):
        """partitionBy, then sort each partition by keyfunc(key), in one shuffle.

        >>> rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
        >>> rdd2 = rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, True)
        >>> rdd2.glom().collect()
        [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]
        """
        def sort_partition(it):
            return _sort_in_task(it, keyfunc, ascending)
        return self.partitionBy(numPartitions, partitionFunc).mapPartitions(sort_partition, True)

    # -- per-value transformations ------------------------------------------------
    def mapValues(self, f: Callable):
        """Apply f to each value, keeping keys and partitioning.

        >>> x = sc.parallelize([("a", ["apple", "banana", "lemon"]), ("b", ["grapes"])])
        >>> x.mapValues(len).collect()
        [('a', 3), ('b', 1)]
        """
        mapped = self.map(lambda kv: (kv[0], f(kv[1])), preservesPartitioning=True)
        mapped._unique_keys = self._unique_keys
        return mapped

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
        return self.map(_first)            # an itemgetter: no Python frame per record

    def values(self):
        """The values.

        >>> sc.parallelize([(1, 2), (3, 4)]).values().collect()
        [2, 4]
        """
        return self.map(_second)

    # -- joins ------------------------------------------------------------------
    def cogroup(self, other, numPartitions: int | None = None):
        """For each key, the list of its values in self and in other.

        Parents already partitioned by the result's partitioner are read in
        place (narrow); only the others are shuffled (see `minibig.rdd.cogroup`).

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> [(x, tuple(map(list, y))) for x, y in sorted(list(x.cogroup(y).collect()))]
        [('a', ([1], [2])), ('b', ([4], []))]
        """
        return _cogroup([self, other], numPartitions)

    def groupWith(self, other, *others):
        """cogroup of self with one or more datasets.

        >>> w = sc.parallelize([("a", 5), ("b", 6)])
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> z = sc.parallelize([("b", 42)])
        >>> [(x, tuple(map(list, y))) for x, y in sorted(list(w.groupWith(x, y, z).collect()))]
        [('a', ([5], [1], [2], [])), ('b', ([6], [4], [], [42]))]
        """
        return _cogroup([self, other, *others], None)

    def subtractByKey(self, other, numPartitions: int | None = None):
        """The pairs of self whose key is not in other.

        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtractByKey(y).collect())
        [('b', 4), ('b', 5)]
        """
        return (self.cogroup(other, numPartitions)
                .filter(lambda kv: len(kv[1][0]) > 0 and len(kv[1][1]) == 0)
                .flatMapValues(lambda vw: vw[0]))

    def join(self, other, numPartitions: int | None = None):
        """Pairs (k, (v, w)) for every v of k in self and w of k in other.

        A hash join: other's values are held by key, self's records stream
        through (see `minibig.rdd.cogroup.JoinedRDD`).

        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("a", 3)])
        >>> sorted(x.join(y).collect())
        [('a', (1, 2)), ('a', (1, 3))]
        """
        from minibig.rdd.cogroup import JoinedRDD, cogroup_partitioner   # an RDD subclass: see _shuffled
        return JoinedRDD(self, other, cogroup_partitioner([self, other], numPartitions))

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

    def reduceByKeyLocally(self, func: Callable) -> dict:
        """Merge each key's values with func and return them to the driver as a dict.

        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.reduceByKeyLocally(add).items())
        [('a', 2), ('b', 1)]
        """
        aggregator = reducing(func)
        merged: dict = {}
        merge = fail_on_stopiteration(func)
        # Each partition's combine, within its task's budget, sent as collect sends one: a
        # dict as its keys and values (no dict rebuilt a tuple at a time), records if spilled.
        for part in self._run(lambda it: collected_records(_combine_in_task(it, aggregator))):
            for key, value in part:
                merged[key] = merge(merged[key], value) if key in merged else value
        return merged

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


def _combine_in_task(records, aggregator):
    """combine_values within the running task's memory budget (spilling past it)."""
    budget, spill_dir = task_memory()
    return combine_values(records, aggregator, budget, spill_dir)


def _sort_in_task(records, keyfunc, ascending: bool):
    """Records sorted by keyfunc(key), stably, within the running task's memory budget."""
    budget, spill_dir = task_memory()
    key = _first if keyfunc is identity else (lambda kv: keyfunc(kv[0]))
    return ExternalSorter(key, not ascending, budget, spill_dir).sort(records)


def _shuffled(rdd, partitioner, aggregator, map_side_combine: bool = False):
    from minibig.rdd.shuffled import ShuffledRDD   # a subclass of RDD, whose mixin this is (minibig.rdd.base)
    return ShuffledRDD(rdd, ShuffleDependency(rdd, partitioner, aggregator, map_side_combine))


def _unshuffled_distinct(rdd):
    """The dataset `rdd` holds the distinct records of (`RDD.distinct`), when reading
    that dataset instead costs nothing already paid for: `rdd` is not persisted nor marked
    for a checkpoint, and its shuffle has not written any output; else None."""
    source = rdd._distinct_of
    if source is None or rdd._persisted() or rdd._checkpoint_kind is not None:
        return None
    if rdd.ctx._dag.has_output(rdd.prev.dep.shuffle_key):
        return None
    return source


def _cogroup(rdds: list, numPartitions):
    from minibig.rdd.cogroup import CoGroupedRDD, cogroup_partitioner   # an RDD subclass: see _shuffled
    return CoGroupedRDD(rdds, cogroup_partitioner(rdds, numPartitions))


def _range_bounds(rdd, n: int, keyfunc: Callable) -> list | None:
    """n - 1 boundaries of keyfunc(key) from a weighted sample (None: no record).

    One job: each partition reports its size and a reservoir sample of its
    keys; a key sampled from a partition of size S out of k samples stands for
    S / k keys, as in Spark's RangePartitioner. Bound i is the weighted
    quantile (i + 1) / n. Bounds may repeat when a key is very frequent, which
    leaves some partitions empty but keeps exactly n of them, as PySpark does.

    The reservoir is filled by Li's "Algorithm L": it draws how many records
    to skip before the next one to keep, and the skipped records are passed
    over by `itertools.islice` in C, so sampling costs next to nothing per
    record (the records are counted by a `zip` with `itertools.count`).
    """
    per_partition = max(1, (20 * n * 3) // max(1, rdd.getNumPartitions()) + 1)

    def sample(split, it):
        rng = random.Random(split)
        counter = itertools.count()
        stream = zip(counter, it)        # the counter runs one ahead once `it` is exhausted
        reservoir = [kv[0] for _, kv in itertools.islice(stream, per_partition)]
        if len(reservoir) == per_partition:
            w = math.exp(math.log(rng.random() or 1e-300) / per_partition)
            while True:
                skip = int(math.log(rng.random() or 1e-300) / math.log1p(-w)) if w < 1 else 0
                taken = next(itertools.islice(stream, skip, None), None)
                if taken is None:
                    break
                reservoir[rng.randrange(per_partition)] = taken[1][0]
                w *= math.exp(math.log(rng.random() or 1e-300) / per_partition)
        return [(next(counter) - 1, reservoir)]
    weighted = []
    for seen, keys in rdd.mapPartitionsWithIndex(sample).collect():
        weight = seen / len(keys) if keys else 0
        weighted.extend((keyfunc(k), weight) for k in keys)
    if not weighted:
        return None
    weighted.sort(key=lambda kw: kw[0])
    step = sum(w for _, w in weighted) / n
    bounds, acc = [], 0.0
    for key, weight in weighted:
        acc += weight
        while len(bounds) < n - 1 and acc >= step * (len(bounds) + 1):
            bounds.append(key)
    while len(bounds) < n - 1:             # rounding left the last quantile short
        bounds.append(weighted[-1][0])
    return bounds
