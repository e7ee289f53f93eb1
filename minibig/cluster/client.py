"""The driver's side of the wire: a Context talking to a master.

`ClusterBackend` says hello, submits stages, and hands the DAG scheduler the
master's events one at a time. A thread with its own socket sends the
driver's heartbeats, so a master notices a dead driver and frees its stages
and shuffle files even while the driver is busy between actions.

Several jobs may run at once, from several threads (as PySpark runs jobs
from several threads). One socket serves them all, so every use of it holds
`lock` (zmq sockets are not thread-safe), and events are routed: each job
has a queue (`jobs`, job id -> deque, from `start_job` to `end_job`); a
job's thread that finds its queue empty becomes the one reader of the socket
(`reading`) for a poll, and puts each message it reads into the queue of
the job it names (`job_id`), or of every job for an OUTPUTS_LOST, which is
about a shuffle; a message for no running job (a late attempt of a finished
one) is dropped. The other threads wait on `events` for their queue.

No wait is open-ended: a job that hears nothing for JOB_QUIET_AFTER seconds
gets a JOB_QUIET, and its DAG scheduler asks the master which of its task
sets it still holds (a stage whose results were lost on the way, or that the
master dropped, runs again; a master that forgot the driver fails the job);
an embedded master that exited, or any master silent for master_timeout,
fails it too.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid

from minibig.cluster.jobqueues import JobQueues
from minibig.net import protocol as P
from minibig.net.security import dealer, unanswered_hint
from minibig.errors import ClusterStartError, JobAbortedError, MasterUnreachableError

log = logging.getLogger("minibig")

#: Seconds a job may hear nothing before its scheduler asks the master what it holds.
JOB_QUIET_AFTER = 5.0


class ClusterBackend(JobQueues):
    """A driver's connection to one master."""

    def __init__(self, url: str, conf, app_name: str = "", alive=None, workers_alive=None,
                 revive_workers=None):
        self.url = url
        self.conf = conf
        self.alive = alive or (lambda: True)
        # an embedded cluster's workers: once none runs, no task of the running jobs can,
        # and the next job starts them again (revive_workers)
        self.workers_alive = workers_alive or (lambda: True)
        self.revive_workers = revive_workers or (lambda: 0)
        self.revive_lock = threading.Lock()       # two threads' jobs start workers once
        self._no_worker_since: float | None = None
        self.driver_id = f"d{uuid.uuid4().hex[:10]}"
        self.sock = dealer(url, linger=1000)
        self.info = {"workers": 0, "slots": 0, "hosts": []}
        self.stopped = threading.Event()
        self.lock = threading.Lock()              # held for every use of self.sock
        JobQueues.__init__(self)                  # self.events also guards self.reading
        self.reading = False
        self.heard: dict[int, float] = {}         # job id -> when it last got a message
        P.send(self.sock, P.HELLO, {"driver_id": self.driver_id, "app_name": app_name,
                                    "host": socket.gethostname()})
        welcome = self._receive(P.WELCOME, conf.connect_timeout)
        if welcome is None:
            self.sock.close(0)
            raise MasterUnreachableError(
                f"no minibig master answered at {url} within {conf.connect_timeout:g}s "
                f"({unanswered_hint()})")
        self.info = welcome.header
        self.master_seen = self.beaten = time.monotonic()
        self.beats = threading.Thread(target=self._heartbeat, name="driver-heartbeat", daemon=True)
        self.beats.start()

    @property
    def default_parallelism(self) -> int:
        return max(1, int(self.info.get("slots", 0)))

    def _receive(self, kind: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._read(deadline - time.monotonic())
            if msg is not None and msg.kind == kind:
                return msg
        return None

    def _read(self, timeout: float):
        """One message from the master within `timeout` seconds, or None.

        Polls in short slices, letting go of the socket between them, so
        another thread's submit or cancel waits a slice at most.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.sock.poll(int(min(0.02, max(0.0, deadline - time.monotonic())) * 1000) + 1):
                    msg = P.recv(self.sock)
                    if msg.kind == P.WELCOME:
                        self.info = msg.header
                    return msg
            if time.monotonic() >= deadline:
                return None

    def wait_for_workers(self, count: int, timeout: float) -> None:
        """Block until `count` workers have registered."""
        deadline = time.monotonic() + timeout
        while self.info.get("workers", 0) < count:
            if not self.alive():
                raise ClusterStartError("a process of the embedded cluster exited during start-up")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClusterStartError(
                    f"only {self.info.get('workers', 0)} of {count} workers registered "
                    f"within {timeout:g}s")
            self._receive(P.WELCOME, min(left, 0.5))

    def _heartbeat(self) -> None:
        """Beat every heartbeat_interval; note when the master last answered, and when
        this thread last beat (answers to earlier beats read first). Time this thread
        was not running past its wait (the driver stopped, the machine paused) had no
        beats for the master to answer, so it counts as heard."""
        sock = dealer(self.url)
        interval = self.conf.heartbeat_interval
        try:
            while True:
                turn = time.monotonic()
                if self.stopped.wait(interval):
                    break
                away = time.monotonic() - turn - interval
                if away > interval:
                    self.master_seen += away
                while sock.poll(0):
                    sock.recv_multipart()
                    self.master_seen = time.monotonic()
                P.send(sock, P.HEARTBEAT, {"driver_id": self.driver_id})
                self.beaten = time.monotonic()
        finally:
            sock.close(0)

    def _no_worker_for(self) -> float:
        """How long the embedded cluster has had no worker running (0 while one runs). A job
        fails only after `worker_timeout` of it, the master's own wait for a silent worker:
        a worker the program adds (`add_worker`) in place of the last one to die, or one
        it adds while its last one dies, must not fail the job it was added for."""
        if self.workers_alive():
            self._no_worker_since = None
            return 0.0
        now = time.monotonic()
        if self._no_worker_since is None:
            self._no_worker_since = now
        return now - self._no_worker_since

    def start_job(self, job_id: int) -> None:
        """Open a job's queue; an embedded cluster whose every worker has exited gets its
        workers again first (an earlier job's tasks ended them), so this job can run."""
        with self.revive_lock:
            started = self.revive_workers()
        if started:
            log.warning("every worker of the embedded cluster had exited; started %d new one(s)", started)
        super().start_job(job_id)

    def _master_silent_for(self) -> float:
        """How long the master has left our beats unanswered: from its last answer to our
        last beat, so a driver that was itself stopped (SIGSTOP, a paused machine) does
        not blame the master for the time nobody beat, even before this thread runs again."""
        return self.beaten - self.master_seen

    def _send(self, kind: str, header: dict, blobs: list = ()) -> None:
        with self.lock:
            P.send(self.sock, kind, header, list(blobs))

    def submit_stage(self, header: dict, code: bytes, payloads: list) -> None:
        """Send a stage's tasks to the master (its events go to job `header['job_id']`)."""
        self._send(P.SUBMIT_STAGE, header, [code, *payloads])

    # -- events, routed to their job ----------------------------------------------
    def next_event(self, job_id: int):
        """The next message about job `job_id`'s stages, or a JOB_QUIET once none came for
        JOB_QUIET_AFTER seconds (blocks; JobAbortedError if the master is gone)."""
        while True:
            with self.events:
                queue = self.jobs[job_id]
                while not queue and self.reading:
                    self.events.wait(0.5)
                now = time.monotonic()
                if queue:
                    self.heard[job_id] = now
                    return queue.popleft()
                if now - self.heard.setdefault(job_id, now) > JOB_QUIET_AFTER:
                    self.heard[job_id] = now
                    return P.Message(P.JOB_QUIET, {"job_id": job_id})
                self.reading = True
            try:
                msg = self._read(0.5)
            finally:
                with self.events:
                    self.reading = False
                    self.events.notify_all()
            if msg is not None:
                self._route(msg)
                continue
            if not self.alive():
                raise JobAbortedError("the embedded cluster's master has exited")
            if self._no_worker_for() > self.conf.worker_timeout:
                raise JobAbortedError(
                    "every worker of the embedded cluster has exited, so no task can run (a task "
                    "that ends its own process, by os._exit, a crash in native code or the "
                    "kernel's OOM killer, takes its worker with it); the next job starts new workers")
            if self._master_silent_for() > self.conf.master_timeout:
                raise JobAbortedError(f"the master at {self.url} stopped answering "
                                      f"({self._master_silent_for():.0f}s without a heartbeat)")

    def _route(self, msg: P.Message) -> None:
        if msg.kind == P.WELCOME:
            return
        with self.events:
            if msg.kind == P.OUTPUTS_LOST:            # about a shuffle: every job may read it
                targets = list(self.jobs.values())
            else:
                try:
                    queue = self.jobs.get(int(msg.header.get("job_id", -1)))
                except (TypeError, ValueError):
                    queue = None
                targets = [] if queue is None else [queue]
            for queue in targets:
                queue.append(msg)
            self.events.notify_all()

    def end_job(self, job_id: int) -> None:
        """Close a job's queue and forget when it last heard from the master."""
        JobQueues.end_job(self, job_id)
        with self.events:
            self.heard.pop(job_id, None)

    def ask_job_state(self, job_id: int, tasksets: list) -> None:
        """Ask the master which of `tasksets` (a job's) it no longer holds; the answer, a
        JOB_STATE_REPLY, comes to the job behind everything the master sent it before."""
        self._send(P.JOB_STATE, {"driver_id": self.driver_id, "job_id": job_id,
                                 "tasksets": tasksets})

    def frame_taken(self, header: dict) -> None:
        """Tell the worker streaming a result (through the master) that a frame was decoded."""
        self._send(P.FRAME_ACK, {key: header[key] for key in ("taskset", "partition", "attempt",
                                                               "seq")})

    def cancel_job(self, job_id: int) -> None:
        """Ask the master to stop a job's tasks."""
        self._send(P.CANCEL_JOB, {"driver_id": self.driver_id, "job_id": job_id})

    def add_file(self, file_id: str, data: bytes, broadcast: bool = False) -> None:
        """Ship a file (a broadcast value, a zip of modules) to every worker."""
        self._send(P.ADD_FILE, {"driver_id": self.driver_id, "file_id": file_id}, [data])

    def drop_files(self, ids: list, workers_only: bool = False) -> None:
        """Delete shipped files from the workers (and from the master unless `workers_only`:
        then the master keeps them and ships them again to the next task that needs one)."""
        self._send(P.DROP_FILES, {"files": ids, "workers_only": workers_only})

    def drop_blocks(self, prefix: str) -> None:
        """Drop cached partitions whose key starts with `prefix` from every worker."""
        self._send(P.DROP_BLOCKS, {"prefix": prefix})

    def drop_shuffles(self, keys: list) -> None:
        """Forget shuffles' map outputs and delete their files."""
        self._send(P.DROP_SHUFFLE, {"shuffles": keys})

    def stop(self) -> None:
        """Say goodbye (the master drops this driver's shuffles) and close."""
        self.stopped.set()
        self._send(P.BYE, {"driver_id": self.driver_id})
        self.beats.join(timeout=2)
        self.sock.close()
