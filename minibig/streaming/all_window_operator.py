"""Non-keyed windows (Flink's ``windowAll``, its ``AllWindowedStream``): every record of the
stream in the same windows, run by one instance.

An ``AllWindowOperator`` is a ``WindowOperator`` (``window_operator.py``: the same
assigners, watermarks, lateness, firing and state) whose records all share one key,
``None``: it gives each record that key as it comes, and takes it off what it emits
(``(start, end, value)`` results, late records as they came) and off the record an error
names. The plan gives it parallelism 1 and a rebalance edge, so every record and every
input channel's watermark reach its single instance, as in Flink (an all-window
operator's parallelism is always 1).
"""

from __future__ import annotations

from minibig.streaming.errors import StreamError
from minibig.streaming.operators import Operator
from minibig.streaming.window_operator import WindowOperator


class AllWindowOperator(WindowOperator):
    """Windows over the whole stream; ``main`` is ``(start, end, value)``, ``late`` the records."""

    def process_batch(self, items, input_index=0):
        return self._unkeyed(super().process_batch, keyed_by_none(items), input_index)

    def process_keyed(self, timestamps, keys, values, watermark, input_index=0):
        # a keyed stream's (key, record) pairs are this operator's records: as a batch
        return Operator.process_keyed(self, timestamps, keys, values, watermark, input_index)

    def on_processing_time(self, now):
        return self._unkeyed(super().on_processing_time, now)

    def end_input(self):
        return self._unkeyed(super().end_input)

    def _unkeyed(self, step, *args) -> dict:
        outputs = unkeyed_step(step, *args)
        main, late = outputs.get("main"), outputs.get("late")
        if main:
            outputs["main"] = [(item[0], item[1][1:]) if type(item) is tuple else item for item in main]
        if late:
            outputs["late"] = unkeyed_records(late)
        return outputs


def keyed_by_none(items: list) -> list:
    """A batch's records ``(timestamp, value)`` as a keyed operator's, ``(timestamp, (None,
    value))``; its watermarks as they are."""
    return [(item[0], (None, item[1])) if type(item) is tuple else item for item in items]


def unkeyed_records(items: list) -> list:
    """``keyed_by_none`` undone: records ``(timestamp, (None, value))`` back to ``(timestamp,
    value)``; watermarks as they are."""
    return [(item[0], item[1][1]) if type(item) is tuple else item for item in items]


def unkeyed_step(step, *args) -> dict:
    """``step(*args)``'s outputs; a ``StreamError`` it raises names its record without the key."""
    try:
        return step(*args)
    except StreamError as exc:
        raise unkeyed_error(exc) from exc.__cause__


def unkeyed_error(exc: StreamError) -> StreamError:
    """``exc`` naming its record without the operator's one key, ``None`` (an all-window
    operator's, ``window_all`` or ``count_window_all``), with its traceback."""
    return StreamError(exc.operator, _without_key(exc.record), exc.problem).with_traceback(exc.__traceback__)


def _without_key(record):
    """An error's record without the key: ``(timestamp, value)`` for a record, ``(start, end)``
    for a time window that failed as it fired, its records for a count window."""
    if type(record) is not tuple:
        return record
    if len(record) == 3 and record[0] is None:
        return record[1:]                                       # (None, start, end)
    if len(record) == 2 and record[0] is None:
        return record[1]                                        # (None, records)
    if len(record) == 2 and type(record[1]) is tuple and len(record[1]) == 2:
        return record[0], record[1][1]                          # (timestamp, (None, value))
    return record
