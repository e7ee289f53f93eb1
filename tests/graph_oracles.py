"""networkx oracles for graph results: the same checks run in-process now and on a cluster later.

Every `check_*` takes a result as `{vertex id: value}` (what the built-ins
return; an RDD's `collectAsMap()` on a cluster) and the networkx graph of the
same edges, and fails with the first vertex that differs.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter

import networkx as nx

DATASETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "graphs")
# name -> loaded undirected? (as each file's header says)
SHIPPED_GRAPHS = {"karate": True, "lesmis": True, "roget": False, "wormnet": True}


def nx_from_file(path: str, directed: bool = True) -> nx.Graph:
    """The networkx graph of a `src dst [weight]` file (int ids), last duplicate's weight kept."""
    G = nx.DiGraph() if directed else nx.Graph()
    with open(path) as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            weight = float(fields[2]) if len(fields) > 2 else 1.0
            G.add_edge(int(fields[0]), int(fields[1]), weight=weight)
    return G


def nx_from_edges(edges, directed: bool = True) -> nx.Graph:
    """The networkx graph of (src, dst[, weight]) tuples."""
    G = nx.DiGraph() if directed else nx.Graph()
    for e in edges:
        G.add_edge(e[0], e[1], weight=float(e[2]) if len(e) > 2 else 1.0)
    return G


def edges_of(G: nx.Graph, weighted: bool = False) -> list[tuple]:
    """G's edges as tuples for `Graph.from_edges` (load with directed=G.is_directed())."""
    if weighted:
        return [(u, v, d.get("weight", 1.0)) for u, v, d in G.edges(data=True)]
    return list(G.edges())


def random_edges(seed: int, n: int, m: int, *, self_loops: bool = True, string_ids: bool = False,
                 weighted: bool = False, dangling: int = 0) -> list[tuple]:
    """m random edges over n vertices (with repeats), the last `dangling` vertices only as targets."""
    rng = random.Random(seed)
    edges = []
    for _ in range(m):
        u = rng.randrange(n - dangling)
        v = rng.randrange(n)
        if u == v and not self_loops:
            continue
        edge = (f"v{u}", f"v{v}") if string_ids else (u, v)
        edges.append(edge + (rng.randint(1, 9),) if weighted else edge)
    return edges


def check_pagerank(ranks: dict, G: nx.Graph, rel: float = 1e-4, **nx_options) -> None:
    """|r - s| <= rel * |s| for every vertex, s = networkx.pagerank at tol 1e-12."""
    nx_options.setdefault("weight", None)
    expected = nx.pagerank(G, tol=1e-12, max_iter=10_000, **nx_options)
    assert set(ranks) == set(expected), "vertex sets differ"
    for v, s in expected.items():
        assert abs(ranks[v] - s) <= rel * abs(s), f"vertex {v!r}: rank {ranks[v]} vs networkx {s}"
    assert math.isclose(sum(ranks.values()), 1.0, rel_tol=1e-9)


def check_components(labels: dict, G: nx.Graph) -> None:
    """Labels cut the vertices exactly into the weakly connected components, each labelled by its smallest id."""
    components = nx.weakly_connected_components(G) if G.is_directed() else nx.connected_components(G)
    expected = {v: min(c) for c in components for v in c}
    assert set(labels) == set(expected), "vertex sets differ"
    for v, label in expected.items():
        assert labels[v] == label, f"vertex {v!r}: label {labels[v]!r}, expected {label!r}"


def check_distances(dist: dict, G: nx.Graph, source, weighted: bool) -> None:
    """Exact shortest-path distances from `source` (inf where unreachable)."""
    if weighted:
        expected = nx.single_source_dijkstra_path_length(G, source, weight="weight")
    else:
        expected = nx.single_source_shortest_path_length(G, source)
    assert set(dist) == set(G), "vertex sets differ"
    for v in G:
        assert dist[v] == expected.get(v, math.inf), f"vertex {v!r}: {dist[v]} vs {expected.get(v, math.inf)}"


def reference_label_propagation(G: nx.Graph, iterations: int) -> dict:
    """Graphalytics CDLP, written plainly: most frequent label of in- and out-neighbours, smallest on ties."""
    labels = {v: v for v in G}
    for _ in range(iterations):
        new = {}
        for v in G:
            if G.is_directed():
                seen = [labels[u] for u in G.predecessors(v)] + [labels[u] for u in G.successors(v)]
            else:
                seen = [labels[u] for u in G.neighbors(v)] * 2   # stored both ways: each neighbour twice
            if not seen:
                new[v] = labels[v]
                continue
            counts = Counter(seen)
            top = max(counts.values())
            new[v] = min(label for label, c in counts.items() if c == top)
        labels = new
    return labels


def check_label_propagation(labels: dict, G: nx.Graph, iterations: int) -> None:
    """Labels equal the plain reference after `iterations` rounds."""
    expected = reference_label_propagation(G, iterations)
    for v, label in expected.items():
        assert labels[v] == label, f"vertex {v!r}: label {labels[v]!r}, reference {label!r}"


def check_triangles(counts: dict, G: nx.Graph) -> None:
    """networkx.triangles of the undirected simple graph underneath."""
    U = nx.Graph(G.to_undirected() if G.is_directed() else G)
    U.remove_edges_from(nx.selfloop_edges(U))
    expected = nx.triangles(U)
    for v, t in expected.items():
        assert counts[v] == t, f"vertex {v!r}: {counts[v]} triangles, networkx {t}"


def reference_lcc(G: nx.Graph) -> dict:
    """Graphalytics LCC: edges among the in+out neighbours of v / (d (d - 1))."""
    D = G if G.is_directed() else G.to_directed()
    out = {}
    for v in D:
        nbrs = (set(D.predecessors(v)) | set(D.successors(v))) - {v}
        d = len(nbrs)
        links = sum(1 for u in nbrs for w in D.successors(u) if w in nbrs and w != u)
        out[v] = links / (d * (d - 1)) if d > 1 else 0.0
    return out


def check_lcc(lcc: dict, G: nx.Graph) -> None:
    """Graphalytics LCC (networkx.clustering for undirected graphs, checked too)."""
    expected = reference_lcc(G)
    if not G.is_directed():
        U = nx.Graph(G)
        U.remove_edges_from(nx.selfloop_edges(U))
        clustering = nx.clustering(U)
        for v in U:
            assert math.isclose(expected[v], clustering[v], abs_tol=1e-12)
    for v, c in expected.items():
        assert math.isclose(lcc[v], c, abs_tol=1e-12), f"vertex {v!r}: {lcc[v]} vs {c}"
