"""What flows on a channel between two operator instances.

A channel carries batches (plain lists) of *items*, in order:

- a **record** is the tuple ``(timestamp, value)``; after ``key_by`` the value
  is the pair ``(key, record)``;
- a **watermark** is a bare number (``int`` or ``float``; ``math.inf`` at the
  end of a finite stream). A watermark ``W`` promises that no more records
  with ``timestamp < W`` will follow on that channel.

Operators tell the two apart with ``type(item) is tuple``: cheaper than an
object per watermark, and a record is always a tuple.

Besides batches the runtime sends **signals** (``IDLE``, ``END``) one at a
time; operators never see them, the operator instance's watermark valve does
(see ``instance.py``).

A hash exchange right after a ``key_by`` carries the same items in columns
instead (``KeyedBatch``: records, then at most one watermark), which is
cheaper to pickle, to unpickle and to walk than a tuple per record.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from minibig.streaming.errors import StreamError


class Signal:
    """A control message on a channel: ``IDLE`` (no data for a while) or ``END``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return self.name

    def __reduce__(self):
        # A singleton: unpickling gives back the module's own object, so `is` works.
        return self.name


IDLE = Signal("IDLE")
END = Signal("END")


class KeyedBatch:
    """Keyed records in columns, then a watermark: the channel items
    ``(timestamps[i], (keys[i], values[i]))`` for each ``i``, followed by
    ``watermark`` unless it is None.

    What a ``key_by`` chained to a hash exchange sends (``Route.key_and_split``):
    three lists pickle and unpickle in about half the time of a list of
    nested tuples, and a window walks them without taking tuples apart.
    """

    __slots__ = ("timestamps", "keys", "values", "watermark")

    def __init__(self, timestamps=None, keys=None, values=None, watermark=None):
        self.timestamps = [] if timestamps is None else timestamps
        self.keys = [] if keys is None else keys
        self.values = [] if values is None else values
        self.watermark = watermark

    def __reduce__(self):
        return (KeyedBatch, (self.timestamps, self.keys, self.values, self.watermark))

    def __len__(self):
        return len(self.timestamps)

    def __eq__(self, other):
        return type(other) is KeyedBatch and self.items() == other.items()

    def __repr__(self):
        return f"KeyedBatch({self.items()!r})"

    def items(self) -> list:
        """The same batch as channel items (records, then the watermark if any)."""
        return keyed_items(self.timestamps, self.keys, self.values, self.watermark)


def keyed_items(timestamps: list, keys: list, values: list, watermark) -> list:
    """Columns of keyed records, then ``watermark`` unless None, as channel items."""
    items = list(zip(timestamps, zip(keys, values)))
    if watermark is not None:
        items.append(watermark)
    return items


def checked_timestamp(timestamp, operator: str, record):
    """``timestamp`` if it is a finite real number (not bool, not NaN), else a StreamError.

    An infinite event time would raise its source's watermark to ``+inf`` (every
    later record late) and fall in no window (``inf % size`` is NaN): a
    timestamp in Flink is a long, never infinite.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, Real):
        raise StreamError(operator, record,
                          f"timestamp must be a number, got {type(timestamp).__name__} {timestamp!r}")
    if timestamp != timestamp:
        raise StreamError(operator, record, "timestamp is NaN")
    if math.isinf(timestamp):
        raise StreamError(operator, record, f"timestamp must be finite, got {timestamp!r}")
    return timestamp


def max_timestamp(end):
    """The largest timestamp inside a window ``[start, end)`` (Flink's ``maxTimestamp``).

    A window's results carry it, so a downstream window of the same size puts
    them in the same window: ``end - 1`` for integer bounds (numpy's too, so a
    chained window's bounds stay integers), the float just below ``end``
    otherwise.

    >>> import numpy
    >>> max_timestamp(10), max_timestamp(numpy.int64(10)), max_timestamp(1.5) < 1.5
    (9, np.int64(9), True)
    """
    if type(end) is int or isinstance(end, Integral):     # the common int first: no ABC check
        return end - 1
    return math.nextafter(end, -math.inf)
