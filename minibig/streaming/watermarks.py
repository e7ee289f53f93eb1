"""Watermarks: generated at the sources, combined at every operator input.

Definitions (the whole package relies on them):

- A watermark ``W`` on a channel promises no more records with
  ``timestamp < W``. This is Flink's watermark plus one for integer
  timestamps (Flink's ``W`` promises none with ``timestamp <= W``), which is
  why a window ``[start, end)`` here fires when ``W >= end`` (DESIGN's "at or
  past its end") exactly when Flink fires it (``W_flink >= end - 1``).
- A source's watermark is the largest timestamp it has read minus its bounded
  out-of-orderness (``BoundedOutOfOrderness``), emitted after every record
  that raises it; ``+inf`` when a finite source ends.
- An operator instance's input watermark is the minimum over its input
  channels (``WatermarkValve``), never goes back, and ignores channels that
  are idle (no data for ``idle_timeout`` of processing time, announced by
  the source with the ``IDLE`` signal). An ended channel counts, at
  ``+inf``. A channel that becomes active again only counts once its
  watermark has caught up with the combined one (Flink's "aligned" rule),
  so it cannot stall the others.
- As Flink's ``StatusWatermarkValve``: when every channel is idle the
  watermark becomes the largest of the channels' (Flink "flushes" them:
  nothing holds it back, and the order in which they went idle must not
  decide it), and the instance is idle downstream; when the channels still
  active have all ended (the others idle), it is ``+inf``, so every window
  fires and what an idle source sends later is late. An ended channel is
  not idle: it counts, as Flink's finished input with its final watermark.
"""

from __future__ import annotations

import math

NEG_INF = -math.inf


class BoundedOutOfOrderness:
    """Watermark = largest timestamp seen - ``delay``; ``observe`` returns it when it rises."""

    __slots__ = ("delay", "max_timestamp")

    def __init__(self, delay=0):
        if delay < 0:
            raise ValueError(f"max_out_of_orderness must be >= 0, got {delay!r}")
        self.delay = delay
        self.max_timestamp = NEG_INF

    def observe(self, timestamp):
        """The new watermark if ``timestamp`` raised it, else None."""
        if timestamp > self.max_timestamp:
            self.max_timestamp = timestamp
            return timestamp - self.delay
        return None

    @property
    def current(self):
        """The watermark now (``-inf`` before the first record)."""
        return self.max_timestamp - self.delay


class IdlenessDetector:
    """Says when a source has had no records for ``timeout`` seconds of processing time."""

    __slots__ = ("timeout", "clock", "last_active", "idle")

    def __init__(self, timeout, clock):
        self.timeout = timeout
        self.clock = clock
        self.last_active = clock()
        self.idle = False

    def record_seen(self) -> None:
        """Data arrived: the source is active again."""
        self.last_active = self.clock()
        self.idle = False

    def became_idle(self) -> bool:
        """True once, at the moment the quiet time reaches the timeout (None: never)."""
        if self.idle or self.timeout is None:
            return False
        if self.clock() - self.last_active >= self.timeout:
            self.idle = True
            return True
        return False


class WatermarkValve:
    """The combined watermark of one operator instance's input channels.

    State, per channel: its last watermark, whether it is idle, ended, and
    aligned (its watermark has reached the combined one). ``combined`` only
    rises. Each ``on_*`` method returns the new combined watermark when it
    rose, else None.

    ``exact`` says ``combined`` is the minimum over the counted channels
    (aligned, not idle) as they stand: then a watermark that does not rise,
    or that rises on a channel above the minimum, changes nothing and needs
    no recomputation (the common case: a watermark follows most records).
    """

    def __init__(self, channels: int):
        if channels < 1:
            raise ValueError("an operator instance needs at least one input channel")
        self.watermarks = [NEG_INF] * channels
        self.idle = [False] * channels
        self.ended = [False] * channels
        self.aligned = [True] * channels
        self.combined = NEG_INF
        self.exact = False

    def on_watermark(self, channel: int, watermark):
        """A watermark arrived on ``channel`` (it also makes the channel active)."""
        if self.exact and self.aligned[channel] and not self.idle[channel]:
            old = self.watermarks[channel]
            if watermark <= old:
                return None
            self.watermarks[channel] = watermark
            if old > self.combined:                 # another channel holds the minimum
                return None
            return self._recompute()
        self.idle[channel] = False
        if watermark > self.watermarks[channel]:
            self.watermarks[channel] = watermark
        if not self.aligned[channel] and self.watermarks[channel] >= self.combined:
            self.aligned[channel] = True
        return self._recompute()

    def on_data(self, channel: int) -> None:
        """Records arrived on ``channel``: an idle channel is active again, unaligned."""
        if self.idle[channel]:
            self.idle[channel] = False
            self.aligned[channel] = self.watermarks[channel] >= self.combined
            self.exact = False

    def on_idle(self, channel: int):
        """``channel`` announced it is idle: it stops holding the minimum back. The last channel
        to go idle flushes the watermark to the largest of them all."""
        self.idle[channel] = True
        if not self.all_quiet:
            return self._recompute()
        self.exact = False
        highest = max(self.watermarks)
        if highest > self.combined:
            self.combined = highest
            return highest
        return None

    def on_end(self, channel: int):
        """``channel`` ended: its watermark is ``+inf`` from now on."""
        self.ended[channel] = True
        self.idle[channel] = False
        self.aligned[channel] = True
        self.watermarks[channel] = math.inf
        return self._recompute()

    @property
    def all_ended(self) -> bool:
        """Every channel has ended."""
        return all(self.ended)

    @property
    def all_quiet(self) -> bool:
        """Every channel is idle (an ended one is not)."""
        return all(self.idle)

    def _recompute(self):
        counted = [w for w, idle, aligned in zip(self.watermarks, self.idle, self.aligned)
                   if aligned and not idle]
        if not counted:
            self.exact = False
            return None         # the active channels are behind, catching up
        lowest = min(counted)
        self.exact = True       # counted channels are at or above combined: it rises to lowest
        if lowest > self.combined:
            self.combined = lowest
            return lowest
        return None

    def state(self) -> dict:
        """Plain state for a checkpoint."""
        return {"watermarks": list(self.watermarks), "idle": list(self.idle),
                "ended": list(self.ended), "aligned": list(self.aligned), "combined": self.combined}

    def load(self, state: dict) -> None:
        """Back to a checkpointed ``state()``."""
        for name, value in state.items():
            setattr(self, name, list(value) if isinstance(value, list) else value)
        self.exact = False
