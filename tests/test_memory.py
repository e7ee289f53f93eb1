"""One worker budget for cached blocks and shuffles: the pool's rules and the block store's eviction.

The cluster-level check (RSS of real workers while a full cache and a big
shuffle share the budget) is in test_spill.py.
"""

import threading

import pytest

from minibig.core.cache import BlockStore, estimate_size
from minibig.core.memory import MemoryPool
from minibig.core.storagelevel import StorageLevel

MiB = 1 << 20


class Task:
    """Stands for a TaskContext: the pool only needs an identity."""


def test_a_shuffle_gets_its_slots_share_of_what_the_cache_leaves_down_to_a_floor():
    pool = MemoryPool(16 * MiB, slots=2)
    a, b = Task(), Task()
    assert pool.reserve(a) == 8 * MiB                       # empty cache: the slot's share
    assert pool.reserve(a) == 8 * MiB                       # granted once per task
    pool.add_storage(10 * MiB)
    assert pool.reserve(b) == 3 * MiB                       # (16 - 10) / 2
    pool.add_storage(5 * MiB)
    pool.release(b)
    assert pool.reserve(b) == 2 * MiB                       # floor: a quarter of 8 MiB
    assert pool.storage_limit(a) == 16 * MiB - 2 * MiB      # what the others reserved is off limits
    assert pool.storage_limit() == 16 * MiB - 10 * MiB
    pool.release(a)
    pool.release(b)
    assert pool.storage_limit() == 16 * MiB and pool.reserved == {}


def _block(mib: float) -> list:
    """Records whose estimated size is about `mib` MiB."""
    # Distinct objects: a cached block is stored pickled, and pickle would write a
    # record repeated by identity once.
    records = [bytes([i % 256]) * 1000 for i in range(int(mib * MiB / 1033))]
    assert abs(estimate_size(records) - mib * MiB) < 0.1 * MiB
    return records


def test_a_block_evicted_for_another_follows_its_own_storage_level(tmp_path):
    store = BlockStore(str(tmp_path), MemoryPool(10 * MiB))
    keep_on_disk, drop, newcomer = _block(4), _block(4), _block(4)
    assert store.put("d/rdd1_0", keep_on_disk, StorageLevel.MEMORY_AND_DISK)
    assert store.put("d/rdd2_0", drop, StorageLevel.MEMORY_ONLY)
    done = threading.Event()

    def put_newcomer():
        assert store.put("d/rdd3_0", newcomer, StorageLevel.MEMORY_ONLY)    # evicts rdd1_0
        done.set()
    threading.Thread(target=put_newcomer, daemon=True).start()
    assert done.wait(30), "putting a block that evicts a MEMORY_AND_DISK block hung"
    assert "d/rdd1_0" not in store.memory and list(store.get("d/rdd1_0")) == keep_on_disk
    assert set(store.memory) == {"d/rdd2_0", "d/rdd3_0"}
    assert store.used == store.pool.storage == sum(size for _, size, _ in store.memory.values())

    assert store.put("d/rdd4_0", _block(4), StorageLevel.MEMORY_ONLY)       # evicts rdd2_0: dropped
    assert store.get("d/rdd2_0") is None


def test_a_block_is_kept_in_memory_only_within_what_running_shuffles_leave(tmp_path):
    pool = MemoryPool(10 * MiB, slots=2)
    store = BlockStore(str(tmp_path), pool)
    shuffling, storing = Task(), Task()
    assert pool.reserve(shuffling) == 5 * MiB
    assert pool.reserve(storing) == 5 * MiB
    assert not store.put("d/rdd1_0", _block(6), StorageLevel.MEMORY_ONLY, storing)
    assert store.put("d/rdd1_1", _block(4), StorageLevel.MEMORY_ONLY, storing)
    pool.release(shuffling)
    assert store.put("d/rdd2_0", _block(5), StorageLevel.MEMORY_ONLY, storing)
    assert store.used <= 10 * MiB
    assert not store.put("d/rdd1_2", _block(11), StorageLevel.MEMORY_ONLY)   # bigger than it all


@pytest.mark.parametrize("level", [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_AND_DISK])
def test_siblings_of_a_dataset_are_not_evicted_for_each_other(tmp_path, level):
    store = BlockStore(str(tmp_path), MemoryPool(10 * MiB))
    assert store.put("d/rdd1_0", _block(6), level)
    kept = store.put("d/rdd1_1", _block(6), level)
    assert "d/rdd1_0" in store.memory and "d/rdd1_1" not in store.memory
    assert kept == level.useDisk and (store.get("d/rdd1_1") is not None) == level.useDisk
