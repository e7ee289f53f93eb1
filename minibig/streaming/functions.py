"""What a window does with its records: reduce, aggregate, process, count, join.

Each is a ``WindowFunction`` with one accumulator per (key, window):
``add(acc, value, input_index)`` (``acc`` is ``MISSING`` for the first
record), ``merge(a, b)`` (session windows merging) and ``results(key, start,
end, acc)``, the values emitted when the window fires. A user's
``AggregateFunction`` follows Flink's: ``create_accumulator``, ``add``,
``merge``, ``get_result``.
"""

from __future__ import annotations

from minibig.streaming.copies import detached


class _Missing:
    __slots__ = ()

    def __repr__(self):
        return "MISSING"

    def __reduce__(self):
        return "MISSING"


MISSING = _Missing()


class AggregateFunction:
    """Flink's AggregateFunction: subclass it, or pass any object with these four methods."""

    def create_accumulator(self):
        """A fresh, empty accumulator."""
        raise NotImplementedError

    def add(self, value, accumulator):
        """``accumulator`` with ``value`` added (may mutate and return it)."""
        raise NotImplementedError

    def merge(self, a, b):
        """One accumulator holding both ``a`` and ``b`` (session windows merging)."""
        raise NotImplementedError

    def get_result(self, accumulator):
        """The value the window emits."""
        raise NotImplementedError


class WindowFunction:
    """Base of the per-window accumulators the window operator drives."""

    def add(self, acc, value, input_index: int):
        """``acc`` (or ``MISSING``) with ``value`` added."""
        raise NotImplementedError

    def merge(self, a, b):
        """Accumulators of two merging session windows, combined."""
        raise NotImplementedError

    def results(self, key, start, end, acc) -> list:
        """The values to emit, each as ``(key, start, end, value)``, when the window fires."""
        raise NotImplementedError


class ReduceFunction(WindowFunction):
    """``f(a, b)`` folds the records of one key and window, from a copy of the first one; emits
    the folded record."""

    def __init__(self, f):
        self.f = f

    def add(self, acc, value, input_index):
        # a window starts from a copy of its first record: f may fold into its accumulator in
        # place, and the record is also the first of the other sliding windows holding it
        return detached(value) if acc is MISSING else self.f(acc, value)

    def merge(self, a, b):
        return self.f(a, b)

    def results(self, key, start, end, acc):
        return [acc]


class CountFunction(WindowFunction):
    """Counts the records of one key and window."""

    def add(self, acc, value, input_index):
        return 1 if acc is MISSING else acc + 1

    def merge(self, a, b):
        return a + b

    def results(self, key, start, end, acc):
        return [acc]


class AggregateWindowFunction(WindowFunction):
    """Drives a user's ``AggregateFunction``."""

    def __init__(self, aggregate):
        for method in ("create_accumulator", "add", "merge", "get_result"):
            if not callable(getattr(aggregate, method, None)):
                raise TypeError(f"aggregate() needs an object with a {method}() method, got {aggregate!r}")
        self.aggregate = aggregate

    def add(self, acc, value, input_index):
        if acc is MISSING:
            acc = self.aggregate.create_accumulator()
        return self.aggregate.add(value, acc)

    def merge(self, a, b):
        return self.aggregate.merge(a, b)

    def results(self, key, start, end, acc):
        return [self.aggregate.get_result(acc)]


class ProcessFunction(WindowFunction):
    """``f(key, (start, end), records)`` sees every record of the window; emits what it returns."""

    def __init__(self, f):
        self.f = f

    def add(self, acc, value, input_index):
        if acc is MISSING:
            return [value]
        acc.append(value)
        return acc

    def merge(self, a, b):
        return a + b

    def results(self, key, start, end, acc):
        return [self.f(key, (start, end), list(acc))]


class ThroughWindowFunction(WindowFunction):
    """A reduce or an aggregate whose result goes through ``window_function(key, (start, end),
    [result])`` when the window fires (Flink's ``reduce(f, window_function=...)``): incremental
    state, and the window's bounds and key for the value emitted."""

    def __init__(self, incremental: WindowFunction, window_function):
        self.incremental = incremental
        self.window_function = window_function

    def add(self, acc, value, input_index):
        return self.incremental.add(acc, value, input_index)

    def merge(self, a, b):
        return self.incremental.merge(a, b)

    def results(self, key, start, end, acc):
        return [self.window_function(key, (start, end), self.incremental.results(key, start, end, acc))]


class _Adapted:
    """A user's window function that takes fewer arguments than a keyed time window's
    ``(key, window, values)``; each subclass's ``__call__`` passes on the ones it takes."""

    __slots__ = ("f",)

    def __init__(self, f):
        self.f = f


class WithoutKey(_Adapted):
    """``window_all``'s ``f(window, values)`` (the operator's one key is ``None``)."""

    __slots__ = ()

    def __call__(self, key, window, values):
        return self.f(window, values)


class WithoutWindow(_Adapted):
    """A count window's ``f(key, values)`` (a count window has no bounds)."""

    __slots__ = ()

    def __call__(self, key, window, values):
        return self.f(key, values)


class WithoutKeyOrWindow(_Adapted):
    """``count_window_all``'s ``f(values)``."""

    __slots__ = ()

    def __call__(self, key, window, values):
        return self.f(values)


class JoinFunction(WindowFunction):
    """Inner join of two inputs: every ``(left, right)`` pair of one key and window."""

    def add(self, acc, value, input_index):
        if acc is MISSING:
            acc = ([], [])
        acc[input_index].append(value)
        return acc

    def merge(self, a, b):
        return (a[0] + b[0], a[1] + b[1])

    def results(self, key, start, end, acc):
        lefts, rights = acc
        return [(left, right) for left in lefts for right in rights]
