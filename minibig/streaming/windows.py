"""Window assigners: which windows ``[start, end)`` a timestamp belongs to.

Windows are aligned to ``offset`` (0 by default), as in Flink: a tumbling
window of size 10 holding timestamp 17 is ``[10, 20)``; a sliding window of
size 10 and slide 5 puts 3 into ``[-5, 5)`` and ``[0, 10)`` (sliding windows
may start before 0). Python's floored ``%`` makes this right for negative
timestamps too. Session windows start as ``[t, t + gap)`` per record and
merge when they overlap or touch; the window operator does the merging.

``processing_time=True`` makes the operator assign by the worker's clock at
arrival instead of the record's event time.

>>> TumblingWindow(10).assign(17)
[(10, 20)]
>>> SlidingWindow(10, 5).assign(3)
[(0, 10), (-5, 5)]
>>> SessionWindow(30).assign(100)
[(100, 130)]
"""

from __future__ import annotations

from minibig.streaming.checks import finite, positive


def _holding(timestamp, start, end, length) -> tuple:
    """``(start, end)``, checked to hold ``timestamp``."""
    if not start <= timestamp < end:
        raise timestamp_too_large(timestamp, length)
    return start, end


def timestamp_too_large(timestamp, length) -> ValueError:
    """The error for a float timestamp so large that adding a window's length does not change
    it (1e300, or 2**60 for a length of 10): it has no window, and would otherwise be counted
    late or lost without a word."""
    return ValueError(f"timestamp {timestamp!r} is too large for a window of length {length!r}: "
                      f"at that magnitude a {type(timestamp).__name__} cannot tell the window's "
                      f"start from its end; use int timestamps (Flink's are int milliseconds)")


class WindowAssigner:
    """Base of the assigners: ``assign(timestamp) -> [(start, end), ...]``."""

    merging = False

    def __init__(self, processing_time: bool = False):
        self.processing_time = processing_time

    def assign(self, timestamp) -> list[tuple]:
        """The windows ``(start, end)`` that hold ``timestamp``, latest first."""
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class TumblingWindow(WindowAssigner):
    """Fixed-size windows that do not overlap: ``[k*size + offset, (k+1)*size + offset)``."""

    def __init__(self, size, offset=0, processing_time: bool = False):
        positive("size", size)
        finite("offset", offset)
        super().__init__(processing_time)
        self.size = size
        self.offset = offset
        self.slide = size

    def assign(self, timestamp) -> list[tuple]:
        """The one window holding ``timestamp``."""
        start = timestamp - (timestamp - self.offset) % self.size
        return [_holding(timestamp, start, start + self.size, self.size)]


class SlidingWindow(WindowAssigner):
    """Windows of ``size`` starting every ``slide``; a timestamp is in ``ceil(size/slide)`` of them."""

    def __init__(self, size, slide, offset=0, processing_time: bool = False):
        positive("size", size)
        positive("slide", slide)
        finite("offset", offset)
        super().__init__(processing_time)
        self.size = size
        self.slide = slide
        self.offset = offset

    def assign(self, timestamp) -> list[tuple]:
        """Every window holding ``timestamp``, the latest start first."""
        if timestamp - self.slide == timestamp or timestamp - self.size == timestamp:
            raise timestamp_too_large(timestamp, min(self.slide, self.size))
        start = timestamp - (timestamp - self.offset) % self.slide
        windows = []
        while start > timestamp - self.size:
            windows.append((start, start + self.size))
            start -= self.slide
        return windows


class SessionWindow(WindowAssigner):
    """Per-key sessions: records closer than ``gap`` apart share a window."""

    merging = True

    def __init__(self, gap, processing_time: bool = False):
        positive("gap", gap)
        super().__init__(processing_time)
        self.gap = gap

    def assign(self, timestamp) -> list[tuple]:
        """The record's own session ``[t, t + gap)``, before merging."""
        return [_holding(timestamp, timestamp, timestamp + self.gap, self.gap)]
