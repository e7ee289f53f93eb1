"""The general pair path's faster forms give the answers of the forms they replace.

`join` is a hash join (`minibig.rdd.cogroup.JoinedRDD`): the right side's
values in a table, the left side streamed through it. Its answer, key types
included, must be the cogroup's (`cogroup(...).flatMapValues(product)`,
the general path, still there for the outer joins) and plain Python's:
duplicate keys on either side, keys equal across types (1, 1.0, True;
0.0 and -0.0), str keys whose salted hash differs between the workers, a
NaN value, a table over the task's budget (handed to a spilling cogroup),
a self-join, and a join of co-partitioned datasets, which is narrow.
"""

from __future__ import annotations

import collections
import enum
import gc
import io
import itertools
import math
import operator
import random

import pytest

from minibig import Context
from minibig.core.dependency import OneToOneDependency, ShuffleDependency
from minibig.core.stages import BATCH, RDD_YOUNG_THRESHOLD, _with_young_threshold
from minibig.rdd.cogroup import JoinedRDD, _hash_table
from minibig.rdd.pairs import ResultIterable
from minibig.shuffle.reader import read_batches
from minibig.shuffle.writer import dump_batch, flat_records


def oracle_join(left, right) -> list:
    """Every (k, (v, w)) with k == k2, k named as the first equal key of `left` names it."""
    first_key: dict = {}
    for key, _ in left:
        first_key.setdefault(key, key)
    by_key: dict = {}
    for key, w in right:
        by_key.setdefault(key, []).append(w)
    return [(first_key[k], (v, w)) for k, v in left for w in by_key.get(k, ())]


def typed(records) -> list:
    """Records as comparable text with every type shown (1 and 1.0 and True differ)."""
    def show(x):
        if isinstance(x, tuple):
            return "(" + ", ".join(show(i) for i in x) + ")"
        return f"{type(x).__name__}:{x!r}"
    return sorted(show(r) for r in records)


def general_join(left, right):
    """The join as a cogroup and a product: the general path."""
    return left.cogroup(right).flatMapValues(lambda vw: itertools.product(vw[0], vw[1]))


def mixed_records(rng: random.Random, n: int) -> list:
    keys = [1, 1.0, True, 2, 0.0, -0.0, "a", "é", "spark", ("t", 1), None, 7, 8, 9]
    values = [1, 2.5, -0.0, math.nan, "x", (1, 2), None, False]
    return [(rng.choice(keys), rng.choice(values)) for _ in range(n)]


def test_join_matches_plain_python_and_the_cogroup(sc):
    rng = random.Random(14)
    left, right = mixed_records(rng, 300), mixed_records(rng, 200)
    x, y = sc.parallelize(left, 3), sc.parallelize(right, 2)
    joined = x.join(y)
    assert isinstance(joined, JoinedRDD)
    got = joined.collect()
    assert typed(got) == typed(oracle_join(left, right))
    assert typed(got) == typed(general_join(x, y).collect())


def test_str_keys_meet_across_workers_whatever_their_salted_hash(sc):
    """Each worker salts str hashes its own way; the shuffle hashes portably, so every
    word's records meet in one task and join."""
    words = [f"w{i}" for i in range(500)]
    left = [(w, i) for i, w in enumerate(words)]
    right = [(w, -i) for i, w in enumerate(words) if i % 3] + [("w1", 0.5)]
    got = sc.parallelize(left, 4).join(sc.parallelize(right, 3), 5).collect()
    assert typed(got) == typed(oracle_join(left, right))


def test_a_self_join_reads_its_dataset_once(sc):
    pairs = [(i % 5, i) for i in range(40)]
    rdd = sc.parallelize(pairs, 3)
    joined = rdd.join(rdd)
    assert len(joined.deps) == 1
    assert typed(joined.collect()) == typed(oracle_join(pairs, pairs))


def test_a_join_of_co_partitioned_datasets_is_narrow(sc):
    """PageRank's join: the cached groupByKey links and a reduceByKey(add).mapValues of the
    ranks share a partitioner, so the join reads both in place: no shuffle of either."""
    edges = [(f"p{i % 50}", f"p{(i * 7) % 50}") for i in range(400)]
    links = sc.parallelize(edges, 4).distinct().groupByKey().cache()
    ranks = (links.flatMap(lambda kv: [(d, 1.0) for d in kv[1]]).reduceByKey(operator.add)
             .mapValues(lambda total: 0.15 + 0.85 * total))
    joined = links.join(ranks)
    assert all(isinstance(d, OneToOneDependency) for d in joined.deps)
    assert joined.partitioner == links.partitioner
    expected = {}
    for src, dst in set(edges):
        expected.setdefault(src, set()).add(dst)
    sums: dict = {}
    for dsts in expected.values():
        for d in dsts:
            sums[d] = sums.get(d, -0.0) + 1.0
    oracle = [(k, (sorted(expected[k]), 0.15 + 0.85 * s)) for k, s in sums.items() if k in expected]
    got = [(k, (sorted(v), w)) for k, (v, w) in joined.collect()]
    assert sorted(got) == sorted(oracle)
    # Into the links' partitions, an unpartitioned right side is shuffled, the left read in place.
    other = sc.parallelize([(k, 1) for k in expected], 3)
    mixed = links.join(other, links.getNumPartitions())
    assert [type(d) for d in mixed.deps] == [OneToOneDependency, ShuffleDependency]
    assert sorted(k for k, _ in mixed.collect()) == sorted(expected)


def test_a_table_over_its_budget_is_handed_to_a_spilling_cogroup():
    """In one process with a 1 MiB budget: the right side's 40 000 records cannot be
    held, so the join goes on as a cogroup that spills; the answer does not change."""
    rng = random.Random(7)
    # Key 1 comes first as 1.0 on the left and as True on the right: the left's names it.
    left = [(1.0, "float one")] + [(rng.randrange(3000), i) for i in range(6000)]
    right = [(True, "bool one")] + [(i % 2500, -i) for i in range(40_000)]
    with Context(master="inline", worker_memory=1 << 20, progress=False) as ctx:
        got = ctx.parallelize(left, 2).join(ctx.parallelize(right, 2), 2).collect()
    want = oracle_join(left, right)
    assert len(got) == len(want)
    assert typed(got) == typed(want)


def test_hash_table_stops_at_its_limit_and_leaves_the_rest():
    records = iter([(i % 10, i) for i in range(5000)])
    first, more, over = _hash_table(records, 4096)
    assert over
    held = len(first) + sum(map(len, more.values()))
    assert 0 < held < 5000 and len(list(records)) == 5000 - held
    first, more, over = _hash_table(iter([(1, "a"), (2, "b"), (1, "c"), (1, "d")]), 1 << 30)
    assert not over and first == {1: "a", 2: "b"} and more == {1: ["c", "d"]}


def _young_threshold(_):
    return gc.get_threshold()[0]


def test_tasks_run_with_the_young_threshold_raised(sc):
    """A task keeps most of what it allocates (tables, combines, cached partitions), so it
    runs with the collector's young threshold raised; the process's own comes back after."""
    assert min(sc.parallelize(range(4), 2).map(_young_threshold).collect()) >= RDD_YOUNG_THRESHOLD
    pairs = sc.parallelize([(i % 3, i) for i in range(30)], 2)
    assert set(pairs.reduceByKey(operator.add).map(_young_threshold).collect()) == {
        RDD_YOUNG_THRESHOLD}
    before = gc.get_threshold()
    with Context(master="inline", progress=False) as ctx:
        assert ctx.parallelize(range(4), 2).map(_young_threshold).collect() == [
            max(before[0], RDD_YOUNG_THRESHOLD)] * 4
    assert gc.get_threshold() == before


def test_distinct_keeps_the_first_copy_of_each_record_like_the_general_fold(sc):
    """distinct folds with dict.update ("distinct": every value None); the general fold
    (reduceByKey keeping the first value) keeps the same record objects."""
    rng = random.Random(3)
    records = [rng.choice([True, 1, 1.0, 2.0, 2, "a", "é", ("t", 1), None, -0.0, 0.0, 0])
               for _ in range(400)]
    rdd = sc.parallelize(records, 4)
    got = rdd.distinct(3).collect()
    general = rdd.map(lambda x: (x, None)).reduceByKey(lambda a, _: a, 3).keys().collect()
    first: dict = {}
    for r in records:
        first.setdefault(r, r)
    assert typed(got) == typed(general) == typed(first)


def test_group_by_key_appends_inline_like_combine_by_key(sc):
    """groupByKey's "group" fold appends values inline; combineByKey with the same
    functions runs them one call per value: same groups, same order, same types."""
    rng = random.Random(5)
    pairs = [(rng.choice([1, 1.0, True, "k", 2, ("t", 2)]), rng.choice([1, 2.5, "v", None]))
             for _ in range(500)]
    rdd = sc.parallelize(pairs, 4)
    got = rdd.groupByKey(3).collect()
    general = rdd.combineByKey(lambda v: [v], lambda a, v: a + [v], lambda a, b: a + b, 3).collect()
    assert all(type(values) is ResultIterable for _, values in got)
    assert typed((k, tuple(v)) for k, v in got) == typed((k, tuple(v)) for k, v in general)
    oracle: dict = {}
    for k, v in pairs:
        oracle.setdefault(k, []).append(v)
    assert typed((k, tuple(v)) for k, v in got) == typed((k, tuple(v)) for k, v in oracle.items())


class SideError(Exception):
    """A user function's own exception type."""


def _raise_on_seven(kv):
    if kv[0] == 7:
        raise SideError(f"bad record {kv!r}")
    return kv


def test_a_user_error_on_either_side_of_a_join_keeps_its_type(sc):
    good = sc.parallelize([(i, i) for i in range(20)], 2)
    bad = sc.parallelize([(i, -i) for i in range(20)], 2).map(_raise_on_seven)
    for joined in (good.join(bad), bad.join(good)):        # the hashed side, the streamed side
        with pytest.raises(SideError, match=r"bad record \(7, -7\)"):
            joined.collect()


FLAT = [("a", 1), ("é", -0.0), ("b", math.nan), (2 ** 80, b"x"), (None, True), (1.5, 3j),
        (), (False, None, "three")]
ATOMS = ["atom", 7, -0.0, None, b"", 2 ** 70, True]
class Level(enum.IntEnum):
    """An int subclass: not flat."""

    LOW = 1


Point = collections.namedtuple("Point", "x y")
# Not flat: a list, a bytearray, a nested tuple, a frozenset value (stdlib types, which
# the workers can unpickle), then subclasses of flat types (this module's).
NOT_FLAT = [("a", [1]), ("b", bytearray(b"x")), (("a",), 1), ("c", frozenset({1}))]
SUBCLASSES = [(Level.LOW, 1), (Point(1, 2), 3), ("d", Level.LOW)]


def test_a_batch_of_flat_records_travels_as_marshal_with_its_types():
    for batch, flat in ((FLAT, True), (ATOMS, True), (NOT_FLAT, False), (SUBCLASSES, False),
                        (FLAT + ATOMS, False)):
        assert flat_records(batch) is flat
        out = io.BytesIO()
        dump_batch(batch, out)
        [back] = list(read_batches([out.getvalue()]))
        assert typed(back) == typed(batch)
        assert [type(r) for r in back] == [type(r) for r in batch]


def test_a_shuffle_keeps_every_record_and_type_flat_or_not(sc):
    pairs = [r for r in FLAT if len(r) == 2] * 50 + NOT_FLAT * 5
    got = sc.parallelize(pairs, 3).partitionBy(4).collect()
    assert typed(got) == typed(pairs)
    grouped = sc.parallelize(pairs, 3).groupByKey(2).mapValues(list).collect()
    oracle: dict = {}
    for k, v in pairs:
        oracle.setdefault(k, []).append(v)
    assert typed((k, tuple(v)) for k, v in grouped) == typed((k, tuple(v)) for k, v in oracle.items())



def test_a_collect_raises_the_threshold_per_batch_never_across_a_yield():
    """A collect's records are computed a batch at a time with the threshold raised; a
    generator dropped half-way (a failure while sending them) holds nothing to put back,
    whenever it is finalized."""
    before = gc.get_threshold()
    seen = []

    def records():
        for r in range(5000):
            seen.append(gc.get_threshold()[0])
            yield r
    batches = _with_young_threshold(records())
    assert next(batches) == list(range(BATCH))
    assert min(seen) >= RDD_YOUNG_THRESHOLD and gc.get_threshold() == before
    del batches
    assert gc.get_threshold() == before
