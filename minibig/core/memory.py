"""One worker's memory budget, shared by its cached blocks and its tasks' shuffles.

`minibig worker --memory M` bounds what the worker holds, as Spark's unified
memory region does: partitions cached in memory (storage) and the buffers of
running shuffles (execution) come out of the same M. The rules, both taken
under one lock:

- A task's shuffles get, the first time they ask (`reserve`), their slot's
  share of what cached blocks leave, `(M - storage) / slots`, but never more
  than `M / slots` nor less than a quarter of it: cached blocks may shrink a
  shuffle's budget (it spills sooner, which costs time, not answers) down to
  that floor. A task that never shuffles reserves nothing.
- A block may be cached in memory while it fits in M minus what the *other*
  running tasks reserved (`storage_limit`). The storing task's own
  reservation does not count: a task caches the partition it has computed,
  and a shuffle read that produced it is over by then (were it counted, a
  one-slot worker could never cache the output of a shuffle). Past that,
  least recently used blocks are evicted (to disk for MEMORY_AND_DISK).

So cached blocks and reservations stay within M, but for two excesses:
reservations at their floor while the cache is full (up to 1.25 M), and a
map task that caches its input and then writes its shuffle, whose own
reservation comes on top (up to one slot's share more).
"""

from __future__ import annotations

import threading

#: The least share of a slot's budget a task's shuffles get, however full the cache.
FLOOR = 4


class MemoryPool:
    """The worker's budget in bytes, `slots` task slots drawing on it."""

    def __init__(self, total: int, slots: int = 1):
        self.total = int(total)
        self.slots = max(1, int(slots))
        self.storage = 0                      # bytes of cached blocks held in memory
        self.reserved: dict[int, int] = {}    # id(task) -> bytes granted to its shuffles
        self.lock = threading.Lock()

    def reserve(self, task) -> int:
        """Bytes `task`'s shuffles may hold before spilling (granted once per task)."""
        with self.lock:
            key = id(task)
            if key not in self.reserved:
                share = self.total // self.slots
                left = (self.total - self.storage) // self.slots
                self.reserved[key] = max(share // FLOOR, min(share, left), 1)
            return self.reserved[key]

    def release(self, task) -> None:
        """`task` has ended: its reservation goes back to the pool."""
        with self.lock:
            self.reserved.pop(id(task), None)

    def storage_limit(self, task=None) -> int:
        """Bytes cached blocks may hold while `task` stores one."""
        with self.lock:
            others = sum(granted for key, granted in self.reserved.items() if key != id(task))
            return max(0, self.total - others)

    def add_storage(self, delta: int) -> None:
        """Cached blocks in memory grew (or shrank) by `delta` bytes."""
        with self.lock:
            self.storage += delta
