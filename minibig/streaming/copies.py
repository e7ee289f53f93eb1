"""Copies between a stateful operator's state and the records around it.

A window with allowed lateness keeps its state after firing, and a rolling
``KeyedStream.reduce`` keeps its running value after emitting it; what they
emit may be that very object. The other way, a reduce's state starts as its
first record, which a user's ``f`` may fold into in place while another
branch (or another sliding window) still holds it. Flink hands each
operator a copy (object reuse is off by default); ``detached`` does the
same, cheaply for what cannot change.
"""

from __future__ import annotations

import copy

_IMMUTABLE = frozenset({int, float, complex, bool, str, bytes, type(None), range})


def detached(value):
    """``value``, or a deep copy of it when it may hold something mutable.

    What a stateful operator emits may be the state it keeps (a reduce's
    accumulator, the records a process function returns): a downstream
    function that mutates its input in place (``r[3].append(...)``) would
    change the operator's next output, so it sends a copy. Scalars, and
    tuples and frozensets of them (nested too: a record ``(key, (t, v))``),
    are shared as they are, and so is a value that cannot be copied (it holds
    a lock): the copy guards the state, it must not fail the job.

    >>> acc, pair = [1, 2], (1, ("a", frozenset({2.5})))
    >>> detached(acc) == acc, detached(acc) is acc, detached(pair) is pair
    (True, False, True)
    """
    if type(value) in _IMMUTABLE:
        return value
    try:
        return value if _shareable(value) else copy.deepcopy(value)
    except Exception:           # noqa: BLE001 - it holds a lock, a socket: shared, as it always was
        return value


def _shareable(value) -> bool:
    """Nothing in ``value`` can change: a scalar, or a tuple or frozenset of such values
    (checked all the way down, much cheaper than the deep copy that would find the same)."""
    kind = type(value)
    if kind is not tuple and kind is not frozenset:
        return kind in _IMMUTABLE
    for item in value:
        if type(item) not in _IMMUTABLE and not _shareable(item):
            return False
    return True
