"""A join whose left side is a cached block of groups and whose table is small looks the
table's keys up in the block's positions (`CopiedLists.positions`, kept with the block)
instead of walking the block, and gives exactly what the walk gives.

PageRank's shape from its fifth iteration on: 6k ranked pages of the 28k a partition
caches. The pairs, their order (the block's), the key given out (the block's own object,
even where the table holds an equal key of another type), the types and the freshness
of each list must not change; keys whose equality is not plain take the walk.
"""

from __future__ import annotations

import math
import threading
import tracemalloc
from operator import add

from minibig.core.cache import POSITION_BYTES, BlockStore, CopiedLists, estimate_size
from minibig.core.memory import MemoryPool
from minibig.core.storagelevel import StorageLevel
from minibig.rdd.cogroup import SMALL_TABLE, _probe
from minibig.rdd.pairs import ResultIterable

NAN = float("nan")
KEYS = [f"page{i}" for i in range(60)] + [1, 2.5, b"raw", None, NAN, -0.0, 7]
GROUPS = [(key, ResultIterable([f"n{i}", f"n{i + 1}"][: i % 3])) for i, key in enumerate(KEYS)]


class Tagged(str):
    """A str subclass: equal to the plain str, yet its equality is the user's to define."""


def _typed(pairs) -> list:
    """Pairs with every type and identity that matters shown (1 and 1.0 and True differ)."""
    return [(type(key), repr(key), id(key), type(lists), list(lists), type(rank), repr(rank))
            for key, (lists, rank) in pairs]


def _walked(block, table) -> list:
    """The general probe's answer: the block read as plain pairs (not a `CopiedPairs`)."""
    return list(_probe(list(zip(block.keys, map(block.kind, block.items))), dict(table), {}, True))


def test_a_small_table_finds_what_the_walk_finds_in_the_blocks_order():
    block = CopiedLists.of(GROUPS)
    # Keys of the table equal to the block's but of other types, or other objects; a
    # NaN equal to none; in an order other than the block's.
    table = {7.0: "seven", "page40": 0.25, True: "one", b"raw": 3, None: "none", 0: "zero",
             "page4": 1.5, "absent": 9.0, float("nan"): "another nan", NAN: "the same nan"}
    assert len(table) * SMALL_TABLE < len(block.keys)
    got = list(_probe(iter(block), dict(table), {}, True))
    assert block._positions is not None                       # the positions were used
    assert _typed(got) == _typed(_walked(block, table))
    assert [key for key, _ in got] == [KEYS[4], KEYS[40], 1, b"raw", None, NAN, -0.0, 7]
    assert got[1][0] is KEYS[40] and got[5][0] is NAN          # the block's own key objects
    got[0][1][0].append("spoiled")                             # a list of its own
    again = list(_probe(iter(block), dict(table), {}, True))
    assert again[0][1][0] == ["n4"] and again[0][1][0] is not got[0][1][0]


def test_keys_without_plain_equality_take_the_walk():
    """A str subclass (or a tuple) in the table: its equality could be anything, so the
    block is walked; the answer is the general one."""
    block = CopiedLists.of(GROUPS)
    table = {Tagged("page5"): 0.5, "page9": 1.0}
    got = list(_probe(iter(block), dict(table), {}, True))
    assert block._positions is None
    assert _typed(got) == _typed(_walked(block, table)) and [k for k, _ in got] == ["page5", "page9"]


def test_a_block_with_equal_keys_has_no_positions_and_is_walked():
    groups = [(1, ResultIterable(["a"])), (1.0, ResultIterable(["b"]))] + [
        (f"k{i}", ResultIterable(["c"])) for i in range(20)]
    block = CopiedLists.of(groups)
    assert block.positions() is None
    table = {True: "t"}
    assert _typed(_probe(iter(block), dict(table), {}, True)) == _typed(_walked(block, table))


def test_a_big_table_walks_the_block():
    block = CopiedLists.of(GROUPS)
    table = dict.fromkeys([key for key, _ in GROUPS if isinstance(key, str)], 1.0)
    assert len(table) * SMALL_TABLE >= len(block.keys)
    assert _typed(_probe(iter(block), dict(table), {}, True)) == _typed(_walked(block, table))
    assert block._positions is None


def test_tasks_making_the_positions_at_once_agree():
    block = CopiedLists.of(GROUPS)
    barrier, made = threading.Barrier(4), []

    def make():
        barrier.wait(timeout=10)
        made.append(block.positions())
    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(made) == 4 and all(p == made[0] for p in made)
    assert all(block.keys[at] is key for key, at in made[0].items())


def test_a_cached_block_of_pairs_counts_its_positions(tmp_path):
    store = BlockStore(str(tmp_path), MemoryPool(64 << 20))
    assert store.put("d/rdd1_0", GROUPS, StorageLevel.MEMORY_ONLY)
    assert isinstance(store.memory["d/rdd1_0"][0], CopiedLists)
    assert store.memory["d/rdd1_0"][1] == estimate_size(GROUPS) + POSITION_BYTES * len(GROUPS)


def test_the_positions_counted_cover_what_they_hold():
    """The bytes a block is counted for its positions are at least what the dict holds once
    made: int keys (24-byte entries; a str-keyed dict's are 16) just past a resize, the worst."""
    for keys in (range(1000, 44691), [f"page{i}" for i in range(43_691)]):
        block = CopiedLists.of([(key, ResultIterable(["n"])) for key in keys])
        tracemalloc.start()
        try:
            block.positions()
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert held <= POSITION_BYTES * len(keys), (type(keys[0]), held / len(keys))


def test_an_iterated_join_of_cached_links_with_shrinking_ranks_is_plain_pythons(sc):
    """PageRank's loop on a small graph whose ranks come to lack most pages: the late
    iterations probe by positions; every iteration agrees with plain Python."""
    edges = sorted({(f"p{i % 120}", f"p{(i * 7) % 30}") for i in range(400)})  # p30-p119 unreached
    links = sc.parallelize(edges, 3).groupByKey(2).cache()
    out: dict = {}
    for src, dst in edges:
        out.setdefault(src, []).append(dst)
    ranks, expected = links.mapValues(lambda _: 1.0), dict.fromkeys(out, 1.0)
    for _ in range(4):
        contribs = links.join(ranks).flatMap(
            lambda page: ((dst, page[1][1] / len(page[1][0])) for dst in page[1][0]))
        ranks = contribs.reduceByKey(add).mapValues(lambda total: 0.15 + 0.85 * total)
        sums: dict = {}
        for page, rank in expected.items():
            for dst in out.get(page, ()):
                sums[dst] = sums.get(dst, 0.0) + rank / len(out[page])
        expected = {page: 0.15 + 0.85 * total for page, total in sums.items()}
        got = dict(ranks.collect())
        assert got.keys() == expected.keys() and all(
            math.isclose(got[p], expected[p], rel_tol=1e-12) for p in expected)
    assert len(expected) * SMALL_TABLE < len(out)             # the late tables are small
    links.unpersist()
