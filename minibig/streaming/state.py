"""Keyed state for a stateful map: Flink's ValueState, scoped to the current key."""

from __future__ import annotations


class ValueState:
    """One value per key; the operator points it at the record's key before calling the user.

    >>> state = ValueState({})
    >>> state.key = "a"
    >>> state.value(0), state.update(5), state.value(0)
    (0, None, 5)
    """

    __slots__ = ("_store", "key")

    def __init__(self, store: dict):
        self._store = store
        self.key = None

    def value(self, default=None):
        """The current key's value, or ``default`` when it has none."""
        return self._store.get(self.key, default)

    def update(self, value) -> None:
        """Set the current key's value."""
        self._store[self.key] = value

    def clear(self) -> None:
        """Forget the current key's value."""
        self._store.pop(self.key, None)
