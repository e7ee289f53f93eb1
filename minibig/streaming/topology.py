"""Channels and routes of a plan's parallel instances, shared by every runtime.

A consumer instance has one input channel per producing instance that can
reach it (a forward edge: one; hash or rebalance: all of them), numbered in
plan order: ``number_channels(plan)[node][instance]`` lists
``(input_index, (edge position, producer_index))`` per channel. A producing
instance gets one ``Route`` per consumer edge (``routes_of``); a route's
``channels[target]`` is the producer's channel number at that target. The
local executor and the cluster's tasks both build from here, so a record
takes the same channel in either.
"""

from __future__ import annotations

from minibig.streaming.plan import Plan
from minibig.streaming.routing import Route


def number_channels(plan: Plan) -> dict:
    """``channels[node][instance]`` = ``[(input_index, (edge position, producer_index)), ...]``."""
    channels = {}
    for node in plan.topological_order():
        per_instance = [[] for _ in range(node.parallelism)]
        for position, edge in enumerate(node.inputs):
            producers = plan.nodes[edge.node].parallelism
            for target in range(node.parallelism):
                sources = [target] if edge.partitioning == "forward" else range(producers)
                per_instance[target].extend((edge.input_index, (position, k)) for k in sources)
        channels[node.id] = per_instance
    return channels


def routes_of(plan: Plan, node, index: int, channels: dict) -> list[Route]:
    """The routes of instance ``index`` of ``node``: one per edge that reads it."""
    routes = []
    for consumer, position, edge in plan.consumers(node.id):
        at = [next((c for c, (_, origin) in enumerate(channels[consumer.id][t]) if origin == (position, index)), None)
              for t in range(consumer.parallelism)]
        routes.append(Route(consumer.id, consumer.name, edge.output, edge.partitioning,
                            consumer.parallelism, index, at))
    return routes
