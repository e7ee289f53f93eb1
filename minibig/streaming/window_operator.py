"""The window operator: keyed windows in event time (or processing time).

Policy (Flink's, with the watermark definition of ``watermarks.py``):

- The operator's watermark ``W`` is its combined input watermark minus its
  ``max_out_of_orderness`` (the delay ``window(...)`` was given); it is also
  the watermark it forwards, after the results it caused.
- A window ``[start, end)`` fires, emitting ``(key, start, end, value)`` for
  every key it holds, once ``W >= end``. Its state stays until ``W >= end +
  allowed_lateness``, then it is dropped.
- A record is *refused* by a window when ``end + allowed_lateness <= W``
  (that window's state is gone or due to go). Each refusal counts in
  ``late_window_refusals``; a record that all of its windows refuse goes to
  the ``"late"`` output as it came (``(key, record)``) and counts in
  ``late_records``; so does a record in no window at all (a sliding window
  whose slide is longer than its size leaves gaps) whose own time is late,
  ``timestamp + allowed_lateness < W`` (Flink's ``isElementLate``), and the
  others in no window are dropped, as in Flink. A record accepted by a
  window that already fired (``end
  <= W``, within lateness) fires that key's window again at once with the
  updated value.
- Session windows: a record opens ``[t, t + gap)``, which merges with each
  of the key's sessions it overlaps or touches; merged accumulators combine
  with the function's ``merge``. A record whose own session touches none and
  is past ``end + allowed_lateness`` is refused. A merged session that ends
  at or before ``W`` fires at once.
- Results carry the window's largest timestamp (``max_timestamp(end)``), so
  a downstream window of the same size groups them together. With allowed
  lateness a window keeps its state after firing, so it emits a copy of
  anything mutable it holds (``detached``): as in Flink, a downstream
  function mutating its input cannot change the window's next firing.
- Processing time: records go to the windows holding the clock's time at
  arrival, never late; windows fire when ``on_processing_time(now)`` reaches
  their end, and the rest fire at the end of the input. A clock stepped back
  takes the operator's time back with it (``_processing_now``).

State: ``panes`` maps a window start to ``{key: accumulator}`` (fixed-size
assigners: the size gives the end), with two heaps of ``(time, start)``:
windows waiting for their first firing and windows waiting for cleanup.
Sessions live in ``sessions[key]``, a list of ``[start, end, acc, alive]``;
their heaps hold ``(time, seq, key, session)`` and entries made stale by a
merge are skipped when popped (``alive`` false or a different end).
Firing order: by end time, then start; keys in arrival order.
"""

from __future__ import annotations

import heapq
import math

from minibig.streaming.copies import detached
from minibig.streaming.elements import max_timestamp
from minibig.streaming.errors import StreamError, exception_text
from minibig.streaming.functions import MISSING, CountFunction, WindowFunction
from minibig.streaming.operators import Operator
from minibig.streaming.windows import TumblingWindow, WindowAssigner, timestamp_too_large

NEG_INF = -math.inf


class WindowOperator(Operator):
    """Keyed windows with a ``WindowFunction``; outputs ``"main"`` and ``"late"``."""

    outputs = ("main", "late")

    def __init__(self, name: str, assigner: WindowAssigner, function: WindowFunction,
                 max_out_of_orderness=0, allowed_lateness=0):
        super().__init__(name)
        if max_out_of_orderness < 0 or allowed_lateness < 0:
            raise ValueError("max_out_of_orderness and allowed_lateness must be >= 0")
        self.assigner = assigner
        self.function = function
        self.delay = max_out_of_orderness
        self.processing_time = assigner.processing_time
        self.lateness = 0 if self.processing_time else allowed_lateness
        self.watermark = NEG_INF          # forwarded downstream
        self.trigger_time = NEG_INF       # windows ending at or before it have fired
        self.panes: dict = {}
        self.sessions: dict = {}
        self.fire_heap: list = []
        self.cleanup_heap: list = []
        self.seq = 0

    # -- the protocol ---------------------------------------------------------------

    def process_batch(self, items, input_index=0):
        main, late = [], []
        if self.assigner.merging:
            self._session_batch(items, input_index, main, late)
        elif type(self.assigner) is TumblingWindow and not self.processing_time:
            self._tumbling_batch(items, input_index, main, late)
        else:
            self._pane_batch(items, input_index, main, late)
        return {"main": main, "late": late}

    def process_keyed(self, timestamps, keys, values, watermark, input_index=0):
        if self.assigner.merging or type(self.assigner) is not TumblingWindow or self.processing_time:
            return super().process_keyed(timestamps, keys, values, watermark, input_index)
        main, late = [], []
        self._tumbling_records(zip(timestamps, zip(keys, values)), input_index, main, late)
        if watermark is not None:
            self._advance(watermark - self.delay, main, late)
        return {"main": main, "late": late}

    def on_processing_time(self, now):
        if not self.processing_time:
            return {}
        if now <= self.trigger_time:
            self.trigger_time = now         # the clock stepped back (NTP): see _processing_now
            return {}
        main = []
        self._fire_due(now, main)
        return {"main": main, "late": []}

    def end_input(self):
        main = []
        if self.processing_time:
            self._fire_due(math.inf, main)
        return {"main": main, "late": []}

    def state(self):
        return {name: getattr(self, name) for name in
                ("watermark", "trigger_time", "panes", "sessions", "fire_heap", "cleanup_heap", "seq")}

    def load(self, state):
        for name, value in state.items():
            setattr(self, name, value)

    # -- records ----------------------------------------------------------------------

    def _tumbling_batch(self, items, input_index, main, late):
        """Event-time tumbling windows: each run of records between watermarks, then the watermark."""
        first = 0
        for position, item in enumerate(items):
            if type(item) is not tuple:
                if position > first:
                    self._tumbling_records(items[first:position], input_index, main, late)
                self._advance(item - self.delay, main, late)
                first = position + 1
        if first < len(items):
            self._tumbling_records(items[first:] if first else items, input_index, main, late)

    def _tumbling_records(self, records, input_index, main, late):
        """The hot path, inlined: ``(timestamp, (key, value))`` records, no watermark among them
        (a list of them, or a ``KeyedBatch``'s columns zipped)."""
        size, offset, lateness = self.assigner.size, self.assigner.offset, self.lateness
        panes, add = self.panes, self.function.add
        counting = type(self.function) is CountFunction     # count() adds inline: no call per record
        wm = self.trigger_time
        received = 0
        ts = pair = None
        try:
            for ts, pair in records:
                received += 1
                start = ts - (ts - offset) % size
                end = start + size
                if end + lateness <= wm:
                    if end <= ts:                 # a float too large for the size: no window
                        raise timestamp_too_large(ts, size)
                    self._refuse((ts, pair), 1, late)
                    continue
                key, value = pair
                pane = panes.get(start)
                if pane is None:
                    if end <= ts:
                        raise timestamp_too_large(ts, size)
                    pane = self._new_pane(start, end)
                if counting:
                    acc = pane[key] = pane.get(key, 0) + 1
                else:
                    acc = pane[key] = add(pane.get(key, MISSING), value, input_index)
                if end <= wm:
                    self._emit(main, key, start, end, acc)
        except StreamError:               # a window that fired and failed: named already
            raise
        except Exception as exc:
            raise self._record_error((ts, pair), exc) from exc
        self.counters["records_in"] += received

    def _pane_batch(self, items, input_index, main, late):
        """Sliding windows, and tumbling ones in processing time."""
        assign, lateness = self.assigner.assign, self.lateness
        panes, add = self.panes, self.function.add
        now = self._processing_now() if self.processing_time else None
        received = 0
        item = None
        try:
            for item in items:
                if type(item) is not tuple:
                    self._advance(item - self.delay, main, late)
                    continue
                received += 1
                key, value = item[1]
                wm = self.trigger_time
                ts = item[0] if now is None else now
                windows = assign(ts)
                refused = 0
                for start, end in windows:
                    if end + lateness <= wm:
                        refused += 1
                        continue
                    pane = panes.get(start)
                    if pane is None:
                        pane = self._new_pane(start, end)
                    acc = pane[key] = add(pane.get(key, MISSING), value, input_index)
                    if end <= wm:
                        self._emit(main, key, start, end, acc)
                if refused:
                    self._refuse(item, refused, late if refused == len(windows) else None)
                elif not windows and ts + lateness < wm:
                    # In no window (a slide longer than the size leaves gaps): as in Flink, late
                    # when its own time is (timestamp + lateness <= Flink's watermark, W - 1)
                    self._refuse(item, 0, late)
        except StreamError:               # a window that fired and failed: named already
            raise
        except Exception as exc:
            raise self._record_error(item, exc) from exc
        self.counters["records_in"] += received

    def _session_batch(self, items, input_index, main, late):
        gap = self.assigner.gap
        now = self._processing_now() if self.processing_time else None
        received = 0
        item = None
        try:
            for item in items:
                if type(item) is not tuple:
                    self._advance(item - self.delay, main, late)
                    continue
                received += 1
                key, value = item[1]
                start = item[0] if now is None else now
                end = start + gap
                if end <= start:                  # a float too large for the gap: no session
                    raise timestamp_too_large(start, gap)
                self._add_to_session(item, key, value, start, end, input_index, main, late)
        except StreamError:               # a window that fired and failed: named already
            raise
        except Exception as exc:
            raise self._record_error(item, exc) from exc
        self.counters["records_in"] += received

    def _add_to_session(self, item, key, value, start, end, input_index, main, late):
        wm = self.trigger_time
        sessions = self.sessions.setdefault(key, [])
        touching = [s for s in sessions if s[0] <= end and s[1] >= start]
        if not touching and end + self.lateness <= wm:
            if not sessions:
                del self.sessions[key]
            self._refuse(item, 1, late)
            return
        if touching:
            touching.sort(key=lambda s: s[0])
            session = touching[0]
            old_end = session[1]
            for other in touching[1:]:
                session[1] = max(session[1], other[1])
                session[2] = self.function.merge(session[2], other[2])
                other[3] = False
                sessions.remove(other)
            session[0] = min(session[0], start)
            session[1] = max(session[1], end)
        else:
            session = [start, end, MISSING, True]
            sessions.append(session)
            old_end = None
        session[2] = self.function.add(session[2], value, input_index)
        if session[1] <= wm:
            self._emit(main, key, session[0], session[1], session[2])
        if session[1] != old_end:       # unchanged end: the session's timers still hold
            self.seq += 1
            if session[1] > wm:
                heapq.heappush(self.fire_heap, (session[1], self.seq, key, session))
            heapq.heappush(self.cleanup_heap, (session[1] + self.lateness, self.seq, key, session))

    # -- time -------------------------------------------------------------------------

    def _advance(self, watermark, main, late):
        """A new input watermark (already minus the delay): fire, clean up, forward."""
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        if not self.processing_time:
            self._fire_due(watermark, main)
        main.append(watermark)
        late.append(watermark)

    def _fire_due(self, time, main):
        """Fire the windows ending at or before ``time``; drop those past their lateness."""
        self.trigger_time = time
        merging = self.assigner.merging
        fire_heap, cleanup_heap = self.fire_heap, self.cleanup_heap
        while fire_heap and fire_heap[0][0] <= time:
            if merging:
                end, _, key, session = heapq.heappop(fire_heap)
                if session[3] and session[1] == end:
                    self._emit(main, key, session[0], end, session[2])
            else:
                end, start = heapq.heappop(fire_heap)
                self._emit_pane(main, start, end, self.panes.get(start, {}))
        while cleanup_heap and cleanup_heap[0][0] <= time:
            if merging:
                due, _, key, session = heapq.heappop(cleanup_heap)
                if session[3] and session[1] + self.lateness == due:
                    session[3] = False
                    self._forget_session(key, session)
            else:
                self.panes.pop(heapq.heappop(cleanup_heap)[1], None)

    def _processing_now(self):
        """The clock's time for a batch's records. A clock stepped back (NTP, or a restore on a
        host whose clock is behind) takes the operator back with it, as Flink's timers: records
        go to windows of the new time, never late, and fire as it passes their end; windows of
        the old time fire when it comes again, or at the end of the input."""
        now = self.ctx.clock()
        if now < self.trigger_time:
            self.trigger_time = now
        return now

    def _new_pane(self, start, end) -> dict:
        pane = self.panes[start] = {}
        if end > self.trigger_time:
            heapq.heappush(self.fire_heap, (end, start))
        heapq.heappush(self.cleanup_heap, (end + self.lateness, start))
        return pane

    def _forget_session(self, key, session):
        sessions = self.sessions[key]
        sessions.remove(session)
        if not sessions:
            del self.sessions[key]

    # -- output -----------------------------------------------------------------------

    def _emit(self, main, key, start, end, acc):
        timestamp = max_timestamp(end)
        try:
            values = self.function.results(key, start, end, acc)
        except Exception as exc:
            raise self._firing_error(key, start, end, exc) from exc
        if self.lateness:
            values = list(map(detached, values))
        for value in values:
            main.append((timestamp, (key, start, end, value)))
        self.counters["windows_fired"] += 1
        self.counters["records_out"] += len(values)

    def _emit_pane(self, main, start, end, pane):
        """Every key of one window: the firing loop, with the per-window work done once."""
        timestamp = max_timestamp(end)
        results = self.function.results
        append = main.append
        emitted = 0
        keep = self.lateness > 0
        key = None
        try:
            for key, acc in pane.items():
                for value in results(key, start, end, acc):
                    append((timestamp, (key, start, end, detached(value) if keep else value)))
                    emitted += 1
        except Exception as exc:
            raise self._firing_error(key, start, end, exc) from exc
        self.counters["windows_fired"] += len(pane)
        self.counters["records_out"] += emitted

    def _refuse(self, item, windows: int, late):
        """Count ``windows`` refusals of ``item``; ``late`` is the side output when all refused."""
        self.counters["late_window_refusals"] += windows
        if late is not None:
            self.counters["late_records"] += 1
            late.append(item)

    def _firing_error(self, key, start, end, exc) -> StreamError:
        """The user's window function (``process``, ``get_result``) raised as a window fired: the
        error names the operator and the window ``(key, start, end)``, whatever made it fire (a
        record, a watermark, the clock, the end of the input)."""
        return StreamError(self.name, (key, start, end), f"firing the window: {exception_text(exc)}")

    def _record_error(self, item, exc) -> StreamError:
        if isinstance(exc, (TypeError, ValueError)) and type(item) is tuple and not _is_pair(item[1]):
            return StreamError(self.name, item, "a windowed record must be a (key, value) pair")
        return self.failure(item, exc)


def _is_pair(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2
