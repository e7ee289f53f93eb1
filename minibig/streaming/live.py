"""Live metrics of one running streaming task: what ``minibig status`` shows per operator.

A task samples its dataflow about once a second (``LiveMetrics.sample``) and
puts the result on its ``TaskContext.live``; the worker's heartbeat carries
it to the master, which keeps the latest per task and sums the instances of
each operator (``minibig.cluster.live_streams``). One sample:

    {"app", "name", "task", "gen", "updated",
     "operators": [{"id", "name", "parallelism", "records_in", "records_out",
                    "rate_in", "watermark", "backpressure"}],
     "last_checkpoint": {"id", "at", "duration_s", "bytes"} or None}

``rate_in`` is records/s over the last ``RATE_WINDOW`` seconds;
``watermark`` is the instance's event time (None before the first one, and
+inf is sent as None after the end); ``backpressure`` is the share of the
time since the last sample the task spent with a message to another task
refused by a full channel, for the operators that send to other tasks (the
others never wait on a channel). These are monitoring figures: a restore
starts them again, unlike the job's counters, which checkpoints keep.
"""

from __future__ import annotations

import math
import time
from collections import deque

PUBLISH_EVERY = 1.0        # seconds between samples
RATE_WINDOW = 5.0          # seconds rate_in is measured over


class LiveMetrics:
    """Samples of one task's dataflow ``flow`` (see the module docstring)."""

    def __init__(self, flow, app: str, name: str, gen: int):
        self.flow = flow
        self.head = {"app": app, "name": name, "task": flow.index, "gen": gen}
        self.history: deque = deque()            # (monotonic time, {node: records_in})
        self.remote = flow.remote_nodes()
        self.blocked_total = 0.0                 # seconds with a refused message, so far
        self.blocked_since = None
        self.last_blocked = 0.0
        self.last_time = time.monotonic()
        self.last_checkpoint = None

    def blocked(self, now: float) -> None:
        """A message to another task was refused: the task waits from ``now``."""
        if self.blocked_since is None:
            self.blocked_since = now

    def unblocked(self, now: float) -> None:
        """Every refused message has gone."""
        if self.blocked_since is not None:
            self.blocked_total += now - self.blocked_since
            self.blocked_since = None

    def sample(self, now: float) -> dict:
        """The task's metrics now (``now``: monotonic seconds)."""
        flow = self.flow
        counts = dict(flow.records_in)
        for node_id, reader_count in flow.records_out.items():
            if node_id in flow.readers:
                counts[node_id] = reader_count          # a source's input is what it read
        self.history.append((now, counts))
        while len(self.history) > 2 and now - self.history[1][0] >= RATE_WINDOW:
            self.history.popleft()
        then, old = self.history[0]
        span = now - then
        blocked = self.blocked_total + (now - self.blocked_since if self.blocked_since else 0.0)
        share = min(1.0, (blocked - self.last_blocked) / max(now - self.last_time, 1e-9))
        self.last_blocked, self.last_time = blocked, now
        operators = []
        for node_id in list(flow.readers) + list(flow.instances):
            node = flow.plan.nodes[node_id]
            operators.append({
                "id": node_id, "name": node.name, "parallelism": node.parallelism,
                "records_in": counts[node_id], "records_out": flow.records_out[node_id],
                "rate_in": round((counts[node_id] - old.get(node_id, 0)) / span, 1) if span > 0 else 0.0,
                "watermark": finite(flow.watermark(node_id)),
                "backpressure": round(share, 3) if node_id in self.remote else 0.0})
        return {**self.head, "updated": time.time(), "operators": operators,
                "last_checkpoint": self.last_checkpoint}


def finite(value):
    """``value`` if it is a finite number, else None (JSON has no infinities).

    >>> finite(3.5), finite(-math.inf), finite(None)
    (3.5, None, None)
    """
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    return None
