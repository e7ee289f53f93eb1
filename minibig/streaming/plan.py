"""The logical plan: a DAG of operator descriptions, built by the API, run by an executor.

A ``Plan`` is plain data (picklable with cloudpickle, user functions
included), so the driver can ship it whole:

- ``Node(id, kind, name, inputs, parallelism, spec)``; ``kind`` is one of
  ``KINDS``; ``name`` (``"window-4"``) names the operator in errors and
  metrics; ``spec`` is a dict of what the kind needs (functions, assigner,
  options) and is read by ``physical.make_operator``.
- ``Edge(node, output, partitioning, input_index)``: where a node's input
  comes from: the upstream node, which of its outputs (``"main"``, or
  ``"late"`` for a window's side output), how records are spread over this
  node's instances, and which of this node's logical inputs it feeds (0,
  or 1 for a join's right side).
- ``partitioning``: ``"forward"`` (instance i to instance i; equal
  parallelism), ``"hash"`` (by the record's key, ``portable_hash(key) %
  parallelism``), ``"rebalance"`` (round robin; to a single instance when
  parallelism is 1). Watermarks and signals go to every instance.
- ``sinks``: ids of the ``collect`` nodes, whose values the driver reads;
  ``committing()``: every node with a committer in the driver (``collect``
  and ``sink`` nodes, whose ``spec["sink"]`` is a ``sinks.Sink``).

Narrow operators (map, flat_map, filter, key_by) take their input's
parallelism and a forward edge: they are chained to it, as in Flink, so a
keyed operator fed by one source instance has one input channel and its
lateness decisions do not depend on how channels interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minibig.core import serialization

KINDS = ("source", "map", "flat_map", "filter", "key_by", "union", "side_output", "window", "window_all", "count_window", "count_window_all",
         "stateful_map", "rolling_reduce", "rolling_aggregate", "keyed_process", "process", "join", "collect", "sink")
PARTITIONINGS = ("forward", "hash", "rebalance")


@dataclass(frozen=True)
class Edge:
    """An input of a node: ``node``'s ``output``, spread by ``partitioning``, into ``input_index``."""

    node: int
    output: str = "main"
    partitioning: str = "forward"
    input_index: int = 0


@dataclass(frozen=True)
class Node:
    """One operator of the plan (see the module docstring)."""

    id: int
    kind: str
    name: str
    inputs: tuple[Edge, ...]
    parallelism: int
    spec: dict = field(default_factory=dict, hash=False, compare=False)


class Plan:
    """Nodes in creation order (a topological order: inputs are made first)."""

    def __init__(self):
        self.nodes: dict[int, Node] = {}
        self.sinks: list[int] = []

    def add(self, kind: str, inputs: tuple[Edge, ...], parallelism: int, **spec) -> Node:
        """A new node; its inputs must already be in the plan."""
        if kind not in KINDS:
            raise ValueError(f"unknown operator kind {kind!r}")
        for edge in inputs:
            self._check_edge(edge, parallelism)
        node_id = len(self.nodes)
        node = Node(node_id, kind, f"{kind}-{node_id}", tuple(inputs), parallelism, spec)
        self.nodes[node_id] = node
        if kind == "collect":
            self.sinks.append(node_id)
        return node

    def _check_edge(self, edge: Edge, parallelism: int) -> None:
        if edge.node not in self.nodes:
            raise ValueError(f"input node {edge.node} is not in the plan")
        if edge.partitioning not in PARTITIONINGS:
            raise ValueError(f"unknown partitioning {edge.partitioning!r}")
        if edge.partitioning == "forward" and self.nodes[edge.node].parallelism != parallelism:
            raise ValueError("a forward edge needs equal parallelism on both ends")

    def committing(self) -> list[int]:
        """Ids of the nodes whose output the driver commits: ``collect`` and ``sink`` nodes."""
        return [n.id for n in self.nodes.values() if n.kind in ("collect", "sink")]

    def consumers(self, node_id: int) -> list[tuple[Node, int, Edge]]:
        """The nodes reading ``node_id``: ``(node, position of the edge in its inputs, edge)``."""
        return [(node, position, edge) for node in self.nodes.values()
                for position, edge in enumerate(node.inputs) if edge.node == node_id]

    def topological_order(self) -> list[Node]:
        """Every node after its inputs."""
        return list(self.nodes.values())

    def to_bytes(self) -> bytes:
        """The plan pickled, user functions by value with their file and lines (remote tracebacks name them)."""
        return serialization.dumps(self)

    @staticmethod
    def from_bytes(data: bytes) -> "Plan":
        """A plan ``to_bytes`` made."""
        return serialization.loads(data)

    def describe(self) -> str:
        """One line per node: name, parallelism, inputs."""
        lines = []
        for node in self.nodes.values():
            inputs = ", ".join(f"{self.nodes[e.node].name}.{e.output}/{e.partitioning}" for e in node.inputs)
            lines.append(f"{node.name} x{node.parallelism} <- [{inputs}]")
        return "\n".join(lines)
