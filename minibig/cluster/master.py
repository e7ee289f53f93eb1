"""The master: worker registry, heartbeats and task scheduling.

One ROUTER socket serves everybody. Workers register, send heartbeats and
report finished tasks; drivers say hello, submit stages as task sets and get
each task's result forwarded to them (a big one in frames ahead of its
report, passed on only while their attempt runs; the driver's acks go back to
the worker, which keeps a few frames ahead: `on_task_frame`, `on_frame_ack`). The master keeps:

    workers      worker_id -> WorkerInfo (routing identity, slots, heartbeat)
    drivers      driver_id -> DriverInfo (routing identity, heartbeat)
    scheduler    the FIFO queue of task sets (`minibig.cluster.taskset`)
    map_outputs  shuffle key -> {map partition: worker_id}
    files        file id -> zip bytes (a driver's modules, shipped to workers)

It reads only message kinds and JSON headers. Code, payloads and results are
opaque blobs that it forwards: the master never unpickles user code. A message
it cannot parse is logged and dropped.

A worker that misses heartbeats for `worker_timeout` seconds is lost: its
running tasks go back to the queue and the drivers whose shuffle outputs it
held are told (`outputs_lost`) so they can recompute them from lineage.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import sys
import time
from dataclasses import dataclass, field

import zmq

from minibig.net import protocol as P
from minibig.net.security import stop_authenticators
from minibig.cluster.runtime import (add_common_args, bind_address, check_port, die_with_parent,
                                     record_master, forget_master, setup_logging,
                                     stop_on_sigterm, use_cluster_key)
from minibig.conf import Conf
from minibig.cluster.eventlog import EventRecorder
from minibig.cluster.live_streams import StreamBoard
from minibig.cluster.placement import Exclusions, task_prefs
from minibig.cluster.taskset import Policy, TaskScheduler, TaskSet
from minibig.errors import JobAbortedError, WorkerLostError

log = logging.getLogger("minibig.master")


def engine_failure_report(error: str, kind: type = JobAbortedError) -> bytes:
    """A failure report (as `describe_failure` packs one) for an error of the engine itself:
    the driver raises it as `kind` (JobAbortedError unless said)."""
    return pickle.dumps({"type": f"minibig.errors.{kind.__name__}", "message": error,
                         "traceback": "", "dataset": "",
                         "exception": pickle.dumps(kind(error), protocol=5)}, protocol=5)


@dataclass
class WorkerInfo:
    """What the master knows of one registered worker."""

    worker_id: str
    identity: bytes
    host: str
    pid: int
    slots: int
    block_addr: str
    work_dir: str
    last_seen: float
    running: dict = field(default_factory=dict)   # (taskset key, partition, attempt) -> locality
    has_code: set = field(default_factory=set)
    has_files: set = field(default_factory=set)
    tasks_done: int = 0
    reserved: int = 0                             # task memory reserved, per its last heartbeat
    code_sent: int = 0                            # stage code blobs shipped to it
    memory: int = 0                               # its memory budget in bytes (0: not said)
    cpu_percent: float | None = None              # its process's CPU use, per its last heartbeat
    rss_bytes: int | None = None                  # its process's resident memory, likewise

    @property
    def free_slots(self) -> int:
        return self.slots - len(self.running)

    def location(self) -> dict:
        """How a reduce task reaches this worker's shuffle blocks."""
        return {"worker": self.worker_id, "host": self.host,
                "addr": self.block_addr, "dir": self.work_dir}


@dataclass
class DriverInfo:
    """A connected driver (a Context)."""

    driver_id: str
    identity: bytes
    last_seen: float
    app_name: str = ""
    jobs: dict = field(default_factory=dict)      # job_id -> description
    files: set = field(default_factory=set)       # ids of the files it shipped


class Master:
    """Event loop of the master process."""

    def __init__(self, conf: Conf, url: str):
        self.conf = conf
        self.url = url
        self.workers: dict[str, WorkerInfo] = {}
        self.drivers: dict[str, DriverInfo] = {}
        self.streams = StreamBoard()                  # running streaming jobs' operator metrics
        self.scheduler = TaskScheduler(
            Policy(locality_wait=conf.locality_wait, speculation=conf.speculation),
            conf.scheduler_mode)
        self.exclusions = Exclusions()
        self.map_outputs: dict[str, dict[int, str]] = {}
        self.outputs_version = 0                  # bumped whenever map_outputs changes
        self.map_sizes: dict[str, dict[int, list]] = {}   # shuffle -> map -> bytes per reducer
        self.finished_jobs: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.blocks: dict[str, set] = {}          # persisted partition -> worker ids
        self.shutting_down = False
        self.unreachable: set[bytes] = set()      # peers a message could not go to (`send`)
        self.reregister_asked: dict[str, float] = {}   # unknown worker -> when it was asked
        self.started = time.time()
        self.events = EventRecorder(self, conf.event_log)   # the event log and the web UI

    # -- plumbing ---------------------------------------------------------
    def send(self, identity: bytes, kind: str, header=None, blobs=()) -> None:
        """Send one message to a peer. The socket queues without a mark and says when a peer
        is gone (`main`): a message to a peer whose connection the socket has seen go is noted
        and the peer dropped after the message at hand (`drop_unreachable`), not at its
        timeout. Messages queued to a peer before its connection went are lost without a
        word, though: a driver reached again at a new identity (`driver_spoke`) runs again
        what they were about."""
        try:
            P.send(self.sock, kind, header, blobs, identity=identity)
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            log.info("a %s message could not go: its peer's connection is gone", kind)
            self.unreachable.add(identity)

    def drop_unreachable(self) -> None:
        """Act on the peers a message could not reach: their connection is gone (a peer
        that reconnects has a new identity). A worker is lost: its tasks run elsewhere, and
        it registers anew at its next heartbeat. A driver keeps its shuffles, but its task
        sets go (their results could not reach it): when it next asks about its job, from
        its new identity (`driver_spoke`), it learns they are missing and runs them again;
        a driver that is really gone is dropped at driver_timeout."""
        while self.unreachable:
            gone, self.unreachable = self.unreachable, set()
            for wid in [w.worker_id for w in self.workers.values() if w.identity in gone]:
                self.lose_worker(wid, "its connection is gone")
            for did in [d.driver_id for d in self.drivers.values() if d.identity in gone]:
                log.warning("driver %s unreachable: its connection is gone; its task sets "
                            "are dropped", did)
                self.drop_tasksets_of(did)

    def to_driver(self, driver_id: str, kind: str, header=None, blobs=()) -> None:
        driver = self.drivers.get(driver_id)
        if driver is not None:
            self.send(driver.identity, kind, header, blobs)

    def serve(self, sock: zmq.Socket) -> None:
        """Run until told to shut down."""
        self.sock = sock
        next_check = time.monotonic()
        while True:
            turn = time.monotonic()
            if sock.poll(timeout=int(self.conf.heartbeat_interval * 1000)):
                try:
                    msg = P.recv(sock, routed=True)
                except P.ProtocolError as exc:
                    log.warning("dropped a malformed message: %s", exc)
                else:
                    self.handle_safely(msg)
            self.excuse_absence(time.monotonic() - turn - self.conf.heartbeat_interval)
            if time.monotonic() >= next_check:
                self.check_liveness()
                next_check = time.monotonic() + self.conf.heartbeat_interval
            self.drop_unreachable()
            self.events.tick()
            if self.shutting_down and not self.workers:
                return

    def excuse_absence(self, away: float) -> None:
        """A turn of the loop took `away` seconds longer than a poll (this process stopped,
        the machine paused, a message slow to handle): no heartbeat could be read meanwhile,
        so that time counts against no worker and no driver. Otherwise, back from a pause
        longer than worker_timeout, the master would judge everyone lost on the first
        message it reads, before the heartbeats queued behind it, and drop a driver that
        goes on waiting for the stages it dropped with it."""
        if away <= self.conf.heartbeat_interval:     # a turn's own slack: no pause
            return
        now = time.monotonic()
        for peer in (*self.workers.values(), *self.drivers.values()):
            peer.last_seen = min(now, peer.last_seen + away)

    def handle(self, msg: P.Message) -> None:
        handler = getattr(self, "on_" + msg.kind, None)
        if handler is None:
            log.warning("dropped a message of unknown kind %r", msg.kind)
            return
        handler(msg)

    def handle_safely(self, msg: P.Message) -> None:
        """Handle a message; if that fails, fail what it was about instead of dropping it.

        A dropped submit or task report would leave a driver waiting forever,
        so the stage or the attempt it names fails the usual way.
        """
        try:
            self.handle(msg)
        except Exception as exc:           # a bad header must never kill the master
            log.exception("could not handle a %s message", msg.kind)
            try:
                self.fail_what_message_was_about(msg, exc)
            except Exception:
                log.exception("could not report the failure of a %s message", msg.kind)

    def fail_what_message_was_about(self, msg: P.Message, exc: Exception) -> None:
        h = msg.header if isinstance(msg.header, dict) else {}
        error = f"the master could not handle a {msg.kind} message: {type(exc).__name__}: {exc}"
        if msg.kind == P.SUBMIT_STAGE:
            did = str(h.get("driver_id", ""))
            key = f"{did}/{h.get('taskset')}"
            self.drop_taskset(key)
            self.send(msg.identity, P.STAGE_FAILED, {
                "stage_id": h.get("stage_id"), "job_id": h.get("job_id"), "taskset": key,
                "partition": None, "error": error}, [engine_failure_report(error)])
        elif msg.kind in (P.TASK_DONE, P.TASK_FAILED, P.TASK_FRAME):
            worker = self.workers.get(h.get("worker_id"))
            taskset = self.scheduler.tasksets.get(str(h.get("taskset")))
            if worker is None or taskset is None:
                return
            partition, attempt = int(h["partition"]), int(h["attempt"])
            key = (taskset.key, partition, attempt)
            if msg.kind == P.TASK_FRAME:            # a frame lost: the attempt cannot succeed
                if key not in worker.running:       # failed already, at an earlier frame
                    return
                self.cancel_attempt(taskset, partition, attempt, worker.worker_id)
            worker.running.pop(key, None)
            if partition not in taskset.done:       # done: its result already went out
                self.fail_task(worker, taskset, partition, attempt, error,
                               engine_failure_report(error))
                self.schedule()

    # -- workers ----------------------------------------------------------
    def on_register(self, msg: P.Message) -> None:
        h = msg.header
        wid = str(h["worker_id"])
        self.reregister_asked.pop(wid, None)
        old = self.workers.get(wid)
        if old is not None:
            self.lose_worker(wid, "re-registered")
        self.workers[wid] = WorkerInfo(
            wid, msg.identity, str(h["host"]), int(h["pid"]), max(1, int(h["slots"])),
            str(h["block_addr"]), str(h["work_dir"]), time.monotonic(),
            memory=int(h.get("memory", 0)))
        log.info("worker %s registered (%s, %d slots)", wid, h["host"], int(h["slots"]))
        self.events.worker_added(self.workers[wid])
        self.send(msg.identity, P.REGISTERED, {"heartbeat_interval": self.conf.heartbeat_interval})
        if self.shutting_down:
            self.send(msg.identity, P.SHUTDOWN)
        for driver in self.drivers.values():
            self.send(driver.identity, P.WELCOME, self.cluster_info())
        self.schedule()

    def on_heartbeat(self, msg: P.Message) -> None:
        now = time.monotonic()
        if "worker_id" in msg.header:
            worker = self.workers.get(msg.header["worker_id"])
            if worker is None:
                self.ask_to_register_again(str(msg.header["worker_id"]), msg.identity, now)
            else:
                worker.last_seen = now
                worker.reserved = int(msg.header.get("reserved", 0))
                worker.cpu_percent = msg.header.get("cpu_percent", worker.cpu_percent)
                worker.rss_bytes = msg.header.get("rss_bytes", worker.rss_bytes)
                self.streams.update(msg.header.get("streams", []))
                for key, partition, attempt, progress in msg.header.get("progress", []):
                    taskset = self.scheduler.tasksets.get(key)
                    if taskset is not None:
                        taskset.report_progress(int(partition), int(attempt), float(progress))
        elif "driver_id" in msg.header:
            driver = self.drivers.get(msg.header["driver_id"])
            if driver is not None:
                driver.last_seen = now
            self.send(msg.identity, P.HEARTBEAT)      # the driver's proof that we are alive

    def on_task_done(self, msg: P.Message) -> None:
        h = msg.header
        worker, taskset, partition, attempt, level = self.finish_attempt(h)
        if taskset is None:
            return
        if level is None and int(h.get("frames", 0)):
            # Not running when it finished (its worker was lost and came back, or one of its
            # frames could not be handled): frames of it were dropped, so it cannot count.
            # Its task was queued again when it stopped counting as running.
            return
        for key in h.get("cached", []):
            self.blocks.setdefault(key, set()).add(worker.worker_id)
        result = {
            "stage_id": taskset.stage_id, "job_id": taskset.job_id, "taskset": taskset.key,
            "partition": partition, "attempt": attempt, "worker": worker.worker_id,
            "seconds": h.get("seconds"), "result_size": h.get("result_size", 0),
            "frames": int(h.get("frames", 0)), "locality": level,
        }
        if len(msg.blobs) != 1:
            raise P.ProtocolError("task_done needs one result blob")
        self.events.task_done(taskset, partition, attempt, h)
        if not taskset.succeed(partition, attempt, time.monotonic()):
            return                                  # a duplicate attempt: ignore
        self.to_driver(taskset.driver_id, P.TASK_RESULT, result, msg.blobs[:1])
        for other, where in taskset.other_attempts(partition):
            self.cancel_attempt(taskset, partition, other, where)
        if taskset.writes_shuffle:
            self.map_outputs.setdefault(taskset.writes_shuffle, {})[partition] = worker.worker_id
            self.outputs_version += 1
            self.map_sizes.setdefault(taskset.writes_shuffle, {})[partition] = h.get("sizes", [])
        if taskset.finished:
            self.finish_taskset(taskset)

    def on_task_frame(self, msg: P.Message) -> None:
        """Pass a frame of a running attempt's result on to its driver, in the order it came.

        Only the frames of an attempt still running, of a task not done: a
        superseded, killed or lost attempt's frames stop here, and the driver
        drops those that were already on their way (it keeps each attempt's
        frames apart until that attempt's task_done).
        """
        h = msg.header
        worker = self.workers.get(h.get("worker_id"))
        if worker is None:
            return
        key = (str(h["taskset"]), int(h["partition"]), int(h["attempt"]))
        taskset = self.scheduler.tasksets.get(key[0])
        if taskset is None:
            return
        if key not in worker.running or key[1] in taskset.done:
            # It cannot count: stop it, rather than leave it waiting for room for its frames.
            self.cancel_attempt(taskset, key[1], key[2], worker.worker_id)
            return
        if len(msg.blobs) != 1:
            raise P.ProtocolError("task_frame needs one blob")
        self.to_driver(taskset.driver_id, P.RESULT_FRAME, {
            "stage_id": taskset.stage_id, "job_id": taskset.job_id, "taskset": taskset.key,
            "partition": key[1], "attempt": key[2], "seq": int(h["seq"]),
            "codec": str(h.get("codec", ""))}, msg.blobs)

    def on_frame_ack(self, msg: P.Message) -> None:
        """A driver decoded a frame: pass it to the worker of that attempt, if it still runs."""
        h = msg.header
        taskset = self.scheduler.tasksets.get(str(h["taskset"]))
        partition, attempt = int(h["partition"]), int(h["attempt"])
        running = taskset.running.get(partition, {}).get(attempt) if taskset else None
        worker = self.workers.get(running.worker) if running else None
        if worker is not None:
            self.send(worker.identity, P.FRAME_ACK, {"taskset": taskset.key, "partition": partition,
                                                     "attempt": attempt, "seq": int(h["seq"])})

    def cancel_attempt(self, taskset: TaskSet, partition: int, attempt: int, worker_id: str) -> None:
        """Tell a worker to stop an attempt whose task another attempt finished."""
        worker = self.workers.get(worker_id)
        if worker is not None:
            self.send(worker.identity, P.KILL_TASK,
                      {"taskset": taskset.key, "partition": partition, "attempt": attempt})

    def finish_taskset(self, taskset: TaskSet) -> None:
        self.scheduler.remove(taskset.key)
        self.finished_jobs.append({
            "driver": taskset.driver_id, "job": taskset.job_id, "stage": taskset.key,
            "description": taskset.description, "tasks": len(taskset.payloads),
            "locality": dict(taskset.locality)})
        del self.finished_jobs[:-200]

    def on_task_failed(self, msg: P.Message) -> None:
        h = msg.header
        worker, taskset, partition, attempt, _ = self.finish_attempt(h)
        self.events.task_failed(taskset, h)
        if taskset is None or partition in taskset.done or h.get("killed"):
            return
        if len(msg.blobs) != 1:
            raise P.ProtocolError("task_failed needs one report blob")
        base = {"stage_id": taskset.stage_id, "job_id": taskset.job_id, "taskset": taskset.key,
                "partition": partition, "attempt": attempt, "worker": worker.worker_id,
                "host": worker.host}
        fetch = h.get("fetch_failed")
        if fetch:
            # The stage cannot finish until the parent output is rebuilt: drop it
            # and let the driver resubmit the parent's lost partitions first.
            self.drop_taskset(taskset.key)
            self.forget_map_output(fetch["shuffle"], int(fetch["map"]))
            if fetch.get("worker") in self.workers:
                # Like Spark, distrust every output of a worker that failed a fetch:
                # dropping them one fetch failure at a time would cost one stage
                # resubmission per map output and abort the job after a few.
                self.forget_outputs_of(str(fetch["worker"]))
            self.to_driver(taskset.driver_id, P.FETCH_FAILED, {**base, **fetch})
            return
        self.fail_task(worker, taskset, partition, attempt, h.get("error", ""), msg.blobs[0])
        self.schedule()

    def fail_task(self, worker: WorkerInfo, taskset: TaskSet, partition: int, attempt: int,
                  error: str, report) -> None:
        """An attempt failed: queue it again, or fail its stage after max_attempts."""
        self.exclusions.record_failure(worker.worker_id, time.monotonic(), (taskset.key, partition))
        if taskset.fail(partition, attempt, worker.worker_id):
            log.info("task %s/%d attempt %d failed on %s; retrying",
                     taskset.key, partition, attempt, worker.worker_id)
            return
        self.exclusions.forgive((taskset.key, partition))
        self.abort_taskset(taskset, partition, attempt, worker, error, report)

    def abort_taskset(self, taskset: TaskSet, partition: int, attempt: int, worker: WorkerInfo,
                      error: str, report) -> None:
        """Fail the stage: drop its task set and send its driver the last attempt's report."""
        self.events.stage_aborted(taskset, error)
        self.drop_taskset(taskset.key)
        self.to_driver(taskset.driver_id, P.STAGE_FAILED, {
            "stage_id": taskset.stage_id, "job_id": taskset.job_id, "taskset": taskset.key,
            "partition": partition, "attempt": attempt, "worker": worker.worker_id,
            "host": worker.host, "error": error}, [report])

    def task_lost_too_often(self, taskset: TaskSet, partition: int, attempt: int,
                            worker: WorkerInfo, reason: str) -> None:
        """A task's worker died under each of its attempts: fail its stage with a
        `WorkerLostError` rather than kill worker after worker (or wait for ever once none
        is left)."""
        message = (f"partition {partition}'s worker died under each of its "
                   f"{taskset.max_attempts} attempts, the last {worker.worker_id} ({reason}); "
                   "the task may end its own process (os._exit, a crash in native code, "
                   "the kernel's OOM killer)")
        self.abort_taskset(taskset, partition, attempt, worker, f"WorkerLostError: {message}",
                           engine_failure_report(message, WorkerLostError))

    def finish_attempt(self, h: dict):
        """Free the slot of a reported attempt: (worker, taskset, partition, attempt, locality)."""
        worker = self.workers.get(h.get("worker_id"))
        if worker is None:
            return None, None, None, None, None
        key = (str(h["taskset"]), int(h["partition"]), int(h["attempt"]))
        level = worker.running.pop(key, None)
        worker.tasks_done += 1
        self.schedule()
        taskset = self.scheduler.tasksets.get(key[0])
        return worker, taskset, key[1], key[2], level

    def lose_worker(self, worker_id: str, reason: str) -> None:
        worker = self.workers.pop(worker_id, None)
        if worker is None:
            return
        log.log(logging.INFO if reason == "said goodbye" else logging.WARNING,
                "worker %s lost: %s", worker_id, reason)
        self.events.worker_lost(worker, reason)
        for key, partition, attempt in worker.running:
            taskset = self.scheduler.tasksets.get(key)
            if taskset is not None and not taskset.lose(partition, attempt):
                self.task_lost_too_often(taskset, partition, attempt, worker, reason)
        for holders in self.blocks.values():
            holders.discard(worker_id)
        self.forget_outputs_of(worker_id)
        self.schedule()

    def forget_outputs_of(self, worker_id: str) -> None:
        """Every map output `worker_id` wrote is gone: tell the drivers, and run them again."""
        lost: dict[str, list[int]] = {}
        self.outputs_version += 1
        for shuffle, outputs in self.map_outputs.items():
            gone = [m for m, w in outputs.items() if w == worker_id]
            for m in gone:
                del outputs[m]
                self.map_sizes.get(shuffle, {}).pop(m, None)
            if gone:
                lost[shuffle] = gone
        for shuffle, maps in lost.items():
            self.to_driver(shuffle.split("/", 1)[0], P.OUTPUTS_LOST,
                           {"shuffle": shuffle, "maps": maps, "worker": worker_id})
        for shuffle, maps in lost.items():
            self.rerun_lost_outputs(shuffle, maps)

    def rerun_lost_outputs(self, shuffle: str, maps: list[int]) -> None:
        """A map stage still running whose finished outputs were lost must make them again.

        Its driver counts the stage done only once every output exists, so a
        lost output nobody re-runs hangs the job. The task set re-runs those
        it has tasks for (Spark's executorLost); for others (it was submitted
        for a few partitions after a FetchFailed) its driver resubmits the
        stage for every missing partition.
        """
        for taskset in [ts for ts in self.scheduler.tasksets.values()
                        if ts.writes_shuffle == shuffle]:
            foreign = [m for m in maps if m not in taskset.payloads]
            if not foreign:
                for m in maps:
                    taskset.rerun(m)
                continue
            self.drop_taskset(taskset.key)
            self.to_driver(taskset.driver_id, P.FETCH_FAILED, {
                "stage_id": taskset.stage_id, "job_id": taskset.job_id, "taskset": taskset.key,
                "shuffle": shuffle, "map": foreign[0], "partition": None})

    def forget_map_output(self, shuffle: str, map_index: int) -> None:
        self.map_outputs.get(shuffle, {}).pop(map_index, None)
        self.outputs_version += 1
        self.map_sizes.get(shuffle, {}).pop(map_index, None)

    # -- drivers ----------------------------------------------------------
    def cluster_info(self) -> dict:
        return {"workers": len(self.workers),
                "slots": sum(w.slots for w in self.workers.values()),
                "hosts": sorted({w.host for w in self.workers.values()})}

    def on_hello(self, msg: P.Message) -> None:
        did = str(msg.header["driver_id"])
        self.drivers[did] = DriverInfo(did, msg.identity, time.monotonic(),
                                       str(msg.header.get("app_name", "")))
        self.events.app_start(did, msg.header)
        self.send(msg.identity, P.WELCOME, self.cluster_info())

    def driver_spoke(self, driver_id: str, identity: bytes) -> DriverInfo | None:
        """A known driver's main socket spoke: it is alive, and reached at `identity` from now
        on (a connection that came back has a new one). Not from its heartbeat socket.

        What was queued to the old connection when it went is lost without a word (a task's
        result, a frame), so a new identity drops the driver's task sets: a JOB_STATE asking
        (`on_job_state`) learns at once that they are missing, and runs them again."""
        driver = self.drivers.get(driver_id)
        if driver is not None:
            if driver.identity != identity:
                log.warning("driver %s reconnected: its task sets are dropped (what was queued "
                            "to its old connection is lost)", driver_id)
                self.drop_tasksets_of(driver_id)
            driver.identity, driver.last_seen = identity, time.monotonic()
        return driver

    def on_add_file(self, msg: P.Message) -> None:
        driver = self.driver_spoke(str(msg.header["driver_id"]), msg.identity)
        if driver is None or len(msg.blobs) != 1:
            raise P.ProtocolError("add_file: one blob, from a driver that said hello")
        fid = str(msg.header["file_id"])
        self.files[fid] = P.blob_bytes(msg.blobs[0])
        driver.files.add(fid)                     # freed with its last driver (drop_driver)

    def on_submit_stage(self, msg: P.Message) -> None:
        h = msg.header
        did = str(h["driver_id"])
        if did not in self.drivers:
            self.drivers[did] = DriverInfo(did, msg.identity, time.monotonic())
        driver = self.driver_spoke(did, msg.identity)
        driver.jobs[int(h["job_id"])] = h.get("job_description", "")
        partitions = [int(p) for p in h["partitions"]]
        if len(msg.blobs) != len(partitions) + 1:
            raise P.ProtocolError("submit_stage needs a code blob and one payload per task")
        for shuffle in h.get("reads_shuffles", []):
            outputs = self.map_outputs.get(shuffle, {})
            missing = [m for m in range(int(h["shuffle_maps"][shuffle])) if m not in outputs]
            if missing:
                self.to_driver(did, P.FETCH_FAILED, {
                    "stage_id": int(h["stage_id"]), "job_id": int(h["job_id"]),
                    "taskset": f"{did}/{h['taskset']}",
                    "shuffle": shuffle, "map": missing[0], "partition": None})
                return
        taskset = TaskSet(
            key=f"{did}/{h['taskset']}", driver_id=did, job_id=int(h["job_id"]),
            stage_id=int(h["stage_id"]), description=str(h.get("description", "")),
            code=P.blob_bytes(msg.blobs[0]),
            payloads={p: msg.blobs[i + 1] for i, p in enumerate(partitions)},
            prefs=task_prefs(partitions, h, self.blocks, self.workers, self.map_outputs,
                             self.map_sizes),
            submitted=time.monotonic(),
            reads_shuffles=list(h.get("reads_shuffles", [])),
            writes_shuffle=h.get("writes_shuffle"), py_files=list(h.get("py_files", [])),
            broadcasts=list(h.get("broadcasts", [])),
            task_conf=dict(h.get("task_conf", {})),
            max_attempts=int(h.get("max_attempts", self.conf.max_task_attempts)),
            speculation=bool(h.get("speculation", True)))
        self.scheduler.add(taskset)
        self.events.stage_submitted(taskset, h)
        self.schedule()

    def on_cancel_job(self, msg: P.Message) -> None:
        did, job = str(msg.header["driver_id"]), int(msg.header["job_id"])
        for key in [k for k, ts in self.scheduler.tasksets.items()
                    if ts.driver_id == did and ts.job_id == job]:
            self.drop_taskset(key)
        driver = self.drivers.get(did)
        if driver is not None:
            driver.jobs.pop(job, None)
        self.events.job_cancelled(did, job)

    def drop_taskset(self, key: str) -> TaskSet | None:
        """Forget an unfinished task set (aborted, failed a fetch, cancelled, its driver gone)
        and kill its running attempts: their slots go to the next stage at once, and a
        result they were streaming stops being made (no driver would decode or ack it, so
        it would wait out FRAME_WAIT holding its slot)."""
        taskset = self.scheduler.remove(key)
        if taskset is not None:
            for partition, attempts in list(taskset.running.items()):
                for attempt, where in list(attempts.items()):
                    self.cancel_attempt(taskset, partition, attempt, where.worker)
        return taskset

    def drop_tasksets_of(self, driver_id: str) -> None:
        """Drop every unfinished task set of a driver (`drop_taskset`)."""
        for key in [k for k, ts in self.scheduler.tasksets.items() if ts.driver_id == driver_id]:
            self.drop_taskset(key)

    def on_drop_shuffle(self, msg: P.Message) -> None:
        for shuffle in msg.header.get("shuffles", []):
            self.map_outputs.pop(shuffle, None)
            self.outputs_version += 1
            self.map_sizes.pop(shuffle, None)
            for worker in self.workers.values():
                self.send(worker.identity, P.DROP_SHUFFLE, {"shuffle": shuffle})

    def on_drop_blocks(self, msg: P.Message) -> None:
        prefix = str(msg.header["prefix"])
        for key in [k for k in self.blocks if k.startswith(prefix)]:
            del self.blocks[key]
        for worker in self.workers.values():
            self.send(worker.identity, P.DROP_BLOCKS, {"prefix": prefix})

    def on_drop_files(self, msg: P.Message) -> None:
        ids = [str(f) for f in msg.header.get("files", [])]
        if not msg.header.get("workers_only"):    # else kept, and sent again to whoever needs it
            for fid in ids:
                self.files.pop(fid, None)
        for worker in self.workers.values():
            worker.has_files.difference_update(ids)
            self.send(worker.identity, P.DROP_FILES, {"files": ids})

    def drop_driver(self, driver_id: str) -> None:
        self.events.app_end(driver_id)
        driver = self.drivers.pop(driver_id, None)
        self.drop_tasksets_of(driver_id)            # nobody will take their results
        shipped = driver.files if driver is not None else set()
        still_used = set().union(*(d.files for d in self.drivers.values()))
        freed = [f for f in self.files if f.startswith(driver_id + "-")
                 or f in shipped and f not in still_used]  # content-addressed zips may be shared
        for fid in freed:
            del self.files[fid]
        for key in [k for k in self.blocks if k.startswith(driver_id + "/")]:
            del self.blocks[key]
        prefix = driver_id + "/"
        shuffles = [s for s in self.map_outputs if s.startswith(prefix)]
        self.outputs_version += 1
        for shuffle in shuffles:
            del self.map_outputs[shuffle]
            self.map_sizes.pop(shuffle, None)
        for worker in self.workers.values():
            self.send(worker.identity, P.DROP_SHUFFLE, {"shuffle_prefix": prefix})
            if freed:
                worker.has_files.difference_update(freed)
                self.send(worker.identity, P.DROP_FILES, {"files": freed})

    def ask_to_register_again(self, worker_id: str, identity: bytes, now: float) -> None:
        """A worker this master does not know beats (the master restarted, or judged it lost):
        ask it to register, once per a few heartbeats. While its master is down a worker's
        heartbeats queue, and all of them reach the next master at once: answering each one
        made the worker register as many times, each registration dropping the one before
        ("lost: re-registered" twice a second of the master's absence)."""
        if now - self.reregister_asked.get(worker_id, -math.inf) < 4 * self.conf.heartbeat_interval:
            return
        self.reregister_asked[worker_id] = now
        self.send(identity, P.REREGISTER)

    def on_bye(self, msg: P.Message) -> None:
        if "worker_id" in msg.header:
            worker = self.workers.get(msg.header["worker_id"])
            if worker is not None and worker.identity == msg.identity:
                self.lose_worker(worker.worker_id, "said goodbye")
        elif "driver_id" in msg.header:
            self.drop_driver(str(msg.header["driver_id"]))

    def on_shutdown(self, msg: P.Message) -> None:
        log.info("shutting down on request")
        self.shutting_down = True
        for worker in self.workers.values():
            self.send(worker.identity, P.SHUTDOWN)

    def on_job_state(self, msg: P.Message) -> None:
        """A driver heard nothing of a job for a while: which of the task sets it asks about
        does the master no longer hold, and does it know the driver at all? Everything the
        master sent that driver before this answer is ahead of it on the same connection."""
        h = msg.header
        self.driver_spoke(str(h["driver_id"]), msg.identity)
        self.send(msg.identity, P.JOB_STATE_REPLY, {
            "job_id": int(h["job_id"]), "known": str(h["driver_id"]) in self.drivers,
            "missing": [str(k) for k in h.get("tasksets", [])
                        if str(k) not in self.scheduler.tasksets]})

    def on_status(self, msg: P.Message) -> None:
        self.send(msg.identity, P.STATUS_REPLY, self.status())

    def status(self) -> dict:
        """A JSON-able snapshot for `minibig status`."""
        now = time.monotonic()
        tasksets = list(self.scheduler.tasksets.values())
        return {
            "url": self.url, "uptime": round(time.time() - self.started, 1),
            "ui": self.events.ui_url,
            "workers": [{"id": w.worker_id, "host": w.host, "pid": w.pid, "slots": w.slots,
                         "running": len(w.running), "tasks_done": w.tasks_done,
                         "code_sent": w.code_sent, "block_addr": w.block_addr,
                         "work_dir": w.work_dir, "reserved": w.reserved, "memory": w.memory,
                         "cpu_percent": w.cpu_percent, "rss_bytes": w.rss_bytes,
                         "blocks": sum(w.worker_id in held for held in self.blocks.values()),
                         "map_outputs": sum(w.worker_id == held for outputs in
                                            self.map_outputs.values() for held in outputs.values()),
                         "last_heartbeat": round(now - w.last_seen, 2)}
                        for w in self.workers.values()],
            "drivers": [{"id": d.driver_id, "app": d.app_name,
                         "jobs": [{"id": j, "description": desc} for j, desc in d.jobs.items()]}
                        for d in self.drivers.values()],
            "stages": [{"key": ts.key, "job": ts.job_id, "description": ts.description,
                        "tasks": len(ts.payloads), "done": len(ts.done),
                        "running": len(ts.running), "pending": len(ts.pending),
                        "locality": dict(ts.locality)}
                       for ts in tasksets],
            "finished_stages": self.finished_jobs[-20:],
            "excluded": self.exclusions.excluded(now),
            "streams": self.streams.summary(self.scheduler.tasksets),
        }

    # -- scheduling -------------------------------------------------------
    def schedule(self) -> None:
        """Fill free worker slots with pending tasks (and backups of stragglers)."""
        if not self.scheduler.has_work():
            return
        now = time.monotonic()
        usable = self.exclusions.usable(list(self.workers), now)
        live = set(usable)
        hosts = {self.workers[w].host for w in usable}
        for wid in usable:
            worker = self.workers[wid]
            while worker.free_slots > 0:
                picked = self.scheduler.next_task(wid, worker.host, now, live, hosts)
                if picked is None:
                    break
                self.launch(worker, *picked)

    def launch(self, worker: WorkerInfo, taskset: TaskSet, partition: int, attempt: int,
               level: str, speculative: bool) -> None:
        """Send one attempt to a worker; if that fails, the attempt fails (and is retried)."""
        try:
            self.send_launch(worker, taskset, partition, attempt, level, speculative)
        except Exception as exc:
            log.exception("could not launch %s/%d on %s", taskset.key, partition, worker.worker_id)
            error = f"the master could not launch the task: {type(exc).__name__}: {exc}"
            self.fail_task(worker, taskset, partition, attempt, error, engine_failure_report(error))

    def send_launch(self, worker: WorkerInfo, taskset: TaskSet, partition: int, attempt: int,
                    level: str, speculative: bool) -> None:
        blobs, names = [taskset.payloads[partition]], ["payload"]
        files = []
        if taskset.key not in worker.has_code:
            blobs.append(taskset.code)
            names.append("code")
        for prefix, ids in (("pyfile:", taskset.py_files), ("bcast:", taskset.broadcasts)):
            for fid in ids:
                if fid not in worker.has_files and fid in self.files:
                    blobs.append(self.files[fid])
                    names.append(prefix + fid)
                    files.append(fid)
        if speculative:
            log.info("speculating %s/%d on %s", taskset.key, partition, worker.worker_id)
        self.send(worker.identity, P.LAUNCH, {
            "taskset": taskset.key, "stage_id": taskset.stage_id, "job_id": taskset.job_id,
            "partition": partition, "attempt": attempt, "blobs": names,
            "py_files": taskset.py_files, "locations": self.shuffle_locations(taskset),
            "writes_shuffle": taskset.writes_shuffle, "task_conf": taskset.task_conf,
            "locality": level,
        }, blobs)
        worker.running[(taskset.key, partition, attempt)] = level
        self.events.task_start(worker, taskset, partition, attempt, level, speculative)
        if "code" in names:
            worker.has_code.add(taskset.key)
            worker.code_sent += 1
        worker.has_files.update(files)

    def shuffle_locations(self, taskset: TaskSet) -> dict:
        """Where the map outputs a task set reads live; built once per change, not per task."""
        cached = taskset.locations
        if cached is None or cached[0] != self.outputs_version:
            locations = {}
            for shuffle in taskset.reads_shuffles:
                outputs = self.map_outputs.get(shuffle, {})
                locations[shuffle] = {str(m): self.workers[w].location()
                                      for m, w in outputs.items() if w in self.workers}
            cached = taskset.locations = (self.outputs_version, locations)
        return cached[1]

    def check_liveness(self) -> None:
        now = time.monotonic()
        for wid, worker in list(self.workers.items()):
            if now - worker.last_seen > self.conf.worker_timeout:
                self.lose_worker(wid, f"no heartbeat for {now - worker.last_seen:.1f}s")
        self.schedule()                     # delay scheduling and speculation move with time
        for did, driver in list(self.drivers.items()):
            if now - driver.last_seen > self.conf.driver_timeout:
                log.warning("driver %s lost: no heartbeat", did)
                self.drop_driver(did)


def main(argv=None) -> int:
    """Entry point of `minibig master` and of embedded clusters."""
    parser = argparse.ArgumentParser(prog="minibig master", description="Run a minibig master.")
    parser.add_argument("--bind", default="127.0.0.1",
                        help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=7077, help="port (default 7077; 0: any free port)")
    parser.add_argument("--locality-wait", type=float, default=Conf.locality_wait,
                        help="seconds a stage waits for a preferred worker before relaxing locality")
    parser.add_argument("--no-speculation", action="store_true", help="never back up slow tasks")
    parser.add_argument("--scheduler", choices=["FIFO", "FAIR"], default="FIFO",
                        help="how task slots are shared between drivers (default FIFO)")
    parser.add_argument("--event-log", metavar="DIR", default=None,
                        help="write each application's event log into DIR (docs/event-log.md)")
    parser.add_argument("--ui-port", type=int, default=None,
                        help="serve the web UI on this port (0: any free port; default: no UI)")
    parser.add_argument("--ui-bind", default="127.0.0.1",
                        help="address the web UI listens on (default: loopback only)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    setup_logging("master", args.verbose)
    check_port(args.port)                 # a UserError: `minibig` prints it as one line
    use_cluster_key(args)
    stop_on_sigterm()
    if args.die_with_parent:
        die_with_parent()
    conf = Conf.from_env(worker_timeout=args.worker_timeout, locality_wait=args.locality_wait,
                         speculation=not args.no_speculation, scheduler_mode=args.scheduler,
                         **({"event_log": args.event_log} if args.event_log else {}))
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    # Past a peer's high-water mark a ROUTER drops messages silently, and a lost task result
    # or frame fails a job. What the master sends is bounded by the work in flight (a result
    # per task, frames per credit, acks, one answer per request): no mark. A message to a
    # gone peer raises EHOSTUNREACH rather than vanish (Master.send).
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        url = bind_address(sock, args.bind, args.port)
    except zmq.ZMQError as exc:
        print(f"minibig master: cannot listen on {args.bind}:{args.port}: {exc}", file=sys.stderr)
        return 1
    master = Master(conf, url)
    if args.ui_port is not None:
        # An embedded cluster's driver learns the URL from the start-up line (sc.uiWebUrl);
        # only a master started by hand says it on stderr.
        master.events.start_ui(args.ui_bind, args.ui_port, announce=not args.die_with_parent)
    print(json.dumps({"url": url, "pid": os.getpid(), "ui": master.events.ui_url}), flush=True)
    record_master(url, private_key=args.key_file == "-", ui=master.events.ui_url)
    if not args.die_with_parent:          # started by hand: the JSON line above is for programs
        print(f"minibig: master at {url}; workers join it with `minibig worker --master {url}` "
              "(Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        master.serve(sock)
    except KeyboardInterrupt:
        pass
    finally:
        master.events.close()
        forget_master(url)
        sock.close(0)
        stop_authenticators()
        ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
