"""distinct() then an aggregation by key in one shuffle (`DistinctCombinedRDD`).

The plan partitions the records by key, drops the copies on both sides and
aggregates what is left: the answer must be distinct's then the
aggregation's, for every record type (a str "ab" unpacks as the pair
("a", "b") but is not equal to it, so both stay), and the plan is taken
only when the distinct dataset's own shuffle would be work thrown away
(not persisted, not marked for a checkpoint, its shuffle not run yet).
Checked against plain Python, in one shuffle less; within a 1 MiB budget
(both sides' folds spill); and with a worker killed in the reduce stage.
"""

from __future__ import annotations

import collections
import json
import operator
import os
import random
import signal
from pathlib import PurePosixPath

import pytest

import faults
from minibig import Context
from minibig.rdd.pairs import ResultIterable
from minibig.rdd.shuffled import DistinctCombinedRDD, ShuffledRDD, _first_copies
from minibig.shuffle.sizing import estimate

Pair = collections.namedtuple("Pair", "key value")


def records_with_copies(seed: int = 3, count: int = 3000) -> list:
    """Pairs repeated across partitions, a str that unpacks as a pair, a namedtuple equal
    to a plain pair (one of the two is a copy), keys of mixed types."""
    rng = random.Random(seed)
    pairs = [(rng.choice(["a", "b", 7, 2.5, ("t", 1)]), rng.randrange(40)) for _ in range(count)]
    return pairs + ["ab", ("a", "b"), "ab", Pair("a", 3), ("a", 3)] + pairs[:500]


def grouped(records) -> dict:
    """Plain Python: the distinct records, then each key's values."""
    groups: dict = {}
    for key, value in dict.fromkeys(records):
        groups.setdefault(key, []).append(value)
    return groups


def as_multisets(groups) -> dict:
    return {key: collections.Counter(values) for key, values in groups}


def test_distinct_then_group_by_key_is_one_shuffle_with_the_same_groups(sc):
    records = records_with_copies()
    distinct = sc.parallelize(records, 4).distinct()
    groups = distinct.groupByKey()
    assert type(groups) is DistinctCombinedRDD
    got = groups.collect()
    assert sc.lastJob.stages == 2                 # the general plan: three
    assert all(type(values) is ResultIterable for _, values in got)
    assert len(got) == len(grouped(records))
    assert as_multisets(got) == as_multisets(grouped(records).items())
    # The str "ab" and the pair ("a", "b") are two records: both give "b" to "a".
    assert as_multisets(got)["a"]["b"] == 2
    assert groups.partitioner == distinct.partitionBy(4).partitioner


def test_reduce_and_combine_by_key_of_distinct_records(sc):
    records = [(i % 17, i % 5) for i in range(2000)] + [(k, 100) for k in range(17)] * 3
    distinct = sc.parallelize(records, 3).distinct(5)
    want: dict = collections.defaultdict(int)
    for key, value in set(records):
        want[key] += value
    summed = distinct.reduceByKey(operator.add)
    assert type(summed) is DistinctCombinedRDD and summed.getNumPartitions() == 5
    assert dict(summed.collect()) == want
    counted = distinct.combineByKey(lambda v: 1, lambda n, v: n + 1, operator.add, 2)
    assert dict(counted.collect()) == collections.Counter(k for k, _ in set(records))


@pytest.mark.parametrize("how", ["persisted", "checkpointed", "computed"])
def test_a_distinct_dataset_already_paid_for_is_read(sc, tmp_path, how):
    """Persisted, marked for a checkpoint, or its shuffle run: the aggregation reads it
    (its own shuffle), with the same answer."""
    records = records_with_copies(seed=5, count=400)
    distinct = sc.parallelize(records, 3).distinct()
    if how == "persisted":
        distinct.cache()
    elif how == "checkpointed":
        sc.setCheckpointDir(str(tmp_path))
        distinct.checkpoint()
    else:
        assert distinct.count() == len(set(records))
    groups = distinct.groupByKey()
    assert type(groups) is ShuffledRDD
    assert as_multisets(groups.collect()) == as_multisets(grouped(records).items())
    distinct.unpersist()


def test_records_that_are_not_pairs_fail_as_the_general_plan_does(sc):
    distinct = sc.parallelize([1, 2, 2, 3], 2).distinct()
    with pytest.raises(TypeError):
        distinct.groupByKey().collect()
    with pytest.raises(TypeError):
        distinct.cache().groupByKey().collect()
    distinct.unpersist()


def test_values_without_a_portable_hash_are_grouped_where_distincts_shuffle_refuses(sc):
    """Partitioned by key, only the keys need a process-independent hash: equal records
    meet in one reducer, whose dict holds them by their own hash. distinct's own shuffle
    hashes whole records and refuses such a value (a path: its hash is its str's, salted
    per process)."""
    records = [(f"k{i % 5}", PurePosixPath(f"t{i % 3}")) for i in range(60)]
    distinct = sc.parallelize(records, 3).distinct()
    got = {key: sorted(map(str, paths)) for key, paths in distinct.groupByKey(2).collect()}
    assert got == {key: sorted(map(str, paths)) for key, paths in grouped(records).items()}
    assert all(type(path) is PurePosixPath for _, paths in distinct.groupByKey(2).collect()
               for path in paths)
    with pytest.raises(TypeError, match="process-independent hash"):
        distinct.cache().groupByKey(2).collect()
    distinct.unpersist()


def test_a_distinct_dataset_does_not_ship_its_source():
    """Its source is a plan's choice in the driver: a stage reading the distinct records
    must not carry the lineage behind their shuffle."""
    with Context(master="inline", progress=False) as ctx:
        distinct = ctx.parallelize(range(10), 2).distinct()
        assert distinct._distinct_of is not None
        assert "_distinct_of" not in distinct.__getstate__()


def test_both_sides_drop_copies_within_a_small_budget(tmp_path):
    """1 MiB: the map side lets its firsts pass as it goes and both of the reducer's
    folds spill (its tasks' spilled bytes, from the event log); no copy is left."""
    rng = random.Random(11)
    records = [(rng.randrange(3000), rng.randrange(60)) for _ in range(120_000)]
    folder = str(tmp_path / "log")
    with Context(workers=1, worker_memory=1 << 20, event_log=folder, speculation=False,
                 appName="plan-spill") as ctx:
        got = ctx.parallelize(records, 2).distinct().groupByKey(3).collect()
    assert as_multisets(got) == as_multisets(grouped(records).items())
    assert all(len(set(values)) == len(values) for _, values in got)
    (log,) = [os.path.join(folder, name) for name in os.listdir(folder)]
    with open(log) as f:
        ends = [e for e in map(json.loads, f) if e.get("event") == "task_end"]
    assert [e["stage"] for e in ends].count(1) == 3
    assert all(e["spill_bytes"] > 0 for e in ends if e["stage"] == 1)


def test_a_group_over_half_the_budget_is_as_welcome_as_in_the_general_plan():
    """Each of the reducer's folds holds half the budget, but one key's group may fill the
    whole of it, as groupByKey's own reducer allows (0.7 of 1 MiB: it raised
    MemoryBudgetError)."""
    hot = 18_000
    records = [("hot", i) for i in range(hot)] + [(i, -i) for i in range(3000)] * 2
    assert (1 << 19) < estimate("hot") + estimate(ResultIterable(range(hot))) < (1 << 20)
    with Context(master="inline", worker_memory=1 << 20, progress=False) as ctx:
        got = ctx.parallelize(records, 2).distinct().groupByKey(1).collect()
    assert as_multisets(got) == as_multisets(grouped(records).items())


def test_the_map_side_drops_every_copy_it_holds_however_rare():
    """Copies rare among many fresh records are still dropped by the map task (it checks
    every record), and the answer is distinct's then the aggregation's."""
    fresh = [(i % 5000, i) for i in range(21_000)]
    records = fresh[:1000] + [(1, 1)] * 50 + fresh[1000:] + fresh[:3000]
    assert list(_first_copies(records)) == fresh
    with Context(master="inline", progress=False) as ctx:
        got = ctx.parallelize(records, 1).distinct().groupByKey(2).collect()
    assert sum(map(len, (values for _, values in got))) == len(fresh)
    assert as_multisets(got) == as_multisets(grouped(records).items())


def test_the_map_sides_first_copies_and_writer_share_one_budget(tmp_path):
    """A map task's first copies (half its budget) and its shuffle writer hold memory at
    once: the writer takes only the other half, so 6000 fresh pairs, which the writer alone
    holds within 1 MiB, spill it (it held a whole budget beside the first copies' half)."""
    records = [(i, i) for i in range(6000)]
    folder = str(tmp_path / "log")
    with Context(workers=1, worker_memory=1 << 20, event_log=folder, speculation=False,
                 appName="plan-share") as ctx:
        got = ctx.parallelize(records, 1).distinct().groupByKey(2).collect()
        plain = ctx.parallelize(records, 1).partitionBy(2).count()
    assert plain == len(records)
    assert as_multisets(got) == as_multisets(grouped(records).items())
    (log,) = [os.path.join(folder, name) for name in os.listdir(folder)]
    with open(log) as f:
        ends = [e for e in map(json.loads, f) if e.get("event") == "task_end"]
    maps = [e["spill_bytes"] for e in ends if e["stage"] == 0]
    alone = [e["spill_bytes"] for e in ends if e["stage"] == 2]
    assert maps and maps[0] > 0
    assert alone == [0]


def test_a_distinct_dataset_persisted_before_its_aggregation_feeds_both_sides(sc):
    """The plan reads the distinct dataset's source, not the dataset: another use of it
    runs the source again, which a nondeterministic source answers differently. Persisted
    before the aggregation is made, both sides of a join read the same records."""
    src = sc.parallelize(range(400), 4).map(lambda i: (i % 20, random.random()))
    distinct = src.distinct().cache()
    groups = distinct.groupByKey()
    assert type(groups) is ShuffledRDD
    joined = distinct.join(groups).collect()
    assert len(joined) == 400
    assert all(value in list(group) for _, (value, group) in joined)
    distinct.unpersist()


@pytest.mark.parametrize("str_pairs", [False, True])
def test_a_worker_killed_in_the_reduce_stage_costs_time_not_the_answer(tmp_path, str_pairs):
    """Mixed records (the general fold), or (str, str) pairs grouped in one pass and kept
    cached (`StrPairGroups`, PageRank's links): the lost partitions are grouped again
    elsewhere, from lineage, and a later read of the cache agrees."""
    rng = random.Random(12)
    records = ([(f"p{rng.randrange(300)}", f"p{rng.randrange(300)}") for _ in range(3000)]
               if str_pairs else records_with_copies(seed=9, count=2000))
    release = str(tmp_path / "go")

    def after_shuffle(group):
        faults.announce_and_wait(str(tmp_path), "reduce", release)
        return group
    with Context(workers=3, worker_timeout=3.0, fetch_timeout=3.0, appName="plan-kill") as ctx:
        groups = ctx.parallelize(records, 6).distinct().groupByKey(6)
        assert type(groups) is DistinctCombinedRDD and groups.dep.str_pair_batches
        if str_pairs:
            groups.cache()
        join = faults.run_in_thread(lambda: groups.map(after_shuffle).collect())
        victim = faults.wait_for_marker(str(tmp_path), "reduce")[0]
        os.kill(victim, signal.SIGKILL)
        faults.touch(release)
        got = join()
        again = groups.collect()
    assert as_multisets(got) == as_multisets(grouped(records).items()) == as_multisets(again)
