"""Count windows: ``KeyedStream.count_window(size, slide=None)``, Flink's ``countWindow``.

Flink builds them from a global window per key, a ``CountTrigger`` and, for
sliding ones, a ``CountEvictor``; this operator does the same in one place:

- tumbling (``slide`` None): every ``size`` records of a key fire one window
  with those records, then the key starts afresh (``PurgingTrigger.of(
  CountTrigger.of(size))``);
- sliding: every ``slide`` records of a key fire one window with the key's
  last ``size`` records (``CountEvictor.of(size)``, ``CountTrigger.of(slide)``),
  so the first firings, before ``size`` records have come, hold fewer (as in
  Flink's Java API; PyFlink's ``CountSlidingWindowAssigner`` fires only full
  windows instead);
- a window that has not filled by the end of the input never fires, as
  Flink's ``CountTrigger`` (its event-time callback does nothing, so the last
  watermark fires nothing either).

Counting ignores time: no record is late, and watermarks pass through
untouched, after the results of the records before them. A result is
``(key, value)`` and carries the timestamp of the newest record of its
window (Flink gives it the global window's ``Long.MAX_VALUE``, which would
put every result at the end of time for a downstream window).

State: ``buffers[key]`` is ``[records, since]``: the records kept (a deque of at
most ``size`` ``(timestamp, record)``) and how many came since the last firing;
checkpointed whole, so a restored job fires the windows the failure-free run
fires.
"""

from __future__ import annotations

from collections import deque

from minibig.streaming.all_window_operator import keyed_by_none, unkeyed_records, unkeyed_step
from minibig.streaming.copies import detached
from minibig.streaming.errors import StreamError, exception_text
from minibig.streaming.functions import MISSING, WindowFunction
from minibig.streaming.operators import Operator


class CountWindowOperator(Operator):
    """Tumbling (``slide`` None) or sliding count windows per key with a ``WindowFunction``."""

    def __init__(self, name: str, size: int, slide: int | None, function: WindowFunction):
        super().__init__(name)
        self.size = size
        self.every = size if slide is None else slide
        self.tumbling = slide is None
        self.function = function
        self.buffers: dict = {}

    def process_batch(self, items, input_index=0):
        out = []
        self.each_record(items, lambda timestamp, key, value: self._add(key, timestamp, value, input_index, out),
                         out.append)
        return {"main": out}

    def _add(self, key, timestamp, value, input_index, out):
        buffer = self.buffers.get(key)
        if buffer is None:                      # the deque's bound is the evictor: the last `size` stay
            buffer = self.buffers[key] = [deque(maxlen=self.size), 0]
        records = buffer[0]
        records.append((timestamp, value))
        buffer[1] += 1
        if buffer[1] < self.every:
            return
        buffer[1] = 0
        self._fire(key, records, input_index, out)
        if self.tumbling:
            del self.buffers[key]

    def _fire(self, key, records, input_index, out):
        function = self.function
        # a sliding window's records are also the next windows': the function gets copies of
        # what may change, so one that edits its input in place cannot change the next result
        copy = (lambda value: value) if self.tumbling else detached
        try:
            acc = MISSING
            for _, value in records:
                acc = function.add(acc, copy(value), input_index)
            values = function.results(key, None, None, acc)
        except Exception as exc:
            raise StreamError(self.name, (key, [value for _, value in records]),
                              f"firing the count window: {exception_text(exc)}") from exc
        timestamp = max(ts for ts, _ in records)
        for value in values:
            out.append((timestamp, (key, value)))
        self.counters["windows_fired"] += 1
        self.counters["records_out"] += len(values)

    def state(self):
        return self.buffers

    def load(self, state):
        self.buffers = {key: [deque(records, maxlen=self.size), since] for key, (records, since) in state.items()}


class AllCountWindowOperator(CountWindowOperator):
    """Flink's ``countWindowAll``: count windows over the whole stream, one instance (the plan
    gives it parallelism 1 and a rebalance edge); results are the values alone, and an error
    names the window's records without the operator's one key, ``None``."""

    def process_batch(self, items, input_index=0):
        out = unkeyed_step(super().process_batch, keyed_by_none(items), input_index)["main"]
        return {"main": unkeyed_records(out)}
