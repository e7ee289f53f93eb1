"""A job's share of the task's memory budget: when a map task's groups must go out.

A map task groups the mapper's pairs by key in a dict, {identity: [values]},
so the combiner sees each key's values together and the shuffle gets one
record per key instead of one per pair. The dict may hold only a quarter
of the running task's memory budget (`minibig worker --memory`, shared by
its task slots; see `minibig.core.memory`): the engine's shuffle writer
below it, which receives its records and keeps them until they reach the
whole budget, needs the rest. When the dict reaches its share, the map task
runs the combiner over it, hands the records to the writer and starts a new
dict, as Hadoop runs the combiner on each spill; a key may then reach its
reducer in several records.

`GroupsMeter` estimates the dict's size after each chunk of pairs the mapper
made, from counts and samples (the engine's `SizeTracker` paces the checks,
as for every spilling structure):

    the dict itself          sys.getsizeof, exact
    per key                  a sampled key's size and a list's header
    per value                a pointer in its list (lists over-allocate by
                             about an eighth), and the value's own sampled
                             size unless CPython shares it (None, True,
                             False, small ints: word count's 1 costs 8 bytes)

The reduce side needs no meter: it sorts what it receives in the engine's
`ExternalSorter` (see `minibig.mapreduce.internal`).
"""

from __future__ import annotations

import sys

from minibig.shuffle.sizing import SizeTracker, estimate
from minibig.shuffle.spill import effective_budget

POINTER = 9                   # a list slot, with the list's over-allocation
LIST_HEADER = 56              # sys.getsizeof([])
_SMOOTHING = 0.125


def value_size(value) -> int:
    """Bytes one more value adds to a group: its slot, and itself unless it is shared."""
    if value is None or value is True or value is False or \
            (type(value) is int and -5 <= value <= 256):
        return POINTER
    return POINTER + estimate(value)


#: The share of the task's budget a map task's groups may hold.
GROUPS_SHARE = 4


class GroupsMeter:
    """Tells a map task when its groups dict has reached its share of the task's budget.

    >>> meter = GroupsMeter(budget=2 << 20)
    >>> groups = {f"w{i}": [1] * 10 for i in range(1000)}
    >>> meter.full(groups, "w999", value_size(1), taken=10_000)
    False
    >>> meter.full(groups, "w999", value_size("x" * 100), taken=10_000)
    True
    """

    def __init__(self, budget: int | None):
        self.budget = effective_budget(budget) // GROUPS_SHARE
        self.tracker = SizeTracker(self.budget)
        self.key_mean = 0.0
        self.values = 0

    @property
    def chunk(self) -> int:
        """How many pairs (or lines) to take before the next check."""
        return self.tracker.chunk

    def full(self, groups: dict, key, value_bytes: int, taken: int) -> bool:
        """After `taken` more values went into `groups` (the last under `key`, each
        about `value_bytes`): True if the groups must go out now (the count restarts)."""
        self.values += taken
        if key is not None:
            size = estimate(key)
            self.key_mean = size if not self.key_mean else \
                self.key_mean + (size - self.key_mean) * _SMOOTHING
        tracker = self.tracker
        tracker.sample(value_bytes)
        size = (sys.getsizeof(groups) + int(len(groups) * (self.key_mean + LIST_HEADER))
                + int(self.values * tracker.mean))
        if size >= self.budget:
            self.values = 0
            tracker.reset()
            return True
        tracker.next_chunk(size, taken)
        return False
