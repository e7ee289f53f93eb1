"""RDD PageRank's path: cached groups read as fresh lists; the join's probe; the whole job.

A cached partition of `(key, list of immutables)` records (groupByKey's
output, PageRank's links) or of such lists is kept as tuples and each read
makes its lists afresh (`minibig.core.cache.CopiedLists`): what a read gives
must equal what unpickling gave, types included (`ResultIterable`, NaN,
-0.0; a list subclass that pickle rebuilds otherwise stays pickled), and no
task may change what another reads, even two reads in one task. The join's probe (`minibig.rdd.cogroup._probe`) names each key by
the first equal key of its left side, however many records come before.
The whole job is checked against the job's own plain-Python algorithm,
also on a cluster whose workers salt str hashes differently.
"""

from __future__ import annotations

import math
import os
import sys

import cloudpickle
import pytest

from minibig import Context
from minibig.core.cache import BlockStore, CopiedLists, dumps_records, loads_records
from minibig.core.memory import MemoryPool
from minibig.core.storagelevel import StorageLevel
from minibig.rdd.cogroup import _probe
from minibig.rdd.pairs import ResultIterable

from support import REPO, cleanup, start_master, start_worker

sys.path.insert(0, os.path.join(REPO, "jobs"))
import pagerank as pagerank_job  # noqa: E402

# The workers cannot import jobs/: the job's functions travel by value.
cloudpickle.register_pickle_by_value(pagerank_job)

MiB = 1 << 20


def typed(records) -> list:
    """Records as text with every type shown (1, 1.0 and True differ; so do 0.0 and -0.0)."""
    def show(x):
        if isinstance(x, (tuple, list)):
            return f"{type(x).__name__}(" + ", ".join(show(i) for i in x) + ")"
        return f"{type(x).__name__}:{x!r}"
    return [show(r) for r in records]


# -- cached groups ----------------------------------------------------------------------

GROUPS = [("a", ResultIterable([1, 2.5, math.nan])), (2, ResultIterable([-0.0, "x", (1, b"y")])),
          (("t", 1), ResultIterable()), (None, ResultIterable([None, True]))]


class Tagged(list):
    """A list subclass whose instances may carry attributes."""


class Slotted(list):
    """A list subclass with a slot: what it holds there a copy would lose."""

    __slots__ = ("note",)


class Bare(list):
    """A list subclass that can hold nothing but its items."""

    __slots__ = ()


class ReducedToTuple(list):
    """A list subclass that pickle rebuilds as a tuple."""

    def __reduce__(self):
        return tuple, (tuple(self),)


class Doubling(list):
    """A list subclass whose extend (which unpickling fills it with) doubles the items."""

    def extend(self, items):
        super().extend(2 * x for x in items)


class Rebuilding:
    """A mixin after list in the MRO, whose __reduce_ex__ pickle finds before object's."""

    def __reduce_ex__(self, protocol):
        return ReducedToTuple, (list(self) + ["from __reduce_ex__"],)


class Mixed(list, Rebuilding):
    """A list subclass defining nothing itself, rebuilt by its mixin."""


@pytest.mark.parametrize("records", [GROUPS, [v for _, v in GROUPS], [[1, "a"], [], [-0.0]]])
def test_copied_lists_read_as_unpickled_records_do(records):
    block = CopiedLists.of(records)
    assert block is not None
    for _ in range(2):
        assert typed(block) == typed(loads_records(dumps_records(records)))
    first, second = list(block), list(block)
    lists = [r[1] if isinstance(r, tuple) else r for r in first]
    again = [r[1] if isinstance(r, tuple) else r for r in second]
    assert all(a is not b for a, b in zip(lists, again))            # fresh lists each read
    assert all(a is not b for a, b in zip(lists, [r[1] if isinstance(r, tuple) else r
                                                   for r in records]))


class Name(str):
    """A str subclass: equal to its plain str, yet another type."""


def _apart(*strings) -> ResultIterable:
    """The strings, each a new object, as a shuffle gives them (one per occurrence)."""
    return ResultIterable(s.encode().decode() for s in strings)


@pytest.mark.parametrize("records", [
    [("libc6", _apart("zlib1g", "perl-base")), ("perl-base", _apart("libc6", "zlib1g", "libc6"))],
    [_apart("zlib1g", "perl-base"), _apart("perl-base", "zlib1g", "zlib1g")],
    [(1, _apart("zlib1g")), (2.5, _apart("zlib1g", "zlib1g"))],        # keys not str
])
def test_a_block_of_str_lists_shares_one_object_a_value(records):
    block = CopiedLists.of(records)
    read = list(block)
    assert typed(read) == typed(records) == typed(loads_records(dumps_records(records)))
    lists = [r[1] if type(r) is tuple else r for r in read]
    items = [item for items in lists for item in items]
    assert len({id(item) for item in items}) == len(set(items)) < len(items)
    keys = [r[0] for r in read if type(r) is tuple]
    if keys and all(type(k) is str for k in keys):                # keys share them too
        assert all(k is item for k in keys for item in items if item == k)
    lists[0].append("spoiled")                                    # a read's own lists
    lists[1].clear()
    assert typed(block) == typed(records)


def test_equal_items_of_other_types_are_never_taken_for_one_another():
    numbers = [("a", ResultIterable(["x1", "x1"])), ("b", ResultIterable([1, 1.0, True, "1"]))]
    assert typed(CopiedLists.of(numbers)) == typed(numbers)
    names = [("a", ResultIterable(["x1", Name("x1")]))]
    block = CopiedLists.of(names)
    assert block is None or typed(block) == typed(names)          # kept pickled: not atoms


def test_copied_lists_refuse_what_a_copy_would_change():
    tagged = Tagged([1])
    tagged.note = "kept by pickle, lost by a copy"
    for records in ([("a", [[1]])],                  # a mutable item
                    [([1], [2])],                    # a mutable key
                    [("a", [1]), ("b", ResultIterable([2]))],   # two kinds of list
                    [("a", tagged)],                 # an attribute
                    [("a", [1], 2)],                 # not a pair
                    [("a", [1]), ["b", [2]]],        # a pair that is a list
                    [("a", (1,))], [],               # no list: nothing to copy
                    [("a", Slotted([1]))]):          # a slot
        assert CopiedLists.of(records) is None, records
    for kind in (Tagged, Bare):                      # without attributes
        dumps_records([kind([1])])                   # (copyreg caches its __slotnames__)
        block = CopiedLists.of([("a", kind([1]))])
        assert [(k, type(v), v) for k, v in block] == [("a", kind, [1])]


@pytest.mark.parametrize("kind", [ReducedToTuple, Doubling, Mixed])
def test_a_list_subclass_that_pickle_rebuilds_otherwise_is_kept_pickled(tmp_path, kind):
    store = BlockStore(str(tmp_path), MemoryPool(10 * MiB))
    pairs = [("a", kind([1, 2])), ("b", kind([3]))]
    for split, records in enumerate((pairs, [v for _, v in pairs])):
        unpickled = typed(loads_records(dumps_records(records)))
        assert unpickled != typed(records)
        assert store.put(f"d/rdd1_{split}", records, StorageLevel.MEMORY_ONLY)
        assert typed(store.get(f"d/rdd1_{split}")) == unpickled
        assert CopiedLists.of(records) is None


def test_copied_lists_evicted_to_disk_read_back_equal(tmp_path):
    store = BlockStore(str(tmp_path), MemoryPool(10 * MiB))
    groups = [(f"k{i}", ResultIterable([f"v{i}-{j}" for j in range(40)])) for i in range(800)]
    assert store.put("d/rdd1_0", groups, StorageLevel.MEMORY_AND_DISK)
    assert isinstance(store.memory["d/rdd1_0"][0], CopiedLists)
    filler = [bytes([i % 256]) * 1000 for i in range(9000)]
    assert store.put("d/rdd2_0", filler, StorageLevel.MEMORY_ONLY)         # evicts rdd1_0
    assert "d/rdd1_0" not in store.memory and "d/rdd1_0" in store.on_disk
    assert typed(store.get("d/rdd1_0")) == typed(groups)


def _append_and_clear(pair):
    key, values = pair
    values.append("mutated")
    values.clear()
    return key


def _same_list_object(pair):
    (_, mine), (_, other) = pair
    mine.append("mine only")
    return mine is other or "mine only" in other


def test_a_cached_group_by_key_read_twice_and_mutated_stays_as_computed(sc):
    pairs = [(f"k{i % 7}", i) for i in range(70)] + [("nan", math.nan), ("zero", -0.0)]
    grouped = sc.parallelize(pairs, 3).groupByKey(2).cache()
    first = {k: sorted(v, key=repr) for k, v in grouped.collect()}
    assert grouped.map(_append_and_clear).count() == 9
    assert not any(grouped.zip(grouped).map(_same_list_object).collect())   # two reads, one task
    again = grouped.collect()
    assert {type(v) for _, v in again} == {ResultIterable}
    assert typed(sorted((k, sorted(v, key=repr)) for k, v in again)) == typed(sorted(first.items()))
    assert math.copysign(1.0, dict(again)["zero"][0]) == -1.0
    grouped.unpersist()


# -- the join's probe -------------------------------------------------------------------

def oracle_probe(left, table):
    first_key: dict = {}
    for key, _ in left:
        first_key.setdefault(key, key)
    return [(first_key[k], (v, table[k])) for k, v in left if k in table]


def test_many_plain_keys_then_mixed_ones_are_named_as_the_left_side_first_did():
    n = 10_000
    left = [(i % 500, i) for i in range(n)] + [(f"s{i % 50}", i) for i in range(n)]
    # After many str and int keys: 1.0 and True equal 1, seen first as int 1; -0.0 equals 0.
    left += [(1.0, "float"), (True, "bool"), (-0.0, "negative zero"), (b"b", 0), ("s3", 1)]
    table = {i: -i for i in range(0, 600, 2)} | {f"s{i}": i for i in range(0, 50, 3)}
    table |= {b"b": "bytes", 0.0: "zero", 1: "one"}
    got = list(_probe(iter(left), table, {}))
    assert typed(got) == typed(oracle_probe(left, table))
    assert ("1", "int") in {(repr(k), type(k).__name__) for k, (v, _) in got if v == "float"}


def test_mixed_keys_from_the_start_are_named_by_the_first_seen():
    left = [(1.0, "float"), (1, "int"), (-0.0, "a"), (0.0, "b"), (math.nan, "nan")]
    table = {True: "bool", 0: "zero"}
    got = list(_probe(iter(left), table, {}))
    assert typed(got) == typed(oracle_probe(left, table))


def test_records_that_are_not_pairs_fail_as_before():
    with pytest.raises(ValueError, match="too many values to unpack"):
        list(_probe(iter([("a", 1, 2)]), {"a": 0}, {}))
    assert list(_probe(iter([["a", 1]]), {"a": 0}, {})) == [("a", (1, 0))]


# -- the whole job against plain Python -------------------------------------------------

EDGES = [(f"p{i % 97}", f"p{(i * 31 + i // 97) % 113}") for i in range(3000)] + [("p1", "p1")] * 3


@pytest.fixture
def edge_file(tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("# src dst\n" + "".join(f"{s} {d}\n" for s, d in EDGES))
    return str(path)


def _cached_in_lineage(rdd) -> list:
    """The persisted datasets that `rdd` reads, itself included."""
    seen, stack, cached = set(), [rdd], []
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            cached += [node] if node.is_cached else []
            stack.extend(dep.rdd for dep in node.deps)
    return cached


def _check_against_the_baseline(ctx, path: str, iterations: int, capsys):
    """jobs/pagerank.py's RDD job against its own plain-Python baseline (6 decimals); the
    links it cached are unpersisted after (`ctx` may be the session's)."""
    ranks = pagerank_job.pagerank(ctx, path, iterations)
    try:
        got = dict(ranks.collect())
    finally:
        cached = _cached_in_lineage(ranks)
        for rdd in cached:
            rdd.unpersist()
    assert len(cached) == 1                     # the links
    capsys.readouterr()
    pagerank_job.baseline([path, "--iterations", str(iterations), "--top", str(len(got) + 1)])
    want = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert got.keys() == want.keys()
    assert all(abs(got[k] - float(want[k])) <= 1e-6 for k in want)


def test_pagerank_matches_its_dict_baseline(sc, edge_file, capsys):
    _check_against_the_baseline(sc, edge_file, 8, capsys)


def test_pagerank_on_workers_that_salt_str_hashes_differently(edge_file, capsys):
    master, url = start_master()
    procs = [master] + [start_worker(url, PYTHONHASHSEED=seed) for seed in "12"]
    try:
        with Context(master=url, progress=False) as ctx:
            ctx._backend.wait_for_workers(2, timeout=60)
            _check_against_the_baseline(ctx, edge_file, 5, capsys)
    finally:
        cleanup(procs)
