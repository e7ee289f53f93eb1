"""A stage's code is made while its parents run (`_Job.prepare_next`), not once they
finish: the driver has nothing else to do then, and the stage launches sooner.

Checked on the real cluster: while a map stage's tasks are held (a marker file,
no sleeping), the waiting shuffle stage after it already has its code; a stage
whose code cannot be pickled still fails its job with the pickling error, and
the cluster runs the next job.
"""

from __future__ import annotations

import operator
import threading

import pytest

import faults
from minibig.errors import PicklingError

PAIRS = [(i % 7, i) for i in range(70)]


def swap(kv):
    return kv[1] % 5, kv[0]


def expected() -> dict:
    sums: dict = {}
    for key, value in PAIRS:
        sums[key] = sums.get(key, 0) + value
    again: dict = {}
    for key, value in map(swap, sums.items()):
        again[key] = again.get(key, 0) + value
    return again


def test_the_next_stages_code_is_made_while_its_parent_runs(sc, tmp_path):
    release = str(tmp_path / "go")

    def held(kv):
        faults.announce_and_wait(str(tmp_path), "map", release)
        return kv
    first = sc.parallelize(PAIRS, 2).map(held).reduceByKey(operator.add, 2)
    second = first.map(swap).reduceByKey(operator.add, 2)
    join = faults.run_in_thread(lambda: dict(second.collect()))
    faults.wait_for_marker(str(tmp_path), "map")
    stages = {stage.dep.shuffle_id: stage for stage in list(sc._dag.shuffle_stages.values())}
    waiting = stages[second.dep.shuffle_id]
    running = stages[first.dep.shuffle_id]
    try:
        assert running.code is not None and waiting.code is not None
    finally:
        faults.touch(release)
    assert join() == expected()


def test_a_later_stage_that_cannot_be_pickled_fails_its_job_and_only_it(sc):
    guard = threading.Lock()
    rdd = sc.parallelize(PAIRS, 2).reduceByKey(operator.add).map(lambda kv: (guard, kv))
    with pytest.raises(PicklingError, match="guard"):
        rdd.collect()
    assert dict(sc.parallelize(PAIRS, 2).reduceByKey(operator.add).collect()) == {
        k: sum(v for kk, v in PAIRS if kk == k) for k in range(7)}
