"""Flink's ``KeyedProcessFunction`` and what it is handed: the runtime context (keyed
state), the element and timer contexts, and the timer service.

A user subclasses ``KeyedProcessFunction`` (or passes any object with a
``process_element`` method) to ``KeyedStream.process``; each parallel instance
gets its own copy. PyFlink's names, in Python:

    class Alarm(KeyedProcessFunction):
        def open(self, runtime_context):
            self.seen = runtime_context.get_state(ValueStateDescriptor("seen"))
        def process_element(self, value, ctx):
            self.seen.update(value)
            ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)
            yield ctx.get_current_key(), value
        def on_timer(self, timestamp, ctx):
            yield "quiet since", self.seen.value()

``process_element`` and ``on_timer`` may return an iterable of outputs (a
list, a generator) or None; an output ``(tag, value)`` with ``tag`` an
``OutputTag`` goes to that side output. The operator (``process_operator.py``) runs them;
this module holds only what the user's code touches.
"""

from __future__ import annotations

from enum import Enum

import cloudpickle

from minibig.streaming import checks
from minibig.streaming.state import STATES, StateDescriptor


class TimeDomain(Enum):
    """Which clock a timer follows (``OnTimerContext.time_domain()``)."""

    EVENT_TIME = 0
    PROCESSING_TIME = 1


class OutputTag:
    """Names a side output of a process function: ``yield tag, value`` sends ``value`` there,
    ``stream.get_side_output(tag)`` reads it (Flink's ``OutputTag``; ``type_info`` unused).

    >>> OutputTag("late") == OutputTag("late")
    True
    """

    __slots__ = ("tag_id", "type_info")

    def __init__(self, tag_id: str, type_info=None):
        if not isinstance(tag_id, str) or not tag_id:
            raise TypeError(f"an OutputTag needs a non-empty name, got {tag_id!r}")
        self.tag_id = tag_id
        self.type_info = type_info

    @property
    def output(self) -> str:
        """The name of the operator output it is (``plan.Edge.output``)."""
        return "side:" + self.tag_id

    def __eq__(self, other):
        return isinstance(other, OutputTag) and other.tag_id == self.tag_id

    def __hash__(self):
        return hash(("OutputTag", self.tag_id))

    def __repr__(self):
        return f"OutputTag({self.tag_id!r})"


class KeyedProcessFunction:
    """Flink's KeyedProcessFunction: override ``process_element``, and ``on_timer`` to use timers."""

    def open(self, runtime_context: "RuntimeContext") -> None:
        """Called once per instance before any record: get keyed state here."""

    def process_element(self, value, ctx: "Context"):
        """Handle one record; return (or yield) its outputs."""
        raise NotImplementedError

    def on_timer(self, timestamp, ctx: "OnTimerContext"):
        """A timer of ``ctx.get_current_key()`` fired at ``timestamp``; return (or yield) outputs."""
        return None

    def close(self) -> None:
        """Called once per instance after the last record."""


class ProcessFunction(KeyedProcessFunction):
    """Flink's ProcessFunction, for ``DataStream.process``: ``process_element(value, ctx)``
    with ``ctx.timestamp()``, the clocks and side outputs; no keyed state, no timers."""


class RuntimeContext:
    """What ``open`` gets: keyed state by descriptor, and where the instance runs."""

    def __init__(self, operator):
        self._operator = operator

    def get_state(self, descriptor: StateDescriptor):
        """The ``ValueState`` a ``ValueStateDescriptor`` names (the same state for the same name)."""
        return self._operator.state_handle(descriptor, "value")

    def get_list_state(self, descriptor: StateDescriptor):
        """The ``ListState`` a ``ListStateDescriptor`` names."""
        return self._operator.state_handle(descriptor, "list")

    def get_map_state(self, descriptor: StateDescriptor):
        """The ``MapState`` a ``MapStateDescriptor`` names."""
        return self._operator.state_handle(descriptor, "map")

    def get_reducing_state(self, descriptor: StateDescriptor):
        """The ``ReducingState`` a ``ReducingStateDescriptor`` names."""
        return self._operator.state_handle(descriptor, "reducing")

    def get_aggregating_state(self, descriptor: StateDescriptor):
        """The ``AggregatingState`` an ``AggregatingStateDescriptor`` names."""
        return self._operator.state_handle(descriptor, "aggregating")

    def get_index_of_this_subtask(self) -> int:
        """This instance's index, from 0."""
        return self._operator.ctx.index

    def get_number_of_parallel_subtasks(self) -> int:
        """How many instances the operator has."""
        return self._operator.ctx.parallelism


class TimerService:
    """Timers of the current key, and the two clocks (``ctx.timer_service()``).

    A timer is one per (key, time, domain): registering it again does nothing, deleting
    it cancels it. An event-time timer fires once the watermark reaches its time; a
    processing-time timer once the clock does.
    """

    __slots__ = ("_operator",)

    def __init__(self, operator):
        self._operator = operator

    def current_processing_time(self):
        """The processing-time clock (unix seconds by default, the job's ``clock``)."""
        return self._operator.ctx.clock()

    def current_watermark(self):
        """The operator's watermark (``-inf`` before the first)."""
        return self._operator.watermark

    def register_event_time_timer(self, timestamp) -> None:
        """Call ``on_timer(timestamp)`` for the current key once the watermark reaches ``timestamp``."""
        checks.finite("register_event_time_timer(timestamp)", timestamp)
        self._timers(TimeDomain.EVENT_TIME).register(timestamp, self._operator.key)

    def register_processing_time_timer(self, timestamp) -> None:
        """Call ``on_timer(timestamp)`` for the current key once the clock reaches ``timestamp``."""
        checks.finite("register_processing_time_timer(timestamp)", timestamp)
        self._timers(TimeDomain.PROCESSING_TIME).register(timestamp, self._operator.key)

    def delete_event_time_timer(self, timestamp) -> None:
        """Cancel the current key's event-time timer at ``timestamp`` (none: nothing happens)."""
        self._timers(TimeDomain.EVENT_TIME).delete(timestamp, self._operator.key)

    def delete_processing_time_timer(self, timestamp) -> None:
        """Cancel the current key's processing-time timer at ``timestamp``."""
        self._timers(TimeDomain.PROCESSING_TIME).delete(timestamp, self._operator.key)

    def _timers(self, domain: TimeDomain):
        if not self._operator.keyed:
            raise TypeError("timers are only for keyed streams (key_by first), as in Flink")
        return self._operator.timers[domain]


class Context:
    """What ``process_element`` gets: the record's time and key, the timer service."""

    __slots__ = ("_operator", "_timestamp")

    def __init__(self, operator):
        self._operator = operator
        self._timestamp = None

    def timestamp(self):
        """The record's event time (in ``on_timer``: the timer's time)."""
        return self._timestamp

    def get_current_key(self):
        """The key of the record (or of the timer) being handled."""
        return self._operator.key

    def timer_service(self) -> TimerService:
        """Register and delete the current key's timers; read the clocks."""
        return self._operator.timer_service


class OnTimerContext(Context):
    """What ``on_timer`` gets: a ``Context`` and the timer's ``time_domain()``."""

    __slots__ = ("_domain",)

    def time_domain(self) -> TimeDomain:
        """``TimeDomain.EVENT_TIME`` or ``TimeDomain.PROCESSING_TIME``."""
        return self._domain


def check(function) -> None:
    """Refuse, when the job is written, an object that cannot be a keyed process function, or
    one that cannot be pickled (each instance runs its own copy; Flink refuses a function
    that is not serializable when the job is written too)."""
    if not callable(getattr(function, "process_element", None)):
        raise TypeError(f"process() needs a KeyedProcessFunction (an object with process_element), "
                        f"got {function!r}")
    try:
        cloudpickle.dumps(function)
    except Exception as exc:            # noqa: BLE001 - whatever pickling raises, named
        raise TypeError(f"process() needs a function that can be pickled (each instance runs its own "
                        f"copy): {function!r}: {type(exc).__name__}: {exc}") from exc


def state_class(descriptor, kind: str):
    """The state class a descriptor asks for, refusing a descriptor of another kind."""
    if not isinstance(descriptor, StateDescriptor):
        raise TypeError(f"keyed state needs a state descriptor (ValueStateDescriptor...), got {descriptor!r}")
    if descriptor.kind != kind:
        raise TypeError(f"{type(descriptor).__name__} {descriptor.name!r} names a {descriptor.kind} state, "
                        f"not a {kind} state")
    return STATES[kind]
