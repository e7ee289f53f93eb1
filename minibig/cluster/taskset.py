"""Task sets: the master's bookkeeping of one submitted stage, and its policy.

A driver submits a stage as a task set: the stage's code (one opaque blob,
shipped at most once to each worker), one opaque payload per task, and what
each task would like to be near. Per task set the master keeps plain state:

    pending      deque of partitions waiting for a slot, in submission order
    running      partition -> {attempt: Attempt(worker, host, started, progress)}
    done         set of partitions whose result reached the driver
    attempts     partition -> attempts launched so far
    failures     partition -> attempts that failed with an error
    lost         partition -> attempts lost with their worker
    failed_on    partition -> workers where an attempt failed (not retried there)
    prefs        partition -> Prefs(workers, hosts) it would like to run on
    durations    seconds of each successful attempt (for speculation)
    locality     locality level -> tasks launched at it

**Locality and delay scheduling** (Zaharia et al., as in Spark). A task is
PROCESS_LOCAL on a worker that holds a persisted partition it reads or wrote
most of its shuffle input, NODE_LOCAL on a worker of a host it prefers, and
NO_PREF if it prefers nothing. A free slot takes, in order: a pending task
local to its process; a NO_PREF task; a NODE_LOCAL task once the set has
waited `locality_wait` seconds without launching anything process-local;
then any task once it has waited twice that. A launch at a level brings the
set back to that level. So a fast worker does not steal a task whose data
sits in another worker's memory unless that worker stays busy.

**Retries.** A failed attempt goes back to the front of the queue and is not
retried on the worker where it failed (unless no other worker is left) until
it has failed `max_attempts` times; then the set is aborted. An attempt lost
with its worker goes back without counting as a failure, and so does a
finished map task whose output was on that worker (`rerun`); but a task whose
worker died under each of `max_attempts` attempts aborts the set too (it may be
what kills them: `os._exit`, a crash, the OOM killer), as Spark counts an
executor lost while running a task against its maxFailures.

**Speculation** (LATE, Zaharia et al. 2008). Once `quantile` of the tasks
have finished, a running attempt whose estimated time to finish — from its
reported progress rate, or from its elapsed time when it reports none —
exceeds `multiplier` times the median duration gets one backup copy on
another worker, the longest-to-finish first, at most `cap` copies at a
time. The first attempt to finish wins; the master cancels the others.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from dataclasses import dataclass, field

PROCESS_LOCAL, NODE_LOCAL, NO_PREF, ANY = "PROCESS_LOCAL", "NODE_LOCAL", "NO_PREF", "ANY"


@dataclass
class Prefs:
    """Where a task would like to run."""

    workers: set = field(default_factory=set)
    hosts: set = field(default_factory=set)


@dataclass
class Attempt:
    """One running attempt of a task."""

    worker: str
    started: float
    speculative: bool = False
    progress: float | None = None


@dataclass
class Policy:
    """The scheduling knobs, from the master's Conf."""

    locality_wait: float = 3.0
    speculation: bool = True
    speculation_quantile: float = 0.75
    speculation_multiplier: float = 1.5
    speculation_min_seconds: float = 0.2
    speculation_cap: float = 0.1           # at most this share of the tasks as backups


@dataclass
class TaskSet:
    """One stage attempt as the master sees it (code and payloads opaque)."""

    key: str                     # "<driver_id>/<stage_id>.<attempt>"
    driver_id: str
    job_id: int
    stage_id: int
    description: str
    code: bytes
    payloads: dict               # partition -> bytes
    prefs: dict                  # partition -> Prefs
    reads_shuffles: list
    writes_shuffle: str | None
    py_files: list
    broadcasts: list
    task_conf: dict
    max_attempts: int
    submitted: float = 0.0
    pending: deque = field(default_factory=deque)
    running: dict = field(default_factory=dict)
    done: set = field(default_factory=set)
    attempts: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    lost: dict = field(default_factory=dict)
    failed_on: dict = field(default_factory=dict)
    durations: list = field(default_factory=list)
    locality: Counter = field(default_factory=Counter)
    level: int = 0               # index into LEVELS: how far delay scheduling has relaxed
    last_launch: float = 0.0
    locations: tuple | None = None   # (map outputs version, shuffle locations), master's cache
    speculation: bool = True     # False: the stage asked for no backup copies

    LEVELS = (PROCESS_LOCAL, NODE_LOCAL, ANY)

    def __post_init__(self):
        self.pending.extend(sorted(self.payloads))
        self.last_launch = self.submitted

    @property
    def finished(self) -> bool:
        """True once every task has succeeded."""
        return len(self.done) == len(self.payloads)

    # -- choosing a task ------------------------------------------------------
    def locality_of(self, partition: int, worker: str, host: str) -> str:
        """The locality level of running `partition` on this worker."""
        prefs = self.prefs.get(partition)
        if prefs is None or not (prefs.workers or prefs.hosts):
            return NO_PREF
        if worker in prefs.workers:
            return PROCESS_LOCAL
        if host in prefs.hosts:
            return NODE_LOCAL
        return ANY

    def allowed_level(self, now: float, wait: float, live_workers: set, live_hosts: set) -> int:
        """Relax the locality level while the set waits longer than `wait` per level."""
        while self.level < len(self.LEVELS) - 1:
            if not self._pending_want(self.LEVELS[self.level], live_workers, live_hosts):
                self.level += 1
            elif now - self.last_launch >= wait:
                self.level += 1
                self.last_launch += wait     # a long wait may relax several levels at once
            else:
                break
        return self.level

    def _pending_want(self, level: str, live_workers: set, live_hosts: set) -> bool:
        for p in self.pending:
            prefs = self.prefs.get(p)
            if prefs is None:
                continue
            if level == PROCESS_LOCAL and prefs.workers & live_workers:
                return True
            if level == NODE_LOCAL and prefs.hosts & live_hosts:
                return True
        return False

    def take_task(self, worker: str, host: str, now: float, policy: Policy,
                  live_workers: set, live_hosts: set):
        """(partition, attempt, level, speculative) to run on this worker, or None."""
        allowed = self.allowed_level(now, policy.locality_wait, live_workers, live_hosts)
        best = None
        for p in self.pending:
            if worker in self.failed_on.get(p, ()) and self.failed_on[p] < live_workers:
                continue
            level = self.locality_of(p, worker, host)
            rank = {PROCESS_LOCAL: 0, NO_PREF: 1, NODE_LOCAL: 2, ANY: 3}[level]
            if level == NODE_LOCAL and allowed < 1 or level == ANY and allowed < 2:
                continue
            if best is None or rank < best[0]:
                best = (rank, p, level)
                if rank == 0:
                    break
        if best is None:
            return self._take_speculative(worker, now, policy)
        _, partition, level = best
        self.pending.remove(partition)
        if level in (PROCESS_LOCAL, NODE_LOCAL):
            self.level = min(self.level, self.LEVELS.index(level))
        self.last_launch = now
        return self._launch(partition, worker, now, level, speculative=False)

    def _launch(self, partition: int, worker: str, now: float, level: str, speculative: bool):
        attempt = self.attempts.get(partition, 0)
        self.attempts[partition] = attempt + 1
        self.running.setdefault(partition, {})[attempt] = Attempt(worker, now, speculative)
        self.locality[level] += 1
        return partition, attempt, level, speculative

    # -- speculation ----------------------------------------------------------
    def _take_speculative(self, worker: str, now: float, policy: Policy):
        for partition in self.stragglers(now, policy):
            if all(a.worker != worker for a in self.running[partition].values()):
                return self._launch(partition, worker, now, ANY, speculative=True)
        return None

    def stragglers(self, now: float, policy: Policy) -> list[int]:
        """Running tasks worth a backup copy, longest estimated time left first."""
        if not (policy.speculation and self.speculation) or not self.durations:
            return []
        if len(self.done) < policy.speculation_quantile * len(self.payloads):
            return []
        backups = sum(1 for attempts in self.running.values()
                      for a in attempts.values() if a.speculative)
        room = max(1, int(policy.speculation_cap * len(self.payloads))) - backups
        if room <= 0:
            return []
        threshold = max(policy.speculation_min_seconds,
                        policy.speculation_multiplier * statistics.median(self.durations))
        candidates = []
        for partition, attempts in self.running.items():
            if partition in self.done or len(attempts) > 1:
                continue
            (attempt,) = attempts.values()
            elapsed = now - attempt.started
            if attempt.progress and attempt.progress > 0:
                left = elapsed * (1 - attempt.progress) / attempt.progress
                total = elapsed + left
            else:                          # no progress reported: Spark's rule, elapsed time
                left = total = elapsed
            if total > threshold and elapsed > policy.speculation_min_seconds:
                candidates.append((left, partition))
        return [p for _, p in sorted(candidates, reverse=True)[:room]]

    # -- outcomes -------------------------------------------------------------
    def _stop_attempt(self, partition: int, attempt: int) -> Attempt | None:
        attempts = self.running.get(partition, {})
        stopped = attempts.pop(attempt, None)
        if not attempts:
            self.running.pop(partition, None)
        return stopped

    def succeed(self, partition: int, attempt: int, now: float) -> bool:
        """Record a finished attempt; False if the task was already done."""
        stopped = self._stop_attempt(partition, attempt)
        if partition in self.done:
            return False
        self.done.add(partition)
        if partition in self.pending:        # an attempt lost with a worker that came back
            self.pending.remove(partition)
        if stopped is not None:
            self.durations.append(now - stopped.started)
        return True

    def other_attempts(self, partition: int) -> list[tuple[int, str]]:
        """(attempt, worker) of the attempts still running for a finished task."""
        return [(a, att.worker) for a, att in self.running.get(partition, {}).items()]

    def fail(self, partition: int, attempt: int, worker: str) -> bool:
        """Record a failed attempt; True if the task may be tried again."""
        self._stop_attempt(partition, attempt)
        if partition in self.done:
            return True
        self.failures[partition] = self.failures.get(partition, 0) + 1
        self.failed_on.setdefault(partition, set()).add(worker)
        if self.failures[partition] >= self.max_attempts:
            return False
        if partition not in self.running and partition not in self.pending:
            self.pending.appendleft(partition)
        return True

    def rerun(self, partition: int) -> None:
        """A finished task's output was lost with its worker: run the task again."""
        if partition in self.done:
            self.done.discard(partition)
            if partition not in self.running and partition not in self.pending:
                self.pending.appendleft(partition)

    def lose(self, partition: int, attempt: int) -> bool:
        """The attempt's worker died: run the task again, not as a failure; False (the set
        must abort) when its worker died under each of `max_attempts` attempts."""
        if not self._stop_attempt(partition, attempt) or partition in self.done:
            return True
        self.lost[partition] = self.lost.get(partition, 0) + 1
        if self.lost[partition] >= self.max_attempts:
            return False
        if partition not in self.running and partition not in self.pending:
            self.pending.appendleft(partition)
        return True

    def report_progress(self, partition: int, attempt: int, progress: float) -> None:
        """A worker's heartbeat says how far an attempt has got (0..1)."""
        running = self.running.get(partition, {}).get(attempt)
        if running is not None:
            running.progress = progress


class TaskScheduler:
    """The task sets of every driver; picks the next task for a free slot.

    FIFO serves task sets in submission order; FAIR serves first the driver
    with the fewest running tasks, so two jobs share the cluster evenly.
    """

    def __init__(self, policy: Policy | None = None, mode: str = "FIFO"):
        self.tasksets: dict[str, TaskSet] = {}
        self.policy = policy or Policy()
        self.mode = mode.upper()

    def add(self, taskset: TaskSet) -> None:
        """Queue a new task set behind the ones already submitted."""
        self.tasksets[taskset.key] = taskset

    def remove(self, key: str) -> TaskSet | None:
        """Forget a task set (finished, aborted or cancelled)."""
        return self.tasksets.pop(key, None)

    def ordered(self) -> list[TaskSet]:
        sets = list(self.tasksets.values())
        if self.mode == "FAIR":
            running = Counter()
            for ts in sets:
                running[ts.driver_id] += sum(len(a) for a in ts.running.values())
            sets.sort(key=lambda ts: running[ts.driver_id])
        return sets

    def next_task(self, worker: str, host: str, now: float, live_workers: set, live_hosts: set):
        """(taskset, partition, attempt, level, speculative) for a free slot, or None."""
        for taskset in self.ordered():
            picked = taskset.take_task(worker, host, now, self.policy, live_workers, live_hosts)
            if picked is not None:
                return (taskset, *picked)
        return None

    def has_work(self) -> bool:
        """True while some task set has pending tasks or running ones (speculation)."""
        return any(ts.pending or ts.running for ts in self.tasksets.values())
