"""Vectorised vertex programs: one call per partition per superstep, over numpy arrays.

A `VectorProgram` sees a whole `Partition` at once. `init(part)` sets
`part.values` and `part.active`; `compute(part, ctx)` runs once per
superstep and reads the inbox from `ctx`, updates `part.values` and
`part.active` in place, sends messages with `ctx.send*` and contributes to
aggregators with `ctx.aggregate`. Everything is numpy (or a numba kernel), so
a superstep costs a few array passes, not a Python call per vertex.

Semantics are Pregel's. Superstep 0 sees no messages. A vertex is "active"
until the program clears its flag (its vote to halt); the program decides
what a halted vertex does with a message: by convention `compute`
re-activates the vertices with `ctx.has_message`. The run ends when no vertex
is active and no message was sent, at `max_supersteps`, or when
`master_compute` says so (see `barrier.py`).

`combiner` is "sum", "min", "max" or None: with one, the messages to a vertex
are reduced on the sender before they leave the partition and `ctx.messages`
holds one value per vertex (the identity where `ctx.count == 0`); with None,
`ctx.messages[ctx.indptr[i]:ctx.indptr[i+1]]` are vertex i's messages, in
no particular order.
"""

from __future__ import annotations

import numpy as np

from minibig.graph.aggregators import fold
from minibig.graph.barrier import SuperstepResult
from minibig.graph.messages import (Inbox, Messages, check_combiner, combine, deliver, edge_plan,
                                    merge_outboxes, send_along_plan, split_by_owner)


class VectorProgram:
    """Base class of vectorised programs; subclasses define `init` and `compute`."""

    combiner: str | None = "sum"
    message_dtype = np.float64
    aggregators: dict = {}
    # False: in a session every task runs the barrier itself (`session.py`), so `master_compute`
    # and the aggregators' `reduce` run on every task, on the same partials in the same order:
    # they must be deterministic, with no side effects. True: the driver runs `master_compute`
    # between supersteps (a round trip through it each superstep).
    master_on_driver = False

    def init(self, part) -> None:
        """Set `part.values` and `part.active` before superstep 0."""
        raise NotImplementedError

    def compute(self, part, ctx: "VectorContext") -> None:
        """One superstep over the whole partition."""
        raise NotImplementedError

    def master_compute(self, superstep: int, aggregates: dict) -> bool:
        """Master logic after each superstep: True stops the run."""
        return False

    def last_superstep(self) -> int | None:
        """The superstep after which `master_compute` surely stops the run, when known before
        the run (None: not known). A cluster run then takes the vertices' outputs with that
        superstep's reports instead of asking for them after it."""
        return None

    def output(self, part) -> np.ndarray:
        """The final value of each local vertex (default: `part.values`)."""
        return part.values


class VectorContext:
    """A partition's view of one superstep: inbox, previous aggregates, and where to send."""

    def __init__(self, part, superstep: int, aggregates: dict, inbox: Inbox, program, combine_on_sender: bool):
        self.part = part
        self.superstep = superstep
        self.aggregates = aggregates
        self.count = inbox.count
        self.messages = inbox.values
        self.indptr = inbox.indptr
        self._program = program
        self._combiner = program.combiner if combine_on_sender else None
        self._outboxes: list[dict[int, Messages]] = []
        self.partials: dict = {}

    @property
    def has_message(self) -> np.ndarray:
        """Mask of the local vertices that received at least one message."""
        return self.count > 0

    def send(self, dst: np.ndarray, values: np.ndarray) -> None:
        """Messages to any vertices (dense indices), one value per destination entry."""
        batch = Messages(np.asarray(dst, np.int64), np.asarray(values))
        if self._combiner is not None:
            batch = combine(batch, self._combiner)
        self._outboxes.append(split_by_owner(batch, self.part.owner, self.part.num_partitions))

    def send_along_out_edges(self, edge_values: np.ndarray, edge_mask: np.ndarray | None = None) -> None:
        """One message per out-edge (where `edge_mask`), to the edge's destination."""
        self._outboxes.append(send_along_plan(edge_plan(self.part, "out"), np.asarray(edge_values),
                                              edge_mask, self._combiner))

    def send_along_in_edges(self, edge_values: np.ndarray, edge_mask: np.ndarray | None = None) -> None:
        """One message per in-edge (where `edge_mask`), back to the edge's source."""
        self._outboxes.append(send_along_plan(edge_plan(self.part, "in"), np.asarray(edge_values),
                                              edge_mask, self._combiner))

    def aggregate(self, name: str, value) -> None:
        """Contribute this partition's `value` to aggregator `name` (seen next superstep)."""
        aggregators = self._program.aggregators
        if name not in aggregators:
            raise KeyError(f"aggregate({name!r}): the program declares no such aggregator "
                           f"(it has {sorted(aggregators)})")
        fold(aggregators[name], self.partials, name, value)

    def outbox(self) -> dict[int, Messages]:
        """Everything sent this superstep, one batch per destination partition."""
        return merge_outboxes(self._outboxes, self._combiner)


def run_vector_superstep(part, program: VectorProgram, inbox: list[Messages], superstep: int,
                         aggregates: dict, combine_on_sender: bool = True) -> SuperstepResult:
    """Run one superstep of a vectorised program on one partition (initialising it at superstep 0)."""
    check_combiner(program.combiner)
    if part.values is None:
        program.init(part)
        if part.active is None:
            part.active = np.ones(len(part), dtype=bool)
    # combining on the sender leaves one message per vertex in each batch
    delivered = deliver(part, inbox, program.combiner, np.dtype(program.message_dtype),
                        distinct=combine_on_sender)
    ctx = VectorContext(part, superstep, aggregates, delivered, program, combine_on_sender)
    program.compute(part, ctx)
    outbox = ctx.outbox()
    return SuperstepResult(partition=part.index, superstep=superstep, outbox=outbox,
                           aggregates=ctx.partials, active=int(np.count_nonzero(part.active)),
                           messages_sent=sum(len(b) for b in outbox.values()))
