"""The context cleaner: shuffles and cached partitions of freed datasets leave the cluster.

Each test frees datasets by dropping its last reference (CPython frees them
at once; `gc.collect()` makes sure), then runs a job, which drains the
cleaner's queue. Dropping on the workers is asynchronous (driver -> master ->
workers), so the tests poll the workers with tasks until the files are gone,
within a generous deadline.
"""

import gc
import operator
import os
import time

import pytest

from minibig import Context

from support import lineage_shuffles

DEADLINE = 60.0


def _worker_state(_):
    from minibig.core.task import current_task
    task = current_task()
    root = os.path.join(task.work_dir, "shuffle")
    shuffles = sorted(os.listdir(root)) if os.path.isdir(root) else []
    return os.getpid(), shuffles, task.blocks.keys()


def cluster_state(ctx) -> tuple[set, set]:
    """(shuffle folders, cached block keys) of this driver on every worker."""
    prefix = ctx._driver_id
    shuffles, blocks, pids = set(), set(), set()
    workers = len(ctx._cluster.workers) if ctx._cluster is not None else 1
    for _ in range(20):
        for pid, found, keys in ctx.parallelize(range(16), 16).map(_worker_state).collect():
            pids.add(pid)
            shuffles.update(f for f in found if f.startswith(prefix))
            blocks.update(k for k in keys if k.startswith(prefix))
        if len(pids) >= workers:
            return shuffles, blocks
    pytest.fail(f"tasks ran on {len(pids)} of {workers} workers")


def wait_until(ctx, condition) -> tuple[set, set]:
    """Poll the workers until `condition(shuffles, blocks)` holds (bounded)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        state = cluster_state(ctx)
        if condition(*state) or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def folder(ctx, shuffle_id: int) -> str:
    return f"{ctx._driver_id}_s{shuffle_id}"


def test_a_freed_datasets_shuffle_files_are_dropped_and_a_live_one_is_reused(sc):
    kept = sc.parallelize(range(1000), 4).map(lambda x: (x % 10, x)).reduceByKey(operator.add)
    freed = sc.parallelize(range(1000), 4).map(lambda x: (x % 7, 1)).reduceByKey(operator.add)
    assert dict(kept.collect()) == {k: sum(range(k, 1000, 10)) for k in range(10)}
    assert sum(dict(freed.collect()).values()) == 1000
    (kept_id,), (freed_id,) = lineage_shuffles(kept), lineage_shuffles(freed)
    shuffles, _ = cluster_state(sc)
    assert {folder(sc, kept_id), folder(sc, freed_id)} <= shuffles

    del freed
    gc.collect()
    assert sc._cleaner.pending() >= 1
    shuffles, _ = wait_until(sc, lambda shuffles, _: folder(sc, freed_id) not in shuffles)
    assert folder(sc, freed_id) not in shuffles, "the freed shuffle's files are still there"
    assert folder(sc, kept_id) in shuffles
    assert sc._dag.available.get(f"{sc._driver_id}/s{freed_id}") is None

    assert dict(kept.collect()) == {k: sum(range(k, 1000, 10)) for k in range(10)}
    assert sc.lastJob.stages == 1, "the live shuffle's outputs are reused, not recomputed"


def test_the_rounds_of_an_iterative_job_are_dropped_once_its_result_is_freed(sc):
    """A round's shuffle stays while a live dataset's lineage can read it (as in Spark)."""
    ranks = sc.parallelize([(k, 1.0) for k in range(50)], 4)
    for _ in range(12):
        ranks = ranks.flatMap(lambda kv: [((kv[0] * 7) % 50, kv[1] / 2), (kv[0], kv[1] / 2)]) \
                     .reduceByKey(operator.add)
        assert ranks.count() == 50
    rounds = {folder(sc, s) for s in lineage_shuffles(ranks)}
    assert len(rounds) == 12
    assert sum(v for _, v in ranks.collect()) == pytest.approx(50.0)
    shuffles, _ = cluster_state(sc)
    assert rounds <= shuffles, "every round is still in the result's lineage: all kept"
    ranks = None
    gc.collect()
    shuffles, _ = wait_until(sc, lambda shuffles, _: not shuffles & rounds)
    assert not shuffles & rounds, "shuffles of a freed iterative job are still on disk"


def test_a_freed_persisted_datasets_blocks_are_dropped(sc):
    cached = sc.parallelize(range(100), 4).map(lambda x: x * 2).cache()
    assert cached.sum() == 9900
    prefix = f"{sc._driver_id}/rdd{cached.id}_"
    _, blocks = cluster_state(sc)
    assert len([b for b in blocks if b.startswith(prefix)]) == 4
    del cached
    gc.collect()
    _, blocks = wait_until(sc, lambda _, blocks: not any(b.startswith(prefix) for b in blocks))
    assert not any(b.startswith(prefix) for b in blocks)


def test_without_the_cleaner_shuffles_stay_until_the_driver_stops():
    with Context(master="inline", cleaner=False, progress=False) as ctx:
        rdd = ctx.parallelize(range(100), 2).map(lambda x: (x % 3, x)).reduceByKey(operator.add)
        assert rdd.count() == 3
        (shuffle_id,) = lineage_shuffles(rdd)
        del rdd
        gc.collect()
        assert ctx._cleaner is None
        shuffles, _ = cluster_state(ctx)
        assert folder(ctx, shuffle_id) in shuffles
