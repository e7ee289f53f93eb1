"""The per-partition entry points a worker-side superstep task calls.

    states = prepare(partitions, program)               # once per run, per partition
    result = run_superstep(state, program, inbox, superstep, aggregates,
                           mutations=..., combine_on_sender=True)
    barrier = master_step(program, superstep, results, max_supersteps)   # on the master

`state` is a `Partition` for a `VectorProgram` (inbox: a list of `Messages`)
and a `PregelPartition` for a `VertexProgram` or `GASProgram` (inbox: a list
of `PyMessages`; `mutations`: the mutation requests addressed to this
partition in the previous superstep). `aggregates` are the values the barrier
reduced after the previous superstep ({} before superstep 0). The result's
`outbox[p]` (and `mutations[p]`) must be delivered to partition p before its
next superstep; `snapshot(state, inbox)` / `restore(blob)` checkpoint a
partition between supersteps.
"""

from __future__ import annotations

from minibig.graph.barrier import SuperstepResult
from minibig.graph.gas import GASProgram, as_vertex_program
from minibig.graph.pregel import PregelPartition, VertexProgram, run_pregel_superstep
from minibig.graph.vectorized import VectorProgram, run_vector_superstep


def as_runnable(program):
    """The program the superstep runs: a GAS program runs as its Pregel adapter."""
    if isinstance(program, GASProgram):
        return as_vertex_program(program)
    if isinstance(program, (VectorProgram, VertexProgram)):
        return program
    raise TypeError(f"not a vertex program: {type(program).__name__} "
                    "(subclass VectorProgram, VertexProgram or GASProgram)")


def prepare(part, program, index=None):
    """A partition's state at the start of a run of `program` (the topology is shared, not copied).

    `index` (the graph's `VertexIndex`) names the vertices for per-vertex programs.
    """
    program = as_runnable(program)
    if isinstance(program, VectorProgram):
        return part.fresh()
    return PregelPartition.from_partition(part, index)


def run_superstep(state, program, inbox, superstep: int, aggregates: dict, *, mutations=(),
                  combine_on_sender: bool = True) -> SuperstepResult:
    """Run one superstep of `program` on one partition's state; see the module docstring."""
    program = as_runnable(program)
    if isinstance(program, VectorProgram):
        if mutations:
            raise ValueError("vectorised programs cannot mutate the graph")
        return run_vector_superstep(state, program, inbox, superstep, aggregates, combine_on_sender)
    return run_pregel_superstep(state, program, inbox, superstep, aggregates, mutations, combine_on_sender)
