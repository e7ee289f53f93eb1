"""Accumulators: variables tasks add to, read by the driver.

A task gets a fresh, zero-valued copy of every accumulator its code refers to
(made when the task's code is unpickled). Whatever the task adds travels back
with its result, and the driver merges it once per partition of a stage:
a retried, speculative or recomputed attempt of the same partition is not
counted again.
"""

from __future__ import annotations

import threading

_task = threading.local()


class AccumulatorParam:
    """How to start from zero and add two values of an accumulator."""

    def zero(self, value):
        raise NotImplementedError

    def addInPlace(self, value1, value2):
        raise NotImplementedError


class _NumberParam(AccumulatorParam):
    def zero(self, value):
        return type(value)(0)

    def addInPlace(self, value1, value2):
        return value1 + value2


class Accumulator:
    """A value that tasks can only add to; `value` is read on the driver.

    >>> acc = sc.accumulator(0)
    >>> sc.parallelize([1, 2, 3, 4], 2).foreach(lambda x: acc.add(x))
    >>> acc.value
    10
    """

    def __init__(self, aid: int, value, accum_param: AccumulatorParam):
        self.aid = aid
        self._value = value
        self.accum_param = accum_param
        self._on_driver = True

    @property
    def value(self):
        """The merged value (driver only, as in Spark)."""
        if not self._on_driver:
            raise RuntimeError("Accumulator.value cannot be accessed inside tasks")
        return self._value

    @value.setter
    def value(self, value):
        if not self._on_driver:
            raise RuntimeError("Accumulator.value cannot be set inside tasks")
        self._value = value

    def add(self, term) -> None:
        """Add `term` to this accumulator."""
        self._value = self.accum_param.addInPlace(self._value, term)

    def __iadd__(self, term):
        self.add(term)
        return self

    def __reduce__(self):
        return _task_copy, (self.aid, self.accum_param.zero(self._value), self.accum_param)

    def __repr__(self) -> str:
        return f"Accumulator<id={self.aid}, value={self._value}>"


def _task_copy(aid: int, zero, param: AccumulatorParam) -> Accumulator:
    """Unpickled inside a task: a zero-valued copy whose additions are reported."""
    acc = Accumulator(aid, zero, param)
    acc._on_driver = False
    registry = getattr(_task, "registry", None)
    if registry is not None:
        registry.setdefault(aid, acc)
        return registry[aid]
    return acc


def begin_task() -> None:
    """Start collecting the accumulators unpickled by this thread's task."""
    _task.registry = {}


def end_task() -> dict:
    """{accumulator id: value added by this task}; stops collecting."""
    registry = getattr(_task, "registry", None) or {}
    _task.registry = None
    return {aid: acc._value for aid, acc in registry.items()}


def default_param(value) -> AccumulatorParam:
    """The AccumulatorParam for plain numbers."""
    if isinstance(value, (int, float, complex)):
        return _NumberParam()
    raise TypeError(f"no default AccumulatorParam for {type(value).__name__}: "
                    "pass accum_param=AccumulatorParam subclass")
