"""How a dataset depends on its parents, and how keys map to partitions.

A *narrow* dependency lets a child partition be computed from a few parent
partitions in the same task (map, filter, union); a *shuffle* dependency needs
every parent partition, so it ends a stage. The DAG scheduler cuts the
lineage at shuffle dependencies and nowhere else.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable

from minibig.shuffle.hashing import portable_hash


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

    def __init__(self, bounds: list, ascending: bool = True, keyfunc: Callable = lambda k: k):
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
    """The three functions of combineByKey."""

    create_combiner: Callable
    merge_value: Callable
    merge_combiners: Callable


class Dependency:
    """A dataset's link to one parent."""

    def __init__(self, rdd):
        self.rdd = rdd


class NarrowDependency(Dependency):
    """Each child partition reads the parent partitions `parents(split)`."""

    def parents(self, split: int) -> list[int]:
        raise NotImplementedError


class OneToOneDependency(NarrowDependency):
    """Child partition i reads parent partition i."""

    def parents(self, split: int) -> list[int]:
        return [split]


class RangeDependency(NarrowDependency):
    """Child partitions [out_start, out_start + length) read parent [in_start, ...)."""

    def __init__(self, rdd, in_start: int, out_start: int, length: int):
        super().__init__(rdd)
        self.in_start, self.out_start, self.length = in_start, out_start, length

    def parents(self, split: int) -> list[int]:
        if self.out_start <= split < self.out_start + self.length:
            return [split - self.out_start + self.in_start]
        return []


class ManyToOneDependency(NarrowDependency):
    """Child partition i reads the parent partitions `groups[i]` (coalesce)."""

    def __init__(self, rdd, groups: list[list[int]]):
        super().__init__(rdd)
        self.groups = groups

    def parents(self, split: int) -> list[int]:
        return self.groups[split]


class ShuffleDependency(Dependency):
    """Every child partition reads a piece of every parent partition."""

    def __init__(self, rdd, partitioner: Partitioner, aggregator: Aggregator | None = None,
                 map_side_combine: bool = False):
        super().__init__(rdd)
        self.partitioner = partitioner
        self.aggregator = aggregator
        self.map_side_combine = map_side_combine and aggregator is not None
        self.shuffle_id = rdd.ctx._new_shuffle_id()
        self.shuffle_key = f"{rdd.ctx._driver_id}/s{self.shuffle_id}"
        self.num_maps = rdd.getNumPartitions()
        if rdd.ctx._cleaner is not None:
            rdd.ctx._cleaner.track_shuffle(self)

    def __getstate__(self):
        # Tasks need the partitioner, aggregator and shuffle identity only: the
        # parent lineage stays in the driver, so a stage ships only its own
        # narrow pipeline, however long the history before the shuffle.
        state = self.__dict__.copy()
        state.pop("rdd", None)
        return state
