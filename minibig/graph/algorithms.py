"""The built-in algorithms as vectorised programs (numpy + numba over a partition).

Each program follows a reference definition exactly:

* `PageRank`: networkx.pagerank. x0 = 1/N; each iteration
  x' = d * (x @ P + dangling_sum * q) + (1 - d) * p, where P is the
  out-weight-normalised adjacency, p the (normalised) personalisation vector
  (uniform by default), q = p, dangling vertices are those with no out-weight;
  stops when sum |x' - x| < N * tol, or after `max_iter` iterations.
  Superstep 0 sends x0; superstep k computes iteration k.
* `ConnectedComponents`: weakly connected (edges used both ways), each vertex
  labelled with the smallest dense index of its component, which is the
  smallest original id because dense indices keep the ids' order (HashMin).
* `ShortestPaths`: SSSP, Bellman-Ford by messages: a vertex whose distance
  dropped sends distance + weight along its out-edges; unreachable is inf.
  Along a path of n vertices it takes n supersteps. Weights must be >= 0
  (a negative or NaN weight is a ValueError naming the edge's source).
* `LabelPropagation`: LDBC Graphalytics CDLP. Labels start as the vertex
  ids; each iteration every vertex takes the most frequent label among its
  in- and out-neighbours (a neighbour on both sides counts twice), the
  smallest on ties, keeping its own when it has no neighbour; a fixed number
  of synchronous iterations.
* `Triangles`: per vertex, the number of triangles through it in the
  undirected simple graph underneath (directions and self-loops ignored),
  as networkx.triangles.
* `LocalClustering`: LDBC Graphalytics LCC. N(v) = in- and out-neighbours of
  v, v excluded; LCC(v) = |{(u, w) in E : u, w in N(v)}| / (|N(v)| (|N(v)|-1)),
  0 when |N(v)| < 2. For a graph loaded undirected (both directions stored)
  this is networkx.clustering.

Triangles and LCC ask every vertex's neighbours about pairs of its other
neighbours (Pregel's wedge check): superstep 0 sends (v, w) to u for every
ordered pair u != w of neighbours of v, superstep 1 answers v with how many
of them u is linked to, superstep 2 adds the answers up. That is
sum d(d-1) messages: fine for graphs with moderate degrees.
"""

from __future__ import annotations

import numpy as np

from minibig.graph.aggregators import Sum
from minibig.graph.buffers import pooled, pooled_like
from minibig.graph.errors import NegativeWeightError
from minibig.graph.vectorized import VectorProgram


class PageRank(VectorProgram):
    """networkx.pagerank as a vectorised program (personalised when `personal` is given)."""

    combiner = "sum"
    aggregators = {"dangling": Sum(0.0), "change": Sum(0.0)}

    def __init__(self, num_vertices: int, damping: float = 0.85, max_iter: int = 100, tol: float = 1e-6,
                 weighted: bool = False, personal: tuple[np.ndarray, np.ndarray] | None = None):
        if not 0 <= damping <= 1:
            raise ValueError(f"damping must be in [0, 1], not {damping}")
        self.n = num_vertices
        self.damping = damping
        self.max_iter = max_iter
        self.tol = tol
        self.weighted = weighted
        self.personal = personal        # (dense indices, weights summing to 1), or None for uniform

    def init(self, part) -> None:
        # the cache is the partition's, shared by runs that may run at once (weighted or not,
        # personalised or not): only topology goes there; this run's settings go in its scratch
        degree = part.cache["pr_degree"] = part.out_degree
        if self.weighted:
            total = np.bincount(part.out_src_local, weights=part.out_weight, minlength=len(part))
            # a vertex whose out-edges weigh 0 in all sends nothing and is dangling, as in networkx
            # (0 / 0 would send NaN to every rank)
            per_edge = total[part.out_src_local]
            part.scratch["pr_edge_factor"] = np.divide(part.out_weight, per_edge, out=np.zeros(len(per_edge)),
                                                       where=per_edge != 0)
            part.scratch["pr_vertex_share"] = None
        else:                            # every edge of a vertex carries the same share: scale per vertex
            total = degree.astype(np.float64)
            part.scratch["pr_edge_factor"] = None
            part.scratch["pr_vertex_share"] = np.divide(1.0, total, out=np.zeros(len(part)), where=total > 0)
        part.scratch["pr_dangling"] = np.flatnonzero(total == 0)
        # each vertex's value over its out-edges (CSR order): np.repeat costs per vertex and per
        # edge, a gather through out_src_local per edge (it reads an index): the gather is faster
        # when the vertices with edges have few each (Debian, 5: 0.5 ms against 1.0), np.repeat
        # when they have many (a partition of R-MAT scale 20, 16: 52 ms against 67)
        part.scratch["pr_gather"] = len(part.out_dst) < 8 * np.count_nonzero(degree)
        part.scratch["pr_p"] = self._personal_vector(part)
        part.values = np.full(len(part), 1.0 / self.n)
        part.active = np.ones(len(part), dtype=bool)

    def _personal_vector(self, part) -> np.ndarray | None:
        """This partition's share of the personalisation vector; None for uniform PageRank (1/N
        everywhere: `compute` adds it as a scalar)."""
        if self.personal is None:
            return None
        dense, weight = self.personal
        mine = part.owner[dense] == part.index
        p = np.zeros(len(part))
        p[part.local[dense[mine]]] = weight[mine]
        return p

    def compute(self, part, ctx) -> None:
        if "pr_p" not in part.scratch:               # restored from a snapshot: derived state (None: uniform)
            values, active = part.values, part.active
            self.init(part)
            part.values, part.active = values, active
        x = part.values
        if ctx.superstep > 0:
            dangling = ctx.aggregates["dangling"]
            # this superstep's arrays go into the run's buffers: a worker gives a fresh array of
            # the partition's size new pages (glibc hands a freed one back to the system), each
            # a page fault on first touch
            new = _buffer(part, "pr_new", x)
            if self.personal is None:                # p is 1/N everywhere: two passes, no temporaries
                np.multiply(ctx.messages, self.damping, out=new)
                new += (self.damping * dangling + 1 - self.damping) / self.n
            else:
                p = part.scratch["pr_p"]
                np.multiply(p, dangling, out=new)
                new += ctx.messages
                new *= self.damping
                new += (1 - self.damping) * p
            change = np.subtract(new, x, out=_buffer(part, "pr_change", x))
            ctx.aggregate("change", float(np.abs(change, out=change).sum()))
            # the last values become the next superstep's `new`: nobody else holds them long (a
            # checkpoint is a copy, made before the superstep). The outputs are these very values,
            # not a copy, and may be taken while the run may go on (`SuperstepCode(output=True)`
            # when the driver only expects the end, tasks.py): then the reported array is
            # overwritten two supersteps later by this swap. Safe only because the outputs leave
            # first: a task's report is pickled when it returns, and a session's driver holds the
            # output bytes before it orders the next superstep
            part.values, part.scratch["pr_new"] = new, x
            x = new
        if ctx.superstep >= self.max_iter:           # the last iteration: nobody reads what it sends
            return
        share = part.scratch["pr_vertex_share"]
        # unweighted: no product per edge
        per_vertex = np.multiply(x, share, out=_buffer(part, "pr_change", x)) if share is not None else x
        if part.scratch["pr_gather"]:      # over the out-edges (see init), into this run's buffer
            buffer = part.scratch.get("pr_per_edge")
            if buffer is None:
                buffer = part.scratch["pr_per_edge"] = pooled(len(part.out_dst), np.float64)
            # mode="clip": with "raise", numpy takes into a new array and copies it to `out`
            # (the indices are the partition's own, always in range)
            per_edge = np.take(per_vertex, part.out_src_local, out=buffer, mode="clip")
        else:
            per_edge = np.repeat(per_vertex, part.cache["pr_degree"])
        if share is None:                # per_edge is this superstep's own: scale it in place
            np.multiply(per_edge, part.scratch["pr_edge_factor"], out=per_edge)
        ctx.send_along_out_edges(per_edge)          # reduced at once: the buffer is free after
        ctx.aggregate("dangling", float(x[part.scratch["pr_dangling"]].sum()))

    def master_compute(self, superstep: int, aggregates: dict) -> bool:
        converged = superstep >= 1 and aggregates["change"] < self.n * self.tol
        return converged or superstep >= self.max_iter

    def last_superstep(self) -> int:
        """Iteration `max_iter` is the last, converged or not."""
        return self.max_iter


class ConnectedComponents(VectorProgram):
    """Weakly connected components by HashMin; value = smallest dense index in the component."""

    combiner = "min"
    message_dtype = np.int64

    def init(self, part) -> None:
        part.values = part.vertices.copy()
        part.active = np.ones(len(part), dtype=bool)

    def compute(self, part, ctx) -> None:
        if ctx.superstep == 0:
            changed = np.ones(len(part), dtype=bool)
        else:
            changed = ctx.messages < part.values
            part.values = np.where(changed, ctx.messages, part.values)
        labels = part.values
        ctx.send_along_out_edges(labels[part.out_src_local], changed[part.out_src_local])
        ctx.send_along_in_edges(labels[part.in_dst_local], changed[part.in_dst_local])
        part.active[:] = False                       # every vertex votes to halt; a smaller label wakes it


class ShortestPaths(VectorProgram):
    """Single-source shortest paths over out-edges (weights when `weighted`, else 1)."""

    combiner = "min"

    def __init__(self, source: int, weighted: bool = True):
        self.source = source            # dense index
        self.weighted = weighted

    def init(self, part) -> None:
        if self.weighted:
            _refuse_negative_weights(part)
        part.values = np.full(len(part), np.inf)
        part.active = np.ones(len(part), dtype=bool)

    def compute(self, part, ctx) -> None:
        if ctx.superstep == 0:
            improved = np.zeros(len(part), dtype=bool)
            if part.owner[self.source] == part.index:
                at = part.local[self.source]
                part.values[at] = 0.0
                improved[at] = True
        else:
            improved = ctx.messages < part.values
            part.values = np.where(improved, ctx.messages, part.values)
        weight = part.out_weight if self.weighted else 1.0
        ctx.send_along_out_edges(part.values[part.out_src_local] + weight, improved[part.out_src_local])
        part.active[:] = False


class LabelPropagation(VectorProgram):
    """Graphalytics CDLP for `iterations` synchronous rounds; value = dense index of the label."""

    combiner = None
    message_dtype = np.int64

    def __init__(self, iterations: int = 10):
        self.iterations = iterations

    def init(self, part) -> None:
        part.values = part.vertices.copy()
        part.active = np.ones(len(part), dtype=bool)

    def compute(self, part, ctx) -> None:
        from minibig.graph.kernels import segment_mode      # numba: loaded only by programs that use it
        if ctx.superstep > 0:
            segment = np.repeat(np.arange(len(part)), ctx.count)
            order = np.lexsort((ctx.messages, segment))
            part.values = segment_mode(ctx.indptr, ctx.messages[order], part.values)
        if ctx.superstep < self.iterations:
            ctx.send_along_out_edges(part.values[part.out_src_local])
            ctx.send_along_in_edges(part.values[part.in_dst_local])

    def master_compute(self, superstep: int, aggregates: dict) -> bool:
        return superstep >= self.iterations


class _WedgeCheck(VectorProgram):
    """Superstep 0: ask neighbours about pairs; 1: answer; 2: add up. Subclasses pick the adjacency."""

    combiner = None
    message_dtype = np.int64

    def init(self, part) -> None:
        part.values = np.zeros(len(part))
        part.active = np.ones(len(part), dtype=bool)

    def compute(self, part, ctx) -> None:
        from minibig.graph import kernels                   # numba: loaded only by programs that use it
        if ctx.superstep == 0:
            indptr, nbrs = neighbourhoods(part)
            centre, u, w = kernels.wedges(indptr, nbrs, part.vertices)
            ctx.send(u, np.stack((centre, w), axis=1))
        elif ctx.superstep == 1:
            receiver = np.repeat(np.arange(len(part)), ctx.count)
            # (centre, w) rows; the inbox of a partition that no question reached is a flat empty array
            asked = ctx.messages.reshape(len(receiver), 2)
            indptr, targets = self.adjacency(part)
            linked = kernels.has_edge(indptr, targets, receiver, asked[:, 1]) if len(receiver) else \
                np.zeros(0, bool)
            centres, counts = np.unique(asked[linked, 0], return_counts=True)
            ctx.send(centres, counts.astype(np.int64))
        else:
            segment = np.repeat(np.arange(len(part)), ctx.count)
            links = np.bincount(segment, weights=ctx.messages, minlength=len(part))
            indptr, _ = neighbourhoods(part)
            part.values = self.finish(links, np.diff(indptr))
        part.active[:] = ctx.superstep < 2

    def master_compute(self, superstep: int, aggregates: dict) -> bool:
        return superstep >= 2


class Triangles(_WedgeCheck):
    """Triangles through each vertex of the undirected simple graph underneath."""

    def adjacency(self, part):
        return neighbourhoods(part)

    def finish(self, links, degree):
        return np.rint(links / 2).astype(np.int64)   # each triangle is seen as (u, w) and (w, u)


class LocalClustering(_WedgeCheck):
    """Graphalytics local clustering coefficient (directed edges between neighbours / d(d-1))."""

    def adjacency(self, part):
        return part.out_indptr, part.out_dst

    def finish(self, links, degree):
        pairs = degree * (degree - 1.0)
        return np.divide(links, pairs, out=np.zeros(len(links)), where=pairs > 0)


def _refuse_negative_weights(part) -> None:
    """A `NegativeWeightError` (a ValueError) naming the first out-edge of the partition that weighs less than 0 or NaN
    (a NaN is no distance: it would leave the vertices behind it unreachable, silently)."""
    bad = np.flatnonzero(~(part.out_weight >= 0))
    if len(bad):
        edge = int(bad[0])
        vertex = part.ids[part.out_src_local[edge]]
        vertex = vertex.item() if isinstance(vertex, np.generic) else vertex
        raise NegativeWeightError(vertex, float(part.out_weight[edge]))


def neighbourhoods(part):
    """CSR (indptr, sorted dense ids) of every local vertex's in- and out-neighbours, itself excluded."""
    if "neighbourhoods" not in part.cache:
        from minibig.graph.kernels import union_neighbours  # numba: loaded only when needed
        in_order = np.lexsort((part.in_src, part.in_dst_local))
        part.cache["neighbourhoods"] = union_neighbours(part.out_indptr, part.out_dst, part.in_indptr,
                                                        part.in_src[in_order], part.vertices)
    return part.cache["neighbourhoods"]


def _buffer(part, name: str, like: np.ndarray) -> np.ndarray:
    """The run's buffer `name` shaped as `like` (made on first use: see `Partition.scratch`)."""
    buffer = part.scratch.get(name)
    if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
        buffer = part.scratch[name] = pooled_like(like)
    return buffer
