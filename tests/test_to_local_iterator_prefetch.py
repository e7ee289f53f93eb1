"""toLocalIterator(prefetchPartitions=True), as PySpark's test_rdd.test_to_localiterator_prefetch
expects it: the next partition is computed while the current one is read.

A task of the mapped dataset leaves a marker file naming its partition, so the
tests wait on what the cluster did (bounded), not on the clock.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from minibig import Context


@pytest.fixture(scope="module")
def sc():
    with Context(workers=2, appName="to-local-iterator-prefetch") as ctx:
        yield ctx


def _marking(folder):
    """f(split, records): the records, after leaving a file named after the partition."""
    def mark(split, records):
        open(os.path.join(folder, f"computed-{split}"), "w").close()
        return records
    return mark


def _wait_for(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_next_partition_is_computed_while_the_current_one_is_read(sc, tmp_path):
    rdd = sc.parallelize(range(12), 4).mapPartitionsWithIndex(_marking(str(tmp_path)))
    it = rdd.toLocalIterator(prefetchPartitions=True)
    assert next(it) == 0                                   # partition 0 is in the driver
    assert _wait_for(tmp_path / "computed-1"), "partition 1 was not computed ahead"
    assert not (tmp_path / "computed-2").exists()          # only one partition ahead
    assert list(it) == list(range(1, 12))


def test_prefetching_gives_collects_records_in_order_with_empty_partitions(sc):
    rdd = sc.parallelize([5, 3, 8, 1, 9], 7).map(lambda x: x * 10)   # two partitions empty
    assert list(rdd.toLocalIterator(prefetchPartitions=True)) == rdd.collect()
    assert list(sc.emptyRDD().toLocalIterator(prefetchPartitions=True)) == []


def test_a_failing_partition_read_ahead_raises_its_error_when_reached(sc):
    def fail_on_seven(x):
        if x == 7:
            raise KeyError("seven")
        return x

    it = sc.parallelize(range(9), 3).map(fail_on_seven).toLocalIterator(prefetchPartitions=True)
    assert [next(it) for _ in range(6)] == list(range(6))
    with pytest.raises(KeyError, match="seven"):
        next(it)


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name.startswith("minibig-prefetch")]


def test_leaving_early_leaves_no_thread_behind(sc):
    it = sc.parallelize(range(40), 8).toLocalIterator(prefetchPartitions=True)
    assert next(it) == 0
    assert _prefetch_threads()                  # the next partition's job is running ahead
    it.close()
    assert _prefetch_threads() == []
