"""One parallel instance of an operator, as a runtime drives it.

An ``OperatorInstance`` owns an operator and the ``WatermarkValve`` of its
input channels. A runtime hands it what arrives on a channel:

    receive(channel, items) -> {tag: items}           a batch of records and watermarks
    receive_keyed(channel, KeyedBatch) -> {tag: items}   the same, in columns
    signal(channel, IDLE | END) -> ({tag: items}, signal to forward or None)

and routes the outputs. Channel watermarks are replaced by the combined
watermark before the operator sees them (dropped when it did not rise); with
a single channel the batch goes through untouched. When every channel is
idle the instance forwards ``IDLE`` (after the watermark that flushed, see
``watermarks.py``); when every channel has ended the
operator gets the ``+inf`` watermark and ``end_input()``, and the instance
forwards ``END``.

A runtime takes a checkpoint of an instance (``snapshot``/``restore``) when
the barrier has arrived on every channel, so nothing is in flight.
"""

from __future__ import annotations

from operator import countOf

from minibig.streaming.elements import END, IDLE, KeyedBatch, Signal
from minibig.streaming.operators import Operator, OperatorContext
from minibig.streaming.watermarks import WatermarkValve


class OperatorInstance:
    """An operator plus its input valve; ``channel_inputs[c]`` is channel c's logical input."""

    def __init__(self, operator: Operator, channel_inputs: list[int], context: OperatorContext):
        self.operator = operator
        self.channel_inputs = channel_inputs
        self.valve = WatermarkValve(len(channel_inputs))
        self.single = len(channel_inputs) == 1
        self.context = context

    def open(self) -> None:
        """Open the operator."""
        self.operator.open(self.context)

    def receive(self, channel: int, items: list) -> dict:
        """A batch from ``channel``: the operator's outputs."""
        if self.single:
            return self.operator.process_batch(items, self.channel_inputs[0])
        valve = self.valve
        valve.on_data(channel)
        records = countOf(map(type, items), tuple)
        if records == len(items):
            return self.operator.process_batch(items, self.channel_inputs[channel])
        if records == len(items) - 1 and type(items[-1]) is not tuple:
            # The common batch (sources send a watermark at its end only): records as they
            # are, then the combined watermark if this one raised it.
            watermark = valve.on_watermark(channel, items[-1])
            batch = items[:-1] if watermark is None else [*items[:-1], watermark]
            return self.operator.process_batch(batch, self.channel_inputs[channel])
        combined = []
        append = combined.append
        for item in items:
            if type(item) is tuple:
                append(item)
            else:
                watermark = valve.on_watermark(channel, item)
                if watermark is not None:
                    append(watermark)
        return self.operator.process_batch(combined, self.channel_inputs[channel])

    def receive_keyed(self, channel: int, batch: KeyedBatch) -> dict:
        """A ``KeyedBatch`` from ``channel``: the operator's outputs, as for the same items."""
        watermark = batch.watermark
        if not self.single:
            self.valve.on_data(channel)
            if watermark is not None:
                watermark = self.valve.on_watermark(channel, watermark)
        return self.operator.process_keyed(batch.timestamps, batch.keys, batch.values, watermark,
                                           self.channel_inputs[channel])

    def signal(self, channel: int, signal: Signal):
        """``IDLE`` or ``END`` on ``channel``: outputs, and the signal to pass on (or None)."""
        if signal is IDLE:
            outputs = self._watermark(self.valve.on_idle(channel))
            return outputs, (IDLE if self.valve.all_quiet else None)
        if signal is END:
            outputs = self._watermark(self.valve.on_end(channel))
            if not self.valve.all_ended:
                return outputs, None
            return merge_outputs(outputs, self.operator.end_input()), END
        raise ValueError(f"unknown signal {signal!r}")

    def on_processing_time(self, now) -> dict:
        """The clock reached ``now``."""
        return self.operator.on_processing_time(now)

    def _watermark(self, watermark) -> dict:
        if watermark is None:
            return {}
        return self.operator.process_batch([watermark], 0)

    def snapshot(self) -> dict:
        """Operator state and valve state."""
        return {"operator": self.operator.snapshot(), "valve": self.valve.state()}

    def restore(self, snapshot: dict) -> None:
        """Back to a ``snapshot()``."""
        self.operator.restore(snapshot["operator"])
        self.valve.load(snapshot["valve"])

    def close(self) -> None:
        """Close the operator."""
        self.operator.close()


def merge_outputs(first: dict, second: dict) -> dict:
    """Both output dicts, ``first``'s items before ``second``'s for each tag."""
    merged = {tag: list(items) for tag, items in first.items()}
    for tag, items in second.items():
        merged.setdefault(tag, []).extend(items)
    return merged
