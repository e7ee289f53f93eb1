"""ShuffledRDD: the reduce side of a shuffle, the first dataset of a new stage."""

from __future__ import annotations

import itertools
import sys
from operator import itemgetter

from minibig.core.cache import CopiedLists, rebuilt_by_its_type, shared_strs
from minibig.core.dependency import ShuffleDependency
from minibig.core.task import task_memory
from minibig.rdd.base import DISTINCT, RDD
from minibig.shuffle.reader import read_batches
from minibig.shuffle.partitioners import columnar_op
from minibig.shuffle.sizing import SizeTracker, estimate
from minibig.shuffle.writer import StrPairs
from minibig.shuffle.spill import ExternalMap, effective_budget


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


class DistinctCombinedRDD(ShuffledRDD):
    """`source.distinct()` aggregated by key (groupByKey, reduceByKey, combineByKey, ...)
    in one shuffle by key instead of two (by record for distinct, then by key).

    Equal records have equal keys, so partitioning the records by key keeps every
    copy of a record in one reducer, which drops the copies (distinct's fold, by
    record) and then aggregates by key what is left: the records and the
    answer of distinct then the aggregation, any record type (a str "ab" is
    not the pair ("a", "b"), and both stay). Only the keys need a
    process-independent hash here (`portable_hash`), not the whole record, so a
    record whose value has none (an object hashing by its own __hash__) is
    taken, where distinct's own shuffle refuses it with TypeError: PySpark's
    distinct takes it too (checking every value's type for the refusal cost
    20 ms a task of 160k pairs). Map tasks drop the copies they see within half
    their budget (`_first_copies`), as distinct's map-side combine does, and write
    within the other half (`WRITER_SHARE`); each reducer's two folds share its
    budget. A record that is not a pair fails as the aggregation would fail on it.

    Used by `PairRDDFunctions._combine` when the distinct dataset's own shuffle would
    be work thrown away (`minibig.rdd.pairs._unshuffled_distinct`), decided when the
    aggregation is called. The distinct dataset is then not what the aggregation
    reads: any other use of it (a count, a join with the aggregation, a second
    aggregation) runs `source` again, as any dataset used twice without persist()
    runs its lineage twice, and with a nondeterministic source (sample, a random
    map) the two runs can disagree. Persist the distinct dataset (or the source)
    before aggregating it to share one run; one persisted only after the
    aggregation was made is not read by it.

    PageRank's links (`distinct().groupByKey()` of the Debian graph's 318k edges,
    2 workers): 1.05-1.23 s of CPU against 1.49-1.74 in two shuffles; the whole job
    2.3-2.6 against 2.9-3.2 s (old and new alternated, loaded machine). The same
    plan built from distinct's own shuffle partitioned by the records' keys (the
    writer's map-side combine, no plan of its own) cost the whole job 6-9% more
    CPU (2.74-2.86 s against 2.58-2.64, 4 rounds alternated, load ~1): each
    record's partition is then a Python call, not a batch of `hash_partitions`.
    """

    def __init__(self, source: RDD, partitioner, aggregator):
        firsts = source.mapPartitions(_first_copies)
        # The map task's writer within WRITER_SHARE of its budget (`_first_copies` holds the
        # rest); its batches marked where StrPairGroups may read them.
        kind = StrPairGroups.kind_of(aggregator)
        super().__init__(firsts, ShuffleDependency(
            firsts, partitioner, aggregator, writer_share=WRITER_SHARE,
            str_pair_batches=kind is not None))
        self.group_kind = kind            # StrPairGroups' list type, found once when planned

    def compute(self, split: int, task):
        # Each fold within half the budget; a record, or a key's combiner, may still take
        # the whole of it, as in distinct's and the aggregation's own reducers.
        whole = task.memory_budget
        half = whole and whole // 2
        # As written: a batch of `StrPairs` as it is (frames), any other as its list.
        batches = read_batches(task.fetch_shuffle(self.dep, split), True)
        distinct = ExternalMap(DISTINCT, half, task.spill_dir, entry_limit=whole)
        if self.dep.str_pair_batches:                  # groupByKey's: see StrPairGroups
            groups = StrPairGroups(self.group_kind, half)
            for batch in batches:
                if type(batch) is not StrPairs:
                    groups.hand_over(distinct)
                    _drop_copies(distinct, batch)
                    break
                groups.take(batch.records)
                if groups.over_budget():
                    groups.hand_over(distinct)
                    break
            else:
                return groups.block()
        for batch in batches:
            _drop_copies(distinct, batch.records if type(batch) is StrPairs else batch)
        # Never spilled: the dict's keys are the records, no pair made and taken apart.
        records = map(_first, distinct.items()) if distinct.runs else iter(distinct.map)
        combined = ExternalMap(self.dep.aggregator, half, task.spill_dir, entry_limit=whole)
        return combined.insert_values(records).items()


class StrPairGroups:
    """`DistinctCombinedRDD`'s reduce side for groupByKey (`Aggregator.op` "group") while
    every record is a (str, str) tuple (exact types: each batch a `StrPairs`, which the map
    side checked a chunk at a time, while the records were fresh in the cache): each
    key's distinct values in a dict of their own, in one pass, then the groups as a
    cached block's form (`minibig.core.cache.CopiedLists`: the keys, each group's values
    as a tuple, every str one object per value), which a persisted dataset keeps as it
    is and a read turns into the lists groupByKey makes (`create_combiner`'s type).

    The general path folds the records into distinct's dict of tuples, then into a list a
    key (a Python call per new key), which the cache then checks item by item and takes
    apart again; here equal records and keys meet once. The answer is the general path's,
    in its order: keys as they first came, each key's values as they first came with it,
    the first object of each (str objects shared, as the cache shares them). Held within
    `budget` (estimated as `ExternalMap` estimates its groups); past it, or at a batch of
    other records, what is held goes to the general path (`hand_over`), which spills.
    PageRank's links (Debian graph, 317k edges, both reduce tasks in one process, min of 24
    runs alternated with the general path): 0.47 -> 0.36 s of CPU; on a 2-worker cluster
    the links' four tasks 0.99-1.10 -> 0.89-1.00 s (15 runs each)."""

    def __init__(self, kind: type, budget: int | None):
        self.kind = kind
        self.groups: dict = {}
        self.budget = effective_budget(budget)
        self.tracker = SizeTracker(self.budget)

    @staticmethod
    def kind_of(aggregator) -> type | None:
        """The list type of groupByKey's combiners (`create_combiner`'s), or None where a
        `CopiedLists` read would not make what it makes: a list type rebuilt by its type,
        a new one holding the first value alone."""
        if aggregator.op != "group":
            return None
        made = aggregator.create_combiner("")
        kind = type(made)
        if (isinstance(made, list) and rebuilt_by_its_type(kind) and made == [""]
                and not (kind.__dictoffset__ and vars(made))):
            return kind
        return None

    def take(self, records: list) -> None:
        """Fold a batch of (str, str) tuples in."""
        groups = self.groups
        get = groups.get
        for key, value in records:
            group = get(key)
            if group is None:
                groups[key] = {value: None}
            else:
                group[value] = None
        if records:
            key = records[-1][0]
            self.tracker.sample(estimate(key) + estimate(groups[key]))

    def over_budget(self) -> bool:
        """Whether what is held is estimated past the budget."""
        return sys.getsizeof(self.groups) + len(self.groups) * self.tracker.mean >= self.budget

    def hand_over(self, distinct: ExternalMap) -> None:
        """Give what is held to distinct's fold of the general path, keys in their order."""
        records = ((key, value) for key, group in self.groups.items() for value in group)
        while chunk := list(itertools.islice(records, FIRSTS_CHUNK)):
            _drop_copies(distinct, chunk)
        self.groups.clear()

    def block(self):
        """A fresh read (`CopiedPairs`) of the groups as a `CopiedLists` block."""
        groups = self.groups
        if not groups:
            return iter(())
        return iter(CopiedLists(*shared_strs(list(groups), groups.values()), self.kind))


_first = itemgetter(0)
FIRSTS_CHUNK = 4096           # records a map task checks for copies at a time
WRITER_SHARE = 0.5            # of a map task's budget: its writer's; `_first_copies` the rest


def _drop_copies(seen: ExternalMap, records: list) -> None:
    """Fold a list of records into a map of distinct's (`DISTINCT`) as two lists, the
    records and as many None: no (record, None) pair made for each (160k records of the
    Debian graph: 24 -> 19 ms)."""
    seen.insert_columns(records, [None] * len(records))


def _first_copies(records):
    """The records less the copies met within half the task's memory budget (the
    writer holds the other half: `WRITER_SHARE`): the map side of
    `DistinctCombinedRDD`, whose reducers drop the copies left. Records pass in C-level
    chains of lists (`_checked`), not one by one through a generator. Every record is
    checked: a trial that let the rest pass unchecked once copies were rare (as Spark's
    partial aggregation gives up) belongs in write_shuffle's map-side combine, for every
    aggregation, not in this plan alone; without it 160k records of the Debian graph
    (1.6% of copies) take 27 ms against 7 (one process), the whole PageRank job's CPU
    2.46-2.74 s against 2.51-2.65 with the trial (3 rounds alternated: within noise)."""
    return itertools.chain.from_iterable(_checked(iter(records)))


def _checked(it):
    """`_first_copies`'s records as lists: the first copies that each spill of the map of
    those seen lets pass, then those it holds at the end."""
    budget, spill_dir = task_memory()
    passed: list = []                 # the lists of records let pass, not yet yielded

    def let_pass(seen: dict) -> None:
        passed.append(list(seen))
        seen.clear()
    share = budget and int(budget * (1 - WRITER_SHARE))
    seen = ExternalMap(DISTINCT, share, spill_dir, spill=let_pass, entry_limit=budget)
    while chunk := list(itertools.islice(it, FIRSTS_CHUNK)):
        _drop_copies(seen, chunk)
        while passed:           # handed on, not copied: the chain holds each list alone
            yield passed.pop(0)
    yield seen.map              # not changed again: the generator ends once it is read
