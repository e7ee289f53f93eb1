"""Keyed state, scoped to the current key: Flink's ValueState (``map_with_state`` and process
functions), ListState and MapState, and the descriptors a process function names them with."""

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

    @classmethod
    def named(cls, store: dict, descriptor) -> "ValueState":
        """The state a descriptor names, on ``store`` (a reducing state takes its function)."""
        return cls(store)


class StateDescriptor:
    """Names one keyed state of a process function (Flink's descriptors); ``type_info`` is
    accepted for PyFlink's signature and unused: any picklable value can be kept."""

    kind = "value"

    def __init__(self, name: str, type_info=None):
        if not isinstance(name, str) or not name:
            raise TypeError(f"a state needs a non-empty name, got {name!r}")
        self.name = name
        self.type_info = type_info


class ValueStateDescriptor(StateDescriptor):
    """A ``ValueState``: one value per key."""


class ListStateDescriptor(StateDescriptor):
    """A ``ListState``: a list per key."""

    kind = "list"


class MapStateDescriptor(StateDescriptor):
    """A ``MapState``: a dict per key (``key_type_info`` and ``value_type_info`` unused)."""

    kind = "map"

    def __init__(self, name: str, key_type_info=None, value_type_info=None):
        super().__init__(name, (key_type_info, value_type_info))


class ListState(ValueState):
    """Flink's ListState of the current key: ``get``, ``add``, ``add_all``, ``update``, ``clear``.

    >>> state = ListState({}); state.key = "a"
    >>> state.add(1); state.add_all([2, 3]); list(state.get())
    [1, 2, 3]
    """

    __slots__ = ()

    def get(self) -> list:
        """The current key's values (a copy: adding to it changes nothing)."""
        return list(self._store.get(self.key, ()))

    def add(self, value) -> None:
        """Append ``value`` to the current key's list."""
        self._store.setdefault(self.key, []).append(value)

    def add_all(self, values) -> None:
        """Append every one of ``values``."""
        self._store.setdefault(self.key, []).extend(values)

    def update(self, values) -> None:
        """Replace the current key's list with ``values``."""
        self._store[self.key] = list(values)


class MapState(ValueState):
    """Flink's MapState of the current key, also usable as a dict (``in``, ``[]``, ``del``).

    >>> state = MapState({}); state.key = "a"
    >>> state.put("x", 1); state["y"] = 2; ("x" in state, state.get("y"), sorted(state.keys()))
    (True, 2, ['x', 'y'])
    """

    __slots__ = ()

    def _map(self) -> dict:
        """The current key's dict, made on first write."""
        return self._store.setdefault(self.key, {})

    def _view(self) -> dict:
        """The current key's dict to read: an empty one, not stored, for a key without one."""
        return self._store.get(self.key, {})

    def get(self, key):
        """The value under ``key``, or None."""
        return self._view().get(key)

    def put(self, key, value) -> None:
        """Set ``key`` to ``value``."""
        self._map()[key] = value

    def put_all(self, mapping) -> None:
        """Set every key of ``mapping``."""
        self._map().update(mapping)

    def remove(self, key) -> None:
        """Forget ``key``."""
        self._view().pop(key, None)

    def contains(self, key) -> bool:
        """Whether ``key`` has a value."""
        return key in self._view()

    def items(self) -> list:
        """``(key, value)`` pairs."""
        return list(self._view().items())

    def keys(self) -> list:
        """The keys."""
        return list(self._view())

    def values(self) -> list:
        """The values."""
        return list(self._view().values())

    def is_empty(self) -> bool:
        """No key has a value."""
        return not self._store.get(self.key)

    __contains__ = contains
    __getitem__ = get
    __setitem__ = put
    __delitem__ = remove

    def __iter__(self):
        return iter(self.keys())


class ReducingStateDescriptor(StateDescriptor):
    """A ``ReducingState``: one value per key, each ``add`` folded in with ``reduce_function``."""

    kind = "reducing"

    def __init__(self, name: str, reduce_function, type_info=None):
        super().__init__(name, type_info)
        if not callable(reduce_function):
            raise TypeError(f"ReducingStateDescriptor needs a function, got {reduce_function!r}")
        self.function = reduce_function


class AggregatingStateDescriptor(StateDescriptor):
    """An ``AggregatingState``: an ``AggregateFunction``'s accumulator per key."""

    kind = "aggregating"

    def __init__(self, name: str, agg_function, state_type_info=None):
        super().__init__(name, state_type_info)
        for method in ("create_accumulator", "add", "get_result"):
            if not callable(getattr(agg_function, method, None)):
                raise TypeError(f"AggregatingStateDescriptor needs an AggregateFunction, got {agg_function!r}")
        self.function = agg_function


class ReducingState(ValueState):
    """Flink's ReducingState: ``add(value)`` folds ``value`` into the current key's, ``get()``.

    >>> state = ReducingState({}, lambda a, b: a + b); state.key = "a"
    >>> state.add(1); state.add(2); state.get()
    3
    """

    __slots__ = ("function",)

    def __init__(self, store: dict, function):
        super().__init__(store)
        self.function = function

    @classmethod
    def named(cls, store, descriptor):
        return cls(store, descriptor.function)

    def get(self):
        """The folded value, or None before the first ``add``."""
        return self._store.get(self.key)

    def add(self, value) -> None:
        """Fold ``value`` in."""
        store, key = self._store, self.key
        store[key] = self.function(store[key], value) if key in store else value


class AggregatingState(ReducingState):
    """Flink's AggregatingState: ``add(value)`` into an accumulator, ``get()`` its result."""

    __slots__ = ()

    def get(self):
        """``get_result`` of the key's accumulator, or None before the first ``add``."""
        store = self._store
        return self.function.get_result(store[self.key]) if self.key in store else None

    def add(self, value) -> None:
        """Add ``value`` to the accumulator."""
        store, key, function = self._store, self.key, self.function
        store[key] = function.add(value, store[key] if key in store else function.create_accumulator())


STATES = {"value": ValueState, "list": ListState, "map": MapState, "reducing": ReducingState,
          "aggregating": AggregatingState}
