"""ShuffledRDD: the reduce side of a shuffle, the first dataset of a new stage."""

from __future__ import annotations

import itertools

from minibig.rdd.base import RDD
from minibig.shuffle.reader import read_batches
from minibig.shuffle.partitioners import columnar_op
from minibig.shuffle.spill import ExternalMap


class ShuffledRDD(RDD):
    """Partition i holds the records every map task sent to reducer i.

    With an aggregator the records are merged by key here, within the task's
    memory budget (an `ExternalMap`, which spills to disk): combiners from the
    map-side combine are merged with `merge_combiners`, a `Columns` batch (a map
    task's combined dict) as its two lists, with no record per pair; raw values
    (no map-side combine, as in groupByKey) are folded with
    `create_combiner`/`merge_value`. Segments are read one batch at a time, so
    without an aggregator records stream through.

    Arrow frames (`minibig.shuffle.arrowpath`, which needs numpy) come only from
    map tasks that took the columnar path; a reducer whose first batch is one
    takes that path too, any other leaves numpy unimported (~0.15 s of a fresh
    worker's first reduceByKey(add)) unless a frame comes later.
    """

    def __init__(self, prev: RDD, dep):
        super().__init__(prev.ctx, [dep], dep.partitioner.numPartitions, dep.partitioner)
        self.dep = dep
        self._unique_keys = dep.aggregator is not None      # combined: one record a key

    def user_functions(self) -> list:
        agg = self.dep.aggregator
        return [] if agg is None else [agg.create_combiner, agg.merge_value, agg.merge_combiners]

    def compute(self, split: int, task):
        agg = self.dep.aggregator
        if agg is None or not self.dep.map_side_combine:
            records = itertools.chain.from_iterable(
                read_batches(task.fetch_shuffle(self.dep, split)))
            if agg is None:
                return records
            return ExternalMap(agg, task.memory_budget, task.spill_dir).insert_values(records).items()
        batches = read_batches(task.fetch_shuffle(self.dep, split), True)
        first = next(batches, None)
        if first is None:
            return iter(())
        batches = itertools.chain([first], batches)
        op = columnar_op(self.dep)
        if op is not None and type(first) is bytes:    # numeric reduceByKey: Arrow frames, kernels
            from minibig.shuffle.arrowpath import combine_columnar   # numpy: only here
            return combine_columnar(batches, op, agg, task.memory_budget, task.spill_dir)
        return ExternalMap(agg, task.memory_budget, task.spill_dir).insert_batches(batches).items()
