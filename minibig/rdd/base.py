"""Resilient distributed datasets, with PySpark's names and semantics.

An RDD is a lazy, partitioned collection: transformations build a lineage
graph of RDD objects in the driver; an action hands the last RDD to the DAG
scheduler, which cuts the lineage into stages at shuffle dependencies and
runs one task per partition on the workers. Narrow transformations are
pipelined inside one task with Python's own iterators (`map`, `filter`,
`itertools.chain`), so a record passes through a stage without a per-record
engine call.

Key-value operations (reduceByKey, join, sortByKey, ...) live in
`minibig.rdd.pairs` and are mixed into `RDD`, as PairRDDFunctions are in Spark;
so are the actions (`minibig.rdd.actions`), those on numbers (`minibig.rdd.numeric`),
sampling (`minibig.rdd.sampling`) and persistence (`minibig.rdd.persistence`).
Datasets built from two parents partition by partition (cartesian, zip, a
union that keeps the partitioner) are in `minibig.rdd.zipped`.

Why a few imports sit inside methods: the mixins' and RDD's methods build
subclasses of RDD (pairs: ShuffledRDD and CoGroupedRDD; persistence and
actions: CheckpointedRDD; RDD itself: the zipped datasets), and a
subclass's module must import RDD, which is made of those mixins. Python
resolves that cycle only at call time, so those imports wait for the call.
A registry of constructors would only hide the same cycle behind an import
order someone must remember: the cycle is the RDD's design (Spark's
RDD.scala builds its subclasses the same way).
"""

from __future__ import annotations

import itertools
import random
import shlex
import subprocess
import threading
import warnings
from typing import Callable

from minibig.rdd.actions import ActionFunctions
from minibig.core.callsite import user_call_site
from minibig.core.task import USER_STOP_ITERATION
from minibig.errors import UserError
from minibig.core.dependency import (ManyToOneDependency, NarrowDependency, OneToOneDependency,
                                RangeDependency)
from minibig.rdd.numeric import NumericFunctions
from minibig.rdd.pairs import PairRDDFunctions
from minibig.rdd.persistence import PersistenceMixin
from minibig.rdd.sampling import SamplingFunctions
from minibig.shuffle.hashing import portable_hash
from minibig.shuffle.partitioners import Aggregator, identity


class _RDDId(int):
    """An RDD's id: a plain int to the engine, and callable as PySpark's `rdd.id()`.

    >>> rdd = sc.parallelize([1, 2])
    >>> rdd.id() == rdd.id and rdd.map(str).id() > rdd.id()
    True
    """

    def __call__(self) -> int:
        return int(self)


class _IdField:
    """Keeps `rdd.id` an _RDDId whatever int is assigned to it."""

    def __get__(self, rdd, owner=None):
        return self if rdd is None else rdd.__dict__["_id"]

    def __set__(self, rdd, value) -> None:
        rdd.__dict__["_id"] = _RDDId(value)


class _NoContextInTasks:
    """The Context of a dataset unpickled in a task: any use of it raises UserError.

    Actions and transformations run in the driver only (as in Spark, SPARK-5063),
    so a dataset captured by a function that a task runs cannot be used there.
    """

    __slots__ = ("_dataset",)

    def __init__(self, dataset: str):
        self._dataset = dataset

    def __getattr__(self, name):
        raise UserError(
            f"{self._dataset} was used inside a task: a dataset's transformations and actions "
            "run only in the driver, never in a function a task runs (Spark's SPARK-5063); "
            "compute what the function needs first (collect it, broadcast it, or join on it)")


class RDD(ActionFunctions, PairRDDFunctions, NumericFunctions, SamplingFunctions, PersistenceMixin):
    """A lazy, partitioned dataset; subclasses say how a partition is computed.

    >>> sc.parallelize([1, 2, 3, 4], 2).map(lambda x: x * 2).collect()
    [2, 4, 6, 8]
    """

    #: True when no partition holds two records with equal keys (an aggregation's output,
    #: and what keeps its keys): a join reads such a side without checking (`rdd.cogroup`).
    _unique_keys = False
    #: The dataset this one holds the distinct records of (set by `distinct`), else None.
    _distinct_of = None

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
            stack.extend(d.rdd for d in node.deps if isinstance(d, NarrowDependency))
        return list(seen.values())

    def __getstate__(self):
        state = self.__dict__.copy()
        state["ctx"] = None          # the driver's context never travels
        state.pop("_distinct_of", None)   # a plan's choice, and lineage behind a shuffle
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # Unpickled in a task: a dataset the user's function holds and uses there
        # (`rdd.map(lambda x: other.count())`) fails with the reason, not None's AttributeError.
        self.ctx = _NoContextInTasks(self.describe())

    def __copy__(self):
        # A dataset is a handle on a lazy computation, copied by sharing it: a copy through
        # pickling's state (ctx left behind, `__setstate__`) would fail in the driver as a
        # dataset used inside a task (`copy.deepcopy` of the user's structure holding one).
        return self

    def __deepcopy__(self, memo):
        return self

    def describe(self) -> str:
        """'name [id]' as shown in errors and progress lines."""
        kind = self._name or type(self).__name__
        return f"{kind} [{self.id}]"

    def __repr__(self) -> str:
        return f"{self.describe()} at {self.creation_site}"

    # -- identity --------------------------------------------------------------
    #: A unique id within the Context: `rdd.id()` as in PySpark (also usable as an int).
    id = _IdField()

    def getNumPartitions(self) -> int:
        """Number of partitions.

        >>> sc.parallelize([1, 2, 3, 4], 2).getNumPartitions()
        2
        """
        return self._num_partitions

    def name(self):
        """The name given with setName, or None.

        >>> rdd1 = sc.parallelize([1, 2])
        >>> rdd1.setName('RDD1').name()
        'RDD1'
        """
        return self._name

    def setName(self, name: str) -> "RDD":
        """Give this dataset a name shown in errors, progress and toDebugString.

        >>> sc.parallelize([1, 2]).setName('RDD1').name()
        'RDD1'
        """
        self._name = name
        return self

    @property
    def context(self):
        """The Context this dataset belongs to."""
        return self.ctx

    def toDebugString(self) -> bytes:
        """The lineage, one dataset per line, indented at shuffle boundaries.

        >>> print(sc.parallelize([1], 1).map(lambda x: (x, x)).groupByKey()
        ...       .toDebugString().decode())
        (1) ShuffledRDD [...] at ...
          (1) PipelinedRDD [...] at ...
          (1) ParallelCollectionRDD [...] at ...
        """
        lines, shown, stack = [], set(), [(self, 0)]
        while stack:                 # a loop, not recursion: lineages of iterative jobs are long
            rdd, depth = stack.pop()
            line = "  " * depth + f"({rdd.getNumPartitions()}) {rdd!r}"
            if rdd.id in shown:
                # A shared ancestor (self-join, iterations) is expanded once only.
                lines.append(line + " (shown above)")
                continue
            shown.add(rdd.id)
            lines.append(line)
            stack.extend((dep.rdd, depth + (0 if isinstance(dep, NarrowDependency) else 1))
                         for dep in reversed(rdd.deps))
        return "\n".join(lines).encode("utf-8")

    # -- narrow transformations -----------------------------------------------
    def mapPartitionsWithIndex(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f(index, iterator) to each partition.

        >>> rdd = sc.parallelize([1, 2, 3, 4], 4)
        >>> def f(splitIndex, iterator): yield splitIndex
        >>> rdd.mapPartitionsWithIndex(f).sum()
        6
        """
        return PipelinedRDD(self, f, f, preservesPartitioning)

    def mapPartitionsWithSplit(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Deprecated alias of mapPartitionsWithIndex (PySpark warns with a FutureWarning).

        >>> rdd = sc.parallelize([1, 2, 3, 4], 4)
        >>> def f(splitIndex, iterator): yield splitIndex
        >>> rdd.mapPartitionsWithSplit(f).sum()
        6
        """
        warnings.warn("mapPartitionsWithSplit is deprecated; use mapPartitionsWithIndex instead",
                      FutureWarning, stacklevel=2)
        return self.mapPartitionsWithIndex(f, preservesPartitioning)

    def mapPartitions(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f(iterator) to each partition.

        >>> rdd = sc.parallelize([1, 2, 3, 4], 2)
        >>> def f(iterator): yield sum(iterator)
        >>> rdd.mapPartitions(f).collect()
        [3, 7]
        """
        return PipelinedRDD(self, lambda _, it: f(it), f, preservesPartitioning)

    def map(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f to every record.

        >>> sorted(sc.parallelize(["b", "a", "c"]).map(lambda x: (x, 1)).collect())
        [('a', 1), ('b', 1), ('c', 1)]
        """
        return PipelinedRDD(self, lambda _, it: _to_the_end(map, f, it), f, preservesPartitioning)

    def flatMap(self, f: Callable, preservesPartitioning: bool = False) -> "RDD":
        """Apply f to every record and flatten the iterables it returns.

        >>> rdd = sc.parallelize([2, 3, 4])
        >>> sorted(rdd.flatMap(lambda x: range(1, x)).collect())
        [1, 1, 1, 2, 2, 3]
        >>> sorted(rdd.flatMap(lambda x: [(x, x), (x, x)]).collect())
        [(2, 2), (2, 2), (3, 3), (3, 3), (4, 4), (4, 4)]
        """
        # chain.from_iterable(map(...)) keeps the per-record loop in C; the check of map's end
        # is per input record, not per output record.
        return PipelinedRDD(
            self, lambda _, it: itertools.chain.from_iterable(_to_the_end(map, f, it)), f,
            preservesPartitioning)

    def filter(self, f: Callable) -> "RDD":
        """Keep the records for which f is true.

        >>> sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect()
        [2, 4]
        """
        filtered = PipelinedRDD(self, lambda _, it: _to_the_end(filter, f, it), f, True)
        filtered._unique_keys = self._unique_keys
        return filtered

    def glom(self) -> "RDD":
        """One list per partition.

        >>> sorted(sc.parallelize([1, 2, 3, 4], 2).glom().collect())
        [[1, 2], [3, 4]]
        """
        return PipelinedRDD(self, lambda _, it: [list(it)], None, False)

    def keyBy(self, f: Callable) -> "RDD":
        """Pair each record with its key f(record).

        >>> x = sc.parallelize(range(0,3)).keyBy(lambda x: x*x)
        >>> y = sc.parallelize(zip(range(0,5), range(0,5)))
        >>> [(x, list(map(list, y))) for x, y in sorted(x.cogroup(y).collect())]
        [(0, [[0], [0]]), (1, [[1], [1]]), (2, [[], [2]]), (3, [[], [3]]), (4, [[2], [4]])]
        """
        return self.map(lambda x: (f(x), x))

    def union(self, other: "RDD") -> "RDD":
        """The records of both datasets (duplicates kept).

        Two datasets partitioned by the same partitioner give one with that
        partitioner and as many partitions, partition i holding both
        partitions i (Spark's partitioner-aware union); otherwise the
        partitions of self come first, then those of other.

        >>> rdd = sc.parallelize([1, 1, 2, 3])
        >>> rdd.union(rdd).collect()
        [1, 1, 2, 3, 1, 1, 2, 3]
        """
        if self.partitioner is not None and self.partitioner == other.partitioner:
            from minibig.rdd.zipped import PartitionerAwareUnionRDD  # an RDD subclass: see the module's docstring
            return PartitionerAwareUnionRDD(self.ctx, [self, other])
        return UnionRDD(self.ctx, [self, other])

    def __add__(self, other: "RDD") -> "RDD":
        """`rdd + other` is `rdd.union(other)`.

        >>> (sc.parallelize([1, 1, 2, 3]) + sc.parallelize([4])).collect()
        [1, 1, 2, 3, 4]
        """
        return self.union(other)

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> "RDD":
        """Fewer partitions, merging neighbours without a shuffle.

        >>> sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect()
        [[1], [2, 3], [4, 5]]
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect()
        [[1, 2, 3, 4, 5]]
        """
        if int(numPartitions) <= 0:
            raise ValueError(f"Number of partitions ({numPartitions}) must be positive.")
        if shuffle:
            return self.repartition(numPartitions)
        n = self.getNumPartitions()
        target = max(1, min(int(numPartitions), n))
        groups = [list(range(i * n // target, (i + 1) * n // target)) for i in range(target)]
        return CoalescedRDD(self, groups)

    def repartition(self, numPartitions: int) -> "RDD":
        """Exactly numPartitions partitions, by a shuffle that spreads records evenly.

        >>> rdd = sc.parallelize([1,2,3,4,5,6,7], 4)
        >>> sorted(rdd.glom().collect())
        [[1], [2, 3], [4, 5], [6, 7]]
        >>> len(rdd.repartition(2).glom().collect())
        2
        >>> len(rdd.repartition(10).glom().collect())
        10
        """
        numPartitions = int(numPartitions)
        if numPartitions <= 0:
            raise ValueError(f"Number of partitions ({numPartitions}) must be positive.")

        def spread(split, it):
            # Round robin from a per-partition starting point, as Spark does.
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
        # Values are all None: the "distinct" fold keeps each record's first copy with dict.update.
        records = (self.mapPartitions(_with_none)
                   ._combine(DISTINCT, numPartitions, portable_hash, map_side_combine=True)
                   .keys())
        # An aggregation by key of the records may take them from here in one shuffle
        # (`minibig.rdd.pairs.PairRDDFunctions._combine`).
        records._distinct_of = self
        return records

    def groupBy(self, f: Callable, numPartitions: int | None = None,
                partitionFunc: Callable = portable_hash) -> "RDD":
        """Group records by f(record).

        >>> rdd = sc.parallelize([1, 1, 2, 3, 5, 8])
        >>> result = rdd.groupBy(lambda x: x % 2).collect()
        >>> sorted([(x, sorted(y)) for (x, y) in result])
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        """
        return self.map(lambda x: (f(x), x)).groupByKey(numPartitions, partitionFunc)

    def intersection(self, other: "RDD") -> "RDD":
        """The distinct records found in both datasets.

        >>> rdd1 = sc.parallelize([1, 10, 2, 3, 4, 5])
        >>> rdd2 = sc.parallelize([1, 6, 2, 3, 7, 8])
        >>> rdd1.intersection(rdd2).collect()
        [1, 2, 3]
        """
        return (self.mapPartitions(_with_none).cogroup(other.mapPartitions(_with_none))
                .filter(lambda kv: len(kv[1][0]) > 0 and len(kv[1][1]) > 0).keys())

    def subtract(self, other: "RDD", numPartitions: int | None = None) -> "RDD":
        """The records of self not found in other (duplicates of self kept).

        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtract(y).collect())
        [('a', 1), ('b', 4), ('b', 5)]
        """
        return (self.map(lambda x: (x, True))
                .subtractByKey(other.map(lambda x: (x, True)), numPartitions).keys())

    def cartesian(self, other: "RDD") -> "RDD":
        """Every pair (a, b) of a record a of self and b of other.

        Partition i * m + j pairs partition i of self with partition j of
        other (m partitions); no shuffle.

        >>> rdd = sc.parallelize([1, 2])
        >>> sorted(rdd.cartesian(rdd).collect())
        [(1, 1), (1, 2), (2, 1), (2, 2)]
        """
        from minibig.rdd.zipped import CartesianRDD  # an RDD subclass: see the module's docstring
        return CartesianRDD(self, other)

    def zip(self, other: "RDD") -> "RDD":
        """Pairs (a, b) of the i-th records of self and other, partition by partition.

        Both must have the same number of partitions and the same number of
        records in each (true of two maps of one dataset); otherwise ValueError.

        >>> x = sc.parallelize(range(0,5))
        >>> y = sc.parallelize(range(1000, 1005))
        >>> x.zip(y).collect()
        [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]
        """
        from minibig.rdd.zipped import ZippedRDD  # an RDD subclass: see the module's docstring
        return ZippedRDD(self, other)

    def zipWithIndex(self) -> "RDD":
        """Pairs (record, index), indices following partition order then record order.

        Runs a job to count each partition's records (unless there is one
        partition), as PySpark does.

        >>> sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect()
        [('a', 0), ('b', 1), ('c', 2), ('d', 3)]
        """
        starts = [0]
        if self.getNumPartitions() > 1:
            counts = self.mapPartitions(lambda it: [sum(1 for _ in it)]).collect()
            for count in counts[:-1]:
                starts.append(starts[-1] + count)
        return self.mapPartitionsWithIndex(
            lambda split, it: ((x, i) for i, x in enumerate(it, starts[split])))

    def zipWithUniqueId(self) -> "RDD":
        """Pairs (record, id): the k-th record of partition i gets k * n + i (n partitions).

        Ids are unique but not consecutive; no job runs.

        >>> sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect()
        [('a', 0), ('b', 1), ('c', 4), ('d', 2), ('e', 5)]
        """
        n = self.getNumPartitions()
        return self.mapPartitionsWithIndex(
            lambda split, it: ((x, k * n + split) for k, x in enumerate(it)))

    def sortBy(self, keyfunc: Callable, ascending: bool = True, numPartitions: int | None = None) -> "RDD":
        """Sort by keyfunc(record), range-partitioned so partitions stay in order.

        >>> tmp = [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[0]).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[1]).collect()
        [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        """
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def pipe(self, command: str, env: dict | None = None, checkCode: bool = False) -> "RDD":
        """Feed each partition, one str(record) per line, to a command; its output lines.

        The command runs on the workers, once per partition, split with
        shlex (no shell) and with the environment `env` (empty by default,
        as in PySpark). With checkCode, a non-zero exit status fails the task.

        >>> sc.parallelize(['1', '2', '', '3']).pipe('cat').collect()
        ['1', '2', '', '3']
        """
        def run(it):
            proc = subprocess.Popen(shlex.split(command), env=env or {},
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            failure: list = []

            def feed():
                # A thread writes while this generator reads, so neither pipe fills up.
                try:
                    for record in it:
                        proc.stdin.write((str(record).rstrip("\n") + "\n").encode("utf-8"))
                except BrokenPipeError:
                    pass
                except BaseException as exc:        # re-raised in the task below
                    failure.append(exc)
                finally:
                    try:
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
            writer = threading.Thread(target=feed, daemon=True)
            writer.start()
            for line in proc.stdout:
                yield line.rstrip(b"\n").decode("utf-8")
            writer.join()
            code = proc.wait()
            if failure:
                raise failure[0]
            if checkCode and code:
                raise RuntimeError(f"Pipe function `{command}' exited with error code {code}")
        return self.mapPartitions(run)


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


def _keep_first(first, _):
    return first


#: distinct's aggregator: each record a key whose value is None, its first copy kept.
DISTINCT = Aggregator(identity, _keep_first, _keep_first, "distinct")


def _to_the_end(apply, f, records):
    """apply(f, records) (builtin map or filter, in C), failing if it ends before `records` do.

    A StopIteration raised by f ends builtin map and filter as if the input were
    exhausted, silently dropping the rest of the partition; PySpark fails the task
    instead. The input's end is marked, and the output's end checks that it came
    first; both marks are iterators chained in C, so no Python runs per record.
    """
    ended = []

    def mark_input_end():
        ended.append(True)
        yield from ()

    def check_output_end():
        if not ended:
            raise RuntimeError(USER_STOP_ITERATION)
        yield from ()

    return itertools.chain(apply(f, itertools.chain(records, mark_input_end())),
                           check_output_end())


def _with_none(records):
    """(record, None) for each record, each pair made in C (distinct's and intersection's keys)."""
    return zip(records, itertools.repeat(None))


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
