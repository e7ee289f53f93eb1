"""What an action reads from the cache never depends on what an earlier task did to it.

Cached partitions are kept serialized (as PySpark's MEMORY_ONLY is in
Python), so a task mutating the records it read changes only its own copy.
"""

import pytest

from minibig import Context
from minibig.core.storagelevel import StorageLevel


def _append_nine(record):
    record.append(9)
    return record


@pytest.mark.parametrize("level", [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_AND_DISK,
                                   StorageLevel.DISK_ONLY])
def test_a_task_mutating_cached_lists_does_not_change_the_cache(sc, level):
    rdd = sc.parallelize([[1], [2]], 2).persist(level)
    assert rdd.map(_append_nine).count() == 2
    assert rdd.collect() == [[1], [2]]
    assert rdd.map(_append_nine).collect() == [[1, 9], [2, 9]]
    assert rdd.collect() == [[1], [2]]
    rdd.unpersist()


def test_a_cached_group_by_key_is_not_corrupted_by_a_later_task(sc):
    grouped = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2).groupByKey().cache()
    expected = {"a": [1, 3], "b": [2]}
    assert {k: sorted(v) for k, v in grouped.collect()} == expected
    grouped.mapValues(lambda vs: vs.append(99) or vs.clear()).count()
    assert {k: sorted(v) for k, v in grouped.collect()} == expected
    grouped.unpersist()


def test_the_inline_backend_keeps_the_same_guarantee():
    with Context(master="inline", progress=False) as ctx:
        rdd = ctx.parallelize([[1], [2]], 2).cache()
        rdd.map(_append_nine).count()
        assert rdd.collect() == [[1], [2]]


def test_storage_level_says_what_is_stored(sc):
    cached = sc.parallelize([1]).cache()
    assert cached.getStorageLevel() == StorageLevel.MEMORY_ONLY
    assert not cached.getStorageLevel().deserialized
    assert str(cached.getStorageLevel()) == "Memory Serialized 1x Replicated"
    deser = sc.parallelize([[1], [2]], 2).persist(StorageLevel.MEMORY_AND_DISK_DESER)
    assert deser.getStorageLevel().deserialized and deser.collect() == [[1], [2]]
    assert str(deser.getStorageLevel()) == "Disk Memory Deserialized 1x Replicated"
    cached.unpersist(), deser.unpersist()
