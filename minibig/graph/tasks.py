"""The task codes a graph run ships to the workers (the task protocol of `minibig.core.task`).

A run keeps each partition on a worker, in the worker's `ResidentStore`,
under a key `"<driver>/graph<run>g<generation>/p<partition>"` that the task
lists in `ctx.cached`, so the master knows where it lives and sends the
partition's later tasks there. Four kinds of task:

    LoadCode       put a partition (shipped by the driver, possibly with a
                   checkpoint to resume from) in the resident store
    SuperstepCode  one superstep of one partition: take the inbox the other
                   partitions sent in the previous superstep, run
                   `run_superstep`, send this superstep's outbox; return a
                   small `StepReport` (aggregates, counts, optionally a
                   checkpoint, and a small outbox itself) to the driver
    FlushCode      write the outboxes a superstep held back as its shuffle
    OutputCode     the final value of every vertex of a partition (str ids as
                   one Arrow array: `ids.packed_ids`), unless the run's last
                   superstep was known in advance and returned it
                   (`SuperstepCode.output`)

The messages a partition sends itself stay in its resident entry, never
pickled (with 2 partitions, about half of them). The rest of an outbox is
one segment per receiving partition: one pickled `(sender, batch,
mutations)`, or nothing. Segments travel one of two ways, the same way for
every partition of a superstep (`SuperstepCode.writes`):

    inline   (writes None) the task keeps its segments in its resident entry
             and, when they total at most `inline_limit` bytes, returns them
             in its report; the driver hands partition q the segments sent
             to it in its next task's payload. No file is touched, which is
             most of a small superstep's cost. When some partition's outbox
             was bigger, the driver runs `FlushCode`, which writes every
             held outbox as the superstep's shuffle, and the next superstep
             reads that instead.
    shuffle  (writes a ShuffleRef) the task writes its outbox as one shuffle
             map output whose reducer p is partition p: the driver chooses
             this when the last superstep's outboxes were big.

Either way the inbox is read in sending-partition order (the own batch in
its place), the order Pregel's mutations need.

A task that does not find its partition at the expected superstep (its
worker died and the master ran it elsewhere) raises `GraphStateLostError`;
the driver then rolls every partition back to the last checkpoint.
An exception in the user's program is returned, not raised, so the master
does not retry it on other workers (where it would only find no state).
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field

import numpy as np

from minibig.core.task import TaskCode
from minibig.errors import TaskError, format_user_traceback
from minibig.graph.errors import GraphStateLostError
from minibig.graph.partition import Partition, partition_key
from minibig.graph.superstep import prepare, run_superstep
from minibig.graph.vectorized import VectorProgram
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
    held: list | None = None          # inline mode: this superstep's outbox segments, until flushed
    own: object = None                # the batch this partition sent itself: it never leaves memory


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
    segments: list | None = None      # inline: the outbox (bytes or None per partition), if small
    held: bool = False                # inline: the outbox was too big to return; flush it
    output: tuple | None = None       # the run's last superstep: the partition's (ids, outputs)
    seconds: float = 0.0              # the task's time on the worker, from payload to report


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

    The payload is `(Partition or None, checkpoint blob or None, superstep)`;
    None: the workers loaded the graph (`distload.py`) and the partition is
    the resident one under `graph_key`.
    """

    prefix: str                       # "<driver>/graph<run>g<generation>/"
    program: object
    index: object = None              # the VertexIndex, for per-vertex programs
    graph_key: str | None = None      # where a graph the workers loaded keeps its partitions

    def run(self, ctx):
        self.install(ctx, *ctx.payloads["task"])
        return ctx.worker_id

    def install(self, ctx, part, blob, superstep: int) -> None:
        """Put `part` (None: the resident one the workers loaded), at `blob`, in place."""
        index = self.index
        if part is None:
            part, index = self.loaded(ctx)
        state = prepare(part, self.program, index)
        inbox, mutations = [], []
        if blob is not None:
            state, inbox, mutations = apply_checkpoint(state, blob)
        key = resident_key(self.prefix, ctx.partition)
        ctx.resident.put(key, Resident(state, superstep, inbox, mutations))
        ctx.cached.append(key)

    def loaded(self, ctx):
        """(Partition, VertexIndex) the workers loaded; `GraphStateLostError` when not here."""
        entry = ctx.resident.get(partition_key(self.graph_key, ctx.partition))
        if entry is None:
            raise GraphStateLostError(f"partition {ctx.partition} of graph {self.graph_key} is not on "
                                      f"worker {ctx.worker_id}")
        return entry


@dataclass
class SuperstepCode(TaskCode):
    """One superstep of every partition; see the module docstring.

    The payload is the inline inbox: the segments sent to this partition, in
    sending order (None: the inbox is `reads`, or the resident one a
    checkpoint loaded).
    """

    prefix: str
    program: object
    superstep: int
    aggregates: dict
    reads: ShuffleRef | None          # the previous superstep's message shuffle, if it had one
    writes: ShuffleRef | None         # this superstep's shuffle (None: inline)
    partitions: int                   # how many partitions the graph has
    combine_on_sender: bool = True
    checkpoint: bool = False
    inline_limit: int = 0             # bytes of outbox a task may return in its report
    # the run surely ends after this superstep: return the outputs, and hold the outbox (never
    # returned: the driver flushes it only if the run goes on after all)
    output: bool = False
    # a run's first superstep on a graph the workers loaded: put the partition in place first,
    # with no load task of its own (a round trip less)
    load: LoadCode | None = None

    def run(self, ctx):
        started = time.perf_counter()
        report = self.step(ctx)
        report.seconds = time.perf_counter() - started
        return report

    def step(self, ctx) -> StepReport:
        """The superstep itself; see `run`."""
        report, outbox, mutations = self.compute(ctx)
        if report.error is not None:
            return report
        if self.writes is not None:
            report.sizes = write_messages(ctx, self.writes, outbox, mutations)
            return report
        segments = outbox_segments(self.partitions, ctx.partition, outbox, mutations)
        report.sizes = [len(s) if s else 0 for s in segments]
        find_resident(ctx, self.prefix, self.superstep + 1).held = segments
        if self.output:
            report.held = any(report.sizes)
        elif sum(report.sizes) <= self.inline_limit:
            report.segments = segments
        else:
            report.held = True
        return report

    def compute(self, ctx, received: list | None = None) -> tuple[StepReport, dict, dict]:
        """Run the superstep on the resident partition: (its report, without sizes; the batch
        for each other partition; the mutation requests for each). `received`: the inbox as
        `(sender, batch, requests)` in sending order, when the caller has it (a session), else
        from `reads`, the payload, or the resident entry. A user error comes back in the report,
        with nothing to send."""
        if self.load is not None:
            self.load.install(ctx, None, None, self.superstep)
        entry = find_resident(ctx, self.prefix, self.superstep)
        inbox, mutations = self.inbox(ctx, entry, received)
        blob = checkpoint_blob(entry.state, inbox, mutations) if self.checkpoint else None
        try:
            result = run_superstep(entry.state, self.program, inbox, self.superstep, self.aggregates,
                                   mutations=mutations, combine_on_sender=self.combine_on_sender)
        except Exception as exc:             # the user's error: no retry elsewhere would help
            entry.superstep = -1             # the state is half-updated: never run on it again
            return StepReport(ctx.partition, {}, 0, 0, [], error=user_error(exc)), {}, {}
        entry.superstep, entry.inbox, entry.mutations = self.superstep + 1, None, []
        sent = result.messages_sent + sum(len(m) for m in result.mutations.values())
        report = StepReport(ctx.partition, result.aggregates, result.active, sent, [], blob)
        entry.own = result.outbox.pop(ctx.partition, None)    # no pickle, no file for these
        if self.output:
            report.output = partition_output(entry.state, self.program)
        return report, result.outbox, result.mutations

    def inbox(self, ctx, entry, received: list | None = None) -> tuple[list, list]:
        """(message batches, mutation requests) for this superstep, from wherever they are,
        in sending-partition order (the batch this partition sent itself in its place)."""
        entry.held = None                    # last superstep's outbox has been delivered
        own, entry.own = entry.own, None
        if received is None and self.reads is not None:
            received = read_messages(ctx, self.reads)
        elif received is None:
            segments = ctx.payloads.get("task")
            if segments is None:             # loaded from a checkpoint
                return entry.inbox or [], entry.mutations
            received = [pickle.loads(segment) for segment in segments]
        return in_sending_order(received, ctx.partition, own)

    def result_fields(self, value):
        """Outbox sizes (the master places readers near big outboxes) and the superstep's
        counts, which the master records in its task events for the web UI."""
        return {"sizes": value.sizes, "superstep": self.superstep,
                "messages_sent": int(value.messages_sent), "active_vertices": int(value.active)}


@dataclass
class FlushCode(TaskCode):
    """Write the outbox an inline superstep held back as that superstep's shuffle."""

    prefix: str
    superstep: int                    # the superstep that held the outboxes
    writes: ShuffleRef

    def run(self, ctx):
        entry = find_resident(ctx, self.prefix, self.superstep + 1)
        if entry.held is None:
            raise GraphStateLostError(f"partition {ctx.partition} of {self.prefix} holds no outbox "
                                      f"of superstep {self.superstep} on worker {ctx.worker_id}")
        segments, entry.held = entry.held, None

        def segment(p, out):
            if segments[p]:
                out.write(segments[p])
        return write_output_stream(ctx.work_dir, self.writes.shuffle_key, ctx.partition,
                                   self.writes.num_maps, segment)

    def result_fields(self, value):
        return {"sizes": value}


@dataclass
class OutputCode(TaskCode):
    """The final `(ids, values)` of a partition: numpy arrays (vectorised programs) or lists."""

    prefix: str
    program: object

    def run(self, ctx):
        entry = ctx.resident.get(resident_key(self.prefix, ctx.partition))
        if entry is None:
            raise GraphStateLostError(f"partition {ctx.partition} of {self.prefix} is not on "
                                      f"worker {ctx.worker_id}")
        return partition_output(entry.state, self.program)


def partition_output(state, program) -> tuple:
    """`(ids, outputs)` of a partition: numpy arrays (str ids as Arrow: buffers pickle fast) or
    lists (per-vertex programs)."""
    if isinstance(program, VectorProgram):
        return state.packed_ids, np.asarray(program.output(state))
    out = state.output(program)
    return list(out), list(out.values())


def resident_key(prefix: str, partition: int) -> str:
    """The resident-store key of one partition of a run generation."""
    return f"{prefix}p{partition}"


def find_resident(ctx, prefix: str, superstep: int) -> Resident:
    """This task's partition, ready for `superstep`; `GraphStateLostError` when it is not here."""
    entry = ctx.resident.get(resident_key(prefix, ctx.partition))
    if entry is None or entry.superstep != superstep:
        found = "nothing" if entry is None else f"superstep {entry.superstep}"
        raise GraphStateLostError(f"partition {ctx.partition} of {prefix} is not on worker "
                                  f"{ctx.worker_id} at superstep {superstep} (found {found})")
    return entry


def outbox_segments(partitions: int, sender: int, outbox: dict, mutations: dict) -> list:
    """The outbox as one pickled `(sender, batch, mutations)` per receiving partition (None: nothing)."""
    segments = [None] * partitions
    for p in set(outbox) | set(mutations):
        batch, requests = outbox.get(p), mutations.get(p) or []
        if batch is not None or requests:
            segments[p] = pickle.dumps((sender, batch, requests), protocol=5)
    return segments


def in_sending_order(received: list, receiver: int, own) -> tuple[list, list]:
    """(message batches, mutation requests) of `(sender, batch, requests)` triples given in
    sending order, with the receiver's own batch put where its sends belong."""
    inbox, mutations = [], []
    for sender, batch, requests in received:
        if own is not None and sender > receiver:
            inbox.append(own)
            own = None
        if batch is not None:
            inbox.append(batch)
        mutations.extend(requests)
    if own is not None:
        inbox.append(own)
    return inbox, mutations


def read_messages(ctx, ref: ShuffleRef) -> list:
    """The `(sender, batch, requests)` sent to this partition, in sending-partition order."""
    return list(read_batches(ctx.fetch_shuffle(ref, ctx.partition)))


def write_messages(ctx, ref: ShuffleRef, outbox: dict, mutations: dict) -> list[int]:
    """Write this partition's outbox as its map output of `ref`; the segment sizes."""
    def segment(p, out):
        batch, requests = outbox.get(p), mutations.get(p) or []
        if batch is not None or requests:
            pickle.dump((ctx.partition, batch, requests), out, protocol=5)
    return write_output_stream(ctx.work_dir, ref.shuffle_key, ctx.partition, ref.num_maps, segment)


def raise_user_errors(reports: list) -> None:
    """Raise the first exception a partition's program raised, with the worker's traceback."""
    for report in reports:
        if report.error is not None:
            raise_remote(report.error, report.partition, "vertex program failed")


def raise_remote(error: tuple, partition: int, what: str) -> None:
    """Raise a task's `user_error`: its exception (a `TaskError` when it did not pickle), with
    a note saying `what` happened in `partition` and the worker's traceback."""
    exc, text = error
    if exc is None:
        exc = TaskError(text.strip().splitlines()[-1] if text.strip() else what)
    exc.add_note(f"minibig: {what} in partition {partition}\n--- remote traceback ---\n{text.rstrip()}")
    raise exc


def user_error(exc: BaseException):
    """`(exc or None, formatted traceback)` of a user's exception, for a report: None when `exc`
    does not pickle (the driver raises a `TaskError` with the traceback instead)."""
    text = format_user_traceback(exc)
    exc.__traceback__ = None
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:                        # not picklable: the driver raises a stand-in
        exc = None
    return exc, text
