"""A streaming job's tasks run together in one process: the exchange without sockets.

``run_tasks(plan, tasks)`` builds task ``i``'s ``TaskDataflow`` for each
``i < tasks`` and drives them in turn until all have finished: each takes
the data messages the others addressed to it, encoded and decoded as the
workers' are (``wire.pack_data``), then polls its sources. No checkpoints,
no driver: the sinks' values are collected as they are reported. It is how
``bench/streaming.py --in-process`` measures what crossing between tasks
costs apart from a shared machine's scheduling, and how tests check the
cross-task path against plain Python.
"""

from __future__ import annotations

import collections

from minibig.streaming import wire
from minibig.core.gcpolicy import young_threshold
from minibig.streaming.runtime import TaskDataflow

MAX_ROUNDS = 10_000_000          # a finite job ends long before; an endless one is an error


def run_tasks(plan, tasks: int, batch_size: int = 1024, one_pass_keying: bool = True):
    """(every value the sinks reported, the finished dataflows) of ``plan`` run as ``tasks`` tasks.

    ``one_pass_keying=False`` sends key_by batches through the operator and
    then the route, the path a failing record takes (for comparisons)."""
    boxes = [collections.deque() for _ in range(tasks)]
    results = []

    def report(kind, **fields):
        if kind == "results":
            results.extend(fields["values"])

    flows = []
    for index in range(tasks):
        flow = TaskDataflow(plan, index, lambda target, item: boxes[target].append(item), report,
                            batch_size=batch_size, on_snapshot=lambda cid, parts: None)
        if not one_pass_keying:
            flow.keying.clear()
        flow.open(None)
        flows.append(flow)
    with young_threshold():                      # as the workers' tasks run
        for _ in range(MAX_ROUNDS):
            if all(flow.finished for flow in flows) and not any(boxes):
                return results, flows
            for flow, box in zip(flows, boxes):
                if box:
                    items = wire.unpack_data(wire.pack_data(list(box)))
                    box.clear()
                    for node, channel, payload in items:
                        flow.arrive(node, channel, payload)
                flow.poll_sources()
    raise RuntimeError(f"{tasks} in-process tasks did not finish within {MAX_ROUNDS} rounds")
