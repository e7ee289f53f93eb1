"""A graph run's supersteps as one long task per partition, the barrier run by the tasks themselves.

    session = Session(sc, parts, lost_after=10.0, name=run_name)
    outputs = session.run(code, prefer, first_superstep, driver)   # until the barrier halts

The barrier on the tasks (a program whose `master_on_driver` is False: the
vectorised ones and GAS): the driver sends each task one `step` and hears
nothing more per superstep. After superstep s each task sends every other task its
segment of s together with its partial report (aggregator partials, active
vertices, messages sent, seconds); once it holds every peer's segment of s it
knows everyone finished s, reduces the partials itself in partition order
(`barrier.master_step`: the aggregators' `reduce` and `master_compute` run
on every task, on the same partials in the same order, so every task reaches
the same aggregates and the same halting decision) and goes on to s+1. One
partition alone loops with no socket at all. The driver hears from a task
only at checkpoints (every K supersteps it sends its blob and goes on: the
driver keeps the checkpoint once every partition's came), at the end (its
outputs, and the run's last barrier and counts), and on a program's error,
plus the heartbeats below. A program whose `master_on_driver` is True
(per-vertex Pregel programs, whose `master_compute` may keep state on the
driver) is driven superstep by superstep as follows.

A superstep as a `run_code` call costs a task round trip through the master
(~4.5 ms on a 2-core machine) and, past `INLINE_LIMIT`, a shuffle file per
outbox: most of a small superstep. In a session every partition's task
(`SessionCode`) is started once, with `run_code`, and stays: the driver binds
a ZeroMQ ROUTER, each task connects a DEALER to it, and per superstep the
driver sends each task one small `step` (superstep, aggregates, whether to
checkpoint or return outputs) and each task answers one small `report` (the
`StepReport` of `tasks.py`: counts, aggregates, outbox sizes). The driver
runs the barrier between the two.

Messages go worker to worker (`Peers`): each task binds a ROUTER of its own
and says where in its hello; the driver hands every task the others'
addresses with the session's first step, and each task connects a DEALER to
each other task. After computing superstep s a task sends every other task
one message (its outbox segment for it, or an empty one: the receiver counts
on one per sender) and only then its report, so when the driver sends step
s+1 every segment of s is on its way; a task waits for all of them before
computing s+1. Each segment carries the session's token (random, made by the
driver, in every task's payload): a segment with another token (a lingering
task of an earlier session whose socket reached a reused port) or from a
partition that is not a peer is dropped and counted (`Peers.foreign`), not
taken for a peer's. A destination array the same as the one last sent to that
partition (PageRank's: its edges' targets there, every superstep) is not sent
again: the receiver keeps each sender's last one, for the session only (a
rollback ends the session).

Transport: with the master on loopback every task runs on this machine, and
every socket (the driver's and the tasks') is an ipc:// path in one folder
only this user may enter (mode 0700, made by the driver): no CurveZMQ, whose
encryption of PageRank's outboxes cost more than the rest of the superstep.
A master elsewhere means TCP with the cluster key for every socket (the
tasks' too: `bind_address`, which admits only the cluster key's holders).

A graph's load uses the same driver side and the same `Peers` (`distload.ExchangeCode`,
a `Session` whose `loop` hands out the addresses and waits for each task's
answer): two rounds of segments, then the driver's `end`.

When it cannot be used: a session needs all its tasks running at once, so
the driver asks for one only when the partitions fit the cluster's slots
beside those its other running sessions hold (`usable`; another thread's run
then goes superstep by superstep, its tasks queued behind the session's),
and gives up (`SessionUnavailable`, nothing run) when they have not all said
hello within `START_TIMEOUT` of the first one's; the run then goes on superstep
by superstep as before, and so do the context's runs of as many partitions for
`RETRY_SESSIONS_AFTER` seconds (the slots may have been another job's, which
end). The first hello may take longer (`FIRST_START_TIMEOUT`): a cold worker
imports the graph modules before its first graph task starts, which takes
seconds on a busy machine, and delays every task alike (a graph's load is
often a cold cluster's first session); a slot short is the rest not following
the first.

Faults: each task's heartbeat thread beats to the driver every
`lost_after / 4` seconds. A partition that is silent for `lost_after`
seconds while the driver waits for it (its worker died: a peer that died
after reporting, its segment unsent, never reports the next superstep), one
whose task starts a second time (the master ran it again elsewhere), one
whose task does not find its partition, or one whose task waited
`PEER_WAIT_FACTOR * lost_after` seconds for a live peer's segment (a
backstop: a segment lost on the way) (`lost`) ends the session with
`GraphStateLostError`: the driver tells every task to stop (`abort`; a task
waiting for peers sees it too), waits for the `run_code` call to end
(answering any late task `abort`), and the run rolls back to its last
checkpoint. A task does not itself declare a slow peer lost after
`lost_after`: a big segment over TCP with CurveZMQ may take that long, and
a loss costs a rollback and the run's sessions. A task whose driver stays
silent for `DRIVER_TIMEOUT` seconds gives up, so a dead driver never holds
a slot (a task running the barrier itself waits for no word from its driver
until it sent its outputs: the master kills a dead driver's running tasks,
and the kill lands between its peer waits' one-second slices).
An error in the user's program comes back in a report, as in a superstep task.
A task running the barrier itself looks at its driver socket before each
superstep and while it waits for peers, so an abort stops it; once it sent
its outputs it waits for the driver's `end`, sent when every task's outputs
are in (so every task then holds every segment it waits for: its own last
one, perhaps still on its way, is never cut off when it closes its sockets).
"""

from __future__ import annotations

import logging
import pickle
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import zmq

from minibig.cluster.runtime import bind_address, is_loopback
from minibig.core.task import TaskCode
from minibig.graph.barrier import checkpoint_due, partition_barrier
from minibig.graph.errors import GraphStateLostError
from minibig.graph.messages import Messages
from minibig.graph.tasks import (LoadCode, StepReport, SuperstepCode, find_resident, partition_output,
                                 raise_user_errors, user_error)
from minibig.net.protocol import limit_socket
from minibig.net.security import cluster_key, dealer, stop_authenticator

START_TIMEOUT = 5.0       # seconds for every task of a session to say hello, after the first did
FIRST_START_TIMEOUT = 60.0    # seconds for the first one (cold workers import the graph modules first)
DRIVER_TIMEOUT = 600.0    # seconds a task waits for its driver's next word
POLL_MS = 50              # the driver's wait between checks for silent partitions
JOIN_TIMEOUT = 300.0      # seconds the driver waits for an aborted session's tasks to end
# seconds a session that did not start in time keeps a context's later runs from trying one: the
# slots it lacked may have been held by another job's tasks, which end
RETRY_SESSIONS_AFTER = 60.0
# a task's wait for its peers' segments, in `lost_after`s: only a backstop for a segment lost from
# a live peer (a dead one is the driver's to find, by its heartbeats; the task then sees the abort)
PEER_WAIT_FACTOR = 30

log = logging.getLogger("minibig.graph.session")


class SessionUnavailable(Exception):
    """The session's tasks did not all start in time: run superstep by superstep instead."""


# Context -> (its slots then, how many of a session's tasks started, when): the master tells a
# driver of new workers, not of lost ones, so a cluster that lost a worker still counts its slots
_STARTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Context -> slots its running sessions hold: two runs of one driver at once must not both wait
# for slots the other holds (each would time out, and sessions would look unusable after)
_HELD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_HELD_LOCK = threading.Lock()


def usable(sc, partitions: int) -> bool:
    """True when `sc` runs tasks on worker processes with a slot for each of `partitions`
    (and no session of as many tasks failed to start in the last `RETRY_SESSIONS_AFTER`
    seconds, unless the cluster grew since), beside the slots this driver's running sessions
    hold."""
    if not hasattr(sc._backend, "url"):
        return False
    slots = sc.defaultParallelism
    known = _STARTED.get(sc)                # (slots then, tasks that started, when)
    if known is not None and known[0] == slots \
            and time.monotonic() - known[2] < RETRY_SESSIONS_AFTER:
        slots = known[1]
    return partitions + _HELD.get(sc, 0) <= slots


def _hold(sc, partitions: int) -> None:
    """Count `partitions` slots as held by a session of `sc`; `SessionUnavailable` when they
    are not free (another thread's session took them since `usable` said yes)."""
    with _HELD_LOCK:
        if not usable(sc, partitions):
            raise SessionUnavailable(f"the slots for {partitions} session tasks are not free")
        _HELD[sc] = _HELD.get(sc, 0) + partitions


def _release(sc, partitions: int) -> None:
    with _HELD_LOCK:
        _HELD[sc] -= partitions


@dataclass
class SessionCode(TaskCode):
    """One partition's supersteps, for as long as its driver sends `step`s; see the module docstring.

    The payload is (the driver's address, the session's token).
    """

    prefix: str
    program: object
    partitions: int
    combine_on_sender: bool = True
    lost_after: float = 10.0
    load: LoadCode | None = None      # put the workers' loaded partition in place first

    def run(self, ctx):
        return linked(ctx, self.lost_after, self.serve)

    def serve(self, ctx, sock, peers: "Peers") -> SessionLog:
        """Say hello, then answer the driver's `step`s until it says `end` or `abort`, or (the
        tasks running the barrier) until the run halts."""
        log = SessionLog()
        try:
            if self.load is not None:
                self.load.install(ctx, None, None, 0)
        except GraphStateLostError as exc:
            sock.send(pickle.dumps({"kind": "lost", "partition": ctx.partition, "why": str(exc)}))
            return log
        say_hello(ctx, sock, peers)
        while True:
            wait_for_driver(sock, ctx.partition, self.prefix)
            order = pickle.loads(sock.recv())
            if order["kind"] == "step" and order["alone"] is not None:
                answer = self.run_alone(ctx, order, peers, sock, log)
                if answer is None:                 # the driver spoke while this task ran: abort
                    continue
            elif order["kind"] == "step":
                started, clock = time.time(), time.perf_counter()
                answer = self.step(ctx, order, peers, sock)
                if answer is None:                 # the driver spoke while this task waited: abort
                    continue
                if "report" in answer:
                    log.note(order["superstep"], started, time.perf_counter() - clock, answer["report"])
            elif order["kind"] == "end" and order["output"]:
                entry = find_resident(ctx, self.prefix, order["superstep"] + 1)
                answer = {"kind": "output", "output": partition_output(entry.state, self.program)}
            else:                                  # end without outputs, or abort
                log.ended = order["kind"]
                return log
            answer["partition"] = ctx.partition
            # not copied (the outputs' arrays: a megabyte copied into the pickle, by ZeroMQ, then on
            # the driver cost more than sending it): nothing writes them before the driver holds
            # them, as it sends its next word only once every partition's answer is in
            sock.send_multipart(frames_of(answer), copy=False)
            if answer["kind"] == "output" and order["kind"] == "end":
                log.ended = "end"
                return log
            # the tasks running the barrier: the driver's `end` (every output is in) or `abort` next

    def result_fields(self, value):
        """The supersteps the task ran, for the web UI's graph view (`minibig/ui/graphs.py`):
        the fields a superstep task reports (`tasks.SuperstepCode.result_fields`), as lists."""
        if not value.steps:
            return {}
        return {"superstep": value.steps, "messages_sent": value.messages_sent,
                "active_vertices": value.active_vertices}

    def step(self, ctx, order: dict, peers: "Peers", sock) -> dict | None:
        """One superstep, as `SuperstepCode` computes it, its outbox sent to the other tasks:
        the answer for the driver (None: the driver spoke while this task waited for peers)."""
        code = SuperstepCode(self.prefix, self.program, order["superstep"], order["aggregates"], None,
                             None, self.partitions, self.combine_on_sender, order["checkpoint"],
                             output=order["output"])
        try:
            if order["peers"] is not None:
                peers.connect(order["peers"])
            received = None                        # the first superstep of a session: the resident inbox
            if order["sent"]:
                got = peers.inbox(order["superstep"] - 1, sock)
                if got is None:
                    return None
                received, _ = got
            started = time.perf_counter()
            report, outbox, mutations = code.compute(ctx, received)
        except GraphStateLostError as exc:
            return {"kind": "lost", "why": str(exc)}
        if report.error is None:                   # before the report: see the module docstring
            report.sizes = peers.send(order["superstep"], outbox, mutations)
        report.seconds = time.perf_counter() - started
        return {"kind": "report", "report": report}


    def run_alone(self, ctx, order: dict, peers: "Peers", sock, log: "SessionLog") -> dict | None:
        """Supersteps from `order`'s on, this task running the barrier itself (see the module
        docstring), until it halts: the answer for the driver (the outputs, a user's error, a
        lost partition), or None (the driver spoke meanwhile: an abort, which the caller reads)."""
        superstep, aggregates = order["superstep"], order["aggregates"]
        every, max_supersteps = order["alone"]
        peers.connect(order["peers"])
        received = None                            # the first superstep's inbox: the resident one
        worker = 0.0                               # per superstep, the slowest partition's seconds
        sent = 0                                   # bytes of outbox segments this task sent
        while True:
            if sock.poll(0):                       # one partition has no peer to wait for: look here
                return None
            take = checkpoint_due(every, superstep)
            code = SuperstepCode(self.prefix, self.program, superstep, aggregates, None, None, self.partitions,
                                 self.combine_on_sender, take)
            started, clock = time.time(), time.perf_counter()
            try:
                report, outbox, mutations = code.compute(ctx, received)
            except GraphStateLostError as exc:
                return {"kind": "lost", "why": str(exc)}
            if report.error is not None:
                return {"kind": "report", "report": report}
            if take:                               # the driver keeps it; this task does not wait
                sock.send(pickle.dumps({"kind": "checkpoint", "partition": ctx.partition, "superstep": superstep,
                                        "aggregates": aggregates, "blob": report.checkpoint}, protocol=5))
            mine = (report.aggregates, report.active, report.messages_sent, time.perf_counter() - clock)
            report.sizes = peers.send(superstep, outbox, mutations, mine)
            sent += sum(report.sizes)
            log.note(superstep, started, time.perf_counter() - clock, report)
            try:                                   # a peer's segment lost on the way: as in `step`
                got = peers.inbox(superstep, sock)
            except GraphStateLostError as exc:
                return {"kind": "lost", "why": str(exc)}
            if got is None:
                return None
            received, partials = got
            partials[ctx.partition] = mine
            worker += max(partial[3] for partial in partials.values())
            try:                                   # the user's master_compute and reduce: as in a superstep
                barrier = partition_barrier(self.program, superstep, partials, max_supersteps)
            except Exception as exc:
                return {"kind": "report", "report": StepReport(ctx.partition, {}, 0, 0, [], error=user_error(exc))}
            if barrier.halt:
                entry = find_resident(ctx, self.prefix, superstep + 1)
                return {"kind": "output", "output": partition_output(entry.state, self.program),
                        "barrier": barrier, "worker": worker, "sent": sent}
            aggregates = barrier.aggregates
            superstep += 1


class Peers:
    """One session task's links to the other partitions' tasks (see the module docstring):
    the ROUTER it receives their segments on, a DEALER to each of theirs.

    `wait`: the backstop on a wait for peers' segments, `PEER_WAIT_FACTOR * lost_after` unless given;
    `token`: the session's, sent with every segment and required of every segment received.
    """

    def __init__(self, driver: str, partition: int, attempt: int, lost_after: float,
                 wait: float | None = None, token: bytes = b""):
        self.partition, self.token = partition, token
        self.foreign = 0                           # segments dropped: another session's, or a non-peer's
        self.wait = PEER_WAIT_FACTOR * lost_after if wait is None else wait
        # the worker's context: its sockets' I/O thread, and its authenticator of the cluster key
        self.zctx = zmq.Context.instance()
        self.sock = self.zctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.out: dict[int, zmq.Socket] = {}
        self.early: dict[int, dict] = {}           # superstep -> {sender: (batch, requests, partial)}
        self.sent_dst: dict[int, np.ndarray] = {}  # receiver -> the last destination array sent it
        self.got_dst: dict[int, np.ndarray] = {}   # sender -> the last destination array it sent
        try:
            if driver.startswith("ipc://"):        # the driver's 0700 folder (see the module docstring)
                self.address = f"{driver.rsplit('/', 1)[0]}/p{partition}a{attempt}"
                limit_socket(self.sock)
                self.sock.bind(self.address)
            else:
                self.address = bind_address(self.sock, "0.0.0.0", 0, cluster_key())
        except BaseException:
            self.close()
            raise
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.driver: zmq.Socket | None = None      # polled too while waiting: an abort ends the wait

    def connect(self, addresses: dict) -> None:
        """Connect to every other partition's task (`addresses`: partition -> address)."""
        for q, address in addresses.items():
            if q != self.partition:
                self.out[q] = dealer(address, ctx=self.zctx)

    def send(self, superstep: int, outbox: dict, mutations: dict, partial=None) -> list:
        """Send each other partition its segment of `superstep` (an empty one too), with this
        task's `partial` report when the tasks run the barrier; the bytes sent to each
        partition (0 for this one)."""
        sizes = [0] * (len(self.out) + 1)
        for q, sock in self.out.items():
            batch, requests = outbox.get(q), mutations.get(q) or []
            same = False
            if isinstance(batch, Messages):
                known = self.sent_dst.get(q)
                same = known is not None and len(known) == len(batch.dst) and (
                    known is batch.dst or np.array_equal(known, batch.dst))   # a plan's piece: the same array
                self.sent_dst[q] = batch.dst
                if same:                           # the receiver has it: only the values cross
                    batch = Messages(None, batch.values)
            frames = frames_of((self.token, superstep, self.partition, batch, requests, same, partial))
            sock.send_multipart(frames)
            if batch is not None or requests:
                sizes[q] = sum(len(frame) if isinstance(frame, bytes) else frame.nbytes for frame in frames)
        return sizes

    def inbox(self, superstep: int, driver) -> tuple[list, dict] | None:
        """What the other partitions sent at `superstep`: their `(sender, batch, requests)`, in
        sending order, and sender -> its partial report; None when the driver spoke meanwhile
        (an abort: the caller reads it).
        `GraphStateLostError` when a peer's segment does not come within `wait` seconds (a
        backstop: the driver aborts the session well before when a peer's worker died)."""
        got = self.early.pop(superstep, {})
        while self.sock.poll(0):                   # most often every segment is here already
            self.take(superstep, got)
        if len(got) < len(self.out) and self.driver is None:
            self.driver = driver
            self.poller.register(driver, zmq.POLLIN)
        deadline = time.monotonic() + self.wait
        while len(got) < len(self.out):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sorted(set(self.out) - set(got))
                raise GraphStateLostError(
                    f"graph session: partition {self.partition} waited {self.wait:g}s for partition "
                    f"{missing[0]}'s messages of superstep {superstep} (lost on the way?)")
            ready = dict(self.poller.poll(min(left, 1.0) * 1000))
            if driver in ready:
                return None
            while self.sock.poll(0):
                self.take(superstep, got)
        senders = sorted(got)
        return [(q, *got[q][:2]) for q in senders], {q: got[q][2] for q in senders}

    def take(self, superstep: int, got: dict) -> None:
        """Receive one segment: into `got` when it is of `superstep`, else kept for its own;
        dropped (counted in `foreign`) when it is not of this session or not from a peer."""
        segment = from_frames(self.sock.recv_multipart(copy=False)[1:])
        if not (isinstance(segment, tuple) and len(segment) == 7 and segment[0] == self.token
                and isinstance(segment[2], int) and segment[2] in self.out):
            self.foreign += 1
            log.warning("graph session: partition %d dropped a segment from outside its session",
                        self.partition)
            return
        _, step, sender, batch, requests, same, partial = segment
        if same and sender not in self.got_dst:    # a segment lost on the way: the session is
            raise GraphStateLostError(f"graph session: partition {self.partition} never got the "
                                      f"destinations partition {sender} refers to")
        if same:
            batch = Messages(self.got_dst[sender], batch.values)
        elif isinstance(batch, Messages):
            batch.dst.setflags(write=False)        # kept and told apart by identity: never written
            self.got_dst[sender] = batch.dst
        (got if step == superstep else self.early.setdefault(step, {}))[sender] = (batch, requests, partial)

    def close(self) -> None:
        """Close every socket, dropping what is still queued: a task ends on its driver's word,
        once its peers hold (or no longer need) every segment it sent."""
        self.sock.close(0)
        for sock in self.out.values():
            sock.close(0)


@dataclass
class SessionLog:
    """What one session task did: per superstep it ran, `[superstep, start (epoch seconds),
    seconds, outbox bytes]`, messages sent and active vertices (the counts `tasks.StepReport`
    has)."""

    steps: list = field(default_factory=list)
    messages_sent: list = field(default_factory=list)
    active_vertices: list = field(default_factory=list)
    ended: str | None = None                       # the driver's word it ended on: "end" or "abort"

    def note(self, superstep: int, started: float, seconds: float, report) -> None:
        """Record one superstep's report."""
        self.steps.append([superstep, round(started, 6), round(seconds, 6), sum(report.sizes)])
        self.messages_sent.append(int(report.messages_sent))
        self.active_vertices.append(int(report.active))


def frames_of(message) -> list:
    """`message` pickled for a multipart send: the pickle, then each buffer it holds (numpy's,
    Arrow's) as a frame of its own, not copied into the pickle."""
    buffers = []
    head = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    return [head, *(buffer.raw() for buffer in buffers)]


def from_frames(frames: list):
    """The message `frames_of` made (or a plain pickle, one frame), from the `zmq.Frame`s a
    `recv_multipart(copy=False)` gave: its arrays are views of the frames, not copies."""
    head, *buffers = (frame.buffer for frame in frames)
    return pickle.loads(head, buffers=buffers)


def linked(ctx, lost_after: float, serve):
    """`serve(ctx, sock, peers)` for a session task: `sock` its DEALER to the driver, `peers` its
    `Peers`, a heartbeat to the driver every `lost_after / 4` seconds meanwhile. The task's
    payload is (the driver's address, the session's token); it is taken (a superstep code's
    payload is its inbox: none, the resident one or what `Peers` got)."""
    (address, token), ctx.payloads["task"] = ctx.payloads["task"], None
    sock = dealer(address, linger=1000)
    stop = threading.Event()
    beats = threading.Thread(target=_beat, args=(address, ctx.partition, stop, lost_after / 4), daemon=True)
    beats.start()
    peers = None
    try:
        peers = Peers(address, ctx.partition, ctx.attempt, lost_after, token=token)
        return serve(ctx, sock, peers)
    finally:
        stop.set()
        beats.join(timeout=5)
        sock.close()
        if peers is not None:
            peers.close()


def say_hello(ctx, sock, peers: Peers) -> None:
    """Tell the driver this task started, and where it receives its peers' segments."""
    sock.send(pickle.dumps({"kind": "hello", "partition": ctx.partition, "attempt": ctx.attempt,
                            "worker": ctx.worker_id, "peer": peers.address}))


def wait_for_driver(sock, partition: int, prefix: str) -> None:
    """Until the driver's next message is there, in slices of a second: a kill (the master
    cancelling the job) lands between them; `GraphStateLostError` after `DRIVER_TIMEOUT`."""
    deadline = time.monotonic() + DRIVER_TIMEOUT
    while not sock.poll(1000):
        if time.monotonic() > deadline:
            raise GraphStateLostError(f"partition {partition} of {prefix}: the driver said nothing "
                                      f"for {DRIVER_TIMEOUT:g}s")


def _beat(url: str, partition: int, stop: threading.Event, every: float) -> None:
    """Tell the driver every `every` seconds that this partition's task is alive."""
    sock = dealer(url)
    try:
        beat = pickle.dumps({"kind": "beat", "partition": partition})
        while not stop.wait(every):
            sock.send(beat)
    finally:
        sock.close()


class Session:
    """The driver's side of one session: its socket, its `run_code` thread, who is where."""

    def __init__(self, sc, parts: list[int], lost_after: float, name: str):
        self.sc, self.parts, self.lost_after = sc, parts, lost_after
        self.name = name                           # the run's: its job is "graph <name> session"
        self.token = secrets.token_bytes(16)       # in every peer segment (see `Peers`)
        master = sc.master if isinstance(sc.master, str) else ""
        host = master.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
        # a master on loopback: every task runs on this machine, and reaches the driver through a
        # socket file in a folder only this user may enter (no CurveZMQ: encrypting PageRank's
        # outboxes cost more than sending them); tasks on other hosts: TCP with the cluster key
        self.local = not host or is_loopback(host)
        self.key = cluster_key(master or None)
        self.identities: dict[int, bytes] = {}
        self.peers: dict[int, str] = {}            # where each task receives its peers' segments
        self.received_bytes = self.sent_bytes = 0  # through the driver's socket (messages go around it)
        self.answers = 0                           # reports, checkpoints and outputs it received
        self.seen: dict[int, float] = {}
        self.failure: BaseException | None = None
        self.folder: str | None = None             # the ipc socket's folder
        self.summary = None                        # the session job's JobSummary, once it ended
        self.logs: list | None = None              # each task's SessionLog, once the job ended
        self.description = f"graph {name} session"    # its job's (the web UI's graph view reads it)

    def run(self, code: SessionCode, prefer: dict, first: int, driver) -> list | None:
        """Run supersteps from `first` until the barrier halts; the outputs when the tasks
        were asked for them after it (None: the last reports carried them).

        `driver.plan(superstep)` gives (aggregates, checkpoint?, outputs?) for a superstep,
        `driver.after(superstep, reports)` runs the barrier: (halt, outputs still wanted).
        """
        zctx = zmq.Context()                       # its own: its authenticator admits one key
        sock = zctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        thread = None
        _hold(self.sc, len(self.parts))            # released in the finally below, whatever happens
        try:
            address = self.bind(sock)
            thread = self.launch(code, prefer, address)
            self.sock, self.thread = sock, thread
            self.wait_for_hellos()
            return self.loop(first, driver)
        except BaseException as exc:
            if thread is not None:
                log.warning("graph session %s ends (%s: %s); stopping its tasks", self.name,
                            type(exc).__name__, exc)
                self.abort(thread)
            raise
        finally:
            sock.close(0)
            stop_authenticator(zctx)
            zctx.term()
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
            _release(self.sc, len(self.parts))

    def bind(self, sock: zmq.Socket) -> str:
        """Bind the session socket (see __init__); its address for the tasks."""
        if self.local:
            self.folder = tempfile.mkdtemp(prefix="minibig-graph-")     # mode 0700
            address = f"ipc://{self.folder}/session"
            limit_socket(sock)                  # the frame bounds every minibig socket has
            sock.bind(address)
            return address
        return bind_address(sock, "0.0.0.0", 0, self.key)

    def launch(self, code: SessionCode, prefer: dict, address: str) -> threading.Thread:
        def job():
            try:
                self.logs = self.sc._dag.run_code(code, self.parts, self.description,
                                      payloads={p: (address, self.token) for p in self.parts}, prefer=prefer,
                                      speculate=False)
                self.summary = self.sc._dag.last_job      # this thread's: the session's job
            except BaseException as exc:            # noqa: BLE001 - the driver's loop decides
                self.failure = exc
        thread = threading.Thread(target=job, name=f"graph-session-{self.name}", daemon=True)
        thread.start()
        return thread

    def wait_for_hellos(self) -> None:
        """Every task's hello; `SessionUnavailable` (remembered in `_STARTED`) when the others
        do not follow the first within `START_TIMEOUT` (see the module docstring)."""
        deadline, first = time.monotonic() + FIRST_START_TIMEOUT, True
        while len(self.identities) < len(self.parts):
            if first and self.identities:
                deadline, first = time.monotonic() + START_TIMEOUT, False
            if time.monotonic() > deadline:
                _STARTED[self.sc] = (self.sc.defaultParallelism, len(self.identities), time.monotonic())
                raise SessionUnavailable(
                    f"{len(self.identities)} of {len(self.parts)} session tasks started within "
                    + (f"{START_TIMEOUT:g}s of the first" if self.identities else f"{FIRST_START_TIMEOUT:g}s"))
            self.receive(POLL_MS)

    def loop(self, superstep: int, driver) -> list | None:
        if not driver.program.master_on_driver:
            return self.alone(superstep, driver)
        first = superstep
        while True:
            aggregates, take, final = driver.plan(superstep)
            # the first step also tells each task where the others listen (see `Peers`)
            self.send_all({"kind": "step", "superstep": superstep, "aggregates": aggregates,
                           "checkpoint": take, "output": final, "sent": superstep > first,
                           "peers": self.peers if superstep == first else None, "alone": None})
            answers = self.gather("report")
            halt, outputs_wanted = driver.after(superstep, [a["report"] for a in answers])
            if halt:
                self.send_all({"kind": "end", "superstep": superstep, "output": outputs_wanted})
                return self.end([a["output"] for a in self.gather("output")] if outputs_wanted else None)
            superstep += 1

    def alone(self, first: int, driver) -> list:
        """The tasks run the barrier themselves from superstep `first` to the run's end (see the
        module docstring): one `step` starts them; the driver keeps their checkpoints
        (`driver.checkpointed`), raises a program's error, watches for silent partitions, and
        hands the outputs to `driver.finished`."""
        self.send_all({"kind": "step", "superstep": first, "aggregates": driver.plan(first)[0],
                       "peers": self.peers, "alone": (driver.every, driver.max_supersteps)})
        answers: dict[int, dict] = {}
        while len(answers) < len(self.parts):
            for message in self.receive(POLL_MS):
                if message["kind"] == "checkpoint":
                    driver.checkpointed(message["partition"], message["superstep"], message["aggregates"],
                                        message["blob"])
                elif message["kind"] == "report":   # a program's error: the tasks stopped there
                    raise_user_errors([message["report"]])
                elif message["kind"] == "output":
                    answers[message["partition"]] = message
            self.check_silent(answers)
        # every task holds every segment of the last superstep now: each may close its sockets
        self.send_all({"kind": "end", "superstep": None, "output": False})
        return self.end(driver.finished([answers[p] for p in self.parts]))

    def end(self, outputs: list | None) -> list | None:
        """`outputs`, once the session's `run_code` call ended."""
        self.thread.join(JOIN_TIMEOUT)
        if self.failure is not None:
            raise self.failure
        if self.summary is not None:            # sc.lastJob in the caller's thread: the session
            self.sc._dag._thread_last.summary = self.summary
        return outputs

    def gather(self, kind: str) -> list:
        """Every partition's next `kind` answer, in partition order."""
        answers: dict[int, dict] = {}
        while len(answers) < len(self.parts):
            for message in self.receive(POLL_MS):
                if message["kind"] == kind:
                    answers[message["partition"]] = message
            self.check_silent(answers)
        return [answers[p] for p in self.parts]

    def check_silent(self, answered: dict) -> None:
        """`GraphStateLostError` when a partition that has not `answered` was silent for
        `lost_after` seconds; the `run_code` call's failure when it ended with one."""
        now = time.monotonic()
        silent = [p for p in self.parts if p not in answered and now - self.seen[p] > self.lost_after]
        if silent:
            raise GraphStateLostError(f"graph session: partition {silent[0]}'s task was silent for "
                                      f"{self.lost_after:g}s (its worker died?)")
        if self.failure is not None and not self.thread.is_alive():
            raise self.failure

    def receive(self, timeout_ms: int) -> list:
        """What the tasks sent within `timeout_ms`: hellos and beats taken, a loss raised, the
        rest (reports, checkpoints, outputs) returned and counted in `answers`."""
        if not self.sock.poll(timeout_ms):
            if self.failure is not None and not self.thread.is_alive():
                raise self.failure
            return []
        taken = []
        while self.sock.poll(0):
            identity, *frames = self.sock.recv_multipart(copy=False)
            self.received_bytes += sum(len(frame) for frame in frames)
            message = from_frames(frames)
            p = message["partition"]
            self.seen[p] = time.monotonic()
            if message["kind"] == "hello":
                if p in self.identities:           # the master ran it again: its worker died
                    raise GraphStateLostError(f"graph session: partition {p}'s task started again "
                                              f"(attempt {message['attempt']})")
                self.identities[p], self.peers[p] = identity, message["peer"]
            elif message["kind"] == "lost":
                raise GraphStateLostError(f"graph session: {message['why']}")
            elif message["kind"] != "beat":
                taken.append(message)
                self.answers += 1
        return taken

    def send_all(self, message: dict) -> None:
        """Send every task `message` (pickled once)."""
        blob = pickle.dumps(message, protocol=5)
        for p in self.parts:
            self.sock.send_multipart([self.identities[p], blob])
            self.sent_bytes += len(blob)

    def abort(self, thread: threading.Thread) -> None:
        """Stop every task, and wait for the `run_code` call to end (a late task is told too)."""
        abort = pickle.dumps({"kind": "abort"})
        for identity in self.identities.values():
            self.sock.send_multipart([identity, abort])
        deadline = time.monotonic() + JOIN_TIMEOUT
        while thread.is_alive() and time.monotonic() < deadline:
            if self.sock.poll(POLL_MS):
                identity, *frames = self.sock.recv_multipart(copy=False)
                if from_frames(frames)["kind"] == "hello":
                    self.sock.send_multipart([identity, abort])
