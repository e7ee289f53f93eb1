"""Resilient distributed datasets, with PySpark's names and semantics.

An RDD is a lazy, partitioned collection: transformations build a lineage
graph of RDD objects in the driver; an action hands the last RDD to the DAG
scheduler, which cuts the lineage into stages at shuffle dependencies and
runs one task per partition on the workers. Narrow transformations are
pipelined inside one task with Python's own iterators (`map`, `filter`,
`itertools.chain`), so a record passes through a stage without a per-record
engine call.

Key-value operations (reduceByKey, join, sortByKey, ...) live in
`minibig.pairs` and are mixed into `RDD`, as PairRDDFunctions are in Spark.
"""

from __future__ import annotations

import heapq
import itertools
import operator
import random
from typing import Callable

from minibig.callsite import user_call_site
from minibig.dependency import ManyToOneDependency, OneToOneDependency, RangeDependency
from minibig.pairs import PairRDDFunctions
from minibig.persistence import PersistenceMixin
from minibig.statcounter import StatCounter


class RDD(PairRDDFunctions, PersistenceMixin):
    """A lazy, partitioned dataset; subclasses say how a partition is computed.

    >>> sc.parallelize([1, 2, 3, 4], 2).map(lambda x: x * 2).collect()
    [2, 4, 6, 8]
    """

    def __init__(self, ctx, deps: list, num_partitions: int, partitioner=None):
        self.ctx = ctx
        self.id = ctx._new_rdd_id()
        self.deps = deps
        self._num_partitions = num_partitions
        self.partitioner = partitioner
        self.creation_site = user_call_site()
        self._name = None

    # -- what subclasses provide --------------------------------------------
    def compute(self, split: int, task):
        """An iterator over the records of partition `split`."""
        raise NotImplementedError

    def user_functions(self) -> list:
        """The user's functions this dataset applies (to name it in errors)."""
        return []

    def task_payload(self, split: int):
        """Data that travels with the task of `split` (None: nothing)."""
        return None

    # -- engine hooks ---------------------------------------------------------
    def iterator(self, split: int, task):
        """The records of partition `split`, inside a running task."""
        if self._persisted():
            return task.persisted(self, split)
        return self.compute(split, task)

    def lineage(self):
        """This dataset and its ancestors reachable without crossing a shuffle."""
        seen, stack = {}, [self]
        while stack:
            node = stack.pop()
            if node.id in seen:
                continue
            seen[node.id] = node
            stack.extend(d.rdd for d in node.deps if hasattr(d, "parents"))
        return list(seen.values())

    def __getstate__(self):
        state = self.__dict__.copy()
        state["ctx"] = None          # the driver's context never travels
        return state

    def describe(self) -> str:
        """'name [id]' as shown in errors and progress lines."""
        kind = self._name or type(self).__name__
        return f"{kind} [{self.id}]"

    def __repr__(self) -> str:
        return f"{self.describe()} at {self.creation_site}"

    # -- identity --------------------------------------------------------------
    def getNumPartitions(self) -> int:
        """Number of partitions.

        >>> sc.parallelize([1, 2, 3, 4], 2).getNumPartitions()
        2
        """
        return self._num_partitions

    def name(self):
        """The name given with setName, or None."""
        return self._name

    def setName(self, name: str) -> "RDD":
        """Give this dataset a name shown in errors and progress."""
        self._name = name
        return self

    @property
    def context(self):
        """The Context this dataset belongs to."""
        return self.ctx

    def toDebugString(self) -> bytes:
        """The lineage, one dataset per line, indented at shuffle boundaries."""
        lines = []

        def walk(rdd, depth):
            lines.append("  " * depth + f"({rdd.getNumPartitions()}) {rdd!r}")
            for dep in rdd.deps:
                walk(dep.rdd, depth + (0 if hasattr(dep, "parents") else 1))
        walk(self, 0)
        return "\n".join(lines).encode("utf-8")

    # -- narrow transformations -----------------------------------------------
    def mapPartitionsWithIndex(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f(index, iterator) to each partition.

        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitionsWithIndex(lambda i, it: [i]).collect()
        [0, 1]
        """
        return PipelinedRDD(self, f, f, preservesPartitioning)

    def mapPartitions(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f(iterator) to each partition.

        >>> sc.parallelize([1, 2, 3, 4], 2).mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        return PipelinedRDD(self, lambda _, it: f(it), f, preservesPartitioning)

    def map(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f to every record.

        >>> sorted(sc.parallelize(["b", "a", "c"]).map(lambda x: (x, 1)).collect())
        [('a', 1), ('b', 1), ('c', 1)]
        """
        return PipelinedRDD(self, lambda _, it: map(f, it), f, preservesPartitioning)

    def flatMap(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f to every record and flatten the iterables it returns.

        >>> sorted(sc.parallelize([2, 3, 4]).flatMap(lambda x: range(1, x)).collect())
        [1, 1, 1, 2, 2, 3]
        """
        # chain.from_iterable(map(...)) keeps the per-record loop in C.
        return PipelinedRDD(self, lambda _, it: itertools.chain.from_iterable(map(f, it)), f,
                            preservesPartitioning)

    def filter(self, f: Callable) -> "RDD":
        """Keep the records for which f is true.

        >>> sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect()
        [2, 4]
        """
        return PipelinedRDD(self, lambda _, it: filter(f, it), f, True)

    def glom(self) -> "RDD":
        """One list per partition.

        >>> sorted(sc.parallelize([1, 2, 3, 4], 2).glom().collect())
        [[1, 2], [3, 4]]
        """
        return PipelinedRDD(self, lambda _, it: [list(it)], None, False)

    def keyBy(self, f: Callable) -> "RDD":
        """Pair each record with its key f(record).

        >>> sc.parallelize(range(3)).keyBy(lambda x: x * x).collect()
        [(0, 0), (1, 1), (4, 2)]
        """
        return self.map(lambda x: (f(x), x))

    def union(self, other: "RDD") -> "RDD":
        """The records of both datasets (duplicates kept).

        >>> rdd = sc.parallelize([1, 1, 2, 3])
        >>> rdd.union(rdd).collect()
        [1, 1, 2, 3, 1, 1, 2, 3]
        """
        return UnionRDD(self.ctx, [self, other])

    def __add__(self, other: "RDD") -> "RDD":
        return self.union(other)

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> "RDD":
        """Fewer partitions, merging neighbours without a shuffle.

        >>> sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect()
        [[1], [2, 3], [4, 5]]
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect()
        [[1, 2, 3, 4, 5]]
        """
        if shuffle:
            return self.repartition(numPartitions)
        n = self.getNumPartitions()
        target = max(1, min(int(numPartitions), n))
        groups = [list(range(i * n // target, (i + 1) * n // target)) for i in range(target)]
        return CoalescedRDD(self, groups)

    def repartition(self, numPartitions: int) -> "RDD":
        """Exactly numPartitions partitions, by a shuffle.

        >>> sc.parallelize([1, 2, 3, 4, 5, 6, 7], 4).repartition(2).getNumPartitions()
        2
        """
        def spread(split, it):
            rng = random.Random(split)
            position = rng.randrange(numPartitions)
            for record in it:
                position = (position + 1) % numPartitions
                yield position, record
        keyed = self.mapPartitionsWithIndex(spread)
        return keyed.partitionBy(numPartitions, lambda k: k).values()

    def distinct(self, numPartitions: int | None = None) -> "RDD":
        """The distinct records.

        >>> sorted(sc.parallelize([1, 1, 2, 3]).distinct().collect())
        [1, 2, 3]
        """
        return (self.map(lambda x: (x, None))
                .reduceByKey(lambda a, _: a, numPartitions).map(lambda kv: kv[0]))

    def groupBy(self, f: Callable, numPartitions: int | None = None, partitionFunc=None) -> "RDD":
        """Group records by f(record).

        >>> result = sc.parallelize([1, 1, 2, 3, 5, 8]).groupBy(lambda x: x % 2).collect()
        >>> sorted([(x, sorted(y)) for (x, y) in result])
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        """
        keyed = self.map(lambda x: (f(x), x))
        if partitionFunc is None:
            return keyed.groupByKey(numPartitions)
        return keyed.groupByKey(numPartitions, partitionFunc)

    def sortBy(self, keyfunc: Callable, ascending: bool = True, numPartitions: int | None = None) -> "RDD":
        """Sort by keyfunc(record), range-partitioned so partitions stay in order.

        >>> tmp = [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[0]).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        """
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None) -> "RDD":
        """A random sample: Bernoulli, or Poisson with replacement; reproducible with a seed.

        >>> rdd = sc.parallelize(range(100), 4)
        >>> 6 <= rdd.sample(False, 0.1, 81).count() <= 14
        True
        """
        if fraction < 0:
            raise ValueError("Fraction must be nonnegative")
        seed = random.randrange(1 << 32) if seed is None else seed

        def pick(split, it):
            rng = random.Random(seed ^ split)
            if withReplacement:
                import numpy
                counts = numpy.random.default_rng(rng.randrange(1 << 32))
                for record in it:
                    for _ in range(int(counts.poisson(fraction))):
                        yield record
            else:
                for record in it:
                    if rng.random() < fraction:
                        yield record
        return self.mapPartitionsWithIndex(pick, True)

    # -- actions ----------------------------------------------------------------
    def _run(self, func: Callable, partitions=None) -> list:
        return self.ctx._run_job(self, func, partitions)

    def collect(self) -> list:
        """All records, in partition order.

        >>> sc.parallelize([1, 2, 3], 2).collect()
        [1, 2, 3]
        """
        return list(itertools.chain.from_iterable(self._run(list)))

    def count(self) -> int:
        """Number of records.

        >>> sc.parallelize([2, 3, 4]).count()
        3
        """
        return sum(self._run(lambda it: sum(1 for _ in it)))

    def take(self, num: int) -> list:
        """The first num records, scanning as few partitions as it can.

        >>> sc.parallelize([2, 3, 4, 5, 6]).take(2)
        [2, 3]
        >>> sc.parallelize(range(100), 100).filter(lambda x: x > 90).take(3)
        [91, 92, 93]
        """
        taken: list = []
        total, scanned = self.getNumPartitions(), 0
        while len(taken) < num and scanned < total:
            batch = 1 if scanned == 0 else min(total - scanned, max(1, scanned * 4 if not taken
                                                                        else scanned * 2))
            wanted = num - len(taken)
            parts = list(range(scanned, min(total, scanned + batch)))
            for chunk in self._run(lambda it: list(itertools.islice(it, wanted)), parts):
                taken.extend(chunk)
            scanned += len(parts)
        return taken[:num]

    def first(self):
        """The first record.

        >>> sc.parallelize([2, 3, 4]).first()
        2
        """
        found = self.take(1)
        if not found:
            raise ValueError("RDD is empty")
        return found[0]

    def isEmpty(self) -> bool:
        """True if the dataset has no record.

        >>> sc.parallelize([]).isEmpty()
        True
        """
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    def reduce(self, f: Callable):
        """Combine all records with an associative, commutative f.

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).reduce(add)
        15
        """
        empty = object()

        def part(it):
            acc = empty
            for x in it:
                acc = x if acc is empty else f(acc, x)
            return [] if acc is empty else [acc]
        values = list(itertools.chain.from_iterable(self._run(part)))
        if not values:
            raise ValueError("Can not reduce() empty RDD")
        acc = values[0]
        for x in values[1:]:
            acc = f(acc, x)
        return acc

    def fold(self, zeroValue, op: Callable):
        """Fold each partition from zeroValue, then the partial results.

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).fold(0, add)
        15
        """
        def part(it):
            acc = zeroValue
            for x in it:
                acc = op(acc, x)
            return acc
        acc = zeroValue
        for value in self._run(part):
            acc = op(acc, value)
        return acc

    def aggregate(self, zeroValue, seqOp: Callable, combOp: Callable):
        """Aggregate each partition with seqOp, then combine with combOp.

        >>> seqOp = (lambda x, y: (x[0] + y, x[1] + 1))
        >>> combOp = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sc.parallelize([1, 2, 3, 4]).aggregate((0, 0), seqOp, combOp)
        (10, 4)
        """
        def part(it):
            acc = zeroValue
            for x in it:
                acc = seqOp(acc, x)
            return acc
        acc = zeroValue
        for value in self._run(part):
            acc = combOp(acc, value)
        return acc

    def sum(self):
        """Sum of the records.

        >>> sc.parallelize([1.0, 2.0, 3.0]).sum()
        6.0
        """
        return self.fold(0, operator.add)

    def max(self, key: Callable | None = None):
        """Largest record.

        >>> sc.parallelize([1.0, 5.0, 43.0, 10.0]).max()
        43.0
        """
        return self.reduce(lambda a, b: max(a, b, key=key) if key else max(a, b))

    def min(self, key: Callable | None = None):
        """Smallest record.

        >>> sc.parallelize([2.0, 5.0, 43.0, 10.0]).min()
        2.0
        """
        return self.reduce(lambda a, b: min(a, b, key=key) if key else min(a, b))

    def stats(self) -> StatCounter:
        """Count, mean, variance, max and min in one pass.

        >>> sc.parallelize([1, 2, 3]).stats()
        (count: 3, mean: 2.0, stdev: 0.816496580927726, max: 3.0, min: 1.0)
        """
        return self.mapPartitions(lambda it: [StatCounter(it)]).reduce(StatCounter.mergeStats)

    def mean(self) -> float:
        """Arithmetic mean.

        >>> sc.parallelize([1, 2, 3]).mean()
        2.0
        """
        return self.stats().mean()

    def variance(self) -> float:
        """Population variance.

        >>> sc.parallelize([1, 2, 3]).variance()
        0.6666666666666666
        """
        return self.stats().variance()

    def stdev(self) -> float:
        """Population standard deviation.

        >>> sc.parallelize([1, 2, 3]).stdev()
        0.816496580927726
        """
        return self.stats().stdev()

    def sampleVariance(self) -> float:
        """Variance with N - 1 in the denominator.

        >>> sc.parallelize([1, 2, 3]).sampleVariance()
        1.0
        """
        return self.stats().sampleVariance()

    def sampleStdev(self) -> float:
        """Standard deviation with N - 1 in the denominator.

        >>> sc.parallelize([1, 2, 3]).sampleStdev()
        1.0
        """
        return self.stats().sampleStdev()

    def countByValue(self) -> dict:
        """How many times each record occurs.

        >>> sorted(sc.parallelize([1, 2, 1, 2, 2], 2).countByValue().items())
        [(1, 2), (2, 3)]
        """
        from collections import Counter, defaultdict
        total: dict = defaultdict(int)
        for counts in self._run(lambda it: Counter(it)):
            for k, v in counts.items():
                total[k] += v
        return total

    def top(self, num: int, key: Callable | None = None) -> list:
        """The num largest records, largest first.

        >>> sc.parallelize([10, 4, 2, 12, 3]).top(1)
        [12]
        >>> sc.parallelize([2, 3, 4, 5, 6], 2).top(2)
        [6, 5]
        """
        parts = self._run(lambda it: heapq.nlargest(num, it, key=key))
        return heapq.nlargest(num, itertools.chain.from_iterable(parts), key=key)

    def takeOrdered(self, num: int, key: Callable | None = None) -> list:
        """The num smallest records, smallest first.

        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7]).takeOrdered(6)
        [1, 2, 3, 4, 5, 6]
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x)
        [10, 9, 7, 6, 5, 4]
        """
        parts = self._run(lambda it: heapq.nsmallest(num, it, key=key))
        return heapq.nsmallest(num, itertools.chain.from_iterable(parts), key=key)

    def foreach(self, f: Callable) -> None:
        """Apply f to every record, on the workers.

        >>> def f(x): print(x)
        >>> sc.parallelize([1, 2, 3, 4, 5]).foreach(f)
        """
        def part(it):
            for x in it:
                f(x)
            return None
        self._run(part)

    def foreachPartition(self, f: Callable) -> None:
        """Apply f to each partition's iterator, on the workers.

        >>> def f(iterator):
        ...     for x in iterator:
        ...          print(x)
        >>> sc.parallelize([1, 2, 3, 4, 5]).foreachPartition(f)
        """
        self._run(lambda it: f(it) and None)

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Write str(record) lines into part-NNNNN files under the folder `path`.

        Files are written under temporary names and renamed when their task
        commits; `_SUCCESS` marks a complete output. An existing folder is refused.
        """
        from minibig.io.output import save_as_text_file
        save_as_text_file(self, path, compressionCodecClass)


class ParallelCollectionRDD(RDD):
    """A driver-side collection cut into slices; each slice travels with its task."""

    def __init__(self, ctx, slices: list):
        super().__init__(ctx, [], len(slices))
        self._slices = slices

    def task_payload(self, split: int):
        return self._slices[split]

    def compute(self, split: int, task):
        return iter(task.payloads[(self.id, split)])

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_slices", None)     # slices go with tasks, never with the stage code
        return state


class PipelinedRDD(RDD):
    """A narrow transformation: f(split, parent iterator), run in the parent's task."""

    def __init__(self, prev: RDD, f: Callable, user_fn, preserves_partitioning: bool = False):
        super().__init__(prev.ctx, [OneToOneDependency(prev)], prev.getNumPartitions(),
                         prev.partitioner if preserves_partitioning else None)
        self.prev = prev
        self.func = f
        self.user_fn = user_fn

    def user_functions(self) -> list:
        return [fn for fn in (self.user_fn, self.func) if fn is not None]

    def compute(self, split: int, task):
        return self.func(split, self.prev.iterator(split, task))


class UnionRDD(RDD):
    """The partitions of several datasets, one after the other."""

    def __init__(self, ctx, rdds: list):
        deps, offset = [], 0
        for rdd in rdds:
            n = rdd.getNumPartitions()
            deps.append(RangeDependency(rdd, 0, offset, n))
            offset += n
        super().__init__(ctx, deps, offset)

    def compute(self, split: int, task):
        for dep in self.deps:
            for parent_split in dep.parents(split):
                return dep.rdd.iterator(parent_split, task)
        return iter(())


class CoalescedRDD(RDD):
    """Neighbouring parent partitions read one after the other, without a shuffle."""

    def __init__(self, prev: RDD, groups: list):
        super().__init__(prev.ctx, [ManyToOneDependency(prev, groups)], len(groups))
        self.prev = prev
        self.groups = groups

    def compute(self, split: int, task):
        return itertools.chain.from_iterable(
            self.prev.iterator(p, task) for p in self.groups[split])
