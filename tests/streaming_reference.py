"""A plain-Python model of minibig.streaming's event-time semantics, for tests.

Deliberately naive and separate from the operators: it replays a list of
arrivals one at a time, keeps every window's values in a list, and scans
all state on every watermark. The rules, written out once:

- the watermark after each arrival is ``min over inputs of (largest timestamp
  of that input so far - source delay)`` minus the window's delay, never
  lower than before; an input that has ended counts as ``+inf``;
- a window ``[start, end)`` holds ``start <= t < end``; windows start at
  multiples of the slide (tumbling: of the size), negative starts included;
- a record's window refuses it when ``end + lateness <= W``; a record all of
  whose windows refuse it is late (side output); each refusal is counted;
  a record in no window (slide longer than size) is late when
  ``t + lateness < W`` (Flink's ``isElementLate``), else dropped;
- a window emits when W first reaches ``end``, and again for each record
  added while ``end <= W``; its state goes when ``W >= end + lateness``;
- sessions: ``[t, t + gap)``, merged with every session of the key that it
  overlaps or touches; a record whose new session touches nothing and is past
  its lateness is late; a merged session already ending at or before W
  emits at once.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from minibig.streaming import Source, StreamingContext


@dataclass
class Arrival:
    """One record reaching the window operator: from ``source``, with event time and key."""

    source: int
    timestamp: float
    key: object
    value: object


@dataclass
class Model:
    """The expected outputs of a keyed window over a sequence of arrivals."""

    emitted: list = field(default_factory=list)          # (key, start, end, values-list snapshot)
    late: list = field(default_factory=list)             # (key, value)
    refusals: int = 0


def windows_of(timestamp, size, slide):
    """Every ``(start, end)`` with ``start`` a multiple of ``slide`` and ``start <= t < start + size``."""
    first = math.floor((timestamp - size) / slide) - 1
    last = math.floor(timestamp / slide) + 1
    found = []
    for k in range(first, last + 1):
        start = k * slide
        if start <= timestamp < start + size:
            found.append((start, start + size))
    return found


def watermarks(arrivals, ends_after, sources, source_delay, window_delay):
    """The operator watermark after each arrival; ``ends_after[i]``: sources that end right after arrival i."""
    highest = [-math.inf] * sources
    ended = [False] * sources
    current = -math.inf
    result = []
    for i, arrival in enumerate(arrivals):
        highest[arrival.source] = max(highest[arrival.source], arrival.timestamp)
        for s in ends_after.get(i, ()):
            ended[s] = True
        lowest = min(math.inf if ended[s] else highest[s] - source_delay for s in range(sources))
        current = max(current, lowest - window_delay)
        result.append(current)
    return result


def fixed_windows(arrivals, marks, size, slide, lateness) -> Model:
    """Tumbling (``slide == size``) or sliding windows, each window's values kept in a list."""
    model = Model()
    state: dict = {}              # (key, start, end) -> values
    W = -math.inf
    for arrival, next_mark in zip(arrivals, marks):
        accepted = []
        windows = windows_of(arrival.timestamp, size, slide)
        for start, end in windows:
            if end + lateness <= W:
                model.refusals += 1
            else:
                accepted.append((start, end))
        if not accepted and (windows or arrival.timestamp + lateness < W):
            model.late.append((arrival.key, arrival.value))
        for start, end in accepted:
            values = state.setdefault((arrival.key, start, end), [])
            values.append(arrival.value)
            if end <= W:
                model.emitted.append((arrival.key, start, end, list(values)))
        W = _advance_fixed(state, W, next_mark, lateness, model)
    _advance_fixed(state, W, math.inf, lateness, model)
    return model


def _advance_fixed(state, W, new, lateness, model):
    if new <= W:
        return W
    for (key, start, end), values in list(state.items()):
        if W < end <= new:
            model.emitted.append((key, start, end, list(values)))
    for window in [w for w in state if w[2] + lateness <= new]:
        del state[window]
    return new


def sessions(arrivals, marks, gap, lateness) -> Model:
    """Session windows per key, merged when they overlap or touch."""
    model = Model()
    state: dict = {}              # key -> list of [start, end, values]
    W = -math.inf
    for arrival, next_mark in zip(arrivals, marks):
        start, end = arrival.timestamp, arrival.timestamp + gap
        mine = state.setdefault(arrival.key, [])
        touching = [s for s in mine if s[0] <= end and start <= s[1]]
        if not touching and end + lateness <= W:
            model.refusals += 1
            model.late.append((arrival.key, arrival.value))
        else:
            merged = [min([start] + [s[0] for s in touching]), max([end] + [s[1] for s in touching]),
                      [v for s in touching for v in s[2]] + [arrival.value]]
            mine[:] = [s for s in mine if s not in touching] + [merged]
            if merged[1] <= W:
                model.emitted.append((arrival.key, merged[0], merged[1], list(merged[2])))
        W = _advance_sessions(state, W, next_mark, lateness, model)
    _advance_sessions(state, W, math.inf, lateness, model)
    return model


def _advance_sessions(state, W, new, lateness, model):
    if new <= W:
        return W
    for key, mine in state.items():
        for start, end, values in mine:
            if W < end <= new:
                model.emitted.append((key, start, end, list(values)))
        mine[:] = [s for s in mine if s[1] + lateness > new]
    return new


def by_window(emitted, result=lambda values: values) -> dict:
    """``{(key, start, end): [result(values) at each firing, in order]}``."""
    grouped: dict = {}
    for key, start, end, values in emitted:
        grouped.setdefault((key, start, end), []).append(result(values))
    return grouped


def contexts(sc) -> dict:
    """Where a test runs a job: ``"local"`` in this process, ``"cluster"`` on ``sc``'s workers."""
    return {"local": None, "cluster": sc}


def failure_free(build, folder: str, **options) -> tuple:
    """(the StreamingContext, ``build``'s handles) of a local run of a job whose
    sources pause (``faults.PausingSource``): the pause released, so it runs through."""
    import faults                # here: workers unpickling a test's class import this module, not tests/
    release = os.path.join(folder, "release")
    faults.touch(release)
    ssc = StreamingContext(**options)
    handles = build(ssc, folder)
    ssc.run()
    os.remove(release)
    return ssc, handles


class ScriptedSource(Source):
    """A source whose polls follow a script of ``(time, records)``: poll i sets the shared
    fake clock ``clock[0]`` (the StreamingContext's, ``clock=lambda: clock[0]``) to the
    i-th time and returns its records; it ends after the last poll."""

    def __init__(self, clock, script):
        self.clock_box, self.script, self.polls = clock, list(script), 0

    def split(self, index, parallelism):
        return self                       # keep the shared clock (the default split copies)

    @property
    def finished(self):
        return self.polls >= len(self.script)

    def poll(self, max_records):
        self.clock_box[0], records = self.script[self.polls]
        self.polls += 1
        return list(records)

    def offset(self):
        return self.polls

    def seek(self, offset):
        self.polls = offset


def rolling_reduce(pairs, f):
    """Flink's rolling ``KeyedStream.reduce`` over ``(key, record)`` pairs in arrival order:
    ``(key, running)`` for each, ``running`` the key's records so far folded with ``f``."""
    running, out = {}, []
    for key, record in pairs:
        running[key] = f(running[key], record) if key in running else record
        out.append((key, running[key]))
    return out


def by_key(pairs) -> dict:
    """``(key, value)`` pairs as ``{key: [values in order]}``: what a keyed operator promises
    (each key's outputs in order) whatever the order of keys over instances."""
    grouped = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


class Row(tuple):
    """PyFlink's Row of positional fields as a record, printed as PyFlink prints it,
    ``Row(f0=1, f1='hi')`` (here, where the workers can unpickle it)."""

    def __new__(cls, *fields):
        return super().__new__(cls, fields)

    def __getnewargs__(self):
        return tuple(self)

    def __repr__(self):
        return "Row(" + ", ".join(f"f{i}={value!r}" for i, value in enumerate(self)) + ")"
