"""Checkpoint barriers and their alignment at one operator instance.

A ``Barrier(cid)`` travels on the channels like a signal, after everything
that belongs to checkpoint ``cid``. An instance with several input channels
*aligns* (Flink's aligned checkpoints, Chandy-Lamport): once the barrier has
come on a channel, what follows on that channel is held back until every
other channel has delivered the barrier too or has ended (an ended channel
sends nothing more, so it is aligned by definition). Then the instance's
state is exactly "everything before the barrier on every channel": the
runtime snapshots it, forwards the barrier, and replays what was held back.

State (``Aligner``): ``cid`` being aligned (None: not aligning), the set of
channels that delivered it, and the held-back items per channel.
"""

from __future__ import annotations

from collections import deque


class Barrier:
    """The marker of checkpoint ``cid`` on a channel."""

    __slots__ = ("cid",)

    def __init__(self, cid: int):
        self.cid = cid

    def __reduce__(self):
        return (Barrier, (self.cid,))

    def __repr__(self):
        return f"Barrier({self.cid})"


class Aligner:
    """Which channels of one instance are held back for the checkpoint being aligned."""

    def __init__(self, channels: int):
        self.channels = channels
        self.cid = None
        self.arrived: set = set()
        self.held: dict[int, deque] = {}

    def blocked(self, channel: int) -> bool:
        """The barrier came on ``channel`` and the others are not all there yet."""
        return self.cid is not None and channel in self.arrived

    def hold(self, channel: int, payload) -> None:
        """Keep ``payload`` until the alignment completes."""
        self.held.setdefault(channel, deque()).append(payload)

    def on_barrier(self, channel: int, cid: int) -> None:
        """The barrier of ``cid`` came on ``channel``."""
        if self.cid is not None and cid != self.cid:
            raise RuntimeError(f"barrier {cid} arrived while aligning {self.cid}")
        self.cid = cid
        self.arrived.add(channel)

    def aligned(self, ended: list[bool]) -> bool:
        """Every channel delivered the barrier or has ended."""
        return self.cid is not None and all(c in self.arrived or ended[c] for c in range(self.channels))

    def release(self) -> dict[int, deque]:
        """End the alignment; the held-back items, per channel, to deliver now."""
        held, self.held = self.held, {}
        self.cid = None
        self.arrived = set()
        return held
