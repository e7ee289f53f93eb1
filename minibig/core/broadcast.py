"""Broadcast variables: read-only values shipped once to each worker.

The driver pickles the value once and hands it to the master; a task's code
carries only the broadcast's id. The master sends the value to a worker with
the first task that needs it there, and the worker unpickles it once and
shares it between all its tasks.
"""

from __future__ import annotations

import threading

from minibig.core import serialization

_pickled = threading.local()           # driver: ids met while pickling a stage
_worker_blobs: dict[str, bytes] = {}   # worker: broadcast id -> pickled value
_worker_values: dict[str, object] = {}
_worker_lock = threading.Lock()


class Broadcast:
    """A read-only value available on every worker as `.value`.

    >>> b = sc.broadcast([1, 2, 3, 4, 5])
    >>> b.value
    [1, 2, 3, 4, 5]
    >>> sc.parallelize([0, 0]).flatMap(lambda x: b.value).collect()
    [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    """

    def __init__(self, bid: str, value=None, ctx=None):
        self.bid = bid
        self._value = value
        self._ctx = ctx

    @property
    def value(self):
        """The broadcast value."""
        if self._ctx is None and self._value is None:
            self._value = _load_on_worker(self.bid)
        return self._value

    def unpersist(self, blocking: bool = False) -> None:
        """Drop the copies held by the workers; a task that uses it again gets it again
        (the bytes pickled when it was made: later changes to the driver's value never travel).

        >>> b = sc.broadcast([1, 2, 3])
        >>> b.unpersist()
        >>> sc.parallelize([0, 0], 2).map(lambda _: sum(b.value)).collect()
        [6, 6]
        """
        if self._ctx is not None:
            self._ctx._backend.drop_files([self.bid], workers_only=True)

    def destroy(self, blocking: bool = False) -> None:
        """Drop every copy; the broadcast cannot be used afterwards."""
        if self._ctx is not None:
            self._ctx._backend.drop_files([self.bid])
            self._ctx._broadcasts.pop(self.bid, None)

    def __reduce__(self):
        ids = getattr(_pickled, "ids", None)
        if ids is not None:
            ids.add(self.bid)
        return Broadcast, (self.bid,)


def collect_ids_while(fn):
    """Run fn() and return (its result, ids of the broadcasts it pickled)."""
    _pickled.ids = set()
    try:
        return fn(), sorted(_pickled.ids)
    finally:
        _pickled.ids = None


def store_on_worker(bid: str, blob: bytes) -> None:
    """Keep the pickled value a worker received with a task."""
    with _worker_lock:
        _worker_blobs[bid] = blob


def drop_on_worker(ids: list) -> None:
    """Forget broadcast values the driver unpersisted."""
    with _worker_lock:
        for bid in ids:
            _worker_blobs.pop(bid, None)
            _worker_values.pop(bid, None)


def _load_on_worker(bid: str):
    with _worker_lock:
        if bid not in _worker_values:
            if bid not in _worker_blobs:
                raise RuntimeError(f"broadcast {bid} was not shipped to this worker")
            _worker_values[bid] = serialization.loads(_worker_blobs[bid])
        return _worker_values[bid]
