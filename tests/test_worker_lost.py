"""A task that ends its own worker process (os._exit, a crash in native code, the OOM killer).

Each such attempt loses a worker. A lost attempt is rerun without counting as a failure
(a worker killed from outside must cost time only), but a task whose worker died under
each of its `max_task_attempts` attempts fails its job with a `WorkerLostError`, as Spark
counts an executor lost while running a task against maxFailures; and a job whose embedded
cluster has no worker left fails at once instead of waiting for ever.
"""

from __future__ import annotations

import os
import time

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
    with Context(workers=2, appName="no-worker-left") as ctx:
        started = time.monotonic()
        with pytest.raises(JobAbortedError, match="every worker of the embedded cluster has exited"):
            ctx.parallelize([1, 2], 2).mapPartitions(_end_the_process).collect()
        assert time.monotonic() - started < 60 and _survivors(ctx) == 0
