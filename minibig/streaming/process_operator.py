"""The keyed process operator: a user's ``KeyedProcessFunction`` with keyed state and timers.

Policy (Flink's ``KeyedProcessOperator`` and ``InternalTimerService``):

- Each record ``(t, (key, value))`` makes ``key`` the current key (of every
  state handle and of the timer service) and calls ``process_element(value,
  ctx)``, ``ctx.timestamp()`` being ``t``; its outputs carry ``t``.
- A timer is one per ``(key, time)`` and domain: registering it again does
  nothing, deleting it cancels it. When the watermark ``W`` arrives, every
  event-time timer with ``time <= W`` fires, in time order (ties in the order
  they were first registered), ``on_timer(time, ctx)`` with its key current;
  a timer registered meanwhile at or before ``W`` fires in the same pass.
  Then ``W`` goes downstream, after the outputs it caused. The last watermark
  (``+inf``, the end of the input) fires every event-time timer left, and those
  registered meanwhile up to the latest of them; later ones never fire. (Flink
  fires those too, so a timer that registers the next one, ``t + 60``, fires
  for ever at the end of a bounded input: the job would hang, growing.)
- Processing-time timers fire when the clock (``ctx.timer_service().
  current_processing_time()``, the job's clock) reaches their time, at the
  runtime's ticks. As in Flink, those still pending when the input ends
  never fire.
- A timer's outputs carry the timer's time.
- An output ``(tag, value)`` with ``tag`` an ``OutputTag`` goes to the side
  output ``"side:<name>"`` when the plan reads it (``get_side_output``),
  which gets every watermark too; to no one otherwise, as in Flink. A tuple
  of another length that starts with a tag fails the job (a mistake, never
  a main output holding a tag).

State, all checkpointed: ``states[name][key]`` (one dict per named state,
updated in place on restore because the user's handles hold it), and per
domain a ``Timers``: a heap of ``(time, seq, key)`` and the set of live
``(time, key)`` (a deleted timer's heap entry is skipped when popped). The
user's function is copied for each instance (as each worker's copy of the
plan), so instances never share its attributes.
"""

from __future__ import annotations

import heapq
import math

import cloudpickle

from minibig.streaming.copies import detached
from minibig.streaming.errors import StreamError, exception_text
from minibig.streaming.operators import Operator
from minibig.streaming.process_function import (Context, OnTimerContext, OutputTag, RuntimeContext, TimeDomain,
                                                TimerService, state_class)


class Timers:
    """One domain's timers: a heap by time, deduplicated per ``(time, key)``."""

    __slots__ = ("heap", "live", "seq")

    def __init__(self):
        self.heap: list = []
        self.live: set = set()
        self.seq = 0

    def register(self, time, key) -> None:
        """A timer of ``key`` at ``time``, unless it exists."""
        if (time, key) in self.live:
            return
        self.live.add((time, key))
        heapq.heappush(self.heap, (time, self.seq, key))
        self.seq += 1

    def delete(self, time, key) -> None:
        """Cancel ``key``'s timer at ``time`` (its heap entry is skipped later)."""
        self.live.discard((time, key))

    def pop_due(self, now):
        """The earliest live timer at or before ``now`` as ``(time, key)``, removed; else None."""
        heap, live = self.heap, self.live
        while heap and heap[0][0] <= now:
            time, _, key = heapq.heappop(heap)
            if (time, key) in live:
                live.discard((time, key))
                return time, key
        return None

    def state(self) -> tuple:
        """Plain data for a checkpoint."""
        return self.heap, self.live, self.seq

    @staticmethod
    def loaded(state) -> "Timers":
        """Timers back from ``state()``."""
        timers = Timers()
        heap, live, timers.seq = state
        timers.heap, timers.live = list(heap), set(live)
        return timers


class _NoKey:
    """The current key before the first record: keyed state used in ``open`` raises (Flink's
    "No key set") instead of reading or writing the state of a real key (``None`` is one).
    Every state access hashes the key, so the check costs the records nothing."""

    __slots__ = ()

    def __hash__(self):
        raise TypeError("keyed state used outside a keyed context (in open()): there is no current "
                        "key before process_element or on_timer, as in Flink")

    def __repr__(self):
        return "<no key>"


NO_KEY = _NoKey()


class KeyedProcessOperator(Operator):
    """Runs a ``KeyedProcessFunction`` (see the module docstring); emits what it returns."""

    keyed = True

    def __init__(self, name: str, function, side_outputs=()):
        super().__init__(name)
        self.side_outputs = {output: [] for output in side_outputs}     # read downstream
        self.function = cloudpickle.loads(cloudpickle.dumps(function))
        self.states: dict = {}
        self.kinds: dict = {}
        self.handles: dict = {}
        self.timers = {TimeDomain.EVENT_TIME: Timers(), TimeDomain.PROCESSING_TIME: Timers()}
        self.watermark = -math.inf
        self.key = NO_KEY
        self.timer_service = TimerService(self)
        self.element_context = Context(self)
        self.timer_context = OnTimerContext(self)

    def open(self, ctx):
        super().open(ctx)
        self._lifecycle("open", RuntimeContext(self))

    def close(self):
        self._lifecycle("close")

    def _lifecycle(self, method: str, *args) -> None:
        """The function's ``open`` or ``close``, when it has one; a failure names this operator."""
        call = getattr(self.function, method, None)
        if call is not None:
            try:
                call(*args)
            except Exception as exc:
                raise StreamError(self.name, None, f"{method}() failed: {exception_text(exc)}") from exc

    def state_handle(self, descriptor, kind: str):
        """A handle on the named keyed state (``RuntimeContext.get_state`` and the others)."""
        if not self.keyed:
            raise TypeError("keyed state needs a keyed stream (key_by first), as in Flink")
        cls = state_class(descriptor, kind)
        name = descriptor.name
        if self.kinds.setdefault(name, kind) != kind:
            raise TypeError(f"state {name!r} is a {self.kinds[name]} state, asked for as a {kind} state")
        handle = self.handles.get(name)
        if handle is None:          # one handle per name: asked for per record, it is the same one
            handle = self.handles[name] = cls.named(self.states.setdefault(name, {}), descriptor)
            handle.key = self.key
        return handle

    def _set_key(self, key) -> None:
        self.key = key
        for handle in self.handles.values():
            handle.key = key

    # -- the protocol ---------------------------------------------------------------

    def process_batch(self, items, input_index=0):
        out = []
        self.each_record(items, lambda timestamp, key, value: self._process(timestamp, key, value, out),
                         lambda watermark: self._advance(watermark, out), self.keyed)
        return self._outputs(out)

    def _outputs(self, main) -> dict:
        """``main`` and what each side output received since the last call."""
        outputs = {"main": main}
        for output, items in self.side_outputs.items():
            if items:
                outputs[output] = items
                self.side_outputs[output] = []
        return outputs

    def _process(self, timestamp, key, value, out) -> None:
        self._set_key(key)
        ctx = self.element_context
        ctx._timestamp = timestamp
        self._collect(self.function.process_element(value, ctx), timestamp, out)

    def on_processing_time(self, now):
        out = []
        self._fire(TimeDomain.PROCESSING_TIME, now, out)
        outputs = self._outputs(out)
        return outputs if out or len(outputs) > 1 else {}

    def _advance(self, watermark, out) -> None:
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        timers = self.timers[TimeDomain.EVENT_TIME]
        if watermark == math.inf:               # the end: bounded by the timers there are (see above)
            watermark = max((time for time, _ in timers.live), default=-math.inf)
        self._fire(TimeDomain.EVENT_TIME, watermark, out)
        out.append(watermark)
        for items in self.side_outputs.values():
            items.append(watermark)

    def _fire(self, domain, now, out) -> None:
        """Every timer of ``domain`` due at ``now``, in time order, new ones due included."""
        timers = self.timers[domain]
        on_timer = self.function.on_timer if hasattr(self.function, "on_timer") else None
        ctx = self.timer_context
        ctx._domain = domain
        due = timers.pop_due(now)
        while due is not None:
            time, key = due
            self._set_key(key)
            ctx._timestamp = time
            try:
                if on_timer is not None:
                    self._collect(on_timer(time, ctx), time, out)
            except Exception as exc:
                raise StreamError(self.name, (key, time),
                                  f"on_timer failed: {exception_text(exc)}") from exc
            self.counters["timers_fired"] += 1
            due = timers.pop_due(now)

    def _collect(self, results, timestamp, out) -> None:
        """The outputs of one call (an iterable or None), each with ``timestamp``; copies of
        what may change, so a downstream function cannot change the state they came from."""
        if results is None:
            return
        emitted = 0
        for value in results:
            emitted += 1
            if type(value) is tuple and value and isinstance(value[0], OutputTag):
                if len(value) != 2:             # PyFlink would send value[1] and drop the rest
                    raise TypeError(f"a side output is yielded as (tag, value), got {len(value)} items: "
                                    f"{value!r}")
                side = self.side_outputs.get(value[0].output)
                if side is not None:            # a tag nobody reads: dropped, as in Flink
                    side.append((timestamp, detached(value[1])))
                continue
            out.append((timestamp, detached(value)))
        self.counters["records_out"] += emitted

    # -- checkpoints ------------------------------------------------------------------

    def state(self):
        return {"states": self.states, "kinds": self.kinds, "watermark": self.watermark,
                "timers": {domain.name: timers.state() for domain, timers in self.timers.items()}}

    def load(self, state):
        for name, store in self.states.items():       # in place: the user's handles hold these dicts
            store.clear()
            store.update(state["states"].get(name, {}))
        for name, store in state["states"].items():
            self.states.setdefault(name, dict(store))
        self.kinds.update(state["kinds"])
        self.watermark = state["watermark"]
        self.timers = {domain: Timers.loaded(state["timers"][domain.name]) for domain in TimeDomain}


class ProcessOperator(KeyedProcessOperator):
    """Flink's ``ProcessOperator``: a ``ProcessFunction`` on a stream without keys, chained to
    its input. It has the clocks, ``ctx.timestamp()`` and side outputs; keyed state and timers
    are refused (a ``TypeError`` from the call), as Flink refuses them off a keyed stream."""

    keyed = False
