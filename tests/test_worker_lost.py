"""A task that ends its own worker process (os._exit, a crash in native code, the OOM killer).

Each such attempt loses a worker. A lost attempt is rerun without counting as a failure
(a worker killed from outside must cost time only), but a task whose worker died under
each of its `max_task_attempts` attempts fails its job with a `WorkerLostError`, as Spark
counts an executor lost while running a task against maxFailures; and a job whose embedded
cluster has had no worker running for worker_timeout fails instead of waiting for ever
(a worker the program adds in its place meanwhile runs it), and the next job starts the
cluster's workers again, as Spark's standalone master replaces lost executors.
"""

from __future__ import annotations

import os
import threading
import time

import faults
import pytest

from minibig import Context
from minibig.errors import JobAbortedError, WorkerLostError


def _end_the_process(records):
    os._exit(42)
    yield                                       # a generator: the exit comes when it is run


def _survivors(ctx) -> int:
    return sum(1 for worker in ctx._cluster.workers if worker.poll() is None)


def test_a_task_that_kills_its_worker_on_every_attempt_fails_with_a_worker_lost_error():
    # a dead worker is noticed by its missing heartbeats: 2 s rather than the default 10
    with Context(workers=3, max_task_attempts=2, worker_timeout=2.0, appName="worker-lost") as ctx:
        started = time.monotonic()
        with pytest.raises(WorkerLostError, match="died under each of its 2 attempts"):
            ctx.parallelize([1], 1).mapPartitions(_end_the_process).collect()
        assert time.monotonic() - started < 60
        assert _survivors(ctx) == 1                      # two attempts, two workers
        assert ctx.parallelize(range(10), 2).sum() == 45  # the cluster runs the next job


def test_a_job_whose_embedded_cluster_lost_every_worker_fails_instead_of_waiting():
    # the driver gives the cluster worker_timeout to get a worker again: 2 s, not the default 10
    with Context(workers=2, worker_timeout=2.0, appName="no-worker-left") as ctx:
        started = time.monotonic()
        with pytest.raises(JobAbortedError, match="every worker of the embedded cluster has exited"):
            ctx.parallelize([1, 2], 2).mapPartitions(_end_the_process).collect()
        assert time.monotonic() - started < 60 and _survivors(ctx) == 0
        assert ctx.parallelize(range(10), 2).sum() == 45  # the next job gets workers again
        assert _survivors(ctx) == 2


def _end_the_first_attempt(folder):
    """f(records) whose first attempt ends its worker's process; a later one gives the records."""
    def run(records):
        marker = os.path.join(folder, "ended-once")
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(42)
        return records
    return run


def test_a_worker_added_in_place_of_the_last_one_to_die_runs_the_job(tmp_path):
    with Context(workers=1, worker_timeout=2.0, appName="replaced-worker") as ctx:
        backend, no_worker = ctx._backend, threading.Event()
        workers_alive = backend.workers_alive

        def watched():                          # the driver has looked, and seen none running
            alive = workers_alive()
            if not alive:
                no_worker.set()
            return alive
        backend.workers_alive = watched
        join = faults.run_in_thread(
            lambda: ctx.parallelize([1, 2], 1).mapPartitions(_end_the_first_attempt(str(tmp_path)))
            .collect())
        assert no_worker.wait(60), "the driver never saw the cluster without a worker"
        ctx._cluster.add_worker()               # the program replaces the worker it lost
        assert join(60, "the job rerun on the added worker") == [1, 2]
