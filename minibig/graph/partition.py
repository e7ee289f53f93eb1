"""One partition of a graph as numpy arrays: what a worker keeps in memory.

A `Partition` holds the vertices a partitioner gave it and their edges:

    vertices   int64[n]      dense global indices, ascending (local i <-> vertices[i])
    names      [n]           the same vertices' original ids as kept: int64 or object (str)
                             numpy, or str ids as an Arrow array (a graph the workers loaded);
                             `ids` gives them as numpy, made on first use
    out_indptr int64[n+1]    CSR of out-edges: vertex i's edges are out_indptr[i]:out_indptr[i+1]
    out_dst    int64[m]      dense index of each out-edge's destination, ascending per vertex
    out_weight float64[m]    its weight; in an unweighted graph one 1.0 seen m times
                             (`unit_weights`: read-only, no memory, not pickled)
    in_indptr, in_src, in_weight   the same for in-edges (edges whose destination is here);
                             a graph the workers loaded builds them on first use
    owner      int32[N]      partition of every dense index (the routing table, shared)
    local      int32[N]      local position of every dense index inside its owner
    values     [n]           the vertex values of the program being run (None between runs)
    active     bool[n]       not halted

`owner` and `local` cover the whole graph, so a sender computes the partition
of a message's destination with `owner[dst]` and a receiver its local slot
with `local[dst]`: routing and delivery are numpy indexing. They are built
once by `build_partitions` and the same arrays are shared by every partition
of a process (each pickled copy carries them: 8 bytes per vertex).

Derived structures (message plans of `messages.py`) are cached on the object
but never pickled: `snapshot` and pickling drop them, and they are rebuilt on
first use. `scratch` holds one run's reusable buffers: a worker gives a fresh
allocation of a megabyte or more new pages, each a page fault on first touch
(half of PageRank's time on a worker, Debian graph), so a program may keep
its big per-superstep temporaries there.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np

from minibig.graph.buffers import pooled_indices
from minibig.graph.ids import packed_ids
from minibig.graph.load import EdgeList
from minibig.graph.partitioning import partitions_of, rows_by_owner


@dataclass(eq=False)
class Partition:
    """The vertices of one partition, their out- and in-edges as CSR, and run state."""

    index: int
    num_partitions: int
    num_vertices: int                 # of the whole graph (N)
    vertices: np.ndarray
    names: object
    out_indptr: np.ndarray
    out_dst: np.ndarray
    out_weight: np.ndarray
    owner: np.ndarray
    local: np.ndarray
    weighted: bool = False
    partitioner: object = None        # the callable that cut the graph (vertex id -> partition)
    values: np.ndarray | None = None
    active: np.ndarray | None = None
    cache: dict = field(default_factory=dict, repr=False)
    # one run's reusable buffers (a program's per-superstep temporaries): never shared by the
    # copies `fresh` makes (two runs of one graph may run at once), never pickled
    scratch: dict = field(default_factory=dict, repr=False)
    # [(in_indptr, in_src, in_weight)], or [a function making them]: many programs never read
    # in-edges, so a graph the workers load builds them on first use. A list, so that the
    # copies `fresh` makes share what the first use builds.
    in_edges: list = field(default_factory=lambda: [None], repr=False)

    @property
    def ids(self) -> np.ndarray:
        """The vertices' original ids: int64, or object (str). Str ids kept as Arrow become numpy
        on first use (a vectorised program's run never asks: 65k Debian ids, 3 ms of a load)."""
        if isinstance(self.names, np.ndarray):
            return self.names
        if "ids" not in self.cache:              # two threads may both convert: either result serves
            self.cache["ids"] = self.names.to_numpy(zero_copy_only=False) if len(self.names) else np.zeros(0, object)
        return self.cache["ids"]

    @property
    def packed_ids(self):
        """The vertices' original ids as they travel best (`ids.packed_ids`)."""
        return packed_ids(self.names) if isinstance(self.names, np.ndarray) else self.names

    @property
    def in_indptr(self) -> np.ndarray:
        """CSR offsets of the in-edges: vertex i's are in_indptr[i]:in_indptr[i+1]."""
        return self._in()[0]

    @property
    def in_src(self) -> np.ndarray:
        """Dense index of each in-edge's source, ascending per vertex."""
        return self._in()[1]

    @property
    def in_weight(self) -> np.ndarray:
        """Weight of each in-edge (an unweighted graph's: `unit_weights`, read-only)."""
        return self._in()[2]

    def _in(self) -> tuple:
        held = self.in_edges[0]
        if callable(held):
            held = self.in_edges[0] = held()
        return held

    def __len__(self) -> int:
        return len(self.vertices)

    def __repr__(self) -> str:
        held = self.in_edges[0]
        ins = "in-edges built on first use" if callable(held) else f"{len(held[1])} in-edges"
        return f"Partition({self.index}/{self.num_partitions}: {len(self)} vertices, {len(self.out_dst)} out-edges, {ins})"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["cache"] = {}                          # derived; rebuilt where it is used
        state["scratch"] = {}
        state["in_edges"] = [self._in()]             # a pickle carries no builder
        if not self.weighted:                        # all ones: rebuilt, not m float64s pickled
            indptr, src, _ = state["in_edges"][0]
            state["out_weight"], state["in_edges"] = None, [(indptr, src, None)]
        return state

    def __setstate__(self, state):
        if not state.get("weighted"):
            indptr, src, _ = state["in_edges"][0]
            state["out_weight"] = unit_weights(len(state["out_dst"]))
            state["in_edges"] = [(indptr, src, unit_weights(len(src)))]
        self.__dict__.update(state)

    @property
    def out_degree(self) -> np.ndarray:
        """Number of out-edges of each local vertex."""
        return np.diff(self.out_indptr)

    @property
    def in_degree(self) -> np.ndarray:
        """Number of in-edges of each local vertex."""
        return np.diff(self.in_indptr)

    @property
    def out_src_local(self) -> np.ndarray:
        """Local index of the source of every out-edge (cached)."""
        if "out_src_local" not in self.cache:
            self.cache["out_src_local"] = np.repeat(np.arange(len(self), dtype=np.int64), self.out_degree)
        return self.cache["out_src_local"]

    @property
    def in_dst_local(self) -> np.ndarray:
        """Local index of the destination of every in-edge (cached)."""
        if "in_dst_local" not in self.cache:
            self.cache["in_dst_local"] = np.repeat(np.arange(len(self), dtype=np.int64), self.in_degree)
        return self.cache["in_dst_local"]

    def fresh(self) -> "Partition":
        """A copy sharing the topology arrays, with no values or flags: the start of a new run."""
        return Partition(**{**self.__dict__, "values": None, "active": None, "cache": self.cache, "scratch": {}})


def build_partitions(edges: EdgeList, num_partitions: int, partitioner) -> list[Partition]:
    """Cut `edges` into `num_partitions` partitions, vertex v going to `partitioner(original id of v)`."""
    owner, local = routing_tables(edges.index, num_partitions, partitioner)
    weight = edges.weight                            # None: unweighted (make_partition's ones)
    out_groups = _group_edges(edges.src, edges.dst, weight, owner, num_partitions)
    in_order = np.lexsort((edges.src, edges.dst))    # by destination, then source
    in_groups = _group_edges(edges.dst[in_order], edges.src[in_order],
                             None if weight is None else weight[in_order], owner, num_partitions)
    return [make_partition(p, num_partitions, edges.index.ids, owner, local, out_groups[p], in_groups[p],
                           edges.weight is not None, partitioner)
            for p in range(num_partitions)]


def routing_tables(index, num_partitions: int, partitioner) -> tuple[np.ndarray, np.ndarray]:
    """(owner, local) of every dense index: its partition, and its position inside it."""
    n = len(index)
    owner = partitions_of(partitioner, index.ids).astype(np.int32) if n else np.zeros(0, np.int32)
    if n and (owner.min() < 0 or owner.max() >= num_partitions):
        bad = int(np.flatnonzero((owner < 0) | (owner >= num_partitions))[0])
        raise ValueError(f"partitioner put vertex {index.original(bad)!r} in partition "
                         f"{owner[bad]}, outside [0, {num_partitions})")
    return owner, local_positions(owner, num_partitions)


def local_positions(owner: np.ndarray, num_partitions: int) -> np.ndarray:
    """Position of every dense index among the vertices of its owner partition."""
    local = np.zeros(len(owner), np.int32)
    for p in range(num_partitions):
        vertices = np.flatnonzero(owner == p)
        local[vertices] = np.arange(len(vertices), dtype=np.int32)
    return local


def make_partition(p: int, num_partitions: int, ids: np.ndarray, owner: np.ndarray, local: np.ndarray,
                   out_edges: tuple, in_edges, weighted: bool, partitioner) -> Partition:
    """Partition p from its vertices' out-edges `(src, dst, weight)` sorted by (src, dst) and
    in-edges `(dst, src, weight)` sorted by (dst, src), all in dense indices; `in_edges` may
    be a function returning them, called on first use. `ids`: the graph's sorted ids, numpy or
    (str) Arrow. Not `weighted`: the weights given (None or any) are ignored, `unit_weights`
    used instead, as every path and every unpickled partition has them."""
    vertices = np.flatnonzero(owner == p)
    out_key, out_other, out_w = out_edges
    if not weighted:
        out_w = unit_weights(len(out_key))

    def in_csr():
        in_key, in_other, in_w = in_edges() if callable(in_edges) else in_edges
        return _indptr(local[in_key], len(vertices)), in_other, in_w if weighted else unit_weights(len(in_other))
    part = Partition(
        index=p, num_partitions=num_partitions, num_vertices=len(ids), vertices=vertices,
        names=rows_of(ids, vertices),
        out_indptr=_indptr(local[out_key], len(vertices)), out_dst=out_other, out_weight=out_w,
        owner=owner, local=local, weighted=weighted, partitioner=partitioner,
        in_edges=[in_csr if callable(in_edges) else in_csr()])
    return part


def rows_of(ids, rows: np.ndarray):
    """Those of `ids` at `rows`: numpy or (str) Arrow."""
    return ids[rows] if isinstance(ids, np.ndarray) else ids.take(rows)


def partition_key(key: str, q: int) -> str:
    """The resident key of partition q of a graph the workers loaded (`distload.py`)."""
    return f"{key}p{q}"


def unit_weights(m: int) -> np.ndarray:
    """An unweighted graph's weights: one 1.0 seen m times (read-only, no memory: m fresh
    float64s were a page fault per 512 edges on a worker, for a column that the programs of an
    unweighted graph hardly read)."""
    return np.broadcast_to(np.float64(1.0), m)


def _group_edges(key, other, weight, owner, num_partitions):
    """Split edges sorted by `key` into per-partition (key, other, weight), keeping the order
    (`weight` None: None each)."""
    part_of_edge = owner[key] if len(key) else np.zeros(0, np.int32)
    return [(key[t], other[t], None if weight is None else weight[t])
            for t in rows_by_owner(part_of_edge, num_partitions)]


def _indptr(local_keys: np.ndarray, n: int) -> np.ndarray:
    # `local` is int32: its keys cast for bincount into Arrow's pool, not a fresh array
    keys = pooled_indices(local_keys)
    return np.concatenate(([0], np.cumsum(np.bincount(keys, minlength=n)))).astype(np.int64)


def snapshot(state, inbox=None) -> bytes:
    """A checkpoint of one partition's state and the messages waiting for its next superstep.

    Works for a `Partition` and a `PregelPartition`; derived caches are left
    out. The bytes are self-contained (pickle protocol 5).
    """
    return pickle.dumps((state, inbox), protocol=5)


def restore(blob: bytes):
    """The `(state, inbox)` a `snapshot` saved."""
    state, inbox = pickle.loads(blob)
    return state, inbox
