"""The built-in algorithms on a `Graph`: `(vertex id, value)` pairs under the user's ids.

Each function builds its vectorised program (`algorithms.py`), runs it (on
the workers of the graph's `sc`), and names the results by original vertex
id. They come back as an RDD of `(vertex, value)` with as many partitions as
the graph; on a graph without `sc` (or with `engine="local"`), as a
`{vertex: value}` dict. Options (`engine`, `max_supersteps`,
`checkpoint_every`, ...) go to `Graph.run`.

Where a vertex's value is the program's output as it is (PageRank, SSSP,
triangles, clustering), the RDD's partitions are the run's outputs, one
`(ids, values)` pair of arrays per graph partition, turned into pairs where
the RDD is computed: the driver never makes a Python tuple per vertex.
"""

from __future__ import annotations

import math

import numpy as np

from minibig.graph.algorithms import (ConnectedComponents, LabelPropagation, LocalClustering, PageRank,
                                      ShortestPaths, Triangles)
from minibig.graph.errors import NegativeWeightError
from minibig.graph.graph import name_the_line, output_pairs


def pagerank(g, damping: float = 0.85, max_iter: int = 100, tol: float = 1e-6, personalization: dict | None = None,
             weight: bool = False, **options) -> dict:
    """PageRank as networkx.pagerank defines it (weighted only when `weight=True`)."""
    if g.num_vertices == 0:                  # networkx: the null graph has no ranks (and 1/N has no N)
        return _result(g, [], options)
    personal = None
    if personalization is not None:
        personal = _personal_vector(g, personalization)
    program = PageRank(g.num_vertices, damping, max_iter, tol, weighted=weight, personal=personal)
    return _outputs(g, program, options)


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
    labels = _pairs(g, program, options)
    ids = g.index.ids
    return _result(g, [(v, (int(ids[label]) if g.index.is_int else ids[label])) for v, label in labels], options)


def sssp(g, source, weight: bool = True, **options) -> dict:
    """Shortest-path distance from `source` (edge weights when the graph has them, else 1); inf if unreachable."""
    program = ShortestPaths(g.dense(source), weighted=weight and g.weighted)
    try:
        return _outputs(g, program, options)
    except NegativeWeightError as exc:
        name_the_line(g, exc)
        raise


def bfs(g, source, **options) -> dict:
    """Hop count from `source` along out-edges (int), inf when unreachable."""
    program = ShortestPaths(g.dense(source), weighted=False)
    depths = _pairs(g, program, options)
    return _result(g, [(v, (int(d) if d != math.inf else math.inf)) for v, d in depths], options)


def label_propagation(g, iterations: int = 10, **options) -> dict:
    """Graphalytics community detection by label propagation; labels are vertex ids."""
    program = LabelPropagation(iterations)
    labels = _pairs(g, program, options)
    return _result(g, [(v, g.index.original(label)) for v, label in labels], options)


def triangle_count(g, **options) -> dict:
    """Triangles through each vertex of the undirected simple graph underneath."""
    return _outputs(g, Triangles(), options)


def local_clustering_coefficient(g, **options) -> dict:
    """Graphalytics local clustering coefficient of each vertex."""
    return _outputs(g, LocalClustering(), options)


def _outputs(g, program, options: dict):
    """Run `program`; its outputs as they are, as an RDD of `(vertex, value)` made from the
    partitions' output arrays (see the module docstring), or a dict when run in this process."""
    run = g.run(program, **options)
    if _in_process(g, options):
        return g.values(run, program)
    return g.sc.parallelize(run.outputs, g.num_partitions).flatMap(output_pairs)


def _pairs(g, program, options: dict) -> list:
    """Run `program` with `options`; its `(vertex, value)` pairs."""
    return g.pairs(g.run(program, **options), program)


def _result(g, pairs: list, options: dict):
    """The pairs as an RDD on the graph's context, or as a dict when run in this process."""
    if _in_process(g, options):
        return dict(pairs)
    return g.sc.parallelize(pairs, g.num_partitions)


def _in_process(g, options: dict) -> bool:
    """True when the run is in this process (no `sc`, or `engine="local"`)."""
    return g.sc is None or options.get("engine") == "local"
