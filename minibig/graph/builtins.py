"""The built-in algorithms on a `Graph`: {vertex id: value} dicts under the user's ids.

Each function builds its vectorised program (`algorithms.py`), runs it, and
names the results by original vertex id. The cluster phase will return the
same pairs as an RDD of `(vertex, value)`.
"""

from __future__ import annotations

import math

import numpy as np

from minibig.graph.algorithms import (ConnectedComponents, LabelPropagation, LocalClustering, PageRank,
                                      ShortestPaths, Triangles)


def pagerank(g, damping: float = 0.85, max_iter: int = 100, tol: float = 1e-6, personalization: dict | None = None,
             weight: bool = False, **options) -> dict:
    """PageRank as networkx.pagerank defines it (weighted only when `weight=True`)."""
    personal = None
    if personalization is not None:
        personal = _personal_vector(g, personalization)
    program = PageRank(g.num_vertices, damping, max_iter, tol, weighted=weight, personal=personal)
    return g.values(g.run(program, **options), program)


def personalized_pagerank(g, personalization: dict, **kwargs) -> dict:
    """PageRank restarting at `personalization` (networkx's `personalization=`)."""
    return pagerank(g, personalization=personalization, **kwargs)


def _personal_vector(g, personalization: dict):
    keys = list(personalization)
    weights = np.array([personalization[k] for k in keys], dtype=np.float64)
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("personalization weights must be non-negative and not all zero")
    return g.index.to_dense(keys), weights / weights.sum()


def connected_components(g, **options) -> dict:
    """Weakly connected components: each vertex's label is the smallest vertex id of its component."""
    program = ConnectedComponents()
    labels = g.values(g.run(program, **options), program)
    ids = g.index.ids
    return {v: (int(ids[label]) if g.index.is_int else ids[label]) for v, label in labels.items()}


def sssp(g, source, weight: bool = True, **options) -> dict:
    """Shortest-path distance from `source` (edge weights when the graph has them, else 1); inf if unreachable."""
    program = ShortestPaths(g.dense(source), weighted=weight and g.weighted)
    return g.values(g.run(program, **options), program)


def bfs(g, source, **options) -> dict:
    """Hop count from `source` along out-edges (int), inf when unreachable."""
    program = ShortestPaths(g.dense(source), weighted=False)
    depths = g.values(g.run(program, **options), program)
    return {v: (int(d) if d != math.inf else math.inf) for v, d in depths.items()}


def label_propagation(g, iterations: int = 10, **options) -> dict:
    """Graphalytics community detection by label propagation; labels are vertex ids."""
    program = LabelPropagation(iterations)
    labels = g.values(g.run(program, **options), program)
    return {v: g.index.original(label) for v, label in labels.items()}


def triangle_count(g, **options) -> dict:
    """Triangles through each vertex of the undirected simple graph underneath."""
    program = Triangles()
    return g.values(g.run(program, **options), program)


def local_clustering_coefficient(g, **options) -> dict:
    """Graphalytics local clustering coefficient of each vertex."""
    program = LocalClustering()
    return g.values(g.run(program, **options), program)
