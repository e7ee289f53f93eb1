"""Spark's ContextCleaner, in small: what no dataset can reach any more is removed from the cluster.

A driver that lives long (a notebook, a service, a loop of jobs) makes new
shuffles and cached datasets all the time and lets most of them go. Their
files would stay on the workers' disks, and the master's table of map
outputs would keep growing, until the driver stops. So every shuffle
dependency, and every persisted dataset, is watched with `weakref.finalize`:
once Python frees it (no dataset of the driver's refers to it, so no later
job can read it), its key is queued here. The queue is drained on the
driver's own thread before each job (`clean`): the backend tells the master,
which forgets the map outputs and has every worker delete the files or
blocks. Finalizers only append to a deque, which is safe from any thread and
from inside the garbage collector. (When the driver stops, the master drops
all it has anyway.)

As in Spark, a shuffle stays while any live dataset's lineage reaches it:
the rounds of an iterative job (PageRank's `ranks`) go once its result is
freed, or earlier if the job cuts its lineage.

`Context(cleaner=False)` (or `MINIBIG_CLEANER=0`) keeps everything until
the driver stops, as before.
"""

from __future__ import annotations

import weakref
from collections import deque

from minibig.core.task import block_prefix


class ContextCleaner:
    """Queues the shuffles and persisted datasets that Python has freed; drops them in `clean`."""

    def __init__(self, ctx):
        self._backend = ctx._backend
        self._dag = ctx._dag
        self._driver_id = ctx._driver_id
        self._queue: deque = deque()

    def track_shuffle(self, dep) -> None:
        """Drop `dep`'s map outputs once `dep` is freed."""
        weakref.finalize(dep, self._queue.append, ("shuffle", dep.shuffle_id, dep.shuffle_key))

    def track_persisted(self, rdd) -> None:
        """Drop `rdd`'s cached partitions once `rdd` is freed."""
        prefix = block_prefix(self._driver_id, rdd.id)
        weakref.finalize(rdd, self._queue.append, ("blocks", rdd.id, prefix))

    def pending(self) -> int:
        """How many freed shuffles and datasets wait for the next `clean`."""
        return len(self._queue)

    def clean(self) -> list[str]:
        """Drop from the cluster everything queued so far; return the keys dropped."""
        shuffles, dropped = [], []
        while self._queue:
            kind, ident, key = self._queue.popleft()
            if kind == "shuffle":
                self._dag.forget_shuffle(ident, key)
                shuffles.append(key)
            else:
                self._backend.drop_blocks(key)
            dropped.append(key)
        if shuffles:
            self._backend.drop_shuffles(shuffles)
        return dropped
