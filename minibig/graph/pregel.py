"""Pregel: per-vertex Python vertex programs, with combiners, aggregators and mutations.

A user subclasses `VertexProgram` and writes `compute(ctx, vertex, messages)`:

    class MaxValue(VertexProgram):
        def initial_value(self, vertex):
            return vertex
        def compute(self, ctx, vertex, messages):
            best = max([ctx.value, *messages])
            if ctx.superstep == 0 or best > ctx.value:
                ctx.value = best
                ctx.send_to_neighbours(best)
            ctx.vote_to_halt()

The engine (`run_pregel_superstep`, one call per partition per superstep):

1. applies the mutation requests sent to this partition in the previous
   superstep, in Pregel's order: edge removals, then vertex removals, then
   vertex additions, then edge additions; within one kind, by (sending
   partition, order of the requests there), so every run agrees;
2. creates any vertex that received a message but does not exist (with
   `initial_value`, no edges, as Giraph does);
3. calls `compute` for every vertex that is active or has messages (a message
   wakes a halted vertex); `messages` are those sent to it in the previous
   superstep only;
4. combines the outgoing messages per destination with `combine(a, b)` when
   the program defines it (on the sender: any subset, in any order), and
   groups them by the destination's partition.

Mutation conflicts: adding a vertex that exists leaves it as it is (value and
edges); the first addition of a new vertex decides its value; adding an edge
that exists replaces its weight (networkx's `add_edge`); adding an edge from a
missing vertex creates that vertex; removing what does not exist does
nothing; removing a vertex removes its out-edges, not the edges pointing at
it (as in Pregel: a message along such an edge re-creates the vertex).

Vertices are addressed by their original ids; a vertex's partition is
`partitioner(id)`, the partitioner the graph was cut with.

`PregelPartition` is the state: ids, values and halt flags as Python lists,
out-edges as CSR over Python lists (per-vertex slicing of a list is much
cheaper than of a numpy array). It is picklable (`snapshot`/`restore`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minibig.graph.aggregators import fold
from minibig.graph.barrier import NUM_VERTICES, SuperstepResult
from minibig.graph.partitioning import HashPartitioner

# Pregel's order of mutations (Malewicz et al. 2010, section 3.3).
_MUTATION_ORDER = {"remove_edge": 0, "remove_vertex": 1, "add_vertex": 2, "add_edge": 3}


class PyMessages(NamedTuple):
    """A batch of per-vertex-program messages: destination ids and values, as lists."""

    dst: list
    values: list

    def __len__(self) -> int:
        return len(self.dst)


class VertexProgram:
    """Base class of per-vertex (Pregel) programs."""

    aggregators: dict = {}
    combine = None                       # define `combine(self, a, b)` to combine messages on the sender
    # `master_compute` runs on the driver, between supersteps (it may keep state there); False
    # lets every task of a session run the barrier itself (`VectorProgram.master_on_driver`)
    master_on_driver = True

    def initial_value(self, vertex) -> Any:
        """The value of `vertex` before superstep 0 (and of a vertex a message or edge creates)."""
        return None

    def compute(self, ctx: "VertexContext", vertex, messages: list) -> None:
        """One vertex, one superstep."""
        raise NotImplementedError

    def master_compute(self, superstep: int, aggregates: dict) -> bool:
        """Master logic after each superstep: True stops the run."""
        return False

    def output(self, value) -> Any:
        """What the run reports for a vertex's final value (default: the value)."""
        return value


class PregelPartition:
    """One partition's vertices for a per-vertex program; see the module docstring."""

    def __init__(self, index: int, num_partitions: int, partitioner, ids: list, out_indptr: list,
                 out_dst: list, out_weight: list, num_vertices: int):
        self.index = index
        self.num_partitions = num_partitions
        self.partitioner = partitioner
        self.ids = ids
        self.position = {v: i for i, v in enumerate(ids)}
        self.out_indptr = out_indptr
        self.out_dst = out_dst
        self.out_weight = out_weight
        self.num_vertices = num_vertices
        self.values: list | None = None
        self.active: list[bool] = [True] * len(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"PregelPartition({self.index}/{self.num_partitions}: {len(self)} vertices)"

    @classmethod
    def from_partition(cls, part, index=None) -> "PregelPartition":
        """The per-vertex view of a loaded `Partition` (`index` gives original ids, else dense ones)."""
        if index is None:
            names, partitioner = np.arange(part.num_vertices), _DenseOwner(part.owner)
        else:
            names, partitioner = index.ids, part.partitioner or HashPartitioner(part.num_partitions)
        return cls(part.index, part.num_partitions, partitioner, names[part.vertices].tolist(),
                   part.out_indptr.tolist(), names[part.out_dst].tolist(), part.out_weight.tolist(),
                   part.num_vertices)

    def edges_of(self, i: int) -> tuple[list, list]:
        """(destinations, weights) of local vertex i's out-edges."""
        a, b = self.out_indptr[i], self.out_indptr[i + 1]
        return self.out_dst[a:b], self.out_weight[a:b]

    def owner(self, vertex) -> int:
        """Partition of any vertex id."""
        p = self.partitioner(vertex)
        if not 0 <= p < self.num_partitions:
            raise ValueError(f"partitioner put vertex {vertex!r} in partition {p}, "
                             f"outside [0, {self.num_partitions})")
        return p

    def output(self, program: VertexProgram) -> dict:
        """{vertex id: program.output(value)} of this partition."""
        return {v: program.output(x) for v, x in zip(self.ids, self.values)}


class _DenseOwner:
    """Partitioner of dense ids from a graph's routing table (when no original ids are given)."""

    def __init__(self, owner: np.ndarray):
        self.owner = owner

    def __call__(self, vertex) -> int:
        return int(self.owner[vertex])


class VertexContext:
    """What `compute` can see and do for the vertex it is called for."""

    def __init__(self, state: PregelPartition, program: VertexProgram, superstep: int, aggregates: dict,
                 combine_on_sender: bool):
        self.superstep = superstep
        self.num_vertices = aggregates.get(NUM_VERTICES, state.num_vertices)
        self._state = state
        self._program = program
        self._aggregates = aggregates
        self._combine = program.combine if combine_on_sender else None
        self._owner_cache: dict = {}
        self.outbox: list[dict] = [{} for _ in range(state.num_partitions)]
        self.partials: dict = {}
        self.mutations: dict[int, list] = {}
        self._i = 0
        self.vertex = None
        self.sent = 0

    def _bind(self, i: int) -> None:
        self._i = i
        self.vertex = self._state.ids[i]

    @property
    def value(self):
        """The vertex's value (assign to change it)."""
        return self._state.values[self._i]

    @value.setter
    def value(self, new) -> None:
        self._state.values[self._i] = new

    @property
    def out_edges(self) -> list[tuple]:
        """[(destination id, weight), ...] of the vertex's out-edges."""
        dst, weight = self._state.edges_of(self._i)
        return list(zip(dst, weight))

    @property
    def out_neighbours(self) -> list:
        """Destination ids of the vertex's out-edges."""
        return self._state.edges_of(self._i)[0]

    @property
    def out_degree(self) -> int:
        """Number of out-edges."""
        return self._state.out_indptr[self._i + 1] - self._state.out_indptr[self._i]

    def send(self, dst, message) -> None:
        """Send `message` to vertex `dst` (any id; it arrives next superstep)."""
        p = self._owner_cache.get(dst)
        if p is None:
            p = self._owner_cache[dst] = self._state.owner(dst)
        box = self.outbox[p]
        self.sent += 1
        if self._combine is not None:
            if dst in box:
                box[dst] = self._combine(box[dst], message)
            else:
                box[dst] = message
        else:
            box.setdefault(dst, []).append(message)

    def send_to_neighbours(self, message) -> None:
        """Send `message` along every out-edge."""
        for dst in self.out_neighbours:
            self.send(dst, message)

    def vote_to_halt(self) -> None:
        """Halt until a message arrives."""
        self._state.active[self._i] = False

    def aggregated(self, name: str):
        """Aggregator `name`'s value from the previous superstep."""
        if name not in self._program.aggregators:
            raise KeyError(f"no aggregator {name!r}; the program declares {sorted(self._program.aggregators)}")
        return self._aggregates.get(name, self._program.aggregators[name].zero)

    def aggregate(self, name: str, value) -> None:
        """Contribute `value` to aggregator `name` (seen by everyone next superstep)."""
        if name not in self._program.aggregators:
            raise KeyError(f"aggregate({name!r}): the program declares no such aggregator "
                           f"(it has {sorted(self._program.aggregators)})")
        fold(self._program.aggregators[name], self.partials, name, value)

    def add_vertex(self, vertex, value=None) -> None:
        """Request a new vertex (applied before the next superstep)."""
        self._request(vertex, "add_vertex", vertex, value)

    def remove_vertex(self, vertex) -> None:
        """Request the removal of a vertex and its out-edges (before the next superstep)."""
        self._request(vertex, "remove_vertex", vertex)

    def add_edge(self, src, dst, weight: float = 1.0) -> None:
        """Request a new edge src -> dst, or a new weight for it (before the next superstep)."""
        self._request(src, "add_edge", src, dst, float(weight))

    def remove_edge(self, src, dst) -> None:
        """Request the removal of edge src -> dst (before the next superstep)."""
        self._request(src, "remove_edge", src, dst)

    def _request(self, at, kind: str, *args) -> None:
        requests = self.mutations.setdefault(self._state.owner(at), [])
        requests.append((_MUTATION_ORDER[kind], self._state.index, len(requests), kind, *args))


def run_pregel_superstep(state: PregelPartition, program: VertexProgram, inbox: list[PyMessages],
                         superstep: int, aggregates: dict, mutations=(), combine_on_sender: bool = True
                         ) -> SuperstepResult:
    """Run one superstep of a per-vertex program on one partition; see the module docstring."""
    if state.values is None:
        state.values = [program.initial_value(v) for v in state.ids]
    if mutations:
        apply_mutations(state, program, mutations)
    grouped = _group_inbox(inbox, program.combine)
    for vertex in grouped:
        if vertex not in state.position:
            _add_vertex(state, vertex, program.initial_value(vertex))
    ctx = VertexContext(state, program, superstep, aggregates, combine_on_sender)
    active = state.active
    empty: list = []
    for i, vertex in enumerate(state.ids):
        messages = grouped.get(vertex)
        if messages is None:
            if not active[i]:
                continue
            messages = empty
        else:
            active[i] = True
        ctx._bind(i)
        program.compute(ctx, vertex, messages)
    outbox = {}
    for p, box in enumerate(ctx.outbox):
        if box:
            if ctx._combine is not None:
                outbox[p] = PyMessages(list(box), list(box.values()))
            else:
                dst = [d for d, messages in box.items() for _ in messages]
                outbox[p] = PyMessages(dst, [m for messages in box.values() for m in messages])
    partials = dict(ctx.partials)
    partials[NUM_VERTICES] = len(state)
    return SuperstepResult(partition=state.index, superstep=superstep, outbox=outbox, aggregates=partials,
                           active=sum(active), messages_sent=sum(len(b) for b in outbox.values()),
                           mutations=ctx.mutations)


def _group_inbox(inbox: list[PyMessages], combine) -> dict:
    """{destination: [messages]} (one combined message per destination when there is a combiner)."""
    grouped: dict = {}
    for batch in inbox:
        for dst, message in zip(batch.dst, batch.values):
            if dst in grouped:
                if combine is not None:
                    grouped[dst][0] = combine(grouped[dst][0], message)
                else:
                    grouped[dst].append(message)
            else:
                grouped[dst] = [message]
    return grouped


def apply_mutations(state: PregelPartition, program: VertexProgram, requests) -> None:
    """Apply mutation requests in Pregel's order (see the module docstring)."""
    edges = {v: dict(zip(*state.edges_of(i))) for i, v in enumerate(state.ids)}
    values = dict(zip(state.ids, state.values))
    active = dict(zip(state.ids, state.active))
    for _, _, _, kind, *args in sorted(requests, key=lambda r: r[:3]):
        if kind == "remove_edge":
            src, dst = args
            edges.get(src, {}).pop(dst, None)
        elif kind == "remove_vertex":
            edges.pop(args[0], None)
            values.pop(args[0], None)
            active.pop(args[0], None)
        elif kind == "add_vertex":
            vertex, value = args
            if vertex not in values:
                edges[vertex], values[vertex], active[vertex] = {}, value, True
        else:
            src, dst, weight = args
            if src not in values:
                edges[src], values[src], active[src] = {}, program.initial_value(src), True
            edges[src][dst] = weight
    _rebuild(state, edges, values, active)


def _add_vertex(state: PregelPartition, vertex, value) -> None:
    state.position[vertex] = len(state.ids)
    state.ids.append(vertex)
    state.values.append(value)
    state.active.append(True)
    state.out_indptr.append(state.out_indptr[-1])


def _rebuild(state: PregelPartition, edges: dict, values: dict, active: dict) -> None:
    """Replace the partition's vertices and CSR, keeping the vertices in insertion order."""
    state.ids = list(values)
    state.position = {v: i for i, v in enumerate(state.ids)}
    state.values = [values[v] for v in state.ids]
    state.active = [active[v] for v in state.ids]
    indptr, dst, weight = [0], [], []
    for v in state.ids:
        out = edges[v]
        dst.extend(out)
        weight.extend(out.values())
        indptr.append(len(dst))
    state.out_indptr, state.out_dst, state.out_weight = indptr, dst, weight
