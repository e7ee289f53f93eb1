"""Runs a plan in one process: every parallel instance, record by record.

Policy. The executor builds, per plan node, its parallel instances: a
``SourceReader`` per source instance, an ``OperatorInstance`` per other
instance, and for every producing instance one ``Route`` per consumer edge
(channels and routes as ``topology.py`` numbers them).

It then runs *rounds* until every source has ended: each source instance in
plan order polls up to ``batch_size`` raw records, and what it produced is
delivered through the graph before the next source polls: a FIFO queue of
``(node, instance, channel, items or signal)`` deliveries, so every channel
sees its items in the order they were made. After each round the
processing-time clock is read and processing-time windows get it. With
every source in plan order and every queue FIFO, a finite plan gives the
same output on every run.

Between rounds nothing is in flight, so ``checkpoint()`` there is a
consistent cut (what aligned barriers give a distributed runtime):
source offsets and every instance's state; ``restore()`` puts a fresh
executor of the same plan back at that cut.

``run(timeout=...)`` stops waiting on sources that never end (a tailed
file, a socket) after ``timeout`` seconds: they are ended then, the ``+inf``
watermark fires what is left ("stop with drain"). File and Redis sinks
commit once, when the run ends (there are no checkpoints here).
"""

from __future__ import annotations

import time
from collections import deque

from minibig.streaming.elements import END, Signal
from minibig.core.gcpolicy import young_threshold
from minibig.streaming.instance import OperatorInstance
from minibig.streaming.metrics import JobMetrics
from minibig.streaming.operators import OperatorContext
from minibig.streaming.physical import job_clocks, make_committer, make_operator, make_source_reader
from minibig.streaming.plan import Plan
from minibig.streaming.routing import Route
from minibig.streaming.topology import number_channels, routes_of

_IDLE_SLEEP = 0.001


class LocalExecutor:
    """Every instance of ``plan`` in this process (see the module docstring)."""

    def __init__(self, plan: Plan, clock=None, batch_size: int = 1024):
        self.plan = plan
        self.clock, self.elapsed = job_clocks(clock)
        self.batch_size = batch_size
        self.readers: dict[int, list] = {}
        self.instances: dict[int, list[OperatorInstance]] = {}
        self.routes: dict[tuple[int, int], list[Route]] = {}
        self.queue: deque = deque()
        self.committers = {n: make_committer(plan.nodes[n]) for n in plan.committing()
                           if plan.nodes[n].kind == "sink"}
        self.checkpoints = 0       # completed, as the cluster's executor counts them: a run here takes none
        self._build()

    # -- building ---------------------------------------------------------------------

    def _build(self) -> None:
        channels = number_channels(self.plan)
        for node in self.plan.topological_order():
            if node.kind == "source":
                self.readers[node.id] = [make_source_reader(node, i) for i in range(node.parallelism)]
            else:
                self.instances[node.id] = [
                    OperatorInstance(make_operator(node), [inp for inp, _ in channels[node.id][i]],
                                     OperatorContext(node.name, i, node.parallelism, self.clock))
                    for i in range(node.parallelism)]
        for node in self.plan.topological_order():
            for index in range(node.parallelism):
                self.routes[(node.id, index)] = routes_of(self.plan, node, index, channels)

    # -- running ----------------------------------------------------------------------

    def open(self) -> None:
        """Open every committer, reader and instance."""
        for committer in self.committers.values():
            committer.open()
        for readers in self.readers.values():
            for reader in readers:
                reader.open(self.clock, self.elapsed)
        for instances in self.instances.values():
            for instance in instances:
                instance.open()

    def run(self, timeout: float | None = None, max_rounds: int | None = None) -> None:
        """Rounds until every source ends (or ``timeout``: drain; ``max_rounds``: just stop)."""
        # Seconds elapsed, as the cluster's executor counts them: never the processing-time clock,
        # a wall clock that NTP may step back (the run would go on for the step)
        deadline = None if timeout is None else time.monotonic() + timeout
        rounds = 0
        with young_threshold():                  # see gcpolicy.py
            while not self.finished:
                if max_rounds is not None and rounds >= max_rounds:
                    return
                progressed = self.run_round()
                rounds += 1
                if not progressed:
                    if deadline is not None and time.monotonic() >= deadline:
                        self.drain()
                        break
                    time.sleep(_IDLE_SLEEP)
        self.commit_sinks()

    def commit_sinks(self) -> None:
        """The stream ended: every file or Redis sink commits what it made, as one epoch."""
        for node_id, committer in self.committers.items():
            for instance in self.instances[node_id]:
                values = instance.operator.take(boundary=True)
                if values:
                    committer.commit(1, values)
            committer.finish()

    @property
    def finished(self) -> bool:
        """Every source instance has ended."""
        return all(r.ended for readers in self.readers.values() for r in readers)

    def run_round(self) -> bool:
        """Each source polls once, its output flows through; True if anything came."""
        progressed = False
        for node_id, readers in self.readers.items():
            for index, reader in enumerate(readers):
                items, signal = reader.poll(self.batch_size)
                if items or signal is not None:
                    progressed = True
                    self._emit((node_id, index), {"main": items} if items else {}, signal)
                    self._deliver_all()
        self._tick_processing_time()
        return progressed

    def drain(self) -> None:
        """End every source now: ``+inf`` watermarks fire all windows."""
        for node_id, readers in self.readers.items():
            for index, reader in enumerate(readers):
                if not reader.ended:
                    reader.ended = True
                    self._emit((node_id, index), {"main": [float("inf")]}, END)
                    self._deliver_all()

    def _tick_processing_time(self) -> None:
        now = self.clock()
        for node_id, instances in self.instances.items():
            for index, instance in enumerate(instances):
                outputs = instance.on_processing_time(now)
                if outputs:
                    self._emit((node_id, index), outputs, None)
        self._deliver_all()

    def _emit(self, producer: tuple[int, int], outputs: dict, signal: Signal | None) -> None:
        for route in self.routes[producer]:
            items = outputs.get(route.output)
            if items:
                for target, part in route.split(items):
                    self.queue.append((route.node, target, route.channels[target], part))
            if signal is not None:
                for target in route.targets():
                    self.queue.append((route.node, target, route.channels[target], signal))

    def _deliver_all(self) -> None:
        queue = self.queue
        while queue:
            node_id, index, channel, payload = queue.popleft()
            instance = self.instances[node_id][index]
            if isinstance(payload, Signal):
                outputs, forward = instance.signal(channel, payload)
            else:
                outputs, forward = instance.receive(channel, payload), None
            if outputs or forward is not None:
                self._emit((node_id, index), outputs, forward)

    def close(self) -> None:
        """Close every reader and instance."""
        for readers in self.readers.values():
            for reader in readers:
                reader.close()
        for instances in self.instances.values():
            for instance in instances:
                instance.close()

    # -- results and checkpoints ------------------------------------------------------

    def collected(self, sink_id: int) -> list:
        """The values a collect node received, instance by instance."""
        return [v for instance in self.instances[sink_id] for v in instance.operator.values]

    def metrics(self) -> JobMetrics:
        """Counters of every instance, per operator."""
        return JobMetrics.from_instances(
            (self.plan.nodes[node_id].name, instance.context.counters)
            for node_id, instances in self.instances.items() for instance in instances)

    def checkpoint(self) -> dict:
        """A consistent cut (call between rounds): source offsets and instance states."""
        assert not self.queue, "a checkpoint needs nothing in flight"
        return {"readers": {n: [r.snapshot() for r in rs] for n, rs in self.readers.items()},
                "instances": {n: [i.snapshot() for i in insts] for n, insts in self.instances.items()}}

    def restore(self, checkpoint: dict) -> None:
        """Back to ``checkpoint()`` (after ``open``): sources rewind, states reload."""
        for node_id, snapshots in checkpoint["readers"].items():
            for reader, snapshot in zip(self.readers[node_id], snapshots):
                reader.restore(snapshot)
        for node_id, snapshots in checkpoint["instances"].items():
            for instance, snapshot in zip(self.instances[node_id], snapshots):
                instance.restore(snapshot)
