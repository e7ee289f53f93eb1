"""A source instance at work: timestamps, watermarks and idleness for one Source.

``SourceReader.poll`` turns the raw records of a ``Source`` into channel
items (``elements.py``): each record becomes ``(timestamp(record), record)``
and the source's watermark (largest timestamp so far minus
``max_out_of_orderness``) follows whenever it rises. It is sent before the
next record that it could make late (timestamp at or below it) and at the
end of the batch, not after every record: a record above the watermark
is late for none of its windows (each ends after it), touches no session
the watermark closes, and fires nothing, so where the watermark sits
between such records changes no result, while a watermark per record
doubled what every operator and exchange handled. When the source finishes
the batch ends with the ``+inf`` watermark and the signal is ``END``; when it
has delivered nothing for ``idle_timeout`` seconds (elapsed: monotonic, unless
the StreamingContext was given a clock) the signal is ``IDLE`` (once, until
data flows again). Without a timestamp function a record's timestamp is its
ingestion time (the clock: unix time unless the StreamingContext was given
another), never below the source's highest so far: a wall clock stepped back
would make the records of the step late.
"""

from __future__ import annotations

import math

from minibig.streaming.elements import END, IDLE, checked_timestamp
from minibig.streaming.errors import StreamError, exception_text
from minibig.streaming.sources import Source
from minibig.streaming.watermarks import BoundedOutOfOrderness, IdlenessDetector


class SourceReader:
    """One parallel instance of a source operator: ``poll`` -> ``(items, signal)``."""

    def __init__(self, name: str, source: Source, timestamp=None, max_out_of_orderness=0,
                 idle_timeout=None):
        self.name = name
        self.source = source
        self.timestamp = timestamp
        self.generator = BoundedOutOfOrderness(max_out_of_orderness)
        self.idle_timeout = idle_timeout
        self.ended = False
        self.idleness = None
        self.clock = None

    def open(self, clock, elapsed=None) -> None:
        """Start the source; ``clock`` gives processing time in seconds, ``elapsed`` (default
        ``clock``) the seconds its idleness counts: a monotonic clock, which no NTP step moves."""
        self.clock = clock
        self.source.open(clock)
        self.idleness = IdlenessDetector(self.idle_timeout, elapsed or clock)

    def poll(self, max_records: int):
        """Items ready now, and ``None``, ``IDLE`` or ``END``."""
        if self.ended:
            return [], None
        raw = self.source.poll(max_records)
        items = self._stamp(raw) if raw else []
        if raw:
            self.idleness.record_seen()
        if self.source.finished:
            self.ended = True
            items.append(math.inf)
            return items, END
        if not raw and self.idleness.became_idle():
            return items, IDLE
        return items, None

    def _stamp(self, raw: list) -> list:
        timestamp, delay, clock = self.timestamp, self.generator.delay, self.clock
        highest = self.generator.max_timestamp
        told = pending = highest - delay          # the channel's watermark, and the one to send
        items = []
        append = items.append
        record = None
        try:
            for record in raw:
                if timestamp is not None:
                    ts = timestamp(record)
                else:               # ingestion time never goes back (NTP steps the wall clock back)
                    ts = clock()
                    if ts < highest:
                        ts = highest
                if type(ts) is not int and (type(ts) is not float or ts - ts != 0.0):  # NaN, +-inf
                    ts = checked_timestamp(ts, self.name, record)
                if ts <= pending and pending > told:
                    append(pending)               # this record may be late for it: it goes first
                    told = pending
                append((ts, record))
                if ts > highest:
                    highest = ts
                    pending = ts - delay
            if pending > told:
                append(pending)
        except StreamError:
            raise
        except Exception as exc:
            raise StreamError(self.name, record,
                              "the timestamp function raised " + exception_text(exc)) from exc
        finally:
            self.generator.max_timestamp = highest
        return items

    def snapshot(self) -> dict:
        """Offset and watermark state, for a checkpoint."""
        return {"offset": self.source.offset(), "max_timestamp": self.generator.max_timestamp,
                "ended": self.ended}

    def restore(self, snapshot: dict) -> None:
        """Rewind to a ``snapshot()``."""
        self.source.seek(snapshot["offset"])
        self.generator.max_timestamp = snapshot["max_timestamp"]
        self.ended = snapshot["ended"]

    def close(self) -> None:
        """Close the source."""
        self.source.close()
