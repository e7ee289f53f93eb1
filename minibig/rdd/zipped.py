"""Datasets that read two (or more) parents partition by partition, without a shuffle.

* `CartesianRDD`: partition i * m + j pairs every record of partition i of
  the first parent with every record of partition j of the second (m
  partitions). The second partition is held in a list while the first
  streams past it, so it is computed once per output partition.
* `ZippedRDD`: partition i pairs the records of both parents' partitions i,
  in order; both must have as many records there.
* `PartitionerAwareUnionRDD`: the union of parents that share a partitioner;
  partition i holds every parent's partition i, so the result keeps the
  partitioner (and a later reduceByKey or join by it needs no shuffle).

All their dependencies are narrow: the DAG scheduler pipelines them in the
task of the output partition, reading each parent partition through its
`iterator` (so a cached parent is read from its cache).
"""

from __future__ import annotations

import itertools

from minibig.core.dependency import NarrowDependency, OneToOneDependency
from minibig.rdd.base import RDD


class _GridDependency(NarrowDependency):
    """Child partition s reads parent partition (s // stride) % size: a row or a column."""

    def __init__(self, rdd, stride: int, size: int):
        super().__init__(rdd)
        self.stride, self.size = stride, size

    def parents(self, split: int) -> list[int]:
        return [(split // self.stride) % self.size]


class CartesianRDD(RDD):
    """Every pair of records of two datasets."""

    def __init__(self, left: RDD, right: RDD):
        n, m = left.getNumPartitions(), right.getNumPartitions()
        deps = [_GridDependency(left, m, n), _GridDependency(right, 1, m)] if m else []
        super().__init__(left.ctx, deps, n * m)
        self.left, self.right, self.right_count = left, right, m

    def compute(self, split: int, task):
        row, column = divmod(split, self.right_count)
        right = list(self.right.iterator(column, task))
        for a in self.left.iterator(row, task):
            for b in right:
                yield a, b


class ZippedRDD(RDD):
    """Pairs of the records at the same position of two datasets."""

    def __init__(self, left: RDD, right: RDD):
        if left.getNumPartitions() != right.getNumPartitions():
            raise ValueError("Can only zip with RDD which has the same number of partitions")
        super().__init__(left.ctx, [OneToOneDependency(left), OneToOneDependency(right)],
                         left.getNumPartitions())
        self.left, self.right = left, right

    def compute(self, split: int, task):
        missing = object()
        pairs = itertools.zip_longest(self.left.iterator(split, task),
                                      self.right.iterator(split, task), fillvalue=missing)
        for a, b in pairs:
            if a is missing or b is missing:
                raise ValueError("Can only zip RDDs with same number of elements in each partition")
            yield a, b


class PartitionerAwareUnionRDD(RDD):
    """The union of datasets with one partitioner, keeping it."""

    def __init__(self, ctx, rdds: list):
        first = rdds[0]
        super().__init__(ctx, [OneToOneDependency(r) for r in rdds], first.getNumPartitions(),
                         first.partitioner)
        self.rdds = rdds

    def compute(self, split: int, task):
        return itertools.chain.from_iterable(r.iterator(split, task) for r in self.rdds)
