"""The task codes a graph run ships to the workers (the task protocol of `minibig.core.task`).

A run keeps each partition on a worker, in the worker's `ResidentStore`,
under a key `"<driver>/graph<run>g<generation>/p<partition>"` that the task
lists in `ctx.cached`, so the master knows where it lives and sends the
partition's later tasks there. Three kinds of task:

    LoadCode       put a partition (shipped by the driver, possibly with a
                   checkpoint to resume from) in the resident store
    SuperstepCode  one superstep of one partition: read the inbox the other
                   partitions wrote in the previous superstep, run
                   `run_superstep`, write this superstep's outbox as one
                   shuffle map output whose reducer p is partition p; return
                   only the small `StepReport` (aggregates, counts,
                   optionally a checkpoint) to the driver
    OutputCode     the final value of every vertex of a partition

Messages travel worker to worker as shuffle blocks (`shuffle.blocks`): the
segment for partition p holds one pickled `(batch, mutations)` pair, or
nothing. Reading them back is `ctx.fetch_shuffle` + `read_batches`, in map
(sending partition) order, which is the order Pregel's mutations need.

A task that does not find its partition at the expected superstep (its
worker died and the master ran it elsewhere) raises `GraphStateLostError`;
the driver then rolls every partition back to the last checkpoint.
An exception in the user's program is returned, not raised, so the master
does not retry it on other workers (where it would only find no state).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np

from minibig.core.task import TaskCode
from minibig.errors import format_user_traceback
from minibig.graph.errors import GraphStateLostError
from minibig.graph.partition import Partition
from minibig.graph.superstep import prepare, run_superstep
from minibig.shuffle.blocks import write_output_stream
from minibig.shuffle.reader import read_batches


@dataclass
class ShuffleRef:
    """A superstep's message shuffle, as `run_code`'s `reads=` / `writes=` want it."""

    shuffle_key: str
    num_maps: int


@dataclass
class Resident:
    """What a worker keeps for one partition between supersteps."""

    state: object                     # Partition (vectorised) or PregelPartition
    superstep: int                    # the next superstep this state is ready for
    inbox: list | None = None         # messages for that superstep, when loaded from a checkpoint
    mutations: list = field(default_factory=list)


@dataclass
class StepReport:
    """What a superstep task sends to the driver: no messages, no vertex values."""

    partition: int
    aggregates: dict
    active: int
    messages_sent: int                # messages plus mutation requests, after combining
    sizes: list                       # bytes of the outbox segment for each partition
    checkpoint: bytes | None = None   # state and inbox before this superstep, when asked
    error: object = None              # (exception or None, formatted traceback) from user code


def checkpoint_blob(state, inbox: list, mutations: list) -> bytes:
    """A partition's state and pending messages; a vectorised one saves only values and flags."""
    if isinstance(state, Partition):           # topology never changes: the driver has it
        saved = ("vector", state.values, state.active)
    else:                                      # Pregel mutations may change the topology
        saved = ("pregel", state)
    return pickle.dumps((saved, inbox, mutations), protocol=5)


def apply_checkpoint(state, blob: bytes):
    """(state, inbox, mutations) from a prepared state and a `checkpoint_blob`."""
    saved, inbox, mutations = pickle.loads(blob)
    if saved[0] == "vector":
        state.values, state.active = saved[1], saved[2]
    else:
        state = saved[1]
    return state, inbox, mutations


@dataclass
class LoadCode(TaskCode):
    """Put partition `ctx.partition` into the worker's resident store.

    The payload is `(Partition, checkpoint blob or None, superstep)`.
    """

    prefix: str                       # "<driver>/graph<run>g<generation>/"
    program: object
    index: object = None              # the VertexIndex, for per-vertex programs

    def run(self, ctx):
        part, blob, superstep = ctx.payloads["task"]
        state = prepare(part, self.program, self.index)
        inbox, mutations = [], []
        if blob is not None:
            state, inbox, mutations = apply_checkpoint(state, blob)
        key = resident_key(self.prefix, ctx.partition)
        ctx.resident.put(key, Resident(state, superstep, inbox, mutations))
        ctx.cached.append(key)
        return ctx.worker_id


@dataclass
class SuperstepCode(TaskCode):
    """One superstep of every partition; see the module docstring."""

    prefix: str
    program: object
    superstep: int
    aggregates: dict
    reads: ShuffleRef | None          # the previous superstep's messages (None: the resident inbox)
    writes: ShuffleRef
    combine_on_sender: bool = True
    checkpoint: bool = False

    def run(self, ctx):
        entry = ctx.resident.get(resident_key(self.prefix, ctx.partition))
        if entry is None or entry.superstep != self.superstep:
            found = "nothing" if entry is None else f"superstep {entry.superstep}"
            raise GraphStateLostError(f"partition {ctx.partition} of {self.prefix} is not on worker "
                                      f"{ctx.worker_id} at superstep {self.superstep} (found {found})")
        if self.reads is None:
            inbox, mutations = entry.inbox or [], entry.mutations
        else:
            inbox, mutations = read_messages(ctx, self.reads)
        blob = checkpoint_blob(entry.state, inbox, mutations) if self.checkpoint else None
        try:
            result = run_superstep(entry.state, self.program, inbox, self.superstep, self.aggregates,
                                   mutations=mutations, combine_on_sender=self.combine_on_sender)
        except Exception as exc:             # the user's error: no retry elsewhere would help
            entry.superstep = -1             # the state is half-updated: never run on it again
            return StepReport(ctx.partition, {}, 0, 0, [], error=_user_error(exc))
        sizes = write_messages(ctx, self.writes, result.outbox, result.mutations)
        entry.superstep, entry.inbox, entry.mutations = self.superstep + 1, None, []
        sent = result.messages_sent + sum(len(m) for m in result.mutations.values())
        return StepReport(ctx.partition, result.aggregates, result.active, sent, sizes, blob)

    def result_fields(self, value):
        return {"sizes": value.sizes}        # lets the master place readers near big outboxes


@dataclass
class OutputCode(TaskCode):
    """The final `(ids, values)` of a partition, as lists."""

    prefix: str
    program: object

    def run(self, ctx):
        from minibig.graph.vectorized import VectorProgram
        entry = ctx.resident.get(resident_key(self.prefix, ctx.partition))
        if entry is None:
            raise GraphStateLostError(f"partition {ctx.partition} of {self.prefix} is not on "
                                      f"worker {ctx.worker_id}")
        state = entry.state
        if isinstance(self.program, VectorProgram):
            return state.ids.tolist(), np.asarray(self.program.output(state)).tolist()
        out = state.output(self.program)
        return list(out), list(out.values())


def resident_key(prefix: str, partition: int) -> str:
    """The resident-store key of one partition of a run generation."""
    return f"{prefix}p{partition}"


def read_messages(ctx, ref: ShuffleRef) -> tuple[list, list]:
    """(message batches, mutation requests) sent to this partition, in sending-partition order."""
    inbox, mutations = [], []
    for batch, requests in read_batches(ctx.fetch_shuffle(ref, ctx.partition)):
        if batch is not None:
            inbox.append(batch)
        mutations.extend(requests)
    return inbox, mutations


def write_messages(ctx, ref: ShuffleRef, outbox: dict, mutations: dict) -> list[int]:
    """Write this partition's outbox as its map output of `ref`; the segment sizes."""
    def segment(p, out):
        batch, requests = outbox.get(p), mutations.get(p) or []
        if batch is not None or requests:
            pickle.dump((batch, requests), out, protocol=5)
    return write_output_stream(ctx.work_dir, ref.shuffle_key, ctx.partition, ref.num_maps, segment)


def _user_error(exc: BaseException):
    text = format_user_traceback(exc)
    exc.__traceback__ = None
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:                        # not picklable: the driver raises a stand-in
        exc = None
    return exc, text
