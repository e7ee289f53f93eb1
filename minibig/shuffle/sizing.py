"""Cheap estimates of the memory a growing collection holds (Spark's SizeEstimator
and SizeTracker, in small).

A shuffle that must stay within a memory budget needs to know, while records
pour in, how big its buffer is. A deep `sys.getsizeof` of every record would
cost more than the shuffle itself, so the estimate is built from samples:

* `estimate(obj)` is `sys.getsizeof` rounded up to CPython's 16-byte
  allocation unit, plus the items of tuples, lists, sets and dicts — at most
  8 of them measured, scaled to the container's length — two levels deep. It
  costs the same for a list of ten items or of ten million.
* `SizeTracker` follows a collection that grows chunk by chunk. The state:

      mean     running mean of the sampled sizes of one record (or entry)
      rate     bytes the collection grew by per record, over recent chunks
      chunk    how many records to take before the next check

  After each chunk the owner measures one record of it (`sample`) and asks
  `next_chunk(estimate)`: the next chunk is as long as fills a quarter of the
  room left before the budget at the current rate, between 1 and 1024
  records and at most twice the last chunk (a chunk is taken whole before
  it is measured, and the record sampled may be far smaller than those
  that follow). Small records are so measured once per 1024, big ones almost one
  by one, so the estimate never runs far past the budget and costs a few
  nanoseconds per record.

Example: 100-byte records against a 16 MiB budget are sampled once per 1024;
1 MiB records are checked after every record, and the first one bigger than
the budget is reported by its owner as a `MemoryBudgetError`.

An estimate is only worth as much as the allocator's habit of giving memory
back. glibc raises its mmap threshold each time a big block is freed, so
after one spill the next dict tables and lists come from the heap, which it
keeps: a worker would grow by a budget's worth per spill. `pin_mmap_threshold`
fixes the threshold (a worker calls it once at start), so big blocks are
mapped and unmapped as they come and go.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_getsizeof = sys.getsizeof
_ITEMS = 8                    # items of a container measured per call
MAX_CHUNK = 1024
_SMOOTHING = 0.125            # weight of the newest sample in the running means


# Objects with nothing inside; getsizeof, rounded up to pymalloc's 16-byte
# unit (a 28-byte int really takes 32), is all of them.
_ATOMS = frozenset({int, float, str, bytes, bool, type(None), complex})


def estimate(obj, depth: int = 0) -> int:
    """Estimated bytes held by `obj` and what it contains (sampled, O(1)).

    >>> estimate(7) == 32 and estimate((1, 2)) >= 64 + 32 + 32
    True
    >>> estimate(list(range(10_000))) > 10_000 * 40
    True
    """
    size = (_getsizeof(obj) + 15) & ~15
    kind = type(obj)
    if depth >= 2 or kind in _ATOMS:
        return size
    if kind is tuple or kind is list or isinstance(obj, (list, tuple)):
        n = len(obj)
        if n:
            sample = obj[:_ITEMS]
            measured = 0
            for item in sample:
                measured += estimate(item, depth + 1)
            size += measured * n // len(sample)
    elif isinstance(obj, dict):
        n = len(obj)
        if n:
            measured, count = 0, 0
            for key, value in obj.items():
                measured += estimate(key, depth + 1) + estimate(value, depth + 1)
                count += 1
                if count == _ITEMS:
                    break
            size += measured * n // count
    elif isinstance(obj, (set, frozenset)):
        n = len(obj)
        if n:
            measured, count = 0, 0
            for item in obj:
                measured += estimate(item, depth + 1)
                count += 1
                if count == _ITEMS:
                    break
            size += measured * n // count
    return size


class SizeTracker:
    """Sampled size of one growing collection, and when to look at it next."""

    def __init__(self, budget: int):
        self.budget = budget
        self.mean = 0.0          # bytes of one record or entry
        self.rate = 0.0          # bytes of growth per record taken
        self.last_estimate = 0
        self.chunk = 1

    def sample(self, size: int) -> None:
        """Fold one measured record (or entry) size into the running mean."""
        if self.mean == 0.0:
            self.mean = float(size)
        else:
            self.mean += (size - self.mean) * _SMOOTHING

    def next_chunk(self, estimate_now: int, taken: int) -> int:
        """Records to take before the next check, after `taken` records grew the
        collection to `estimate_now` bytes."""
        if taken:
            growth = max(0.0, (estimate_now - self.last_estimate) / taken)
            self.rate = growth if self.rate == 0.0 else self.rate + (growth - self.rate) * _SMOOTHING
        self.last_estimate = estimate_now
        room = self.budget - estimate_now
        per_record = max(self.rate, self.mean * 0.25, 1.0)
        # At most twice the last chunk: a sampled record may be far smaller than
        # the ones that follow it, and a chunk is taken whole before it is measured.
        self.chunk = int(max(1, min(MAX_CHUNK, 2 * self.chunk, room / 4 / per_record)))
        return self.chunk

    def reset(self) -> None:
        """The collection was emptied (spilled): sizes are kept, the next check comes soon."""
        self.last_estimate = 0
        self.chunk = 1


_M_MMAP_THRESHOLD = -3


def pin_mmap_threshold(threshold: int = 1 << 20) -> bool:
    """Fix glibc's mmap threshold (no dynamic raise); True where it applied (Linux glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = _glibc()
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):
        return False


def _glibc() -> ctypes.CDLL:
    """glibc by its soname first: `find_library` forks `ldconfig -p` (3-15 ms of every
    worker's start); it is asked only where the soname is not glibc's usual one."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return ctypes.CDLL(ctypes.util.find_library("c"))
