"""Gather-apply-scatter (GraphLab / PowerGraph) programs, run synchronously on the Pregel engine.

A `GASProgram` says, per vertex:

    gather(data, weight, other)  -> acc    over `gather_edges`: "in", "out", "all" or "none"
    sum(a, b)                    -> acc    commutative and associative
    apply(data, acc)             -> data   acc is None when there was nothing to gather
    scatter(old, new, weight, other) -> bool   over `scatter_edges`: True signals that neighbour

Synchronous engine (PowerGraph's sync mode): in every iteration all
signalled vertices gather from their neighbours' data of the previous
iteration, apply, then scatter; a vertex signalled during iteration k runs in
iteration k+1; the run ends when no vertex is signalled. All vertices are
signalled in the first iteration.

How it maps onto Pregel (`as_vertex_program`): every vertex keeps a copy
(mirror) of the data of the neighbours it gathers from or scatters to, and a
vertex sends its data to those neighbours only when it changes, so messages
follow activity. Superstep 0 sends each out-edge's weight and data along it
(so every vertex learns its in-edges: Pregel vertices only know out-edges);
superstep 1 sends data back along in-edges where "out" or "all" edges are
used; GAS iteration k is superstep k + 1. With "all", an edge stored in
both directions (a graph loaded with `directed=False`) is gathered twice:
use "in" for undirected graphs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minibig.graph.pregel import VertexProgram

EDGE_SETS = ("in", "out", "all", "none")


class GASProgram:
    """Base class of gather-apply-scatter programs; see the module docstring."""

    gather_edges = "in"
    scatter_edges = "out"

    def init(self, vertex, out_degree: int):
        """The data of `vertex` before the first iteration."""
        raise NotImplementedError

    def gather(self, data, weight: float, other):
        """What one edge contributes (`other`: the neighbour's data)."""
        raise NotImplementedError

    def sum(self, a, b):
        """Combine two gathered contributions."""
        raise NotImplementedError

    def apply(self, data, acc):
        """The vertex's new data from its gathered sum (None when nothing was gathered)."""
        raise NotImplementedError

    def scatter(self, old, new, weight: float, other) -> bool:
        """Whether to signal the neighbour at the other end of this edge (`other` may be None)."""
        return False


@dataclass
class GASVertex:
    """A vertex's data, its in-edges and its mirrors of the neighbours' data."""

    data: object = None
    in_edges: dict = field(default_factory=dict)     # source id -> weight
    mirrors: dict = field(default_factory=dict)      # neighbour id -> its latest data


def as_vertex_program(gas: GASProgram) -> "GASAdapter":
    """The Pregel program that runs `gas` synchronously."""
    for name in ("gather_edges", "scatter_edges"):
        if getattr(gas, name) not in EDGE_SETS:
            raise ValueError(f"{name} must be one of {EDGE_SETS}, not {getattr(gas, name)!r}")
    return GASAdapter(gas)


class GASAdapter(VertexProgram):
    """A `GASProgram` as a `VertexProgram` (messages: ("hello", src, w, data), ("data", src, data), ("signal",))."""

    master_on_driver = False             # a GAS program has no master logic: the tasks run the barrier

    def __init__(self, gas: GASProgram):
        self.gas = gas
        used = {gas.gather_edges, gas.scatter_edges}
        self.needs_in = bool(used & {"in", "all"})      # I read my in-neighbours' data
        self.needs_out = bool(used & {"out", "all"})    # I read my out-neighbours' data

    def initial_value(self, vertex) -> GASVertex:
        return GASVertex()

    def output(self, value: GASVertex):
        return value.data

    def compute(self, ctx, vertex, messages) -> None:
        state: GASVertex = ctx.value
        signalled = ctx.superstep == 2
        for message in messages:
            kind = message[0]
            if kind == "hello":
                _, src, weight, data = message
                state.in_edges[src] = weight
                state.mirrors[src] = data
            elif kind == "data":
                state.mirrors[message[1]] = message[2]
            else:
                signalled = True
        if ctx.superstep == 0:
            state.data = self.gas.init(vertex, ctx.out_degree)
            for dst, weight in ctx.out_edges:
                ctx.send(dst, ("hello", vertex, weight, state.data))
            return
        if ctx.superstep == 1:
            if self.needs_out:
                for src in state.in_edges:
                    ctx.send(src, ("data", vertex, state.data))
            return
        if signalled:
            self._iterate(ctx, vertex, state)
        ctx.vote_to_halt()

    def _iterate(self, ctx, vertex, state: GASVertex) -> None:
        gas = self.gas
        acc = None
        for other, weight in self._edges(ctx, state, gas.gather_edges):
            value = gas.gather(state.data, weight, state.mirrors.get(other))
            acc = value if acc is None else gas.sum(acc, value)
        old = state.data
        state.data = new = gas.apply(old, acc)
        for other, weight in self._edges(ctx, state, gas.scatter_edges):
            if gas.scatter(old, new, weight, state.mirrors.get(other)):
                ctx.send(other, ("signal",))
        if new != old:
            if self.needs_in:                        # my out-neighbours read me through their in-edges
                for dst in ctx.out_neighbours:
                    ctx.send(dst, ("data", vertex, new))
            if self.needs_out:
                for src in state.in_edges:
                    ctx.send(src, ("data", vertex, new))

    @staticmethod
    def _edges(ctx, state: GASVertex, which: str):
        if which in ("in", "all"):
            yield from state.in_edges.items()
        if which in ("out", "all"):
            yield from ctx.out_edges
