"""Runs a streaming plan on the cluster's workers: the driver's coordinator.

Policy. A job of parallelism ``P`` (its widest operator) runs as ``P``
long-running tasks launched together with ``DAGScheduler.run_code`` (one per
slot: task ``i`` runs instance ``i`` of every operator, see ``runtime.py``);
``P`` must fit the cluster's slots. ``run_code`` runs in a thread; this
thread binds a control ROUTER (``wire.py``), hands the tasks each other's
data addresses once all have said hello, and then:

- **commits**: what sinks hand over arrives tagged with an epoch (the
  checkpoint that follows it); ``pending[epoch]`` holds it until that
  checkpoint completes (or the job ends), then each sink's committer
  commits it (``sinks.py``: collected values, renamed files, a Redis
  transaction). Sinks are transactional per checkpoint: what an epoch that
  a failure cut short made is dropped (``discard``) and made again after
  the restore.
- **checkpoints**: every ``checkpoint_interval`` seconds it sends
  ``trigger(cid)`` (one checkpoint at a time); a checkpoint completes when
  every task has acknowledged it (a finished task's final parts stand for
  it). A task stores its snapshot on its worker's disk and acknowledges with
  the location (``snapshots.py``); the ack also carries the blob, and the
  driver keeps that copy of the last completed checkpoint as the durable
  fallback: the one place that survives any worker's death (a driver failure
  ends the job anyway). ``commit(cid, info)`` then lets sources drop what
  they keep for replay and tasks drop older snapshots; ``info`` (id, time,
  duration, bytes) is what ``minibig status`` shows as the last checkpoint.
- **recovers**: a task whose heartbeats stop for ``task_timeout`` seconds is
  lost (its worker died). The coordinator aborts the generation's other
  tasks, waits for ``run_code`` to end (the master reruns the lost task on a
  free slot, which is answered ``abort``), and starts a new generation of
  ``P`` tasks from the last completed checkpoint (one in flight is
  abandoned, whatever parts of it were taken): operators restored (from
  the workers' disks; from the driver's copy for a task whose worker was
  lost or whose read failed), sources rewound, sink epochs after it dropped. So the collected output is
  the failure-free run's, nothing lost or twice. The new tasks need ``P``
  slots: a replacement worker, or spare slots (the job does not rescale,
  keyed state is partitioned by ``P``); after ``start_timeout`` seconds
  without them the job fails with a clear error.
- **fails**: a task that raises reports the exception (the user's: a
  restart would meet it again); the job stops and ``run`` raises it, with
  the remote traceback as a note.

Messages from an earlier generation are recognised by ``gen`` and answered
``abort``.
"""

from __future__ import annotations

import ctypes
import logging
import pickle
import threading
import time
import uuid

import zmq

from minibig.errors import JobAbortedError
from minibig.net.security import cluster_key, stop_authenticator
from minibig.streaming import wire
from minibig.streaming.metrics import JobMetrics
from minibig.streaming.physical import make_committer
from minibig.streaming.task import StreamTaskCode

log = logging.getLogger("minibig.streaming")

POLL_MS = 20
JOIN_TIMEOUT = 120.0          # seconds to wait for the tasks of a generation to return


class ClusterExecutor:
    """A plan on the workers of ``sc``'s cluster (see the module docstring)."""

    def __init__(self, sc, plan, batch_size=1024, clock=None, checkpoint_interval=None,
                 max_restarts=3, task_timeout=3.0, start_timeout=60.0, on_checkpoint=None,
                 name: str = "stream"):
        self.sc = sc
        self.name = name
        self.plan = plan
        self.parallelism = max(node.parallelism for node in plan.nodes.values())
        self.checkpoint_interval = checkpoint_interval
        self.max_restarts = max_restarts
        self.task_timeout = task_timeout
        self.start_timeout = start_timeout
        self.on_checkpoint = on_checkpoint
        self.code = StreamTaskCode(plan.to_bytes(), batch_size, clock, start_timeout,
                                   driver_timeout=max(task_timeout, 3.0), name=name,
                                   job_id=uuid.uuid4().hex[:10])
        self.committers = {n: make_committer(plan.nodes[n]) for n in plan.committing()}
        # The last completed checkpoint: {"cid", "parts": {index: {"stored", "blob"}}}: where
        # each task's worker stored its parts, and the driver's copy (``snapshots.py``).
        self.completed = None
        self.last_checkpoint = None           # {"id", "at", "duration_s", "bytes"} of it
        self.suspects: set[str] = set()       # workers whose tasks were lost: their disks are not read
        self.task_workers: dict[int, str] = {}   # index -> worker id, this generation
        self.restored_from: list[tuple] = []  # (generation, index, "disk" | "driver")
        self.failures: list[dict] = []        # {"in_flight", "restored"}: checkpoint ids at each restart
        self.snapshot_keys: dict[str, tuple] = {}   # key -> (gen, cid): snapshots on workers' disks
        self.counters: dict[int, dict] = {}
        self.checkpoints = 0                  # completed checkpoints, all generations
        self.restarts = 0

    def check_slots(self) -> None:
        """Refuse a job wider than the cluster: all its tasks must run at once."""
        slots = self.sc.defaultParallelism
        if self.parallelism > slots:
            raise ValueError(f"the streaming job needs {self.parallelism} task slots at once (its widest "
                             f"operator's parallelism) but the cluster has {slots}; lower "
                             "StreamingContext(parallelism=...) or add workers")

    def run(self, timeout: float | None = None) -> None:
        """Run until every source ends (``timeout``: then drain); recover from lost tasks."""
        self.check_slots()
        master_url = getattr(self.sc._backend, "url", None)
        zctx = zmq.Context()                      # its own: see wire.control_server
        self.sock = None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self.sock, self.address = wire.control_server(zctx, wire.driver_host(master_url),
                                                          cluster_key(master_url))
            for committer in self.committers.values():
                committer.open()
            gen = 0
            while not _Generation(self, gen, deadline).run():
                self.restarts += 1
                if self.restarts > self.max_restarts:
                    raise JobAbortedError(f"the streaming job lost a task {self.restarts} times; "
                                          f"giving up (max_restarts={self.max_restarts})")
                for committer in self.committers.values():
                    committer.discard()
                self._drop_snapshots(keep=self.completed)
                gen += 1
            for committer in self.committers.values():
                committer.finish()
        finally:
            self._drop_snapshots(keep=None)
            if self.sock is not None:
                self.sock.close(0)
            stop_authenticator(zctx)
            zctx.term()

    def _drop_snapshots(self, keep) -> None:
        """Delete the snapshots on the workers' disks, but those of checkpoint ``keep``."""
        kept = {part["stored"]["key"] for part in keep["parts"].values() if part["stored"]} if keep else set()
        gone = [key for key in self.snapshot_keys if key not in kept]
        if gone:
            try:
                self.sc._backend.drop_shuffles(gone)
            except Exception:      # noqa: BLE001 - the workers delete them when the driver goes
                log.warning("could not ask the workers to delete %d snapshots", len(gone), exc_info=True)
        for key in gone:
            del self.snapshot_keys[key]

    def forget_dropped(self, gen: int, below: int) -> None:
        """Generation ``gen``'s running tasks have deleted their snapshots before ``below``.

        (They do on each commit; one commit of slack for one still on its way. A task
        that ends says in its ``done`` what it kept, and those go back on the list.)"""
        for key in [k for k, (g, cid) in self.snapshot_keys.items()
                    if g == gen and cid is not None and cid < below - 1]:
            del self.snapshot_keys[key]

    def collected(self, sink_id: int) -> list:
        """A collect sink's committed values."""
        return self.committers[sink_id].values

    def metrics(self) -> JobMetrics:
        """Counters of every instance, per operator (restored ones included)."""
        return JobMetrics.from_instances((name, counters) for per_task in self.counters.values()
                                         for name, counters in per_task.items())


class _Generation:
    """One launch of the job's tasks, until they finish (True) or one is lost (False)."""

    def __init__(self, ex: ClusterExecutor, gen: int, deadline):
        self.ex = ex
        self.gen = gen
        self.deadline = deadline
        self.drained = False
        self.identities: dict[int, bytes] = {}
        self.addresses: dict[int, str] = {}
        self.seen: dict[int, float] = {}
        self.done: dict[int, dict] = {}
        self.acks: dict[int, dict] = {}
        self.pending: dict[int, dict] = {}        # epoch -> {sink: [values]}
        self.table_sent = False
        self.error = None
        self.failure = None
        self.restart = False                      # a task could not read its snapshot
        base = ex.completed["cid"] if ex.completed else 0
        self.next_cid = base + 1
        self.in_flight = None
        self.triggered_at = None
        self.next_trigger = None

    # -- the job thread ---------------------------------------------------------------

    def _launch(self) -> None:
        ex = self.ex
        payloads = {}
        for i in range(ex.parallelism):
            restore = None
            if ex.completed is not None:
                part = ex.completed["parts"][i]
                stored = part["stored"]
                fallback = stored is None or stored["worker"] in ex.suspects
                restore = {"cid": ex.completed["cid"], "stored": stored,
                           "blob": part["blob"] if fallback else None}
            payloads[i] = {"index": i, "gen": self.gen, "driver": ex.address, "restore": restore}

        def job():
            try:
                ex.sc._dag.run_code(ex.code, list(range(ex.parallelism)),
                                    f"streaming job (generation {self.gen})", payloads=payloads)
            except _Cancelled:
                pass
            except BaseException as exc:          # noqa: BLE001 - handed to the coordinator
                self.failure = exc
        self.thread = threading.Thread(target=job, name=f"stream-job-{self.gen}", daemon=True)
        self.thread.start()

    # -- the coordinator loop ---------------------------------------------------------

    def run(self) -> bool:
        ex = self.ex
        self._launch()
        started = time.monotonic()
        try:
            while True:
                if ex.sock.poll(POLL_MS):
                    while ex.sock.poll(0):
                        self._on_message(*ex.sock.recv_multipart())
                now = time.monotonic()
                if self.error is not None:
                    self._stop()
                    raise self.error
                if self.failure is not None and not self.thread.is_alive():
                    raise self.failure
                if len(self.done) == ex.parallelism:
                    self._finish()
                    return True
                if self.restart:                  # a task could not read its snapshot
                    return self._restart()
                if not self.table_sent:
                    if now - started > ex.start_timeout:
                        raise JobAbortedError(
                            f"only {len(self.addresses)} of the streaming job's {ex.parallelism} tasks "
                            f"started within {ex.start_timeout:g}s: the cluster has fewer free slots "
                            "than the job's parallelism")
                    continue
                if self._lost(now):
                    return self._restart()
                self._maybe_trigger(now)
                if self.deadline is not None and now >= self.deadline and not self.drained:
                    self.drained = True
                    self._broadcast("drain")
        except BaseException:
            self._stop()
            raise

    def _restart(self) -> bool:
        """Stop this generation for a restart from the last completed checkpoint: False."""
        self._stop()
        self.ex.failures.append({"in_flight": self.in_flight,
                                 "restored": self.ex.completed["cid"] if self.ex.completed else 0})
        return False

    def _lost(self, now: float) -> bool:
        if not self.thread.is_alive() and len(self.done) < self.ex.parallelism:
            return True
        lost = [i for i in self.identities if i not in self.done and now - self.seen[i] > self.ex.task_timeout]
        self.ex.suspects.update(self.ex.task_workers[i] for i in lost if i in self.ex.task_workers)
        return bool(lost)

    def _on_message(self, identity: bytes, blob: bytes) -> None:
        msg = wire.unpack(blob)
        kind, index = msg["kind"], msg.get("index")
        if msg["gen"] != self.gen:
            if kind == "hello":
                self.ex.sock.send_multipart([identity, wire.pack("abort", msg["gen"])])
            return
        if kind == "beat":
            self.seen[index] = time.monotonic()
            self.ex.sock.send_multipart([identity, wire.pack("beat", self.gen)])
        elif kind == "hello":
            self._on_hello(identity, index, msg)
        elif kind == "results":
            self.pending.setdefault(msg["epoch"], {}).setdefault(msg["sink"], []).extend(msg["values"])
        elif kind == "ack":
            if msg["stored"]:
                self.ex.snapshot_keys[msg["stored"]["key"]] = (self.gen, msg["cid"])
            self._on_ack(index, msg["cid"], {"stored": msg["stored"], "blob": msg["blob"]})
        elif kind == "done":
            self.done[index] = {"stored": None, "blob": msg["blob"]}
            for key in msg.get("kept", []):         # what it had not deleted yet: the driver will
                self.ex.snapshot_keys[key] = (self.gen, None)
            self.ex.counters[index] = msg["counters"]
            self._check_complete()
        elif kind == "lost_snapshot":
            self.ex.suspects.add(msg["worker"])
            self.restart = True
        elif kind == "error":
            self.error = _remote_error(msg, index)

    def _on_hello(self, identity: bytes, index: int, msg: dict) -> None:
        if index in self.identities or self.table_sent:     # a rerun or backup of a started task
            self.ex.sock.send_multipart([identity, wire.pack("abort", self.gen)])
            return
        self.identities[index] = identity
        self.addresses[index] = msg["address"]
        self.ex.task_workers[index] = msg["worker"]
        if msg.get("restored_from"):
            self.ex.restored_from.append((self.gen, index, msg["restored_from"]))
        self.seen[index] = time.monotonic()
        if len(self.addresses) == self.ex.parallelism:
            table = [self.addresses[i] for i in range(self.ex.parallelism)]
            self._broadcast("table", addresses=table)
            self.table_sent = True
            if self.ex.checkpoint_interval:
                self.next_trigger = time.monotonic() + self.ex.checkpoint_interval

    def _broadcast(self, kind: str, **fields) -> None:
        for index, identity in self.identities.items():
            if index not in self.done:
                self.ex.sock.send_multipart([identity, wire.pack(kind, self.gen, **fields)])

    # -- checkpoints ------------------------------------------------------------------

    def _maybe_trigger(self, now: float) -> None:
        if self.in_flight is not None or self.next_trigger is None or now < self.next_trigger:
            return
        self.in_flight = self.next_cid
        self.triggered_at = now
        self.next_cid += 1
        self._broadcast("trigger", cid=self.in_flight)
        self._check_complete()

    def _on_ack(self, index: int, cid: int, parts: dict) -> None:
        if cid == self.in_flight:
            self.acks.setdefault(cid, {})[index] = parts
            self._check_complete()

    def _check_complete(self) -> None:
        cid = self.in_flight
        if cid is None:
            return
        got = {**self.done, **self.acks.get(cid, {})}
        if len(got) < self.ex.parallelism:
            return
        ex = self.ex
        ex.completed = {"cid": cid, "parts": got}
        ex.last_checkpoint = {"id": cid, "at": time.time(),
                              "duration_s": round(time.monotonic() - self.triggered_at, 4),
                              "bytes": sum(len(part["blob"]) for part in got.values())}
        ex.checkpoints += 1
        self.acks.pop(cid, None)
        self.in_flight = None
        self._commit_epochs(cid)
        self._broadcast("commit", cid=cid, info=ex.last_checkpoint)
        ex.forget_dropped(self.gen, cid)            # each task deletes its older ones
        self.next_trigger = time.monotonic() + ex.checkpoint_interval
        if ex.on_checkpoint is not None:
            ex.on_checkpoint(cid)

    def _commit_epochs(self, upto) -> None:
        for epoch in sorted(e for e in self.pending if upto is None or e <= upto):
            for sink, values in self.pending.pop(epoch).items():
                self.ex.committers[sink].commit(epoch, values)

    def _finish(self) -> None:
        self._commit_epochs(None)
        self.thread.join(JOIN_TIMEOUT)
        if self.failure is not None:
            raise self.failure

    # -- stopping ---------------------------------------------------------------------

    def _stop(self) -> None:
        """Abort every task of this generation and wait (bounded) for ``run_code`` to return."""
        self._broadcast("abort")
        if not self.table_sent and self.thread.is_alive():
            _cancel(self.thread)                  # tasks may wait for slots that never come
        end = time.monotonic() + JOIN_TIMEOUT
        while self.thread.is_alive() and time.monotonic() < end:
            if self.ex.sock.poll(POLL_MS):
                identity, blob = self.ex.sock.recv_multipart()
                msg = wire.unpack(blob)
                if msg["kind"] == "hello":
                    self.ex.sock.send_multipart([identity, wire.pack("abort", msg["gen"])])
        if self.thread.is_alive():
            _cancel(self.thread)
            self.thread.join(5)


class _Cancelled(BaseException):
    """Raised in a job thread to make ``run_code`` cancel its job and return."""


def _cancel(thread: threading.Thread) -> None:
    # run_code has no cancel of its own; the exception lands at the job thread's next
    # bytecode (its event wait wakes every 500 ms), and run_code cancels the job on it.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Cancelled))


def _remote_error(msg: dict, index: int) -> BaseException:
    exc = None
    for blob in msg.get("exceptions", ()):     # the error with its cause first, then without
        try:
            exc = pickle.loads(blob)
            break
        except Exception:
            continue
    if not isinstance(exc, BaseException):
        exc = JobAbortedError(msg.get("message", "a streaming task failed"))
    exc.add_note(f"minibig: streaming task {index} failed\n--- remote traceback ---\n"
                 + str(msg.get("traceback", "")).rstrip())
    return exc
