"""The master's event recorder: what happens to applications, jobs, stages and tasks.

The master sees every task attempt start and end, with its worker, timing
and locality, so the events are made here, by one call from each place in
`master.py` where something happens. Each event (format: `minibig.ui.events`,
docs/event-log.md) goes to

  * the event log, when the master has a log folder (`--event-log DIR`,
    `MINIBIG_EVENT_LOG`, `Context(event_log=DIR)`): one file per
    application, opened at its first job, so a driver that only connects
    (as `minibig submit`'s start-up probe) leaves no file;
  * the live web UI, when the master serves one (`--ui-port`).

With neither, every call returns at once. State, all owned by the loop:

    files     app id -> open LogFile
    starts    app id -> its app_start event, until its file opens
    joined    worker id -> its worker_added event (repeated at the top of each
              new file, so a log alone says which workers there were)
    jobs      (app, job) -> True if its final stage is known, for open jobs
    attempts  (taskset key, partition, attempt) -> the running attempt's record
              (its slot: the lowest number its worker's running attempts
              leave free, so a worker's N slots are rows 0..N-1 of the timeline;
              the master itself does not number slots)
    finals    keys of task sets that are their job's last stage

Job end: a job succeeds when its final stage (the driver marks it) finishes,
fails when a stage is aborted, and is cancelled when the driver cancels it
or leaves. Events about a task are made before the master forwards the task's
result, so a driver that has its answer finds the job's end in the UI.
"""

from __future__ import annotations

import functools
import logging
import sys
import time

from minibig.cluster.runtime import is_loopback
from minibig.errors import InvalidArgumentError
from minibig.net.security import cluster_key
from minibig.ui.events import FORMAT, GRAPH_FIELDS, LogFile, event

log = logging.getLogger("minibig.master")

PUBLISH_EVERY = 0.5        # seconds between status snapshots for the web UI


def guarded(hook):
    """A hook that never fails the master's work: an error in it is logged, not raised."""
    @functools.wraps(hook)
    def run(self, *args, **kwargs):
        try:
            return hook(self, *args, **kwargs)
        except Exception:
            log.exception("the event recorder failed in %s; the cluster carries on", hook.__name__)
    return run


def stage_of(key: str) -> tuple[int, int]:
    """(stage id, stage attempt) of a task-set key "<driver>/<stage>.<attempt>"."""
    stage, _, attempt = key.split("/", 1)[1].partition(".")
    return int(stage), int(attempt or 0)


class EventRecorder:
    """Makes the master's events and hands them to the event log and the web UI."""

    def __init__(self, master, log_dir: str | None = None):
        self.master = master
        self.log_dir = log_dir
        self.live = None              # the web UI's LiveSource, once started
        self.ui_url = None
        self.server = None
        self.next_publish = 0.0
        self.files: dict = {}
        self.starts: dict = {}
        self.joined: dict = {}
        self.jobs: dict = {}
        self.attempts: dict = {}
        self.finals: set = set()

    @property
    def enabled(self) -> bool:
        return bool(self.log_dir) or self.live is not None

    # -- sinks ------------------------------------------------------------------------
    def start_ui(self, host: str, port: int, announce: bool = True) -> str:
        """Serve the web UI on host:port (0: a free port) from a thread; its URL (on stderr if `announce`)."""
        if not is_loopback(host) and cluster_key() is None:
            # The same rule as the master's own port: nothing beyond loopback without a key.
            raise InvalidArgumentError(f"--ui-bind {host}: refusing to serve the web UI beyond "
                                       "loopback on a cluster without a key (--key-file)")
        # Here, not at the top: http.server and what it imports (~60 ms) would be on the
        # embedded cluster's start in the zygote, before any worker can fork (zygote.py).
        from minibig.ui.server import LiveSource, serve_in_thread
        live = LiveSource()
        try:
            self.server, self.ui_url = serve_in_thread(live, host, port)
        except OSError as exc:
            raise InvalidArgumentError(f"cannot serve the web UI on {host}:{port}: {exc}") from None
        self.live = live
        for ev in self.joined.values():
            self.live.post(ev)
        if announce:
            print(f"minibig: web UI at {self.ui_url}", file=sys.stderr, flush=True)
        return self.ui_url

    @guarded
    def tick(self) -> None:
        """From the master's loop: publish a status snapshot every PUBLISH_EVERY seconds."""
        if self.live is not None and time.monotonic() >= self.next_publish:
            self.live.publish(self.master.status())
            self.next_publish = time.monotonic() + PUBLISH_EVERY

    def emit(self, ev: dict) -> None:
        if self.live is not None:
            self.live.post(ev)
        app = ev.get("app")
        targets = self.files.values() if app is None else filter(None, [self.files.get(app)])
        for f in list(targets):
            try:
                f.write(ev)
            except OSError as exc:        # a full disk must not stop the cluster
                log.warning("event log %s: %s; no more events go to it", f.path, exc)
                self.files = {a: g for a, g in self.files.items() if g is not f}

    def _open_log(self, app: str) -> None:
        if not self.log_dir or app in self.files:
            return
        start = self.starts.pop(app, None) or event("app_start", app=app, name="", host="")
        try:
            f = LogFile(self.log_dir, app, start["time"])
        except OSError as exc:
            log.warning("cannot write the event log of %s in %s: %s", app, self.log_dir, exc)
            return
        self.files[app] = f
        for ev in (start, *self.joined.values()):
            f.write(ev)

    # -- applications and workers ------------------------------------------------------
    @guarded
    def app_start(self, app: str, header: dict) -> None:
        if self.enabled:
            ev = event("app_start", app=app, name=str(header.get("app_name", "")),
                       host=str(header.get("host", "")), master=self.master.url, format=FORMAT)
            self.starts[app] = ev
            if self.live is not None:
                self.live.post(ev)

    @guarded
    def app_end(self, app: str, reason: str = "stopped") -> None:
        if not self.enabled:
            return
        for key in [k for k, start in self.attempts.items() if start["app"] == app]:
            self._task_end(key, "killed", error=f"the application ended ({reason})")
        for (a, job) in [k for k in self.jobs if k[0] == app]:
            self._job_end(a, job, "cancelled", f"the application ended ({reason})")
        self.starts.pop(app, None)
        self.emit(event("app_end", app=app, reason=reason))
        f = self.files.pop(app, None)
        if f is not None:
            f.close()

    @guarded
    def close(self) -> None:
        """The master is stopping: end every application's log."""
        for app in list(self.files):
            self.app_end(app, "master stopped")
        if self.server is not None:
            from minibig.ui.server import stop_serving
            stop_serving(self.server)

    @guarded
    def worker_added(self, worker) -> None:
        ev = event("worker_added", worker=worker.worker_id, host=worker.host, pid=worker.pid,
                   slots=worker.slots)
        self.joined[worker.worker_id] = ev   # kept even when disabled: the UI may start later
        if self.enabled:
            self.emit(ev)

    @guarded
    def worker_lost(self, worker, reason: str) -> None:
        self.joined.pop(worker.worker_id, None)
        if not self.enabled:
            return
        for key in list(worker.running):
            self._task_end(key, "lost", error=f"worker {worker.worker_id} lost: {reason}")
        self.emit(event("worker_removed", worker=worker.worker_id, reason=reason))

    # -- jobs and stages ------------------------------------------------------------------
    @guarded
    def stage_submitted(self, taskset, header: dict) -> None:
        if not self.enabled:
            return
        app, job = taskset.driver_id, taskset.job_id
        if (app, job) not in self.jobs:
            self._open_log(app)
            self.jobs[(app, job)] = True
            self.emit(event("job_start", app=app, job=job,
                            description=str(header.get("job_description", ""))))
        if header.get("final"):
            self.finals.add(taskset.key)
        stage, attempt = stage_of(taskset.key)
        self.emit(event("stage_submitted", app=app, job=job, stage=stage, attempt=attempt,
                        description=taskset.description, tasks=len(taskset.payloads),
                        parents=[int(p) for p in header.get("parents", [])],
                        reads=list(taskset.reads_shuffles), writes=taskset.writes_shuffle,
                        final=bool(header.get("final"))))

    def _stage_end(self, taskset, result: str, error: str | None = None) -> None:
        stage, attempt = stage_of(taskset.key)
        self.finals.discard(taskset.key)
        self.emit(event("stage_completed", app=taskset.driver_id, job=taskset.job_id,
                        stage=stage, attempt=attempt, result=result, error=error))

    def _job_end(self, app: str, job: int, result: str, error: str | None = None) -> None:
        if self.jobs.pop((app, job), None) is not None:
            self.emit(event("job_end", app=app, job=job, result=result, error=error))

    @guarded
    def stage_aborted(self, taskset, error: str) -> None:
        """A task failed too often: its stage, and so its job, failed."""
        if self.enabled:
            self._stage_end(taskset, "failed", error)
            self._job_end(taskset.driver_id, taskset.job_id, "failed", error)

    @guarded
    def job_cancelled(self, app: str, job: int) -> None:
        if self.enabled:
            self._job_end(app, job, "cancelled", "cancelled by the driver")

    # -- task attempts --------------------------------------------------------------------
    @guarded
    def task_start(self, worker, taskset, partition: int, attempt: int, level: str,
                   speculative: bool) -> None:
        if not self.enabled:
            return
        # The master frees a slot (and may fill it) before the attempt's end is
        # recorded here, so the slots in use are those of its running attempts.
        used = {self.attempts[k]["slot"] for k in worker.running if k in self.attempts}
        slot = next(s for s in range(len(used) + 1) if s not in used)
        stage, stage_attempt = stage_of(taskset.key)
        ev = event("task_start", app=taskset.driver_id, job=taskset.job_id, stage=stage,
                   stage_attempt=stage_attempt, partition=partition, attempt=attempt,
                   worker=worker.worker_id, host=worker.host, slot=slot, locality=level,
                   speculative=bool(speculative),
                   shuffle_read_bytes=self._read_bytes(taskset, partition))
        self.attempts[(taskset.key, partition, attempt)] = ev
        self.emit(ev)

    def _read_bytes(self, taskset, partition: int) -> int | None:
        """Bytes of shuffle input the task reads, from the sizes its map tasks reported."""
        if not taskset.reads_shuffles:
            return None
        total = 0
        for shuffle in taskset.reads_shuffles:
            for sizes in self.master.map_sizes.get(shuffle, {}).values():
                if 0 <= partition < len(sizes or ()):
                    total += int(sizes[partition])
        return total

    def _task_end(self, key: tuple, result: str, **fields) -> None:
        start = self.attempts.pop(key, None)
        if start is None:
            return
        ident = {k: start[k] for k in ("app", "job", "stage", "stage_attempt", "partition",
                                       "attempt", "worker")}
        now = time.time()
        self.emit({**event("task_end", **ident, result=result, **fields),
                   "time": round(now, 6), "duration": round(now - start["time"], 6)})

    @guarded
    def task_done(self, taskset, partition: int, attempt: int, header: dict) -> None:
        """A finished attempt, before its result goes to the driver (and its task set ends)."""
        if not self.enabled:
            return
        first = partition not in taskset.done
        sizes = header.get("sizes") or []
        self._task_end((taskset.key, partition, attempt), "success" if first else "superseded",
                       run_seconds=header.get("seconds"), result_size=header.get("result_size"),
                       shuffle_write_bytes=sum(int(s) for s in sizes) if sizes else None,
                       gc_seconds=header.get("gc_seconds"), spill_bytes=header.get("spill_bytes"),
                       **{k: header[k] for k in GRAPH_FIELDS if k in header})
        if first and len(taskset.done) + 1 == len(taskset.payloads):
            final = taskset.key in self.finals
            self._stage_end(taskset, "succeeded")
            if final:
                self._job_end(taskset.driver_id, taskset.job_id, "succeeded")

    @guarded
    def task_failed(self, taskset, header: dict) -> None:
        """A failed, killed or fetch-failed attempt (taskset None: its set is gone)."""
        if not self.enabled:
            return
        key = (str(header.get("taskset")), int(header["partition"]), int(header["attempt"]))
        fetch = header.get("fetch_failed")
        result = "killed" if header.get("killed") else "fetch_failed" if fetch else "failed"
        self._task_end(key, result, error=str(header.get("error", ""))[:2000] or None)
        if fetch and result == "fetch_failed" and taskset is not None \
                and key[1] not in taskset.done:
            # The master drops the stage; the driver resubmits it once its input is rebuilt.
            self._stage_end(taskset, "resubmitted", f"fetch failed: {fetch}")
