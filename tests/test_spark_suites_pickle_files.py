"""CheckpointSuite's and saveAsPickleFile's records of the job's own classes: a task
holds a dataclass or namedtuple of the job's `__main__` by value, which plain pickle
cannot name, so writing them failed with PicklingError (the shuffle had the same
fault: tests/test_spark_suites.py)."""

from __future__ import annotations

import collections
import dataclasses
import os

import pytest

from minibig import Context


@pytest.fixture(scope="module")
def sc():
    with Context(workers=2, appName="spark-suites-pickle-files") as ctx:
        yield ctx


def _job_classes():
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
    return Point, collections.namedtuple("Pair", "left right")


def test_pickle_files_and_checkpoints_take_records_of_the_jobs_own_classes(sc, tmp_path):
    point, pair = _job_classes()
    made = sc.parallelize(range(6), 3).map(lambda i: (point(i), pair(i, -i)))
    made.saveAsPickleFile(str(tmp_path / "saved"))
    back = sc.pickleFile(str(tmp_path / "saved")).collect()
    assert sorted((p.x, q.right) for p, q in back) == [(i, -i) for i in range(6)]
    sc.setCheckpointDir(str(tmp_path / "checkpoints"))
    marked = sc.parallelize(range(6), 3).map(lambda i: point(i))
    marked.checkpoint()
    assert marked.count() == 6
    assert marked.isCheckpointed()
    assert sorted(p.x for p in marked.collect()) == list(range(6))
    assert os.path.isdir(marked.getCheckpointFile().replace("file:", "", 1))
