"""Task sets: the master's bookkeeping of one submitted stage.

A driver submits a stage as a task set: the stage's code (one opaque blob,
shipped at most once to each worker), one opaque payload per task, and the
shuffles the stage reads and writes. The master keeps, per task set:

    pending      deque of partitions waiting for a slot, in submission order
    running      partition -> {attempt: worker_id}
    done         set of partitions whose result reached the driver
    attempts     partition -> attempts launched so far
    failures     partition -> attempts that failed with a user error

Policy (the FIFO scheduler of Spark's standalone mode): task sets are served in
submission order; a free slot takes the first pending task of the oldest task
set, preferring a task whose preferred workers include this one. A task whose
attempt fails goes back to the front of the queue until it has failed
`max_attempts` times, then the whole task set is aborted and the driver told.
A task whose worker is lost goes back without counting as a failure: losing a
machine is not the task's fault.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class TaskSet:
    """One stage attempt as the master sees it (code and payloads opaque)."""

    key: str                     # "<driver_id>/<stage_id>"
    driver_id: str
    job_id: int
    stage_id: int
    description: str
    code: bytes
    payloads: dict               # partition -> bytes
    preferred: dict              # partition -> [worker_id]
    reads_shuffles: list         # shuffle keys this stage fetches
    writes_shuffle: str | None   # shuffle key this stage produces, if a map stage
    py_files: list
    broadcasts: list
    task_conf: dict
    max_attempts: int
    pending: deque = field(default_factory=deque)
    running: dict = field(default_factory=dict)
    done: set = field(default_factory=set)
    attempts: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)

    def __post_init__(self):
        self.pending.extend(sorted(self.payloads))

    @property
    def finished(self) -> bool:
        """True once every task has succeeded."""
        return len(self.done) == len(self.payloads)

    def take_task(self, worker_id: str) -> tuple[int, int] | None:
        """Pop the task to run next on `worker_id`: (partition, attempt)."""
        if not self.pending:
            return None
        chosen = None
        for partition in self.pending:
            if worker_id in self.preferred.get(partition, ()):
                chosen = partition
                break
        if chosen is None:
            chosen = self.pending[0]
        self.pending.remove(chosen)
        attempt = self.attempts.get(chosen, 0)
        self.attempts[chosen] = attempt + 1
        self.running.setdefault(chosen, {})[attempt] = worker_id
        return chosen, attempt

    def _stop_attempt(self, partition: int, attempt: int) -> bool:
        attempts = self.running.get(partition, {})
        if attempts.pop(attempt, None) is None:
            return False
        if not attempts:
            self.running.pop(partition, None)
        return True

    def succeed(self, partition: int, attempt: int) -> bool:
        """Record a finished attempt; False if the task was already done."""
        self._stop_attempt(partition, attempt)
        if partition in self.done:
            return False
        self.done.add(partition)
        return True

    def fail(self, partition: int, attempt: int) -> bool:
        """Record a failed attempt; True if the task may be tried again."""
        self._stop_attempt(partition, attempt)
        if partition in self.done:
            return True
        self.failures[partition] = self.failures.get(partition, 0) + 1
        if self.failures[partition] >= self.max_attempts:
            return False
        if partition not in self.running:
            self.pending.appendleft(partition)
        return True

    def lose(self, partition: int, attempt: int) -> None:
        """The attempt's worker died: run the task again, not as a failure."""
        if self._stop_attempt(partition, attempt) and partition not in self.done \
                and partition not in self.running:
            self.pending.appendleft(partition)


class TaskScheduler:
    """FIFO queue of task sets; hands tasks to free worker slots."""

    def __init__(self):
        self.tasksets: dict[str, TaskSet] = {}

    def add(self, taskset: TaskSet) -> None:
        """Queue a new task set behind the ones already submitted."""
        self.tasksets[taskset.key] = taskset

    def remove(self, key: str) -> TaskSet | None:
        """Forget a task set (finished, aborted or cancelled)."""
        return self.tasksets.pop(key, None)

    def next_task(self, worker_id: str):
        """(taskset, partition, attempt) for a free slot of `worker_id`, or None."""
        for taskset in self.tasksets.values():
            picked = taskset.take_task(worker_id)
            if picked is not None:
                return (taskset, *picked)
        return None

    def has_pending(self) -> bool:
        """True while some task waits for a slot."""
        return any(ts.pending for ts in self.tasksets.values())
