"""A join whose left side is a cached block of groups read afresh (`CopiedPairs`) makes
the lists of the keys the table has only, and gives what the general probe gives.

PageRank's shape: after the first iteration the ranks lack every page without in-links
(41% of the Debian graph's), whose lists the probe then never makes. The answer, its
types (`ResultIterable`), its order and the freshness of each list must not change.
"""

from __future__ import annotations

import pickle
from operator import add

from minibig.core.cache import CopiedLists, CopiedPairs
from minibig.rdd.cogroup import _probe
from minibig.rdd.pairs import ResultIterable

GROUPS = [("libc6", ResultIterable(["zlib1g", "perl-base"])), ("perl-base", ResultIterable(["libc6"])),
          ("leaf", ResultIterable(["libc6", "libc6"])), ("other", ResultIterable([]))]


def _typed(pairs) -> list:
    return [(key, type(lists), list(lists), rank) for key, (lists, rank) in pairs]


def test_the_probe_of_a_cached_read_is_the_general_probes():
    table = {"libc6": 0.5, "perl-base": 1.5, "other": None}       # no "leaf"
    block = CopiedLists.of(GROUPS)
    read = iter(block)
    assert type(read) is CopiedPairs
    got = list(_probe(read, dict(table), {}, True))
    assert _typed(got) == _typed(_probe(list(block), dict(table), {}, True))
    assert _typed(got) == [("libc6", ResultIterable, ["zlib1g", "perl-base"], 0.5),
                           ("perl-base", ResultIterable, ["libc6"], 1.5),
                           ("other", ResultIterable, [], None)]
    got[0][1][0].append("spoiled")                                 # a list of its own
    assert _typed(_probe(iter(block), dict(table), {}, True))[0][2] == ["zlib1g", "perl-base"]


def test_a_join_of_cached_groups_with_a_side_lacking_keys_is_plain_pythons(sc):
    edges = [(f"p{i % 40}", f"p{(i * 7) % 50 + 20}") for i in range(300)]   # p0-p19 unreached
    links = sc.parallelize(edges, 3).distinct().groupByKey(2).cache()
    # Co-partitioned with the links (read in place), and only the pages some edge reaches.
    ranks = sc.parallelize([(dst, 1.0) for _, dst in edges], 2).reduceByKey(add, 2)
    got = links.join(ranks).mapValues(lambda pair: (type(pair[0]), sorted(pair[0]), pair[1]))
    expected: dict = {}
    for src, dst in set(edges):
        expected.setdefault(src, set()).add(dst)
    weights: dict = {}
    for _, dst in edges:
        weights[dst] = weights.get(dst, 0.0) + 1.0
    assert sorted(got.collect()) == sorted(
        (src, (ResultIterable, sorted(dsts), weights[src]))
        for src, dsts in expected.items() if src in weights)
    assert links.join(ranks).getNumPartitions() == 2 and len(expected) > len(
        [src for src in expected if src in weights])              # some keys are missing
    links.unpersist()


def test_a_cached_read_pickles_as_the_zip_it_reads_as():
    read = iter(CopiedLists.of(GROUPS))
    next(read)
    again = pickle.loads(pickle.dumps(read))
    assert type(again) is zip and _typed((k, (v, 0)) for k, v in again) == _typed(
        (k, (v, 0)) for k, v in GROUPS[1:])
