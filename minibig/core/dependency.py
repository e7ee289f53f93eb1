"""How a dataset depends on its parents (partitioners and aggregators: `minibig.shuffle.partitioners`).

A *narrow* dependency lets a child partition be computed from a few parent
partitions in the same task (map, filter, union); a *shuffle* dependency needs
every parent partition, so it ends a stage. The DAG scheduler cuts the
lineage at shuffle dependencies and nowhere else.
"""

from __future__ import annotations

from minibig.shuffle.partitioners import Aggregator, Partitioner, RangePartitioner

__all__ = ["Aggregator", "Partitioner", "RangePartitioner", "Dependency", "NarrowDependency",
           "OneToOneDependency", "RangeDependency", "ManyToOneDependency", "ShuffleDependency"]


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
    """Every child partition reads a piece of every parent partition.

    `writer_share`: the share of a map task's memory budget its shuffle writer may hold,
    where the records' own computation holds the rest while the writer runs (None: all
    of it). `str_pair_batches`: the map side marks its batches when every record is a
    (str, str) tuple (`minibig.shuffle.writer.StrPairs`), for a reducer that reads them
    so. Both are set by the dataset that plans the shuffle
    (`minibig.rdd.shuffled.DistinctCombinedRDD`)."""

    def __init__(self, rdd, partitioner: Partitioner, aggregator: Aggregator | None = None,
                 map_side_combine: bool = False, writer_share: float | None = None,
                 str_pair_batches: bool = False):
        super().__init__(rdd)
        self.partitioner = partitioner
        self.aggregator = aggregator
        self.map_side_combine = map_side_combine and aggregator is not None
        self.writer_share = writer_share
        self.str_pair_batches = str_pair_batches
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
