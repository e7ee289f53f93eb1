"""How keys map to partitions, and how a key's values combine.

These are the shuffle's own plan objects: the RDD layer builds them, the
shuffle writer and reader use them, and both agree on them by type and by
the operator they carry, never by recognising a user's function.
"""

from __future__ import annotations

import builtins
import operator
import os
import sys
from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable

from minibig.shuffle.hashing import portable_hash


def shuffle_partition_count(numPartitions, parents: list) -> int:
    """The number of partitions a shuffle of `parents` writes to: numPartitions, or
    without it the parents' partitions in all (one parent: its count, as PySpark).

    Fewer than one is refused with ValueError, as Spark's HashPartitioner refuses a
    negative count: a shuffle into no partition drops every record it is given
    (PySpark returns [] without a word). Zero stays allowed where the parents have
    no partition at all (`emptyRDD().reduceByKey(f, 0)`), so a count taken from
    an empty input still works.
    """
    if numPartitions is None:
        return sum(p.getNumPartitions() for p in parents)
    n = int(numPartitions)
    if n < 0 or (n == 0 and any(p.getNumPartitions() for p in parents)):
        raise ValueError(f"Number of partitions ({numPartitions}) must be positive.")
    return n


def identity(x):
    """The identity function: the default key function and reduceByKey's combiner."""
    return x


class Partitioner:
    """Maps a key to a partition: `partitionFunc(key) % numPartitions`.

    Two partitioners are equal when they have the same number of partitions
    and the same function, as in PySpark; equal partitioners make a later
    shuffle by key unnecessary.
    """

    def __init__(self, numPartitions: int, partitionFunc: Callable = portable_hash):
        self.numPartitions = int(numPartitions)
        self.partitionFunc = partitionFunc

    def partition_of(self, key) -> int:
        """The partition index of `key`."""
        return self.partitionFunc(key) % self.numPartitions

    def __call__(self, key) -> int:
        return self.partition_of(key)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Partitioner) and type(other) is type(self)
                and other.numPartitions == self.numPartitions
                and other.partitionFunc == self.partitionFunc)

    def __hash__(self) -> int:
        return hash((self.numPartitions, id(self.partitionFunc)))


class RangePartitioner(Partitioner):
    """Sends keys to partitions by sorted boundaries (for sortByKey).

    `bounds` holds numPartitions - 1 upper bounds, taken from a sample of the
    keys, so that the partitions come out about the same size.
    """

    def __init__(self, bounds: list, ascending: bool = True, keyfunc: Callable = identity):
        super().__init__(len(bounds) + 1, portable_hash)
        self.bounds = bounds
        self.ascending = ascending
        self.keyfunc = keyfunc

    def partition_of(self, key) -> int:
        index = bisect_left(self.bounds, self.keyfunc(key))
        return index if self.ascending else self.numPartitions - 1 - index

    def __eq__(self, other) -> bool:
        return (isinstance(other, RangePartitioner) and other.bounds == self.bounds
                and other.ascending == self.ascending and other.keyfunc == self.keyfunc)

    def __hash__(self) -> int:
        return hash((self.numPartitions, self.ascending))


@dataclass
class Aggregator:
    """The three functions of combineByKey, and the operator they stand for.

    `op` is "sum", "min" or "max" when the API was given `operator.add`,
    `min` or `max` with identity as the combiner (reduceByKey(add)): the
    shuffle may then fold numeric values in columns. It is decided from the
    operator object the caller passed, never from the text of a function.
    The engine's own aggregators name theirs too: "distinct" (every value
    None, a key's first record kept: `RDD.distinct`) and "group" (a list per
    key, made by create_combiner from the first value, appended to by
    merge_value: groupByKey), so the fold runs their loop inline
    (`minibig.shuffle.spill.ExternalMap`).
    """

    create_combiner: Callable
    merge_value: Callable
    merge_combiners: Callable
    op: str | None = None


_OPERATORS = {operator.add: "sum", builtins.min: "min", builtins.max: "max"}
COLUMNAR_OPS = frozenset(_OPERATORS.values())


def reducing(func: Callable) -> Aggregator:
    """The aggregator of reduceByKey(func): values combined pairwise with `func`."""
    try:
        op = _OPERATORS.get(func)
    except TypeError:                          # an unhashable callable
        op = None
    return Aggregator(identity, func, func, op)


def is_hash_partitioner(partitioner) -> bool:
    """True for a plain Partitioner over portable_hash (reduceByKey's default)."""
    return type(partitioner) is Partitioner and partitioner.partitionFunc is portable_hash


# Below this many keys (`columnar_size_pays`) a dict goes out as pickled pairs: the
# columnar path saves too little there. In a worker that has not loaded Arrow and the kernels yet,
# the first use costs 0.5-1 s, which only a big dict repays (measured on word
# count: 2.4M keys over 8 map tasks came out 0.4-0.8 s slower on a fresh cluster).
MIN_GROUPS = 10_000
MIN_GROUPS_COLD = 1_000_000


def columnar_size_pays(groups: int) -> bool:
    """Whether a combine's dict of this many keys takes the columnar path: from
    MIN_GROUPS keys where the kernels are loaded, from MIN_GROUPS_COLD where they are
    not. Decided before `minibig.shuffle.arrowpath` is imported, which loads numpy."""
    return groups >= (MIN_GROUPS if "minibig.shuffle.kernels" in sys.modules else MIN_GROUPS_COLD)


def columnar_op(dep) -> str | None:
    """'sum', 'min' or 'max' when `dep` may take the columnar path, else None.

    Here, not in `minibig.shuffle.arrowpath`, so that deciding costs no numpy import.
    """
    agg = dep.aggregator
    if agg is None or agg.op not in COLUMNAR_OPS or not is_hash_partitioner(dep.partitioner):
        return None
    if not columnar_enabled():
        return None
    return agg.op


def columnar_enabled() -> bool:
    """False when `MINIBIG_SHUFFLE_COLUMNAR=0` (in the workers' environment) turns every
    columnar shuffle path off: the numeric one (`columnar_op`) and the Arrow sums
    (`minibig.shuffle.writer.arrow_pays`)."""
    return os.environ.get("MINIBIG_SHUFFLE_COLUMNAR", "1") != "0"
