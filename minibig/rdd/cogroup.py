"""CoGroupedRDD: the values of each key in several datasets, side by side.

The base of cogroup, groupWith, join and its outer variants, subtractByKey
and intersection. For each parent the dependency is chosen by partitioning:

* a parent already partitioned by the target partitioner has each key's
  pairs in partition i already, so partition i reads the parent's partition i
  through a `OneToOneDependency`: a narrow dependency, pipelined in the same
  task, no shuffle;
* any other parent is shuffled by the target partitioner (a
  `ShuffleDependency` without map-side combine: every value is kept).

So a join of two datasets co-partitioned by one partitioner (for instance
both from `partitionBy(n)`, or a reduceByKey and a mapValues of it) runs
without a shuffle, and its result keeps the partitioner. The DAG scheduler
handles a dataset whose dependencies mix both kinds: it waits for the
shuffles and pipelines the narrow parents.

A parent given twice (`rdd.cogroup(rdd)`) is read, or shuffled, once.

The groups are built in an `ExternalMap` (the combiner of a key is the tuple
of its value lists), so a cogroup or join bigger than the task's memory
budget spills to disk and merges back instead of running out of memory.
"""

from __future__ import annotations

import itertools

from minibig.core.dependency import Aggregator, OneToOneDependency, Partitioner, ShuffleDependency
from minibig.rdd.pairs import ResultIterable
from minibig.rdd.base import RDD
from minibig.shuffle.hashing import portable_hash
from minibig.shuffle.reader import read_batches
from minibig.shuffle.spill import ExternalMap


def cogroup_partitioner(rdds: list, numPartitions: int | None) -> Partitioner:
    """The partitioner of a cogroup of `rdds`, following PySpark's defaults.

    Without numPartitions: the parents' common partitioner when they all have
    the same one, otherwise hashing into as many partitions as the parents
    have in all (PySpark cogroups the union of the parents, whose partition
    count is that sum).
    """
    if numPartitions is None:
        first = rdds[0].partitioner
        if first is not None and all(r.partitioner == first for r in rdds):
            return first
        numPartitions = sum(r.getNumPartitions() for r in rdds)
    return Partitioner(int(numPartitions), portable_hash)


class CoGroupedRDD(RDD):
    """(key, (values in rdds[0], values in rdds[1], ...)) for every key in any of rdds."""

    def __init__(self, rdds: list, partitioner: Partitioner):
        deps, sides = [], []
        by_parent: dict = {}
        for rdd in rdds:
            if rdd.id not in by_parent:
                by_parent[rdd.id] = len(deps)
                if rdd.partitioner == partitioner:
                    deps.append(OneToOneDependency(rdd))
                else:
                    deps.append(ShuffleDependency(rdd, partitioner))
            sides.append(by_parent[rdd.id])
        super().__init__(rdds[0].ctx, deps, partitioner.numPartitions, partitioner)
        # sides[s] is the dependency that feeds side s of every group.
        self.sides = sides

    def _records(self, dep, split: int, task):
        if isinstance(dep, ShuffleDependency):
            return itertools.chain.from_iterable(read_batches(task.fetch_shuffle(dep, split)))
        return dep.rdd.iterator(split, task)

    def compute(self, split: int, task):
        def merge(group, other):
            for mine, theirs in zip(group, other):
                mine.extend(theirs)
            return group
        # Only merge is called through the aggregator (merging spilled groups); the
        # values go straight into their side's list (`insert_sides`).
        groups = ExternalMap(Aggregator(None, None, merge), task.memory_budget, task.spill_dir)
        width = len(self.sides)
        for index, dep in enumerate(self.deps):
            sides = tuple(side for side, d in enumerate(self.sides) if d == index)
            groups.insert_sides(self._records(dep, split, task), sides, width, ResultIterable)
        return groups.items()
