"""State a worker keeps across tasks for long-running computations.

A graph partition lives on its worker from one superstep to the next; a
streaming operator's state lives there while the operator runs. Unlike
cached partitions (`minibig.core.cache`), resident state is never evicted
and cannot be recomputed by the task that finds it missing: it is lost only
with its worker (or dropped with its driver), and its owner recovers it from
a checkpoint. Keys start with the driver's id ("<driver>/..."), so the
driver's prefix drops everything it left.
"""

from __future__ import annotations

import threading


class ResidentStore:
    """A thread-safe map from key to object, on one worker."""

    def __init__(self):
        self._items: dict[str, object] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value) -> None:
        """Keep `value` under `key`, replacing what was there."""
        with self._lock:
            self._items[key] = value

    def get(self, key: str, default=None):
        """The value under `key`, or `default`."""
        with self._lock:
            return self._items.get(key, default)

    def pop(self, key: str, default=None):
        """Remove and return the value under `key`."""
        with self._lock:
            return self._items.pop(key, default)

    def drop(self, prefix: str) -> int:
        """Forget every key starting with `prefix`; return how many went."""
        with self._lock:
            gone = [k for k in self._items if k.startswith(prefix)]
            for key in gone:
                del self._items[key]
        return len(gone)

    def keys(self) -> list[str]:
        """Every key held, sorted."""
        with self._lock:
            return sorted(self._items)
