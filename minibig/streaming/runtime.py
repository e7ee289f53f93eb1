"""The dataflow of one streaming task: instance ``i`` of every operator (slot sharing).

Policy. Task ``i`` of a job of parallelism ``P`` runs, for every plan node
with more than ``i`` instances, its instance ``i``: a source split, the
chained maps after it, its keyed window instance, the sink (Flink's slot
sharing: one task per slot, not one per operator instance). A route's target
instance ``t`` therefore lives in task ``t``: items for this task go on the
``local`` FIFO, items for task ``t`` are handed to ``remote(t, item)`` (the
task's sockets, see ``task.py``); an item is ``(node, channel, payload)``
and a payload is a batch (a list, or a ``KeyedBatch`` from a key_by into a hash
exchange), a ``Signal`` or a ``Barrier``.

Checkpoints. ``trigger(cid)``: each source reader snapshots its offset and
sends ``Barrier(cid)`` after what it has emitted; an operator instance
snapshots once the barrier is aligned on its channels (``barriers.py``),
then forwards it. An instance (or reader) that has finished has no barrier
to wait for: its final state is its snapshot for every later checkpoint.
When every reader and instance of the task has its part for ``cid``, the
task reports ``ack`` with the parts. A sink (``collect``, files, Redis)
hands what it made to the driver tagged with the *epoch* it belongs to (the
checkpoint that follows it) before it snapshots, so its state is empty at a
checkpoint and the driver commits an epoch only when that checkpoint
completes (a two-phase commit, see ``sinks.py``). Counters travel in the parts, so a
restored job's metrics are the failure-free run's.
"""

from __future__ import annotations

import math
from collections import deque
from operator import countOf

from minibig.streaming.barriers import Aligner, Barrier
from minibig.streaming.elements import END, KeyedBatch, Signal
from minibig.streaming.instance import OperatorInstance
from minibig.streaming.operators import OperatorContext, SinkOperator
from minibig.streaming.physical import job_clocks, make_operator, make_source_reader
from minibig.streaming.topology import number_channels, routes_of



class TaskDataflow:
    """Instance ``index`` of every node of ``plan`` (see the module docstring).

    ``remote(task, item)`` sends an item to another task; ``report(kind,
    **fields)`` sends a control message to the driver.
    """

    def __init__(self, plan, index: int, remote, report, clock=None, batch_size: int = 1024,
                 on_snapshot=None):
        self.plan = plan
        self.index = index
        self.remote = remote
        self.report = report
        self.on_snapshot = on_snapshot or (lambda cid, parts: report("ack", cid=cid, parts=parts))
        self.clock, self.elapsed = job_clocks(clock)
        self.batch_size = batch_size
        self.readers: dict[int, object] = {}
        self.instances: dict[int, OperatorInstance] = {}
        self.aligners: dict[int, Aligner] = {}
        self.routes: dict[int, list] = {}
        self.local: deque = deque()
        self.parts: dict[int, dict] = {}        # cid -> {part name: snapshot}
        self.snapshotted: dict[str, int] = {}   # part name -> last cid it has a part for
        self.acked = 0                          # last checkpoint acknowledged (or restored)
        self.pending = None                     # the checkpoint being taken, if any
        self.offsets: dict[int, dict] = {}      # cid -> {reader node: source offset}
        # Live metrics (``live.py``): records per node and the last watermark a node received;
        # kept apart from the operators' counters, which checkpoints restore exactly.
        self.records_in: dict[int, int] = {}
        self.records_out: dict[int, int] = {}
        self.last_watermark: dict[int, object] = {}
        self.consumed: dict[int, set] = {}      # node -> the outputs some route reads
        self.keying: dict[int, object] = {}     # key_by node -> the hash route it keys and routes in one pass
        self._build()

    def _build(self) -> None:
        channels = number_channels(self.plan)
        i = self.index
        for node in self.plan.topological_order():
            if node.parallelism <= i:
                continue
            if node.kind == "source":
                self.readers[node.id] = make_source_reader(node, i)
            else:
                inputs = [inp for inp, _ in channels[node.id][i]]
                self.instances[node.id] = OperatorInstance(
                    make_operator(node), inputs, OperatorContext(node.name, i, node.parallelism, self.clock))
                self.aligners[node.id] = Aligner(len(inputs))
            self.routes[node.id] = routes_of(self.plan, node, i, channels)
            self.records_in[node.id] = self.records_out[node.id] = 0
            self.consumed[node.id] = {route.output for route in self.routes[node.id]}
            if self._keys_into_exchange(node):
                self.keying[node.id] = self.routes[node.id][0]

    def _keys_into_exchange(self, node) -> bool:
        """A key_by instance whose one consumer is a hash exchange (to one instance too: the
        consumer still gets columns, cheaper to walk than a tuple per record)."""
        routes = self.routes[node.id]
        return (node.kind == "key_by" and self.instances[node.id].single and len(routes) == 1
                and routes[0].partitioning == "hash")

    # -- lifecycle --------------------------------------------------------------------

    def open(self, restore: dict | None = None) -> None:
        """Open readers and instances, then load a checkpoint's parts for this task."""
        for reader in self.readers.values():
            reader.open(self.clock, self.elapsed)
        for instance in self.instances.values():
            instance.open()
        if restore:
            cid, parts = restore["cid"], restore["parts"]
            for node_id, reader in self.readers.items():
                reader.restore(parts[f"src{node_id}"])
            for node_id, instance in self.instances.items():
                part = parts[f"op{node_id}"]
                instance.restore(part["instance"])
                instance.context.counters.clear()
                instance.context.counters.update(part["counters"])
            self.acked = cid
            self.snapshotted = {name: cid for name in self._part_names()}

    def close(self) -> None:
        """Close readers and instances."""
        for reader in self.readers.values():
            reader.close()
        for instance in self.instances.values():
            instance.close()

    @property
    def finished(self) -> bool:
        """Every reader ended, every instance saw END on all channels, nothing queued here."""
        return (not self.local and all(r.ended for r in self.readers.values())
                and all(i.valve.all_ended for i in self.instances.values()))

    def _part_names(self) -> list[str]:
        return [f"src{n}" for n in self.readers] + [f"op{n}" for n in self.instances]

    # -- moving data ------------------------------------------------------------------

    def poll_sources(self) -> bool:
        """Each live reader polls once and its output flows through this task; True if any came."""
        progressed = False
        for node_id, reader in self.readers.items():
            if reader.ended:
                continue
            items, signal = reader.poll(self.batch_size)
            if items or signal is not None:
                progressed = True
                self._emit(node_id, {"main": items} if items else {}, signal)
                self.deliver_local()
        return progressed

    def drain_sources(self) -> None:
        """End every reader now (``ssc.run(timeout=...)``): +inf fires what is left."""
        for node_id, reader in self.readers.items():
            if not reader.ended:
                reader.ended = True
                self._emit(node_id, {"main": [math.inf]}, END)
        self.deliver_local()

    def tick(self) -> None:
        """Processing time: every instance hears the clock."""
        now = self.clock()
        for node_id, instance in self.instances.items():
            outputs = instance.on_processing_time(now)
            if outputs:
                self._emit(node_id, outputs, None)
        self.deliver_local()

    def arrive(self, node_id: int, channel: int, payload) -> None:
        """An item from another task (or this one): deliver it, then what it caused here."""
        self._arrive(node_id, channel, payload)
        self.deliver_local()

    def deliver_local(self) -> None:
        """Deliver the local FIFO until it is empty."""
        local = self.local
        while local:
            self._arrive(*local.popleft())

    def _emit(self, node_id: int, outputs: dict, control) -> None:
        for tag, items in outputs.items():
            if tag in self.consumed[node_id]:         # a side output nobody reads is not sent
                self.records_out[node_id] += countOf(map(type, items), tuple)
        for route in self.routes[node_id]:
            items = outputs.get(route.output)
            if items:
                for target, part in route.split(items):
                    self._send(route.node, target, route.channels[target], part)
            if control is not None:
                for target in route.targets():
                    self._send(route.node, target, route.channels[target], control)

    def _send(self, node_id, target, channel, payload) -> None:
        if target == self.index:
            self.local.append((node_id, channel, payload))
        else:
            self.remote(target, (node_id, channel, payload))

    def _arrive(self, node_id: int, channel: int, payload) -> None:
        aligner = self.aligners[node_id]
        if aligner.blocked(channel):
            aligner.hold(channel, payload)
            return
        instance = self.instances[node_id]
        if type(payload) is KeyedBatch:
            self.records_in[node_id] += len(payload.timestamps)
            if payload.watermark is not None:
                self.last_watermark[node_id] = payload.watermark
            outputs = instance.receive_keyed(channel, payload)
            if outputs:
                self._emit(node_id, outputs, None)
            self._flush_sink(node_id, boundary=False)
        elif isinstance(payload, Barrier):
            aligner.on_barrier(channel, payload.cid)
            self.pending = max(self.pending or 0, payload.cid)
            self._maybe_aligned(node_id)
        elif isinstance(payload, Signal):
            outputs, forward = instance.signal(channel, payload)
            if outputs or forward is not None:
                self._emit(node_id, outputs, forward)
            if payload is END:
                self._maybe_aligned(node_id)
                if instance.valve.all_ended:
                    self._flush_sink(node_id, boundary=True)
                    self._snapshot_finished()
        else:
            records = countOf(map(type, payload), tuple)
            self.records_in[node_id] += records
            if payload and type(payload[-1]) is not tuple:
                self.last_watermark[node_id] = payload[-1]
            if node_id in self.keying and self._key_and_route(node_id, instance, payload, records):
                return
            outputs = instance.receive(channel, payload)
            if outputs:
                self._emit(node_id, outputs, None)
            self._flush_sink(node_id, boundary=False)

    def _key_and_route(self, node_id: int, instance: OperatorInstance, payload: list, records: int) -> bool:
        """A key_by's batch keyed and routed in one pass (``Route.key_and_split``); False:
        a record failed, and the usual path (key_by, then the route) must name it."""
        route = self.keying[node_id]
        parts = route.key_and_split(payload, instance.operator.f)
        if parts is None:
            return False
        self.records_out[node_id] += records
        for target, part in parts:
            self._send(route.node, target, route.channels[target], part)
        return True

    def _maybe_aligned(self, node_id: int) -> None:
        aligner = self.aligners[node_id]
        instance = self.instances[node_id]
        if not aligner.aligned(instance.valve.ended):
            return
        cid = aligner.cid
        self._snapshot_instance(node_id, cid)
        if not instance.valve.all_ended:
            self._emit(node_id, {}, Barrier(cid))
        for channel, held in aligner.release().items():
            for payload in held:
                self._arrive(node_id, channel, payload)

    # -- sinks ------------------------------------------------------------------------

    def _flush_sink(self, node_id: int, boundary: bool) -> None:
        operator = self.instances[node_id].operator
        if not isinstance(operator, SinkOperator):
            return
        values = operator.take(boundary)
        if values:
            epoch = self.snapshotted.get(f"op{node_id}", 0) + 1
            self.report("results", sink=node_id, epoch=epoch, values=values)

    # -- checkpoints ------------------------------------------------------------------

    def trigger(self, cid: int) -> None:
        """Start checkpoint ``cid``: readers snapshot and send the barrier; finished parts snapshot."""
        if cid <= self.acked:
            return
        self.pending = max(self.pending or 0, cid)
        for node_id, reader in self.readers.items():
            self._put_part(cid, f"src{node_id}", reader.snapshot())
            self.offsets.setdefault(cid, {})[node_id] = reader.source.offset()
            if not reader.ended:
                self._emit(node_id, {}, Barrier(cid))
        self._snapshot_finished()
        self.deliver_local()

    def commit(self, cid: int) -> None:
        """Checkpoint ``cid`` completed everywhere: sources may forget what came before it."""
        for done in [c for c in self.offsets if c <= cid]:
            for node_id, offset in self.offsets.pop(done).items():
                if done == cid:
                    self.readers[node_id].source.commit(offset)

    def _snapshot_finished(self) -> None:
        cid = self.pending                # the last part taken clears it: keep it for the loop
        if cid is None:
            return
        for node_id, instance in self.instances.items():
            if instance.valve.all_ended and self.snapshotted.get(f"op{node_id}", 0) < cid:
                self._snapshot_instance(node_id, cid)

    def _snapshot_instance(self, node_id: int, cid: int) -> None:
        self._flush_sink(node_id, boundary=True)
        instance = self.instances[node_id]
        self._put_part(cid, f"op{node_id}", self.instance_part(instance))

    @staticmethod
    def instance_part(instance: OperatorInstance) -> dict:
        """What a checkpoint keeps of an instance: its snapshot and its counters."""
        return {"instance": instance.snapshot(), "counters": dict(instance.context.counters)}

    def _put_part(self, cid: int, name: str, part) -> None:
        self.snapshotted[name] = cid
        parts = self.parts.setdefault(cid, {})
        parts[name] = part
        if len(parts) == len(self.readers) + len(self.instances):
            del self.parts[cid]
            self.acked = cid
            if self.pending == cid:
                self.pending = None
            self.on_snapshot(cid, parts)

    def final_parts(self) -> dict:
        """Every part as it stands (the task has finished): its snapshot for any later checkpoint."""
        parts = {f"src{n}": r.snapshot() for n, r in self.readers.items()}
        parts.update({f"op{n}": self.instance_part(i) for n, i in self.instances.items()})
        return parts

    def watermark(self, node_id: int):
        """The watermark instance ``node_id`` of this task is at (None before the first)."""
        if node_id in self.readers:
            reader = self.readers[node_id]
            return math.inf if reader.ended else reader.generator.current
        instance = self.instances[node_id]
        if not instance.single:
            return instance.valve.combined
        return self.last_watermark.get(node_id)

    def remote_nodes(self) -> set[int]:
        """The nodes of this task that send to other tasks (a full channel holds them back)."""
        return {node_id for node_id, routes in self.routes.items()
                if any(t != self.index for route in routes for t in route.targets())}

    def counters(self) -> dict:
        """``{operator name: counters}`` of this task's instances."""
        return {self.plan.nodes[n].name: dict(i.context.counters) for n, i in self.instances.items()}
