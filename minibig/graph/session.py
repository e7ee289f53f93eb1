"""A graph run's supersteps as one long task per partition, driven over a socket of the driver.

    session = Session(sc, parts, lost_after=10.0, name=run_name)
    outputs = session.run(code, prefer, first_superstep, driver)   # until the barrier halts

A superstep as a `run_code` call costs a task round trip through the master
(~4.5 ms on a 2-core machine) and, past `INLINE_LIMIT`, a shuffle file per
outbox: most of a small superstep. In a session every partition's task
(`SessionCode`) is started once, with `run_code`, and stays: the driver binds
a ZeroMQ ROUTER, each task connects a DEALER to it, and per superstep the
driver sends each task one `step` (superstep, aggregates, whether to
checkpoint or return outputs, the outbox segments sent to it), and each
task answers one `report` (the `StepReport` of `tasks.py`, its outbox
segments in it). The driver runs the barrier between the two, so a
superstep is two direct hops per partition, whatever the outbox size.

Transport: with the master on loopback every task runs on this machine, and
the socket is an ipc:// path in a folder only this user may enter (mode
0700): no CurveZMQ, whose encryption of PageRank's outboxes (~240 KB per
partition per superstep on the Debian graph) cost more than the rest of the
superstep. A master elsewhere means TCP with the cluster key.

When it cannot be used: a session needs all its tasks running at once, so
the driver asks for one only when the partitions fit the cluster's slots
beside those its other running sessions hold (`usable`; another thread's run
then goes superstep by superstep, its tasks queued behind the session's),
and gives up (`SessionUnavailable`, nothing run) when they have not all said
hello within `START_TIMEOUT`; the run then goes on superstep by superstep as
before.

Faults: each task's heartbeat thread beats to the driver every
`lost_after / 4` seconds. A partition that is silent for `lost_after`
seconds while the driver waits for it (its worker died), one whose task
starts a second time (the master ran it again elsewhere), or one whose task
does not find its partition (`lost`) ends the session with
`GraphStateLostError`: the driver tells every task to stop (`abort`), waits
for the `run_code` call to end (answering any late task `abort`), and the
run rolls back to its last checkpoint. A task whose driver stays silent for
`DRIVER_TIMEOUT` seconds gives up, so a dead driver never holds a slot.
An error in the user's program comes back in a report, as in a superstep task.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field

import zmq

from minibig.cluster.runtime import bind_address, is_loopback
from minibig.core.task import TaskCode
from minibig.graph.errors import GraphStateLostError
from minibig.graph.tasks import LoadCode, SuperstepCode, find_resident, partition_output
from minibig.net.protocol import limit_socket
from minibig.net.security import cluster_key, dealer, stop_authenticator

START_TIMEOUT = 5.0       # seconds for every task of a session to say hello
DRIVER_TIMEOUT = 600.0    # seconds a task waits for its driver's next word
POLL_MS = 50              # the driver's wait between checks for silent partitions
JOIN_TIMEOUT = 300.0      # seconds the driver waits for an aborted session's tasks to end
NO_LIMIT = 1 << 62        # a session's outboxes always go to the driver, whatever their size


class SessionUnavailable(Exception):
    """The session's tasks did not all start in time: run superstep by superstep instead."""


# Context -> (its slots then, how many of a session's tasks started): the master tells a driver
# of new workers, not of lost ones, so a cluster that lost a worker still counts its slots
_STARTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Context -> slots its running sessions hold: two runs of one driver at once must not both wait
# for slots the other holds (each would time out, and sessions would look unusable after)
_HELD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_HELD_LOCK = threading.Lock()


def usable(sc, partitions: int) -> bool:
    """True when `sc` runs tasks on worker processes with a slot for each of `partitions`
    (and no session of as many tasks failed to start since the cluster last grew), beside
    the slots this driver's running sessions hold."""
    if not hasattr(sc._backend, "url"):
        return False
    slots = sc.defaultParallelism
    known = _STARTED.get(sc)
    if known is not None and known[0] == slots:
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

    The payload is the driver's address.
    """

    prefix: str
    program: object
    partitions: int
    combine_on_sender: bool = True
    lost_after: float = 10.0
    load: LoadCode | None = None      # put the workers' loaded partition in place first

    def run(self, ctx):
        sock = dealer(ctx.payloads["task"], linger=1000)
        stop = threading.Event()
        beats = threading.Thread(target=_beat, args=(ctx.payloads["task"], ctx.partition, stop,
                                                     self.lost_after / 4), daemon=True)
        beats.start()
        try:
            return self.serve(ctx, sock)
        finally:
            stop.set()
            beats.join(timeout=5)
            sock.close()

    def serve(self, ctx, sock) -> SessionLog:
        """Say hello, then answer the driver's `step`s until it says `end` or `abort`."""
        log = SessionLog()
        try:
            if self.load is not None:
                self.load.install(ctx, None, None, 0)
        except GraphStateLostError as exc:
            sock.send(pickle.dumps({"kind": "lost", "partition": ctx.partition, "why": str(exc)}))
            return log
        sock.send(pickle.dumps({"kind": "hello", "partition": ctx.partition, "attempt": ctx.attempt,
                                "worker": ctx.worker_id}))
        while True:
            wait_for_driver(sock, ctx.partition, self.prefix)
            frames = sock.recv_multipart(copy=False)
            order = pickle.loads(frames[0].buffer)
            if order["kind"] == "step":
                segments = [frame.buffer for frame in frames[1:]] if order["sent"] else None
                started, clock = time.time(), time.perf_counter()
                answer, frames = self.step(ctx, order, segments)
                if "report" in answer:
                    log.note(order["superstep"], started, time.perf_counter() - clock, answer["report"],
                             sum(len(frame) for frame in frames))
            elif order["kind"] == "end" and order["output"]:
                entry = find_resident(ctx, self.prefix, order["superstep"] + 1)
                answer, frames = {"kind": "output", "output": partition_output(entry.state, self.program)}, []
            else:                                  # end without outputs, or abort
                return log
            answer["partition"] = ctx.partition
            sock.send_multipart([pickle.dumps(answer, protocol=5), *frames], copy=False)
            if order["kind"] == "end":
                return log

    def result_fields(self, value):
        """The supersteps the task ran, for the web UI's graph view (`minibig/ui/graphs.py`):
        the fields a superstep task reports (`tasks.SuperstepCode.result_fields`), as lists."""
        if not value.steps:
            return {}
        return {"superstep": value.steps, "messages_sent": value.messages_sent,
                "active_vertices": value.active_vertices}

    def step(self, ctx, order: dict, segments: list | None) -> tuple[dict, list]:
        """One superstep, as `SuperstepCode` runs it: (the answer, the outbox as one frame per
        partition, empty where nothing was sent). `segments`: the inbox (None: the resident one)."""
        ctx.payloads["task"] = segments
        code = SuperstepCode(self.prefix, self.program, order["superstep"], order["aggregates"], None,
                             None, self.partitions, self.combine_on_sender, order["checkpoint"],
                             NO_LIMIT, output=order["output"])
        try:
            report = code.run(ctx)
        except GraphStateLostError as exc:
            return {"kind": "lost", "why": str(exc)}, []
        if report.error is not None:
            return {"kind": "report", "report": report}, []
        if report.segments is None:           # held with the outputs: send them all the same
            report.segments = find_resident(ctx, self.prefix, order["superstep"] + 1).held
        # frames of their own: the driver passes them on without copying or unpickling them
        frames, report.segments = [segment or b"" for segment in report.segments], None
        return {"kind": "report", "report": report}, frames


@dataclass
class SessionLog:
    """What one session task did: per superstep it ran, `[superstep, start (epoch seconds),
    seconds, outbox bytes]`, messages sent and active vertices (the counts `tasks.StepReport`
    has)."""

    steps: list = field(default_factory=list)
    messages_sent: list = field(default_factory=list)
    active_vertices: list = field(default_factory=list)

    def note(self, superstep: int, started: float, seconds: float, report, sent_bytes: int) -> None:
        """Record one superstep's report."""
        self.steps.append([superstep, round(started, 6), round(seconds, 6), sent_bytes])
        self.messages_sent.append(int(report.messages_sent))
        self.active_vertices.append(int(report.active))


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
        master = sc.master if isinstance(sc.master, str) else ""
        host = master.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
        # a master on loopback: every task runs on this machine, and reaches the driver through a
        # socket file in a folder only this user may enter (no CurveZMQ: encrypting PageRank's
        # outboxes cost more than sending them); tasks on other hosts: TCP with the cluster key
        self.local = not host or is_loopback(host)
        self.key = cluster_key(master or None)
        self.identities: dict[int, bytes] = {}
        self.seen: dict[int, float] = {}
        self.failure: BaseException | None = None
        self.folder: str | None = None             # the ipc socket's folder
        self.summary = None                        # the session job's JobSummary, once it ended

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
        except BaseException:
            if thread is not None:
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
                self.sc._dag.run_code(code, self.parts, f"graph {self.name} session",
                                      payloads={p: address for p in self.parts}, prefer=prefer,
                                      speculate=False)
                self.summary = self.sc._dag.last_job      # this thread's: the session's job
            except BaseException as exc:            # noqa: BLE001 - the driver's loop decides
                self.failure = exc
        thread = threading.Thread(target=job, name=f"graph-session-{code.prefix}", daemon=True)
        thread.start()
        return thread

    def wait_for_hellos(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while len(self.identities) < len(self.parts):
            if time.monotonic() > deadline:
                _STARTED[self.sc] = (self.sc.defaultParallelism, len(self.identities))
                raise SessionUnavailable(f"{len(self.identities)} of {len(self.parts)} session tasks "
                                         f"started within {START_TIMEOUT:g}s")
            self.receive(POLL_MS)

    def loop(self, superstep: int, driver) -> list | None:
        inboxes = {p: None for p in self.parts}    # None: the resident inbox (as loaded)
        while True:
            aggregates, take, final = driver.plan(superstep)
            for p in self.parts:
                self.send(p, {"kind": "step", "superstep": superstep, "aggregates": aggregates,
                              "checkpoint": take, "output": final, "sent": inboxes[p] is not None},
                          inboxes[p] or ())
            answers = self.gather("report")
            halt, outputs_wanted = driver.after(superstep, [a["report"] for a in answers])
            if halt:
                return self.end(superstep, outputs_wanted)
            # answers are in partition order: each inbox in sending order
            inboxes = {q: [a["frames"][q] for a in answers if len(a["frames"][q])] for q in self.parts}
            superstep += 1

    def end(self, superstep: int, outputs_wanted: bool) -> list | None:
        for p in self.parts:
            self.send(p, {"kind": "end", "superstep": superstep, "output": outputs_wanted})
        outputs = [a["output"] for a in self.gather("output")] if outputs_wanted else None
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
            self.receive(POLL_MS, answers, kind)
            now = time.monotonic()
            silent = [p for p in self.parts if p not in answers and now - self.seen[p] > self.lost_after]
            if silent:
                raise GraphStateLostError(f"graph session: partition {silent[0]}'s task was silent for "
                                          f"{self.lost_after:g}s (its worker died?)")
            if self.failure is not None and not self.thread.is_alive():
                raise self.failure
        return [answers[p] for p in self.parts]

    def receive(self, timeout_ms: int, answers: dict | None = None, kind: str = "") -> None:
        """Take what the tasks sent within `timeout_ms`: hellos, beats, answers, losses."""
        if not self.sock.poll(timeout_ms):
            if self.failure is not None and not self.thread.is_alive():
                raise self.failure
            return
        while self.sock.poll(0):
            identity, head, *frames = self.sock.recv_multipart(copy=False)
            message = pickle.loads(head.buffer)
            message["frames"] = frames
            p = message["partition"]
            self.seen[p] = time.monotonic()
            if message["kind"] == "hello":
                if p in self.identities:           # the master ran it again: its worker died
                    raise GraphStateLostError(f"graph session: partition {p}'s task started again "
                                              f"(attempt {message['attempt']})")
                self.identities[p] = identity.bytes
            elif message["kind"] == "lost":
                raise GraphStateLostError(f"graph session: {message['why']}")
            elif message["kind"] == kind and answers is not None:
                answers[p] = message

    def send(self, p: int, message: dict, frames=()) -> None:
        self.sock.send_multipart([self.identities[p], pickle.dumps(message, protocol=5), *frames], copy=False)

    def abort(self, thread: threading.Thread) -> None:
        """Stop every task, and wait for the `run_code` call to end (a late task is told too)."""
        abort = pickle.dumps({"kind": "abort"})
        for identity in self.identities.values():
            self.sock.send_multipart([identity, abort])
        deadline = time.monotonic() + JOIN_TIMEOUT
        while thread.is_alive() and time.monotonic() < deadline:
            if self.sock.poll(POLL_MS):
                identity, blob, *_ = self.sock.recv_multipart()
                if pickle.loads(blob)["kind"] == "hello":
                    self.sock.send_multipart([identity, abort])
