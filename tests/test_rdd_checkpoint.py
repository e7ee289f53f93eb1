"""checkpoint and localCheckpoint cut the lineage after the next action; long lineages plan.

An iterative job of many rounds of reduceByKey must neither crash (the
lineage is thousands of shuffles long) nor slow down round after round: with
a checkpoint every N rounds the lineage, hence what a round plans, stays
bounded.
"""

import operator
import os

import pytest

from minibig import Context

from support import lineage_shuffles

PAIRS = [(i % 10, 1) for i in range(100)]


def _round(rdd):
    """One round of an iterative job: a map that drops the partitioner, then a shuffle."""
    return rdd.map(lambda kv: (kv[0], kv[1])).reduceByKey(operator.add, 2)


@pytest.fixture
def checkpoint_dir(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))
    return tmp_path


def test_checkpoint_writes_files_after_the_next_action_and_cuts_the_lineage(sc, checkpoint_dir):
    rdd = sc.parallelize(PAIRS, 3).reduceByKey(operator.add).mapValues(lambda v: v * 2)
    rdd.checkpoint()
    assert rdd.is_checkpointed and not rdd.isCheckpointed() and rdd.getCheckpointFile() is None
    assert lineage_shuffles(rdd), "marking alone changes nothing"
    assert sorted(rdd.collect()) == [(k, 20) for k in range(10)]
    assert rdd.isCheckpointed() and not rdd.isLocallyCheckpointed()
    uri = rdd.getCheckpointFile()                     # a file: URI, as PySpark's
    assert uri.startswith("file:" + str(checkpoint_dir))
    folder = uri[len("file:"):]
    assert sorted(f for f in os.listdir(folder) if f.startswith("part-")) == [
        f"part-{i:05d}" for i in range(3)]
    assert rdd.deps == [] and lineage_shuffles(rdd) == set()
    assert sorted(rdd.collect()) == [(k, 20) for k in range(10)]
    assert rdd.getNumPartitions() == 3 and rdd.partitioner is not None
    assert sorted(rdd.reduceByKey(operator.add).collect()) == [(k, 20) for k in range(10)]


def test_local_checkpoint_keeps_partitions_in_the_cache_and_cuts_the_lineage(sc):
    rdd = sc.parallelize(PAIRS, 4).reduceByKey(operator.add, 2)
    rdd.localCheckpoint()
    assert rdd.isLocallyCheckpointed() and not rdd.isCheckpointed()
    assert rdd.take(1)                        # reads one partition; the rest is computed too
    assert rdd.isCheckpointed() and rdd.getCheckpointFile() is None and rdd.deps == []
    assert sorted(rdd.collect()) == [(k, 10) for k in range(10)]


def test_checkpoint_without_a_folder_is_refused():
    with Context(master="inline", progress=False) as ctx:
        with pytest.raises(RuntimeError, match="setCheckpointDir"):
            ctx.parallelize([1]).checkpoint()


def test_six_hundred_chained_shuffles_plan_and_run(sc):
    rdd = sc.parallelize(PAIRS, 2)
    for _ in range(600):
        rdd = _round(rdd)
    assert sorted(rdd.collect()) == [(k, 10) for k in range(10)]


def test_six_hundred_reduce_by_keys_by_one_partitioner_pickle_and_run(sc):
    """The issue's case: after the first, each reduceByKey is narrow (same partitioner),
    so the stage is a 600-deep pipeline: it must pickle and run, not hit the recursion limit."""
    pairs = [(i % 7, 1) for i in range(100)]
    rdd = sc.parallelize(pairs, 4)
    for _ in range(600):
        rdd = rdd.reduceByKey(operator.add)
    expected = {k: sum(v for kk, v in pairs if kk == k) for k in range(7)}
    assert dict(rdd.collect()) == expected
    assert sc.lastJob.stages == 2                 # one shuffle, then the narrow chain


@pytest.mark.parametrize("local", [False, True])
def test_an_iterative_job_checkpointed_every_n_rounds_plans_a_bounded_lineage(
        sc, checkpoint_dir, local):
    every, rounds = 25, 500
    rdd, stages = sc.parallelize(PAIRS, 2), []
    for i in range(1, rounds + 1):
        rdd = _round(rdd)
        assert len(lineage_shuffles(rdd)) <= every
        if i % every == 0:
            rdd.localCheckpoint() if local else rdd.checkpoint()
            assert rdd.count() == 10
            stages.append(sc.lastJob.stages)
            assert rdd.isCheckpointed()
    # What each action plans does not grow with the rounds before it.
    assert max(stages) <= every + 1 and stages[-1] == stages[1]
    assert sorted(rdd.collect()) == [(k, 10) for k in range(10)]
