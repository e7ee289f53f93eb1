"""Broadcast.unpersist and destroy, as PySpark's test_rdd.test_unpersist expects them.

unpersist drops the workers' copies only: a later task gets the value again,
the bytes pickled when the broadcast was made. destroy drops every copy, and
a task that reads the value afterwards fails.
"""

from __future__ import annotations

import pytest

from minibig import Context


@pytest.fixture(scope="module")
def sc():
    with Context(workers=2, appName="broadcast-unpersist") as ctx:
        yield ctx


def _read_everywhere(sc, handle):
    """len(handle.value) from a task on each of six partitions (both workers)."""
    return sc.parallelize(range(6), 6).map(lambda _: len(handle.value)).collect()


def test_a_broadcast_is_sent_again_after_unpersist(sc):
    table = {word: len(word) for word in ("ash", "birch", "cedar", "douglas fir")}
    handle = sc.broadcast(table)
    assert _read_everywhere(sc, handle) == [4] * 6        # every worker now holds a copy
    handle.unpersist()
    assert _read_everywhere(sc, handle) == [4] * 6
    handle.unpersist()                                     # twice, and with nothing to drop
    handle.unpersist(blocking=True)
    assert _read_everywhere(sc, handle) == [4] * 6


def test_what_is_sent_again_is_the_value_as_it_was_broadcast(sc):
    """A change to the driver's object after sc.broadcast never reaches the workers."""
    readings = [3, 1, 4, 1, 5]
    handle = sc.broadcast(readings)
    readings.append(9)
    handle.unpersist()
    assert sc.parallelize([0], 1).map(lambda _: list(handle.value)).collect() == [[3, 1, 4, 1, 5]]


def test_a_destroyed_broadcast_fails_the_task_that_reads_it(sc):
    handle = sc.broadcast(list(range(100)))
    assert _read_everywhere(sc, handle) == [100] * 6
    handle.destroy()
    with pytest.raises(RuntimeError, match="was not shipped"):
        sc.parallelize([0], 1).map(lambda _: len(handle.value)).collect()


def test_unpersist_on_an_inline_context_keeps_the_only_copy():
    with Context(master="inline", progress=False) as ctx:
        handle = ctx.broadcast({"k": 1})
        handle.unpersist()
        assert ctx.parallelize([0, 1], 2).map(lambda _: handle.value["k"]).collect() == [1, 1]
