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

An inner join of two different datasets (`JoinedRDD`) is a hash join: the
right side's values go into a table by key, and the left side streams
through it, one output pair per match, with no group (a tuple of two lists)
per key. A key's pairs come in the order `product(left values, right
values)` as after a cogroup; pairs of different keys come in the left's
record order. A table that outgrows half the task's memory budget stays
while the left side goes into a cogroup's `ExternalMap` within the other
half (which spills; one key's group may still fill the whole budget), then
moves into it with the rest of the right side: the join continues as a
cogroup, its groups named by the left's keys as a cogroup's are.

A side read in place from a dataset whose partitions hold each key once
(`RDD._unique_keys`: an aggregation's output, and what keeps its keys, such
as PageRank's cached links and its ranks) needs no check for repeated keys:
the right side goes into the table with `dict.update`, one dict operation a
record instead of three, and the left side is probed without tracking the
first of its equal keys, which is then each record's own key. A left side
read straight from a cached block of groups (`minibig.core.cache.CopiedPairs`)
has a key's list made afresh only when the table has the key (PageRank's
pages without in-links: the iterations' CPU -6..-21%, alternated in one process); a
table of under a third of the block's keys is looked up in the block's positions, kept
with the block, instead of walking the block (`_probe_positions`), the pairs still in the
block's order.
"""

from __future__ import annotations

import itertools
import sys
from operator import itemgetter

from minibig.core.cache import CopiedPairs
from minibig.core.dependency import Aggregator, OneToOneDependency, Partitioner, ShuffleDependency
from minibig.rdd.pairs import ResultIterable
from minibig.rdd.base import RDD
from minibig.shuffle.hashing import portable_hash
from minibig.shuffle.partitioners import shuffle_partition_count
from minibig.shuffle.reader import read_batches
from minibig.shuffle.sizing import SizeTracker, estimate
from minibig.shuffle.spill import ExternalMap, effective_budget

_MISSING = object()
_first = itemgetter(0)
SMALL_TABLE = 3                 # a table this many times smaller than a cached block probes it
_PLAIN_KEYS = frozenset({str, int, float, bool, bytes, type(None)})
_LIST_BYTES = estimate([None])          # a key's list of later values, besides the values


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
    return Partitioner(shuffle_partition_count(numPartitions, rdds), portable_hash)


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
        self._unique_keys = True                   # one group a key

    @staticmethod
    def _each_key_once(dep) -> bool:
        """Whether every partition `dep` gives holds each key once: read in place from
        such a dataset (a shuffle brings a key from several map tasks)."""
        return isinstance(dep, OneToOneDependency) and dep.rdd._unique_keys

    def _records(self, dep, split: int, task):
        if isinstance(dep, ShuffleDependency):
            return itertools.chain.from_iterable(read_batches(task.fetch_shuffle(dep, split)))
        return dep.rdd.iterator(split, task)

    def compute(self, split: int, task):
        groups = _groups(task, task.memory_budget)
        width = len(self.sides)
        for index, dep in enumerate(self.deps):
            sides = tuple(side for side, d in enumerate(self.sides) if d == index)
            groups.insert_sides(self._records(dep, split, task), sides, width, ResultIterable)
        return groups.items()


class JoinedRDD(CoGroupedRDD):
    """(key, (v, w)) for every v of key in `left` and w of key in `right`: a hash join
    (see the module's docstring); a self-join is a cogroup, whose one read feeds both sides."""

    def __init__(self, left, right, partitioner: Partitioner):
        super().__init__([left, right], partitioner)
        self._unique_keys = False                  # a key's pairs: one per match

    def compute(self, split: int, task):
        if len(self.deps) == 1:
            return _pairs_of_groups(super().compute(split, task))
        left_dep, right_dep = self.deps
        right = iter(self._records(right_dep, split, task))
        # The table and the cogroup that takes it over share the budget: the table
        # stays while the cogroup's map takes the left side first (so that a group is
        # named by the left's key, as in a cogroup), then the table and the rest.
        budget = effective_budget(task.memory_budget)
        first, more, over_budget = _hash_table(right, budget // 2, self._each_key_once(right_dep))
        if over_budget:                                # the cogroup spills
            groups = _groups(task, budget // 2, entry_limit=budget)
            groups.insert_sides(self._records(left_dep, split, task), (0,), 2, ResultIterable)
            groups.insert_sides(itertools.chain(_drain(first, more), right), (1,), 2,
                                ResultIterable)
            return _pairs_of_groups(groups.items())
        return _probe(self._records(left_dep, split, task), first, more,
                      self._each_key_once(left_dep))


def _groups(task, budget: int | None, entry_limit: int | None = None) -> ExternalMap:
    """An empty cogroup map within `budget`, one group up to `entry_limit` (the budget if None);
    only merge is called through its aggregator (merging spilled groups): the values go
    straight into their side's list (`insert_sides`)."""
    def merge(group, other):
        for mine, theirs in zip(group, other):
            mine.extend(theirs)
        return group
    return ExternalMap(Aggregator(None, None, merge), budget, task.spill_dir,
                       entry_limit=entry_limit)


def _pairs_of_groups(groups):
    """(key, (v, w)) for every v and w of each (key, (vs, ws)) group."""
    for key, (vs, ws) in groups:
        for pair in itertools.product(vs, ws):
            yield key, pair


def _hash_table(records, limit: int, unique: bool = False):
    """({key: first value}, {key: [later values]}, over the limit) of (key, value) records.

    A chunk of records with new and distinct keys goes in with C-level dict
    operations; any other chunk key by key; with `unique` (no two records have
    equal keys) every chunk goes in with `dict.update` alone. Past `limit` bytes
    it stops with True, and `records` holds the rest.
    """
    first: dict = {}
    more: dict = {}
    tracker = SizeTracker(limit)
    taken = 0
    while True:
        chunk = list(itertools.islice(records, tracker.chunk))
        if not chunk:
            return first, more, False
        taken += len(chunk)
        if unique:
            first.update(chunk)
        elif len(fresh := dict(chunk)) == len(chunk) and first.keys().isdisjoint(fresh):
            # isdisjoint walks its argument: the chunk, not the table.
            first.update(fresh)
        else:
            for key, value in chunk:
                if key in first:
                    more.setdefault(key, []).append(value)
                else:
                    first[key] = value
        key, value = chunk[-1]
        tracker.sample(estimate(key) + estimate(value))
        size = (sys.getsizeof(first) + sys.getsizeof(more) + int(taken * tracker.mean)
                + len(more) * _LIST_BYTES)
        if size >= limit:
            return first, more, True
        tracker.next_chunk(size, len(chunk))


def _drain(first: dict, more: dict):
    """The table's records, each key's values in their order (its first value, then the
    later ones), dropped from the table as they are given; keys in any order, which a
    cogroup does not depend on."""
    while first:
        key, value = first.popitem()
        yield key, value
        yield from ((key, later) for later in more.pop(key, ()))


def _probe(records, first: dict, more: dict, unique: bool = False):
    """(key, (v, w)) for each (key, v) of `records` and each w of key in the table.

    The key given out is the first of the records' keys equal to it, as a
    cogroup's group keeps (1 and 1.0 are one key; the first one seen names it):
    with `unique` (no two records have equal keys), the record's own.
    """
    get = first.get
    if unique and not more and type(records) is CopiedPairs:
        # A cached block read afresh: a key's list is made only when the table has the key.
        block, missing = records.block, _MISSING
        kind = block.kind
        if len(first) * SMALL_TABLE < len(block.keys) and set(map(type, first)) <= _PLAIN_KEYS:
            positions = block.positions()
            if positions is not None:
                yield from _probe_positions(block, positions, first)
                return
        for key, items in zip(block.keys, block.items):
            found = get(key, missing)
            if found is not missing:
                yield key, (kind(items), found)
        return
    if unique and not more:                        # each key is its own first
        for key, value in records:
            found = get(key, _MISSING)
            if found is not _MISSING:
                yield key, (value, found)
        return
    canonical = {}
    same = canonical.setdefault
    if not more:                                   # one value per key: a look-up per record
        for key, value in records:
            found = get(key, _MISSING)
            if found is not _MISSING:
                yield same(key, key), (value, found)
        return
    for key, value in records:
        found = get(key, _MISSING)
        if found is not _MISSING:
            key = same(key, key)
            yield key, (value, found)
            for later in more.get(key, ()):
                yield key, (value, later)


def _probe_positions(block, positions: dict, first: dict):
    """`_probe` of a cached block of groups by a table of at most a third of its keys (PageRank's
    ranks, once its pages without in-links are dropped): the table's keys looked up in the
    block's positions (`CopiedLists.positions`, kept with the block), then the pairs made in
    the block's order, as walking the block makes them, without walking it (the Debian
    graph's 28k pages a partition against a table of 6k: 6.0 -> 4.4 ms a probe). The key
    given out is the block's own. Only for keys of `_PLAIN_KEYS` types, whose equality is
    transitive and agrees with their hash, so a table key equals one block key at most and
    finds the same one the walk would."""
    kind, keys, items = block.kind, block.keys, block.items
    found = [(at, value) for at, value in zip(map(positions.get, first), first.values())
             if at is not None]
    found.sort(key=_first)
    for at, value in found:
        yield keys[at], (kind(items[at]), value)
