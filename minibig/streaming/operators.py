"""Physical operators: the logic of one parallel instance, driven by a runtime.

The interface a runtime (the local executor now, a worker task later) drives:

    op.open(ctx)                              once, before anything else
    op.process_batch(items, input_index)      -> {output_tag: [items]}
    op.process_keyed(timestamps, keys, values, watermark, input_index)   the same, in columns
    op.on_watermark(watermark)                -> {output_tag: [items]}
    op.on_processing_time(now)                -> {output_tag: [items]}
    op.end_input()                            -> {output_tag: [items]}, after the +inf watermark
    op.snapshot() -> bytes / op.restore(bytes)   aligned checkpoints
    op.close()

``items`` is a batch in the channel format of ``elements.py``: records
``(timestamp, value)`` and watermarks (bare numbers) in order. The watermarks
an operator receives are already combined over its input channels and never
go back (the instance's ``WatermarkValve`` does that), so an operator keeps
one watermark. Every operator forwards watermarks downstream after the
results they caused. Outputs are per tag: ``"main"``, and ``"late"`` for
window operators. Errors in user functions become a ``StreamError`` naming
the operator and the record.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import cloudpickle

from minibig.streaming.aggregations import field_value
from minibig.streaming.copies import detached
from minibig.streaming.elements import keyed_items
from minibig.streaming.errors import StreamError, exception_text
from minibig.streaming.functions import MISSING
from minibig.streaming.state import ValueState


@dataclass
class OperatorContext:
    """What an instance knows about where it runs."""

    name: str
    index: int = 0
    parallelism: int = 1
    clock: Callable[[], float] = None
    counters: Counter = field(default_factory=Counter)


class Operator:
    """Base of the physical operators (see the module docstring for the protocol)."""

    outputs = ("main",)

    def __init__(self, name: str):
        self.name = name
        self.ctx = None
        self.counters = Counter()

    def open(self, ctx: OperatorContext) -> None:
        """Attach the instance's context (clock, counters)."""
        self.ctx = ctx
        self.counters = ctx.counters

    def process_batch(self, items: list, input_index: int = 0) -> dict:
        """Handle a batch of records and watermarks from input ``input_index``."""
        raise NotImplementedError

    def process_keyed(self, timestamps: list, keys: list, values: list, watermark, input_index: int = 0) -> dict:
        """Keyed records in columns, then ``watermark`` unless None (``elements.KeyedBatch``);
        by default the same items as a batch."""
        return self.process_batch(keyed_items(timestamps, keys, values, watermark), input_index)

    def on_watermark(self, watermark) -> dict:
        """Handle a combined watermark alone."""
        return self.process_batch([watermark], 0)

    def on_processing_time(self, now) -> dict:
        """The processing-time clock reached ``now`` (processing-time windows fire)."""
        return {}

    def end_input(self) -> dict:
        """Every input ended; the +inf watermark has been processed."""
        return {}

    def state(self):
        """The operator's state as plain data (override when stateful)."""
        return None

    def load(self, state) -> None:
        """Back to a ``state()`` (override when stateful)."""

    def snapshot(self) -> bytes:
        """The state, serialized: independent of later changes."""
        return cloudpickle.dumps(self.state())

    def restore(self, snapshot: bytes) -> None:
        """Replace the state with a ``snapshot()``."""
        self.load(cloudpickle.loads(snapshot))

    def close(self) -> None:
        """Release what ``open`` took."""

    def each_record(self, items: list, on_record, on_watermark, keyed: bool = True) -> None:
        """``on_record(timestamp, key, value)`` for each record ``(timestamp, (key, value))`` of a
        batch (``(timestamp, value)`` and key None unless ``keyed``) and ``on_watermark(watermark)``
        for each watermark, in order; a failure names this operator and the record (a
        ``StreamError`` raised already passes as it is)."""
        received = 0
        item = None
        try:
            for item in items:
                if type(item) is not tuple:
                    on_watermark(item)
                    continue
                received += 1
                if keyed:
                    key, value = item[1]
                else:
                    key, value = None, item[1]
                on_record(item[0], key, value)
        except StreamError:
            raise
        except Exception as exc:
            raise self.failure(item, exc) from exc
        self.counters["records_in"] += received

    def failure(self, record, exc: BaseException) -> StreamError:
        """A StreamError naming this operator and ``record``, for ``raise ... from exc``."""
        if isinstance(exc, StreamError):
            return exc
        return StreamError(self.name, record, exception_text(exc))


class MapOperator(Operator):
    """``f(value)`` for each record; the timestamp stays."""

    def __init__(self, name, f):
        super().__init__(name)
        self.f = f

    def process_batch(self, items, input_index=0):
        f = self.f
        out = []
        append = out.append
        item = None
        try:
            for item in items:
                if type(item) is tuple:
                    append((item[0], f(item[1])))
                else:
                    append(item)
        except Exception as exc:
            raise self.failure(item, exc) from exc
        return {"main": out}


class FlatMapOperator(Operator):
    """Every value of ``f(value)``, each with the record's timestamp."""

    def __init__(self, name, f):
        super().__init__(name)
        self.f = f

    def process_batch(self, items, input_index=0):
        f = self.f
        out = []
        append = out.append
        item = None
        try:
            for item in items:
                if type(item) is tuple:
                    ts = item[0]
                    for value in f(item[1]):
                        append((ts, value))
                else:
                    append(item)
        except Exception as exc:
            raise self.failure(item, exc) from exc
        return {"main": out}


class FilterOperator(Operator):
    """The records whose value satisfies ``f``."""

    def __init__(self, name, f):
        super().__init__(name)
        self.f = f

    def process_batch(self, items, input_index=0):
        f = self.f
        out = []
        append = out.append
        item = None
        try:
            for item in items:              # a loop, not a comprehension: `item` names the failure
                if type(item) is not tuple or f(item[1]):
                    append(item)
        except Exception as exc:
            raise self.failure(item, exc) from exc
        return {"main": out}


class KeyByOperator(Operator):
    """Turns each value into ``(f(value), value)``; the key must be hashable."""

    def __init__(self, name, f):
        super().__init__(name)
        self.f = f

    def process_batch(self, items, input_index=0):
        f = self.f
        out = []
        append = out.append
        item = None
        try:
            for item in items:
                if type(item) is tuple:
                    value = item[1]
                    key = f(value)
                    hash(key)               # an unhashable key fails here, named, not in a later dict
                    append((item[0], (key, value)))
                else:
                    append(item)
        except Exception as exc:
            raise StreamError(self.name, item, "cannot key the record: " + exception_text(exc)) from exc
        return {"main": out}


class ForwardOperator(Operator):
    """Passes records and watermarks through: a union's merge point."""

    def process_batch(self, items, input_index=0):
        return {"main": list(items)}


class StatefulMapOperator(Operator):
    """``f(state, record)`` on a keyed stream, ``state`` a ValueState of the record's key.

    Emits what ``f`` returns (an unkeyed stream), with the record's timestamp.
    """

    def __init__(self, name, f):
        super().__init__(name)
        self.f = f
        self.values: dict = {}

    def process_batch(self, items, input_index=0):
        f = self.f
        state = ValueState(self.values)
        out = []
        append = out.append
        count = 0
        item = None
        try:
            for item in items:
                if type(item) is tuple:
                    key, record = item[1]
                    state.key = key
                    append((item[0], f(state, record)))
                    count += 1
                else:
                    append(item)
        except Exception as exc:
            raise self.failure(item, exc) from exc
        self.counters["records_in"] += count
        return {"main": out}

    def state(self):
        return self.values

    def load(self, state):
        self.values = dict(state)


class _Rolling:
    """``f`` as a stateful map's function: fold, keep, emit ``(key, copy)``."""

    __slots__ = ("f",)

    def __init__(self, f):
        self.f = f

    def __call__(self, state, record):
        running = state.value(MISSING)
        running = self.first(record) if running is MISSING else self.f(running, record)
        state.update(running)
        return state.key, detached(running)

    def first(self, record):
        """A key's first running value: a copy of its first record. An f that folds into its
        accumulator in place (a.append(b); return a) must not change the record another
        branch, a window holding it, or the user's own source list still sees (Flink's
        reduce gets a copy too)."""
        return detached(record)


class _RollingAggregate(_Rolling):
    """``_Rolling`` that checks a key's first record has the aggregated field."""

    __slots__ = ()

    def first(self, record):
        field_value(record, self.f.field)
        return super().first(record)


class RollingReduceOperator(StatefulMapOperator):
    """Flink's rolling ``KeyedStream.reduce``: per key, ``f(running, record)`` folds each record
    into the key's running value and emits ``(key, running)``, with the record's timestamp.

    A stateful map whose state is the running value (a copy of a key's first record, then what
    ``f`` returns), so it is checkpointed and restored as ``map_with_state``'s. It emits a copy
    of anything mutable in it (``copies.detached``): a downstream function changing its input
    cannot change the state.
    """

    fold = _Rolling

    def __init__(self, name, f):
        super().__init__(name, self.fold(f))


class RollingAggregateOperator(RollingReduceOperator):
    """Flink's ``KeyedStream.sum/min/max/min_by/max_by``: a rolling reduce whose fold is an
    ``aggregations.FieldAggregation`` (keyed state, checkpointed as ``reduce``'s). A key's first
    record must have the field too: Flink refuses a wrong field before any record is folded."""

    fold = _RollingAggregate


class SinkOperator(Operator):
    """A sink's instance: hands what the current epoch produced to the driver (``sinks.py``)."""

    def take(self, boundary: bool) -> list:
        """What to hand over now; ``boundary``: a checkpoint barrier or the end of the input."""
        raise NotImplementedError


RESULTS_FLUSH = 4096          # records a sink hands over before a boundary, at most


class CollectOperator(SinkOperator):
    """A sink that keeps every value it receives, for the driver to read."""

    def __init__(self, name):
        super().__init__(name)
        self.values: list = []

    def process_batch(self, items, input_index=0):
        before = len(self.values)
        self.values.extend(item[1] for item in items if type(item) is tuple)
        self.counters["records_in"] += len(self.values) - before
        return {}

    def take(self, boundary):
        if not self.values or (not boundary and len(self.values) < RESULTS_FLUSH):
            return []
        values, self.values = self.values, []
        return values

    def state(self):
        return self.values

    def load(self, state):
        self.values = list(state)
