"""The bulk-synchronous barrier: what a partition reports and what the master decides.

Each superstep every partition returns a `SuperstepResult`. The master (or
the in-process driver) then calls `master_step` with all of them:

1. the aggregator partials are reduced (`aggregators.reduce_partials`);
2. the program's `master_compute(superstep, aggregates)` runs; True stops;
3. the run also stops when no vertex is active and no message was sent
   (Pregel's termination), or when `superstep + 1 == max_supersteps`.

The reduced aggregates go to every partition's next superstep. Messages are
not the master's business: each result's `outbox` maps a destination
partition to its batch, and whoever moves data delivers them (worker to
worker on a cluster, a dict in `local.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minibig.graph.aggregators import reduce_partials

NUM_VERTICES = "__num_vertices__"        # per-vertex programs report their vertex count under this name


@dataclass
class SuperstepResult:
    """What one partition's superstep produced."""

    partition: int
    superstep: int
    outbox: dict                      # destination partition -> Messages (vectorised) or PyMessages (Pregel)
    aggregates: dict                  # aggregator name -> this partition's partial
    active: int                       # vertices that have not voted to halt
    messages_sent: int                # after sender-side combining
    mutations: dict = field(default_factory=dict)   # destination partition -> [mutation], Pregel only


@dataclass
class Barrier:
    """The master's decision after a superstep."""

    superstep: int
    aggregates: dict
    halt: bool
    reason: str | None                # "converged" (all halted, no messages), "master", "max_supersteps"
    active: int
    messages: int


def master_step(program, superstep: int, results: list[SuperstepResult],
                max_supersteps: int | None = None) -> Barrier:
    """Reduce the aggregators of `superstep` and decide whether the run stops there."""
    partials = [dict(r.aggregates) for r in results]
    counts = [p.pop(NUM_VERTICES) for p in partials if NUM_VERTICES in p]
    aggregates = reduce_partials(getattr(program, "aggregators", {}) or {}, partials)
    if counts:                                       # per-vertex programs see the vertex count
        aggregates[NUM_VERTICES] = sum(counts)
    active = sum(r.active for r in results)
    messages = sum(r.messages_sent for r in results) + sum(
        len(batch) for r in results for batch in r.mutations.values())
    reason = None
    if program.master_compute(superstep, aggregates):
        reason = "master"
    elif active == 0 and messages == 0:
        reason = "converged"
    elif max_supersteps is not None and superstep + 1 >= max_supersteps:
        reason = "max_supersteps"
    return Barrier(superstep, aggregates, reason is not None, reason, active, messages)


def checkpoint_due(every: int | None, superstep: int) -> bool:
    """Whether a run checkpointing every `every` supersteps (0 or None: never) takes one before
    `superstep` (never before the first: the loaded graph is the run's first checkpoint)."""
    return bool(every) and superstep > 0 and superstep % every == 0


def partition_barrier(program, superstep: int, partials: dict, max_supersteps: int | None = None) -> Barrier:
    """`master_step` on each partition's partial report of `superstep` (partition -> (aggregator
    partials, active vertices, messages sent, anything more)), in partition order: the order
    that every task running the barrier, and the driver, reduce them in."""
    results = [SuperstepResult(q, superstep, {}, *partials[q][:3]) for q in sorted(partials)]
    return master_step(program, superstep, results, max_supersteps)
