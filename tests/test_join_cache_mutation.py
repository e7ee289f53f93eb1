"""A join of cached groups hands the user's function its own lists: what it does to them
never reaches the cache, a later iteration or the other side.

PageRank's shape: `links` (groupByKey, cached) joined with ranks co-partitioned with it
(read in place, no shuffle), the join's value `(neighbours, rank)` with `neighbours` a
`ResultIterable`, as in PySpark. A user who appends to or empties `neighbours` in one
iteration must not change what the next iteration, or a collect, reads from the cache.
"""

from __future__ import annotations

from operator import add

import pytest

from minibig.rdd.pairs import ResultIterable

EDGES = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "a"), ("d", "a"), ("d", "c")]


def _links_of(edges) -> dict:
    links: dict = {}
    for src, dst in edges:
        links.setdefault(src, []).append(dst)
    return links


def _contributions_then_spoil(page):
    """Each neighbour's share, then the neighbours list appended to and emptied."""
    _, (neighbours, rank) = page
    assert type(neighbours) is ResultIterable, type(neighbours)
    shares = [(dst, rank / len(neighbours)) for dst in neighbours]
    neighbours.append("spoiled")
    neighbours.clear()
    return shares


def test_mutating_the_joined_neighbours_changes_no_later_read(sc):
    links = sc.parallelize(EDGES, 2).groupByKey(2).cache()
    ranks = links.mapValues(lambda _: 1.0)
    expected_links = _links_of(EDGES)
    expected_ranks = dict.fromkeys(expected_links, 1.0)
    for _ in range(3):
        ranks = (links.join(ranks).flatMap(_contributions_then_spoil).reduceByKey(add)
                 .mapValues(lambda total: 0.15 + 0.85 * total))
        sums: dict = {}
        for page, neighbours in expected_links.items():
            if page in expected_ranks:
                for dst in neighbours:
                    sums[dst] = sums.get(dst, 0.0) + expected_ranks[page] / len(neighbours)
        expected_ranks = {page: 0.15 + 0.85 * total for page, total in sums.items()}
        # Sums in another order than the engine's: equal to the last bits or nearly.
        assert dict(ranks.collect()) == pytest.approx(expected_ranks, rel=1e-12)
    read = dict(links.collect())
    assert {page: list(neighbours) for page, neighbours in read.items()} == expected_links
    assert {type(neighbours) for neighbours in read.values()} == {ResultIterable}
    links.unpersist()
