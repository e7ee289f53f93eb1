"""The bulk-synchronous loop of a graph run on a cluster, driven from the driver.

    run = run_cluster(graph, program, max_supersteps=None, checkpoint_every=10)
    run.outputs        # per partition: (vertex ids, str ones as an Arrow array; output values)

Sessions (the default; `session=False` turns them off): when every partition can have a
task slot at once, the whole run is one session (`session.py`): one long task per partition,
the outboxes sent from task to task, no `run_code` per superstep; the tasks run the barrier
themselves (the driver hears from them at checkpoints and at the end) unless the program's
`master_on_driver` asks for a small message each way per superstep. A session whose tasks
do not all start in time gives way to the superstep-by-superstep loop below, and a lost
partition rolls back as below (the rest of the run then goes superstep by superstep:
`_Run.run_session` says why). The rest of this docstring is that loop.

Each partition is put in a worker's resident store for the run once
(`LoadCode`; the master remembers which worker holds it): a graph the
workers loaded (`distload.py`) is taken from the worker that holds it, by
the first superstep's task itself (`SuperstepCode.load`: no load task), one
the driver cut is shipped. Then every superstep is one `run_code` call of
`SuperstepCode` with `prefer={p: [its resident key]}`: no lineage, no
planning. What comes back is one small `StepReport` per partition, from
which the driver runs the barrier (`master_step`) and starts the next
superstep.

Messages: small outboxes come back in the reports and go out again in the
next superstep's task payloads (`tasks`: inline), so a superstep of a few
messages touches no file; when some partition's outbox is over
`INLINE_LIMIT` the outboxes held on the workers are written as a shuffle
(`FlushCode`) and read from there, and while outboxes stay that big the
supersteps write their shuffle directly. A superstep's shuffle is dropped
once the next one has read it.

Checkpoints: every `checkpoint_every` supersteps the tasks of superstep s
also return their partition's state and inbox as it was before s (values
and halt flags for a vectorised program, the whole partition for a Pregel
one, which may mutate); the driver keeps them with the aggregates superstep
s received, so a worker's death never loses a checkpoint. When a superstep
finds a partition gone (`GraphStateLostError`) or a message block gone
(`FetchFailedError`), the driver drops that generation's resident
partitions and shuffles, loads every partition again with the last
checkpoint (onto whichever workers are alive; a new generation of keys, so
a stale copy can never be read) and runs again from that superstep; when
the dead worker held partitions of a graph the workers loaded, they load the
file again first.
Superstep 0 is the free checkpoint: the partitions as loaded.

Output: when the last superstep is known before the run (`max_supersteps`,
or the program's `last_superstep`, PageRank's `max_iter`), its tasks return
their partition's outputs with their reports (`SuperstepCode.output`), so
no output task follows; otherwise `OutputCode` runs once the barrier halts.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from minibig.errors import FetchFailedError
from minibig.graph.barrier import Barrier, checkpoint_due, partition_barrier
from minibig.graph.errors import GraphRunError, GraphStateLostError
from minibig.graph.session import Session, SessionCode, SessionUnavailable, usable
from minibig.graph.superstep import as_runnable
from minibig.graph.tasks import (FlushCode, LoadCode, OutputCode, ShuffleRef, SuperstepCode,
                                 raise_user_errors, resident_key)

DEFAULT_CHECKPOINT_EVERY = 10
MAX_ROLLBACKS = 8
DROP_BATCH = 32                  # shuffles dropped in one message to the master
# Bytes of outbox a task returns through the driver: past it, a worker-to-worker shuffle
# (one file write and read per partition) costs less than two hops through the driver.
INLINE_LIMIT = 64 * 1024

_run_ids = itertools.count()


@dataclass
class Checkpoint:
    """Where a rollback resumes: before `superstep`, with the aggregates it received."""

    superstep: int
    aggregates: dict
    blobs: list | None           # per partition (None: the partitions as loaded)


@dataclass
class ClusterRun:
    """A finished run: each partition's (ids, outputs), and how it went."""

    outputs: list
    supersteps: int
    barrier: Barrier
    rollbacks: int = 0
    # seconds: "load", "supersteps", "output", and "worker": of "supersteps", the slowest
    # partition's task time on its worker, summed over the supersteps
    timings: dict = field(default_factory=dict)
    # bytes: "messages", the outbox segments partitions sent each other; "session", what crossed
    # the driver's session socket (steps, reports, outputs: messages go worker to worker); and
    # "answers", how many reports, checkpoints and outputs the tasks sent the driver (a report
    # per superstep and partition when the driver runs the barrier; none when the tasks do)
    traffic: dict = field(default_factory=dict)


def run_cluster(graph, program, *, max_supersteps: int | None = None, combine_on_sender: bool = True,
                checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY, session: bool = True) -> ClusterRun:
    """Run `program` on the workers of `graph.sc` to its end; see the module docstring.

    `session`: the whole run as one session where the partitions fit the slots (False: a
    `run_code` per superstep, as when they do not).
    """
    run = _Run(graph, as_runnable(program), max_supersteps, combine_on_sender, checkpoint_every)
    run.sessions = session and usable(graph.sc, len(run.parts))
    return run.run()


class _Run:
    """One run's driver-side state: generation, checkpoint, shuffles to drop."""

    def __init__(self, graph, program, max_supersteps, combine_on_sender, checkpoint_every):
        self.graph, self.program = graph, program
        self.dag = graph.sc._dag
        self.backend = graph.sc._backend
        self.base = f"{graph.sc._driver_id}/graph{next(_run_ids)}g"
        self.max_supersteps = max_supersteps
        self.combine_on_sender = combine_on_sender
        self.every = checkpoint_every or 0
        self.parts = list(range(graph.num_partitions))
        self.generation = 0
        self.rollbacks = 0
        self.written: list[str] = []             # shuffles of this generation not dropped yet
        self.timings = {"load": 0.0, "supersteps": 0.0, "worker": 0.0, "output": 0.0}
        self.traffic = {"messages": 0, "session": 0, "answers": 0}
        self.taking: dict[int, dict] = {}        # tasks running the barrier: superstep -> {partition: blob}
        self.barrier: Barrier | None = None
        self.big = False                         # the last outboxes were over INLINE_LIMIT
        self.last = last_superstep(program, max_supersteps)
        self.outputs: list | None = None         # returned by the last superstep's tasks
        self.pending_load: LoadCode | None = None   # for the first superstep to run first
        self.sessions = False                    # run the supersteps in a session (`session.py`)
        self.checkpoint = Checkpoint(0, {}, None)   # superstep 0: the partitions as loaded
        self.received: dict = {}                 # in a session: the aggregates the next superstep gets
        self.lost_after = graph.sc.conf.worker_timeout

    @property
    def prefix(self) -> str:
        return f"{self.base}{self.generation}/"

    def shuffle(self, superstep: int) -> ShuffleRef:
        return ShuffleRef(f"{self.prefix}s{superstep}", len(self.parts))

    def run(self) -> ClusterRun:
        try:
            if self.graph.on_workers is None:
                self.load(self.checkpoint)
            else:                                # superstep 0's tasks put the partitions in place
                self.pending_load = LoadCode(self.prefix, self.program, graph_key=self.graph.on_workers.key)
            superstep, aggregates, inbox = 0, {}, None
            while True:
                try:
                    if self.sessions:
                        return self.run_session(superstep, aggregates)
                    reports = self.superstep(superstep, aggregates, inbox)
                    if reports is None:                  # halted: read the values
                        return self.finish(superstep)
                    taken, barrier, inbox = reports
                except SessionUnavailable:       # the slots are busy: superstep by superstep
                    self.sessions = False
                    continue
                except (GraphStateLostError, FetchFailedError) as exc:
                    self.roll_back(self.checkpoint, exc)
                    superstep, aggregates, inbox = self.checkpoint.superstep, self.checkpoint.aggregates, None
                    continue
                if taken is not None:
                    self.checkpoint = Checkpoint(superstep, aggregates, taken)
                self.barrier = barrier
                aggregates = barrier.aggregates
                superstep += 1
        finally:
            self.drop_shuffles(everything=True)
            self.backend.drop_blocks(self.base)

    def run_session(self, superstep: int, aggregates: dict) -> ClusterRun:
        """The supersteps from `superstep` on, in one session (`session.py`) to the run's end."""
        started = time.perf_counter()
        load = self.pending_load
        code = SessionCode(self.prefix, self.program, len(self.parts), self.combine_on_sender,
                           self.lost_after, load=load)
        prefer = self.graph.on_workers.prefer() if load else self.prefer()
        self.received, self.barrier = aggregates, None
        session = Session(self.graph.sc, self.parts, self.lost_after, self.base)
        try:
            outputs = session.run(code, prefer, superstep, self)
        except GraphStateLostError:
            # The rollback loads every partition, and the run goes on superstep by superstep: a
            # session needs each partition's task where the partition lives, all at once, and
            # the loss may be just that (two partitions on a worker with one free slot: the
            # second task ran elsewhere after the locality wait, and would again each time).
            self.pending_load, self.sessions = None, False
            raise
        finally:
            self.timings["supersteps"] += time.perf_counter() - started
            self.traffic["session"] += session.received_bytes + session.sent_bytes
            self.traffic["answers"] += session.answers
        self.outputs = outputs if outputs is not None else self.outputs
        return ClusterRun(self.outputs, self.barrier.superstep + 1, self.barrier, self.rollbacks, self.timings,
                          self.traffic)

    def plan(self, superstep: int) -> tuple[dict, bool, bool]:
        """A session superstep's (aggregates, checkpoint?, outputs?)."""
        take = checkpoint_due(self.every, superstep)
        return self.received, take, superstep == self.last

    def after(self, superstep: int, reports: list) -> tuple[bool, bool]:
        """A session superstep's barrier: (halt, outputs still wanted)."""
        raise_user_errors(reports)
        self.timings["worker"] += max(r.seconds for r in reports)
        self.traffic["messages"] += sum(sum(r.sizes) for r in reports)
        aggregates, take, final = self.plan(superstep)
        if take:
            self.checkpoint = Checkpoint(superstep, aggregates, [r.checkpoint for r in reports])
        self.barrier = partition_barrier(self.program, superstep, partials_of(reports), self.max_supersteps)
        self.received = self.barrier.aggregates
        if final and self.barrier.halt:
            self.outputs = [r.output for r in sorted(reports, key=lambda r: r.partition)]
        return self.barrier.halt, self.barrier.halt and self.outputs is None

    def checkpointed(self, partition: int, superstep: int, aggregates: dict, blob: bytes) -> None:
        """A session task's checkpoint before `superstep` (the tasks run the barrier, and do not
        wait for the driver): the run's checkpoint once every partition's has come."""
        blobs = self.taking.setdefault(superstep, {})
        blobs[partition] = blob
        if len(blobs) == len(self.parts):       # each task sends its checkpoints in order: older ones are complete
            self.checkpoint = Checkpoint(superstep, aggregates, [blobs[p] for p in self.parts])
            self.taking = {s: b for s, b in self.taking.items() if s > superstep}

    def finished(self, answers: list) -> list:
        """The tasks that ran the barrier halted: their last barrier and counts; the outputs."""
        self.barrier = answers[0]["barrier"]     # the same on every task
        self.timings["worker"] += answers[0]["worker"]
        self.traffic["messages"] += sum(a["sent"] for a in answers)
        return [a["output"] for a in answers]

    def load(self, checkpoint: Checkpoint) -> None:
        """Put every partition, at `checkpoint`, in its worker's resident store for this run."""
        started = time.perf_counter()
        try:
            self.place(checkpoint)
        except GraphStateLostError:              # a worker died with a partition the workers loaded
            self.graph.on_workers.reload()
            self.place(checkpoint)
        self.timings["load"] += time.perf_counter() - started

    def place(self, checkpoint: Checkpoint) -> None:
        blobs = checkpoint.blobs or [None] * len(self.parts)
        loaded = self.graph.on_workers
        if loaded is None:                       # the driver holds the partitions: ship them
            payloads = {p: (self.graph.partitions[p], blobs[p], checkpoint.superstep) for p in self.parts}
            code, prefer = LoadCode(self.prefix, self.program, self.graph.index), None
        else:
            payloads = {p: (None, blobs[p], checkpoint.superstep) for p in self.parts}
            code, prefer = LoadCode(self.prefix, self.program, graph_key=loaded.key), loaded.prefer()
        self.dag.run_code(code, self.parts, f"graph {self.base} load", payloads=payloads, prefer=prefer,
                          speculate=False)

    def superstep(self, superstep: int, aggregates: dict, inbox):
        """Run one superstep; (checkpoint blobs or None, barrier, next inbox), or None once halted.

        `inbox` is where the superstep's messages are: None (the resident
        inbox), a ShuffleRef, or per partition the inline segments sent to it.
        """
        if self.barrier is not None and self.barrier.halt:
            return None
        started = time.perf_counter()
        final = superstep == self.last
        writes = self.shuffle(superstep) if self.big and not final else None
        take = checkpoint_due(self.every, superstep)
        reads = inbox if isinstance(inbox, ShuffleRef) else None
        load, self.pending_load = self.pending_load, None
        code = SuperstepCode(self.prefix, self.program, superstep, aggregates, reads, writes,
                             len(self.parts), self.combine_on_sender, take, INLINE_LIMIT, output=final,
                             load=load)
        if writes is not None:
            self.written.append(writes.shuffle_key)
        reports = self.dag.run_code(code, self.parts, f"graph {self.base} superstep {superstep}",
                                    payloads=inbox if isinstance(inbox, dict) else None,
                                    reads=[reads] if reads is not None else [], writes=writes,
                                    prefer=self.graph.on_workers.prefer() if load else self.prefer(),
                                    speculate=False)
        raise_user_errors(reports)
        self.timings["worker"] += max(r.seconds for r in reports)
        self.traffic["messages"] += sum(sum(r.sizes) for r in reports)
        barrier = partition_barrier(self.program, superstep, partials_of(reports), self.max_supersteps)
        if final and barrier.halt:
            self.outputs = [r.output for r in sorted(reports, key=lambda r: r.partition)]
        self.big = any(sum(r.sizes) > INLINE_LIMIT for r in reports)
        if writes is not None:
            following = writes
        elif barrier.halt:                   # nobody reads these messages
            following = None
        elif any(r.held for r in reports):
            following = self.flush(superstep)
        else:
            following = self.inline_inboxes(reports)
        self.drop_shuffles()
        self.timings["supersteps"] += time.perf_counter() - started
        return ([r.checkpoint for r in reports] if take else None), barrier, following

    def prefer(self) -> dict:
        """Run each partition's task where the partition lives.

        Graph stages also pass `speculate=False`: a backup copy on another
        worker finds no state, fails, and counts against that worker.
        """
        return {p: [resident_key(self.prefix, p)] for p in self.parts}

    def flush(self, superstep: int) -> ShuffleRef:
        """Write the outboxes the workers held back as `superstep`'s shuffle."""
        writes = self.shuffle(superstep)
        self.written.append(writes.shuffle_key)
        self.dag.run_code(FlushCode(self.prefix, superstep, writes), self.parts,
                          f"graph {self.base} superstep {superstep} messages",
                          writes=writes, prefer=self.prefer(), speculate=False)
        return writes

    def inline_inboxes(self, reports: list) -> dict:
        """Per partition, the segments sent to it, in sending-partition order."""
        ordered = sorted(reports, key=lambda r: r.partition)
        return {q: [r.segments[q] for r in ordered if r.segments[q]] for q in self.parts}

    def finish(self, supersteps: int) -> ClusterRun:
        if self.outputs is not None:             # the last superstep returned them
            return ClusterRun(self.outputs, supersteps, self.barrier, self.rollbacks, self.timings, self.traffic)
        started = time.perf_counter()
        outputs = self.dag.run_code(OutputCode(self.prefix, self.program), self.parts,
                                    f"graph {self.base} output", prefer=self.prefer(), speculate=False)
        self.timings["output"] += time.perf_counter() - started
        return ClusterRun(outputs, supersteps, self.barrier, self.rollbacks, self.timings, self.traffic)

    def roll_back(self, checkpoint: Checkpoint, exc: BaseException) -> None:
        """Forget this generation everywhere and load the checkpoint as the next one."""
        self.rollbacks += 1
        if self.rollbacks > MAX_ROLLBACKS:
            raise GraphRunError(f"graph run {self.base}: partitions lost {self.rollbacks} times; "
                                f"last: {exc}") from exc
        self.drop_shuffles(everything=True)
        self.backend.drop_blocks(self.prefix)
        self.generation += 1
        self.barrier = None
        self.big = False
        self.load(checkpoint)

    def drop_shuffles(self, everything: bool = False) -> None:
        """Drop the shuffles already read (all of them with `everything`), a batch at a time."""
        keep = 0 if everything else 1                  # the last one is the next superstep's inbox
        done = self.written[:len(self.written) - keep]
        if done and (everything or len(done) >= DROP_BATCH):
            self.backend.drop_shuffles(done)
            del self.written[:len(done)]


def partials_of(reports: list) -> dict:
    """The superstep reports' partials for `barrier.partition_barrier`."""
    return {r.partition: (r.aggregates, r.active, r.messages_sent) for r in reports}


def last_superstep(program, max_supersteps: int | None) -> int | None:
    """The superstep after which the run surely ends, when known before it starts (None: not)."""
    known = [max_supersteps - 1] if max_supersteps else []
    declared = getattr(program, "last_superstep", None)
    if declared is not None and declared() is not None:
        known.append(declared())
    return min(known) if known else None

