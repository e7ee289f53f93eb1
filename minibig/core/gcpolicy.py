"""The cyclic garbage collector's young threshold while tasks run.

Used by stream tasks (why: the next paragraph) and by RDD stages (`minibig.core.stages`: a
stage that builds a table, a combine or a cached partition keeps what it
allocates, so young collections there find nothing either).

A streaming operator makes and drops a few tuples per record; reference
counting frees them, so the collector finds nothing, yet Python's default
young threshold (700 net new containers) ran a young collection about once
per batch: 10-14% of a windowed count's CPU (measured in-process, 1 and 2
tasks). ``young_threshold(n)`` raises the young threshold to ``n`` while
any stream task in the process runs and puts back what it found when the
last one ends: a collection then comes once ``n`` containers more are
alive than at the last one, rather than once per batch.

It is safe for memory: reference counting still frees everything acyclic at
once, and cyclic garbage waits for at most ``n`` new containers (a few MB at
the default) before a young collection looks at it; the older generations'
thresholds are untouched. It is process-wide, like the collector: other
tasks on the worker meanwhile get the same threshold, never a lower one
(a threshold already higher is kept, and 0, collection off, stays 0).
"""

from __future__ import annotations

import contextlib
import gc
import threading

STREAM_YOUNG_THRESHOLD = 10_000   # > the containers a 1024-record batch keeps alive at once

# Re-entrant: an allocation inside the lock may run a young collection, and a
# collection may finalize a dropped generator whose `young_threshold` block then
# ends (`_lower`) on this same thread; a plain Lock would deadlock it. The state
# is consistent at every point where such a nested call can happen.
_lock = threading.RLock()
_holders = 0
_found: tuple | None = None       # the thresholds the first holder found


@contextlib.contextmanager
def young_threshold(threshold: int = STREAM_YOUNG_THRESHOLD):
    """Young-generation threshold at least ``threshold`` within the block (see the module docstring)."""
    _raise(threshold)
    try:
        yield
    finally:
        _lower()


def _raise(threshold: int) -> None:
    global _holders, _found
    with _lock:
        current = gc.get_threshold()        # may collect (and nest a _lower) before it reads
        if _holders == 0:
            _found = current
        _holders += 1
        if 0 < current[0] < threshold:      # 0: the collector is off, and stays off
            gc.set_threshold(threshold, current[1], current[2])


def _lower() -> None:
    global _holders, _found
    with _lock:
        if _holders == 0:                   # put back already (`put_back_unheld`): a block
            return                          # of a generator finalized after its task ended
        _holders -= 1
        if _holders == 0:
            found, _found = _found, None
            gc.set_threshold(found[0], found[1], found[2])


def put_back_unheld() -> None:
    """Put back the thresholds the first holder found, whatever the count of holders
    says: for a caller that knows no ``young_threshold`` block is open (a worker with no
    task attempt left). A task attempt is stopped by an asynchronous exception
    (`minibig.cluster.killswitch`), which can land between a holder's count and the
    ``try`` that would end it, or inside ``_lower`` before it counts down: the count then
    never comes back to 0, and the process would keep the raised threshold for life."""
    global _holders, _found
    with _lock:
        if _holders:
            found, _found, _holders = _found, None, 0
            gc.set_threshold(found[0], found[1], found[2])
