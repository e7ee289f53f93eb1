"""distinct().groupByKey() of (str, str) pairs (PageRank's links) grouped in one pass
(`minibig.rdd.shuffled.StrPairGroups`), on batches the map side marked `StrPairs`.

The answer must be the general path's to the object types and the order: each reducer's
keys as they first came, each key's distinct values as they first came with it, the
values a `ResultIterable`, every read a fresh list; a batch of other records (a str
subclass, an int) hands what is held over to the general path; past the budget too,
which then spills. Checked against plain Python on a real 2-worker cluster (a worker
killed in the reduce stage: tests/test_plan_distinct.py).
"""

from __future__ import annotations

import json
import os
import random

import numpy
import pytest

from minibig import Context, StorageLevel
from minibig.rdd.pairs import ResultIterable
from minibig.rdd.shuffled import DistinctCombinedRDD
from minibig.shuffle.hashing import portable_hash


# A str subclass every process can import: equal to its str, hashed as it, not an exact str.
Name = numpy.str_


def edges(seed: int = 5, count: int = 4000) -> list:
    """(src, dst) str pairs with copies within and across partitions."""
    rng = random.Random(seed)
    pairs = [(f"p{rng.randrange(300)}", f"p{rng.randrange(300)}") for _ in range(count)]
    return pairs + pairs[:700]


def per_partition(records, n: int) -> list:
    """Plain Python: each reducer's groups in the general path's order, as (key, type,
    values, the values' types)."""
    parts: list = [{} for _ in range(n)]
    for key, value in dict.fromkeys(records):
        parts[portable_hash(key) % n].setdefault(key, []).append(value)
    return [[(key, type(key), ResultIterable, values, [type(v) for v in values])
             for key, values in part.items()] for part in parts]


def typed(parts) -> list:
    return [[(key, type(key), type(values), list(values), [type(v) for v in values])
             for key, values in part] for part in parts]


def unordered(parts) -> list:
    return [sorted((key, kind, values_kind, sorted(values), sorted(map(str, types)))
                   for key, kind, values_kind, values, types in part) for part in parts]


def test_str_pairs_are_grouped_in_one_pass_with_the_general_paths_answer(sc):
    records = edges()
    groups = sc.parallelize(records, 4).distinct().groupByKey(3)
    assert type(groups) is DistinctCombinedRDD and groups.dep.str_pair_batches
    assert typed(groups.glom().collect()) == per_partition(records, 3)
    # Each reducer read its groups as a block's fresh read, not a combine's dict.
    assert groups.mapPartitions(lambda it: [type(it).__name__]).collect() == ["CopiedPairs"] * 3


@pytest.mark.parametrize("odd", [("p7", Name("p1")), (Name("p2"), "p9"), ("p3", 4), ("p5",)])
def test_a_batch_of_other_records_hands_over_to_the_general_path(sc, odd):
    """One partition holds a record that is not an exact (str, str) pair: its map output
    goes out as plain lists; the reducer hands what it holds over to the general fold, and
    the answer keeps the subclass, the int, or fails as the aggregation fails on a 1-tuple."""
    records = edges(seed=6, count=1500)
    records.insert(1400, odd)
    groups = sc.parallelize(records, 3).distinct().groupByKey(2)
    if len(odd) != 2:
        with pytest.raises(ValueError):
            groups.collect()
        return
    assert typed(groups.glom().collect()) == per_partition(records, 2)
    assert "DictItems" in groups.mapPartitions(lambda it: [type(it).__name__]).collect()


@pytest.mark.parametrize("level", [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_AND_DISK_DESER,
                                   StorageLevel.DISK_ONLY])
def test_cached_links_are_kept_and_every_read_makes_fresh_lists(sc, level):
    records = edges(seed=8, count=2000)
    links = sc.parallelize(records, 2).distinct().groupByKey(2).persist(level)
    expected = per_partition(records, 2)

    def spoil(pair):
        pair[1].append("spoiled")
        return len(pair[1])
    assert sum(links.map(spoil).collect()) == sum(len(v) + 1 for p in expected for *_, v, _ in p)
    if level is not StorageLevel.MEMORY_AND_DISK_DESER:   # deserialized: shared, as Spark's
        assert typed(links.glom().collect()) == expected
        assert typed(links.glom().collect()) == expected
    links.unpersist()


def test_past_the_budget_the_groups_go_to_the_general_path_which_spills(tmp_path):
    """20000 distinct pairs of long strs outgrow half of a 1 MiB budget: the groups held
    go to the general path's folds, which spill (the path of `StrPairs` never does), with
    the same groups."""
    rng = random.Random(11)
    records = [(f"page-{rng.randrange(900):04d}" * 3, f"dep-{i:05d}" * 3) for i in range(20000)]
    folder = str(tmp_path / "log")
    with Context(workers=1, worker_memory=1 << 20, event_log=folder, speculation=False,
                 appName="links-budget") as ctx:
        got = ctx.parallelize(records, 2).distinct().groupByKey(2).glom().collect()
    # Spilled, the general path gives its groups and values in the order of their hashes.
    assert unordered(typed(got)) == unordered(per_partition(records, 2))
    (log,) = [os.path.join(folder, name) for name in os.listdir(folder)]
    with open(log) as f:
        ends = [e for e in map(json.loads, f) if e.get("event") == "task_end"]
    reducers = [e["spill_bytes"] for e in ends if e["stage"] == max(e["stage"] for e in ends)]
    assert len(reducers) == 2 and all(spilled > 0 for spilled in reducers)



def test_batches_a_map_task_spilled_as_str_pairs_before_another_record_came(tmp_path):
    """One map task past its writer's budget: its first chunks, all (str, str) pairs, go
    to a run as `StrPairs`; an int value near the end turns the rest into plain batches.
    Each reducer (not spilling: a quarter of the records) groups the marked batches, hands
    them over at the first plain one, and gives the general path's answer in its order."""
    rng = random.Random(13)
    records = [(f"page-{rng.randrange(3000):05d}", f"dep-{i:06d}") for i in range(30000)]
    records.insert(len(records) - 50, ("page-00001", 7))
    folder = str(tmp_path / "log")
    with Context(workers=1, worker_memory=4 << 20, event_log=folder, speculation=False,
                 appName="links-mixed") as ctx:
        got = ctx.parallelize(records, 1).distinct().groupByKey(4).glom().collect()
    assert typed(got) == per_partition(records, 4)
    (log,) = [os.path.join(folder, name) for name in os.listdir(folder)]
    with open(log) as f:
        ends = [e for e in map(json.loads, f) if e.get("event") == "task_end"]
    last = max(e["stage"] for e in ends)
    assert [e["spill_bytes"] > 0 for e in ends] == [True] + [False] * 4     # the map task's run
    assert all(e["stage"] == last for e in ends[1:])
