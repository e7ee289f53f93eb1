"""A StopIteration raised by the user's function fails the job, as in PySpark (SPARK-23754).

Left alone, a StopIteration raised inside `f` ends builtin map and filter as if
their input were exhausted: the rest of the partition would be dropped without
a word. PySpark fails the task with a RuntimeError ("Caught StopIteration
thrown from user's code; failing the task"), on the workers and where the
driver itself calls the user's function (reduce's and aggregate's merges).
"""

from __future__ import annotations

import operator

import pytest

from minibig import Context

STOPPED = "Caught StopIteration thrown from user's code"


@pytest.fixture(scope="module")
def sc():
    with Context(workers=2, appName="stop-iteration") as ctx:
        yield ctx


def _stop_at(bad):
    """A function that raises StopIteration for `bad` and passes everything else through."""
    def f(*args):
        if bad in args:
            raise StopIteration(f"no more after {bad}")
        return args[0]
    return f


LAST = 23          # the last record of the second of two partitions of range(24)


@pytest.mark.parametrize("make", [
    lambda rdd, f: rdd.map(f),
    lambda rdd, f: rdd.filter(f),
    lambda rdd, f: rdd.flatMap(lambda x: [f(x)]),
    lambda rdd, f: rdd.map(lambda x: (x % 3, x)).mapValues(f),
    lambda rdd, f: rdd.keyBy(f),
    lambda rdd, f: rdd.map(f).map(lambda x: -x),            # the failing step is not the last
], ids=["map", "filter", "flatMap", "mapValues", "keyBy", "map-then-map"])
@pytest.mark.parametrize("bad", [5, LAST], ids=["mid-partition", "last-record"])
def test_a_transformation_fails_instead_of_dropping_the_rest(sc, make, bad):
    rdd = make(sc.parallelize(range(24), 2), _stop_at(bad))
    for action in (rdd.collect, rdd.count):
        with pytest.raises(RuntimeError, match=STOPPED):
            action()


@pytest.mark.parametrize("action", [
    lambda rdd, f: rdd.foreach(f),
    lambda rdd, f: rdd.reduce(lambda a, b: f(b) + a),
    lambda rdd, f: rdd.fold(0, lambda a, b: f(b) + a),
    lambda rdd, f: rdd.aggregate(0, lambda a, b: f(b) + a, operator.add),
    lambda rdd, f: rdd.map(lambda x: (x % 2, x)).reduceByKey(lambda a, b: f(b) + a).collect(),
], ids=["foreach", "reduce", "fold", "aggregate-seqOp", "reduceByKey"])
def test_an_action_in_the_tasks_fails_with_a_runtime_error(sc, action):
    with pytest.raises(RuntimeError, match=STOPPED) as failure:
        action(sc.parallelize(range(24), 2), _stop_at(7))
    # The worker's traceback, in the error's notes, shows the user's StopIteration as the cause.
    assert "StopIteration: no more after 7" in "".join(failure.value.__notes__)


def test_the_drivers_own_merges_fail_with_a_runtime_error(sc):
    """reduce, aggregate's combOp and reduceByKeyLocally call the function in the driver too."""
    def stop_on_merge(a, b):
        raise StopIteration("merged in the driver")

    one_per_partition = sc.parallelize([1, 2, 3], 3)
    with pytest.raises(RuntimeError, match=STOPPED) as failure:
        one_per_partition.reduce(stop_on_merge)              # each task has one record: no call
    assert isinstance(failure.value.__cause__, StopIteration)
    with pytest.raises(RuntimeError, match=STOPPED):
        one_per_partition.aggregate(0, operator.add, stop_on_merge)
    with pytest.raises(RuntimeError, match=STOPPED):
        sc.parallelize([("k", 1), ("k", 2)], 2).reduceByKeyLocally(stop_on_merge)


def test_functions_that_do_not_raise_give_the_same_answers(sc):
    rdd = sc.parallelize(range(50), 3)
    assert rdd.map(lambda x: x * 2).collect() == [x * 2 for x in range(50)]
    assert rdd.filter(lambda x: x % 7 == 0).collect() == [x for x in range(50) if x % 7 == 0]
    assert rdd.flatMap(lambda x: [x] * (x % 3)).count() == sum(x % 3 for x in range(50))
    assert rdd.map(lambda x: x).take(4) == [0, 1, 2, 3]                 # stops early: no error
    assert sc.parallelize([], 2).map(lambda x: x).collect() == []
