"""A streaming job's task on a worker: one long-running ``TaskCode`` per slot.

``StreamTaskCode`` carries the pickled plan (shipped once for all tasks);
each task's payload says which one it is (``index``), the generation, the
driver's control address and, after a failure, this task's parts of the
checkpoint to resume from. ``run(ctx)``:

1. builds its dataflow (``runtime.TaskDataflow``), binds its data PULL and
   says ``hello`` to the driver with that address; waits for the ``table``
   of every task's address (bounded) and connects a PUSH to each other task;
2. loops until its dataflow has finished: control messages from the driver
   (trigger, commit, drain, abort); batches from other tasks; its outboxes
   to other tasks, sent without blocking; its sources, polled only while
   every outbox is empty (backpressure: a full queue to a slow consumer
   stops the sources feeding it, while the task keeps draining its own
   inbox so two tasks sending to each other never deadlock); the
   processing-time clock;
3. reports ``done`` with its final parts and counters, or ``error`` with the
   exception (and returns normally, so the master does not retry a task
   whose failure is the user's); ``abort`` or a silent driver ends it too.

Before its ``hello`` a restored task loads its parts (``snapshots.py``):
the driver's copy when it sent one, else from the worker that stored them.
Each checkpoint's parts go to this worker's disk, and the ``ack`` says
where. About once a second the loop puts a sample of its live metrics
(``live.py``) on ``ctx.live``, which the worker's heartbeat carries to the
master for ``minibig status``.

A heartbeat thread with its own socket beats to the driver, which answers:
the driver notices a lost task, the task a lost driver.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections import deque

import zmq

from minibig.core.serialization import exception_blob
from minibig.core.task import TaskCode
from minibig.errors import FetchFailedError, format_user_traceback
from minibig.net.protocol import ProtocolError
from minibig.streaming import wire
from minibig.core.gcpolicy import young_threshold
from minibig.streaming.errors import RecordText, StreamError, closed_after, exception_text
from minibig.streaming.live import PUBLISH_EVERY, LiveMetrics
from minibig.streaming.plan import Plan
from minibig.streaming.runtime import TaskDataflow
from minibig.streaming.snapshots import drop_snapshot, read_snapshot, snapshot_key, write_snapshot

BEAT_EVERY = 0.2            # seconds between a task's heartbeats
PACK_MAX = 64               # items per data message at most
IDLE_WAIT_MS = 2            # poll wait when nothing moved


class StreamTaskCode(TaskCode):
    """The code of every task of one streaming job (see the module docstring)."""

    def __init__(self, plan_bytes: bytes, batch_size: int, clock, start_timeout: float,
                 driver_timeout: float, name: str = "stream", job_id: str = "job"):
        self.name = name                      # what ``minibig status`` calls the job
        self.job_id = job_id                  # unique per run: names its snapshots
        self.plan_bytes = plan_bytes
        self.batch_size = batch_size
        self.clock = clock
        self.start_timeout = start_timeout
        self.driver_timeout = driver_timeout

    def run(self, ctx):
        """Run task ``ctx.payloads["task"]["index"]`` until its dataflow ends; a small status dict."""
        job = ctx.payloads["task"]
        task = StreamTask(self, Plan.from_bytes(self.plan_bytes), job, ctx)
        with closed_after(task.close), young_threshold():   # a young collection per batch found nothing
            return task.run()


class StreamTask:
    """The sockets and the loop of one task."""

    def __init__(self, code: StreamTaskCode, plan: Plan, job: dict, ctx):
        self.code = code
        self.ctx = ctx
        self.index = job["index"]
        self.gen = job["gen"]
        self.restore = job.get("restore")
        self.zmq = zmq.Context.instance()    # shared: a keyed cluster's authenticator lives in it
        self.linger = 0
        self.control = wire.control_client(job["driver"], self.zmq)
        self.pull, self.address = wire.data_server(self.zmq, wire.task_host(ctx.host))
        self.push: dict[int, zmq.Socket] = {}
        self.outbox: dict[int, deque] = {}
        self.stuck: dict[int, bytes] = {}       # a packed message the peer's queue refused
        self.driver_seen = time.monotonic()
        self.stopping = threading.Event()
        self.beats = threading.Thread(target=self._beat, args=(job["driver"],), daemon=True,
                                      name=f"stream-beat-{self.index}")
        self.flow = TaskDataflow(plan, self.index, self._remote, self._report, code.clock, code.batch_size,
                                 on_snapshot=self._on_snapshot)
        self.live = LiveMetrics(self.flow, ctx.driver_id, code.name, self.gen)
        self.next_publish = 0.0
        # This worker's disk keeps the snapshots (``snapshots.py``); an in-process
        # backend has no block server, and then the driver's copy is the only one.
        self.disk = None
        if ctx.work_dir and ctx.block_addr:
            self.disk = {"worker": ctx.worker_id, "host": ctx.host, "addr": ctx.block_addr,
                         "dir": ctx.work_dir}
        self.stored: dict[int, str] = {}       # cid -> key of this task's snapshot on this worker

    # -- talking ----------------------------------------------------------------------

    def _report(self, kind: str, **fields) -> None:
        self.control.send(wire.pack(kind, self.gen, index=self.index, **fields))

    def _remote(self, target: int, item) -> None:
        self.outbox[target].append(item)

    def _beat(self, url: str) -> None:
        sock = wire.control_client(url, self.zmq)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            while not self.stopping.wait(BEAT_EVERY):
                sock.send(wire.pack("beat", self.gen, index=self.index))
                while sock.poll(0):
                    sock.recv()
                    self.driver_seen = time.monotonic()
        finally:
            sock.close(0)

    # -- running ----------------------------------------------------------------------

    def run(self) -> dict:
        """Start, loop, report; the status of the task."""
        self.beats.start()
        try:
            restore, restored_from = self._restore_parts()
            if restore is False:
                return {"status": "aborted"}
            self._report("hello", address=self.address, worker=self.ctx.worker_id,
                         restored_from=restored_from)
            table = self._wait_for_table()
            if table is None:
                return {"status": "aborted"}
            for peer, url in enumerate(table):
                if peer != self.index:
                    self.push[peer] = wire.data_client(url, self.zmq)
                    self.outbox[peer] = deque()
            self.flow.open(restore)
            status = self._loop()
            if status == "done":
                self._flush_all()
                self.linger = 10_000          # what zmq still holds must reach the peers
                self._report("done", blob=pickle.dumps(self.flow.final_parts(), protocol=5),
                             counters=self.flow.counters(), kept=list(self.stored.values()))
            return {"status": status}
        except (Exception, SystemExit) as exc:
            # SystemExit too (a user function's sys.exit): the driver raises it, as a local run and
            # an RDD task do, instead of the worker's report of a lost task and max_restarts retries
            self._report_error(exc)
            return {"status": "error"}

    def _restore_parts(self):
        """(``{"cid", "parts"}`` to resume from or None, where they came from); False: unreadable.

        The driver hands its copy of the parts only when the worker that
        stored them is gone; otherwise they are read from that worker's disk
        (this one's, or through its block server). A failed read tells the
        driver, which restarts the job with its copy."""
        restore = self.restore
        if restore is None:
            return None, None
        if restore.get("blob") is not None:
            return {"cid": restore["cid"], "parts": pickle.loads(restore["blob"])}, "driver"
        try:
            parts = read_snapshot(restore["stored"], self.ctx.host)
        except (FetchFailedError, ProtocolError, OSError, EOFError, pickle.UnpicklingError) as exc:
            # gone, unreachable, truncated: the driver's copy stands in
            self._report("lost_snapshot", worker=restore["stored"]["worker"], message=str(exc))
            return False, None
        return {"cid": restore["cid"], "parts": parts}, "disk"

    def _on_snapshot(self, cid: int, parts: dict) -> None:
        """Every part of checkpoint ``cid`` is here: store it on this worker, acknowledge."""
        if self.disk is None:
            self._report("ack", cid=cid, stored=None, blob=pickle.dumps(parts, protocol=5))
            return
        key = snapshot_key(self.ctx.driver_id, self.code.job_id, self.gen, cid, self.index)
        stored, blob = write_snapshot(self.disk, key, parts)
        self.stored[cid] = key
        self._report("ack", cid=cid, stored=stored, blob=blob)

    def _on_commit(self, cid: int, info: dict | None) -> None:
        """Checkpoint ``cid`` completed: sources trim, older snapshots here go."""
        self.flow.commit(cid)
        self.live.last_checkpoint = info
        for old in [c for c in self.stored if c < cid]:
            drop_snapshot(self.ctx.work_dir, self.stored.pop(old))

    def _publish(self, now: float) -> None:
        """Put a sample of the live metrics where the worker's heartbeat finds it."""
        self.ctx.live = self.live.sample(now)
        self.next_publish = now + PUBLISH_EVERY

    def _wait_for_table(self):
        deadline = time.monotonic() + self.code.start_timeout
        while time.monotonic() < deadline:
            if self.control.poll(100):
                msg = wire.unpack(self.control.recv())
                if msg["kind"] == "table":
                    return msg["addresses"]
                if msg["kind"] == "abort":
                    return None
            if self._driver_silent():
                return None
        raise TimeoutError(f"stream task {self.index}: no address table from the driver within "
                           f"{self.code.start_timeout:g}s")

    def _driver_silent(self) -> bool:
        return time.monotonic() - self.driver_seen > self.code.driver_timeout

    def _loop(self) -> str:
        flow = self.flow
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        poller.register(self.pull, zmq.POLLIN)
        while True:
            moved = False
            while self.control.poll(0):
                verdict = self._on_control(wire.unpack(self.control.recv()))
                if verdict is not None:
                    return verdict
            for _ in range(PACK_MAX):
                try:
                    blob = self.pull.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                moved = True
                for node_id, channel, payload in wire.unpack_data(blob):
                    flow.arrive(node_id, channel, payload)
            moved |= self._flush_outboxes()
            if not any(self.outbox.values()) and not self.stuck:
                moved |= flow.poll_sources()
                moved |= self._flush_outboxes()
            flow.tick()
            now = time.monotonic()
            if now >= self.next_publish:
                self._publish(now)
            if flow.finished and not any(self.outbox.values()) and not self.stuck:
                return "done"
            if self._driver_silent():
                return "driver lost"
            if not moved:
                poller.poll(IDLE_WAIT_MS)

    def _on_control(self, msg: dict):
        if msg["gen"] != self.gen or msg["kind"] == "abort":
            return "aborted"
        kind = msg["kind"]
        if kind == "trigger":
            self.flow.trigger(msg["cid"])
        elif kind == "commit":
            self._on_commit(msg["cid"], msg.get("info"))
        elif kind == "drain":
            self.flow.drain_sources()
        return None

    def _flush_outboxes(self) -> bool:
        sent = False
        for peer, box in self.outbox.items():
            while peer in self.stuck or box:
                blob = self.stuck.pop(peer, None)
                if blob is None:
                    batch = [box.popleft() for _ in range(min(PACK_MAX, len(box)))]
                    blob = wire.pack_data(batch)
                try:
                    self.push[peer].send(blob, zmq.NOBLOCK)
                    sent = True
                except zmq.Again:
                    self.stuck[peer] = blob
                    break
        if self.stuck:
            self.live.blocked(time.monotonic())
        elif self.live.blocked_since is not None:
            self.live.unblocked(time.monotonic())
        return sent

    def _flush_all(self) -> None:
        """Send what is queued to other tasks (they still expect it), bounded by the driver's liveness."""
        while any(self.outbox.values()) or self.stuck:
            if not self._flush_outboxes():
                if self._driver_silent():
                    return
                time.sleep(0.001)

    def _report_error(self, exc: BaseException) -> None:
        text = format_user_traceback(exc)
        blobs = _error_blobs(exc)
        if isinstance(exc, StreamError) and type(exc.record) is not RecordText:
            # Last, the error with the failing record's text in its place: for a record that does
            # not pickle (it holds a lock) or does not unpickle on the driver (its class imports
            # on the workers only), so the driver still raises a StreamError, not the message alone.
            blobs += _error_blobs(exc.with_record_text())
        self._report("error", exceptions=blobs, message=exception_text(exc), traceback=text)

    def close(self) -> None:
        """Stop the heartbeat, close the dataflow and every socket."""
        self.stopping.set()
        if self.beats.is_alive():
            self.beats.join(timeout=2)
        try:
            self.flow.close()
        finally:
            for sock in self.push.values():
                sock.close(self.linger)
            self.pull.close(0)
            self.control.close()      # its linger lets the last report leave


def _error_blobs(exc: BaseException) -> list[bytes]:
    """``exc`` pickled with its cause, then without it: for a cause that does not pickle here
    (it holds a lock) or does not unpickle on the driver (its class importable on the workers
    only), whose type and message stay in the error's message and the remote traceback."""
    blobs = [exception_blob(exc)]
    if exc.__cause__ is not None:
        cause, exc.__cause__ = exc.__cause__, None
        blobs.append(exception_blob(exc))
        exc.__cause__ = cause
    return [blob for blob in blobs if blob is not None]
