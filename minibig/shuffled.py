"""ShuffledRDD: the reduce side of a shuffle, the first dataset of a new stage."""

from __future__ import annotations

import itertools

from minibig.rdd import RDD
from minibig.shuffle.reader import read_batches
from minibig.shuffle.writer import combine_values, merge_combiners


class ShuffledRDD(RDD):
    """Partition i holds the records every map task sent to reducer i.

    With an aggregator the records are merged by key here: combiners from the
    map-side combine are merged with `merge_combiners`; raw values (no map-side
    combine, as in groupByKey) are folded with `create_combiner`/`merge_value`.
    """

    def __init__(self, prev: RDD, dep):
        super().__init__(prev.ctx, [dep], dep.partitioner.numPartitions, dep.partitioner)
        self.dep = dep

    def user_functions(self) -> list:
        agg = self.dep.aggregator
        return [] if agg is None else [agg.create_combiner, agg.merge_value, agg.merge_combiners]

    def compute(self, split: int, task):
        batches = read_batches(task.fetch_shuffle(self.dep, split))
        agg = self.dep.aggregator
        if agg is None:
            return itertools.chain.from_iterable(batches)
        if self.dep.map_side_combine:
            return iter(merge_combiners(batches, agg).items())
        return iter(combine_values(itertools.chain.from_iterable(batches), agg).items())
