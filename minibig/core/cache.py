"""A worker's store of persisted partitions (Spark's BlockManager, in small).

Blocks are whole partitions, keyed "<driver>/rdd<id>_<split>". Memory blocks
are the records themselves (a list), counted by an estimate of their size
against the worker's memory budget, which running shuffles share
(`minibig.core.memory.MemoryPool`); disk blocks are pickled files in the worker's
folder. Policy when a block does not fit in memory:

    MEMORY_ONLY        evict least-recently-used memory blocks of other
                       datasets; if it still does not fit, do not keep it
                       (it is recomputed from lineage when needed again)
    MEMORY_AND_DISK    write it to disk instead
    DISK_ONLY          always on disk

An evicted block goes to disk if its own level says MEMORY_AND_DISK, and is
dropped otherwise.

A block that is lost (its worker died, or it was evicted) is simply
recomputed by the next task that needs it: lineage is the fault tolerance.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections import OrderedDict

SIZE_SAMPLE = 64


def estimate_size(records: list) -> int:
    """Rough in-memory size of a list of records, from a sample."""
    if not records:
        return 64
    step = max(1, len(records) // SIZE_SAMPLE)
    sample = records[::step]
    per_record = sum(_deep_size(r) for r in sample) / len(sample)
    return int(per_record * len(records)) + sys.getsizeof(records)


def _deep_size(obj, depth: int = 0) -> int:
    size = sys.getsizeof(obj)
    if depth < 2 and isinstance(obj, (tuple, list)):
        size += sum(_deep_size(x, depth + 1) for x in obj[:8]) * max(1, len(obj) // 8 or 1)
    return size


class BlockStore:
    """Persisted partitions on one worker, in memory and on disk."""

    def __init__(self, folder: str, pool):
        self.folder = os.path.join(folder, "blocks")
        self.pool = pool                      # the worker's MemoryPool
        self.memory: OrderedDict[str, tuple[list, int, bool]] = OrderedDict()   # records, size, to disk
        self.on_disk: set[str] = set()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key: str):
        """The records of a block, or None."""
        with self.lock:
            if key in self.memory:
                self.memory.move_to_end(key)
                return self.memory[key][0]
            if key not in self.on_disk:
                return None
        with open(self._path(key), "rb") as f:
            return pickle.load(f)

    def put(self, key: str, records: list, level, task=None) -> bool:
        """Keep a block that `task` computed as `level` says; True if it was kept."""
        if level.useMemory:
            size = estimate_size(records)
            with self.lock:
                evicted = self._make_room(size, key.rsplit("_", 1)[0], self.pool.storage_limit(task))
                if evicted is not None:
                    self.memory[key] = (records, size, level.useDisk)
                    self._add_used(size)
            # Outside the lock: a task reading a victim meanwhile finds no block and
            # recomputes it, as for any evicted block.
            for victim, victim_records in evicted or ():
                self._write(victim, victim_records)
            if evicted is not None:
                return True
        if level.useDisk:
            self._write(key, records)
            return True
        return False

    def _make_room(self, size: int, dataset: str, limit: int):
        """Evict blocks until `size` more bytes fit under `limit`: the evicted blocks that
        go to disk, as [(key, records)]; None (and nothing evicted) if it cannot fit."""
        others = [(k, v[1]) for k, v in self.memory.items() if not k.startswith(dataset + "_")]
        if self.used - sum(s for _, s in others) + size > limit:
            return None                     # never evict a sibling partition for this one
        to_disk = []
        for victim, _ in others:
            if self.used + size <= limit:
                break
            records, victim_size, keep_on_disk = self.memory.pop(victim)
            self._add_used(-victim_size)
            if keep_on_disk:
                to_disk.append((victim, records))
        return to_disk

    def _add_used(self, delta: int) -> None:
        self.used += delta
        self.pool.add_storage(delta)

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, key.replace("/", "_"))

    def _write(self, key: str, records: list) -> None:
        os.makedirs(self.folder, exist_ok=True)
        tmp = self._path(key) + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(records, f, protocol=5)
        os.replace(tmp, self._path(key))
        with self.lock:
            self.on_disk.add(key)

    def drop(self, prefix: str) -> None:
        """Forget every block whose key starts with `prefix` (one dataset, or a driver)."""
        with self.lock:
            for key in [k for k in self.memory if k.startswith(prefix)]:
                self._add_used(-self.memory.pop(key)[1])
            gone = [k for k in self.on_disk if k.startswith(prefix)]
            self.on_disk.difference_update(gone)
        for key in gone:
            try:
                os.unlink(self._path(key))
            except FileNotFoundError:
                pass

    def keys(self) -> list[str]:
        with self.lock:
            return list(self.memory) + sorted(self.on_disk)
