"""One queue of events per running job, for a driver backend serving several threads.

Jobs run from several threads of one driver at once (as in PySpark); each
waits only for its own events. Both backends, the cluster client and the
inline one, keep their queues here, under one condition variable that also
guards whatever else the backend reads while routing.
"""

from __future__ import annotations

import threading
from collections import deque


class JobQueues:
    """job id -> deque of its events, with open, close and post."""

    def __init__(self):
        self.events = threading.Condition()
        self.jobs: dict[int, deque] = {}

    def start_job(self, job_id: int) -> None:
        """Open the queue of a job's events (before its first stage is submitted)."""
        with self.events:
            self.jobs[job_id] = deque()

    def end_job(self, job_id: int) -> None:
        """Close a job's queue: what is left in it, and its late events, are dropped."""
        with self.events:
            self.jobs.pop(job_id, None)

    def post(self, job_id: int, msg) -> None:
        """Put a message of the driver's own in a job's queue (the DAG scheduler waking it)."""
        with self.events:
            if job_id in self.jobs:
                self.jobs[job_id].append(msg)
                self.events.notify_all()
