"""PageRank, connected components and SSSP written as per-vertex programs.

They teach the two per-vertex APIs and are tested against networkx like the
vectorised built-ins (`algorithms.py`), which are what `pagerank()` and the
other functions run. Pregel versions first, then GAS versions.

* `PregelPageRank`: networkx's definition, with the dangling mass and the L1
  change as sum aggregators and the stopping rule in `master_compute`.
* `PregelComponents`: weakly connected components by HashMin; superstep 0
  tells every out-neighbour "I link to you" so that vertices learn their
  in-neighbours (Pregel vertices only know their out-edges).
* `PregelShortestPaths`: SSSP with a `min` combiner.
* `GASPageRank` (no dangling-mass term: for graphs where every vertex has an
  out-edge, e.g. undirected ones), `GASComponents`, `GASShortestPaths`.
"""

from __future__ import annotations

import math

from minibig.graph.aggregators import Sum
from minibig.graph.gas import GASProgram
from minibig.graph.pregel import VertexProgram


class PregelPageRank(VertexProgram):
    """networkx.pagerank (unweighted), one vertex at a time."""

    aggregators = {"dangling": Sum(0.0), "change": Sum(0.0)}

    def __init__(self, damping: float = 0.85, max_iter: int = 100, tol: float = 1e-6):
        self.damping, self.max_iter, self.tol = damping, max_iter, tol
        self.n = None

    def combine(self, a, b):
        return a + b

    def compute(self, ctx, vertex, messages):
        n = ctx.num_vertices
        if ctx.superstep == 0:
            self.n = n
            ctx.value = 1.0 / n
        else:
            dangling = ctx.aggregated("dangling")
            new = self.damping * (sum(messages) + dangling / n) + (1 - self.damping) / n
            ctx.aggregate("change", abs(new - ctx.value))
            ctx.value = new
        degree = ctx.out_degree
        if degree:
            ctx.send_to_neighbours(ctx.value / degree)
        else:
            ctx.aggregate("dangling", ctx.value)

    def master_compute(self, superstep, aggregates):
        n = aggregates.get("__num_vertices__", 0)
        return (superstep >= 1 and aggregates["change"] < n * self.tol) or superstep >= self.max_iter


class PregelComponents(VertexProgram):
    """Weakly connected components; value = smallest vertex id of the component."""

    def initial_value(self, vertex):
        return (vertex, set())          # (label, in-neighbours)

    def compute(self, ctx, vertex, messages):
        label, in_neighbours = ctx.value
        if ctx.superstep == 0:
            ctx.send_to_neighbours(("in", vertex))
            return                      # stay active: superstep 1 starts the label exchange
        smallest = label
        for kind, x in messages:
            if kind == "in":
                in_neighbours.add(x)
            smallest = min(smallest, x)
        if ctx.superstep == 1 or smallest < label:
            ctx.value = (smallest, in_neighbours)
            for other in (*ctx.out_neighbours, *in_neighbours):
                ctx.send(other, ("label", smallest))
        ctx.vote_to_halt()

    def output(self, value):
        return value[0]


class PregelShortestPaths(VertexProgram):
    """Single-source shortest paths over weighted out-edges; unreachable = inf."""

    def __init__(self, source):
        self.source = source

    def initial_value(self, vertex):
        return math.inf

    def combine(self, a, b):
        return min(a, b)

    def compute(self, ctx, vertex, messages):
        best = min(messages, default=math.inf)
        if ctx.superstep == 0 and vertex == self.source:
            best = 0.0
        if best < ctx.value:
            ctx.value = best
            for dst, weight in ctx.out_edges:
                ctx.send(dst, best + weight)
        ctx.vote_to_halt()


class GASPageRank(GASProgram):
    """PowerGraph's PageRank: (1-d)/N + d * sum(rank/out_degree of in-neighbours); data = (rank, out_degree)."""

    gather_edges = "in"
    scatter_edges = "out"

    def __init__(self, num_vertices: int, damping: float = 0.85, tol: float = 1e-10):
        self.n, self.damping, self.tol = num_vertices, damping, tol

    def init(self, vertex, out_degree):
        return (1.0 / self.n, out_degree)

    def gather(self, data, weight, other):
        return other[0] / other[1]

    def sum(self, a, b):
        return a + b

    def apply(self, data, acc):
        return ((1 - self.damping) / self.n + self.damping * (acc or 0.0), data[1])

    def scatter(self, old, new, weight, other):
        return abs(new[0] - old[0]) > self.tol


class GASComponents(GASProgram):
    """Weakly connected components: min label over all edges."""

    gather_edges = "all"
    scatter_edges = "all"

    def init(self, vertex, out_degree):
        return vertex

    def gather(self, data, weight, other):
        return other

    def sum(self, a, b):
        return min(a, b)

    def apply(self, data, acc):
        return data if acc is None else min(data, acc)

    def scatter(self, old, new, weight, other):
        return other is None or new < other


class GASShortestPaths(GASProgram):
    """SSSP: distance = min over in-edges of (neighbour's distance + weight)."""

    gather_edges = "in"
    scatter_edges = "out"

    def __init__(self, source):
        self.source = source

    def init(self, vertex, out_degree):
        return 0.0 if vertex == self.source else math.inf

    def gather(self, data, weight, other):
        return other + weight

    def sum(self, a, b):
        return min(a, b)

    def apply(self, data, acc):
        return data if acc is None else min(data, acc)

    def scatter(self, old, new, weight, other):
        return other is None or new + weight < other
