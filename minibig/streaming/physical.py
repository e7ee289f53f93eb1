"""From a plan node to the objects that run it: one per parallel instance.

``make_operator(node)`` builds the physical operator of a non-source node;
``make_source_reader(node, index)`` the reader of a source instance;
``make_committer(node)`` the driver's half of a sink; ``job_clocks(clock)``
the two clocks a job reads. Every
runtime (the local executor now, worker tasks later) builds through here so
all of them run the same operators.
"""

from __future__ import annotations

import time

from minibig.streaming import functions as fn
from minibig.streaming.all_window_operator import AllWindowOperator
from minibig.streaming.count_window_operator import AllCountWindowOperator, CountWindowOperator
from minibig.streaming.operators import (CollectOperator, FilterOperator, FlatMapOperator,
                                         ForwardOperator, KeyByOperator, MapOperator, Operator,
                                         RollingAggregateOperator, RollingReduceOperator,
                                         StatefulMapOperator)
from minibig.streaming.plan import Node
from minibig.streaming.process_operator import KeyedProcessOperator, ProcessOperator
from minibig.streaming.sinks import CollectCommitter
from minibig.streaming.source_reader import SourceReader
from minibig.streaming.window_operator import WindowOperator

_SIMPLE = {"map": MapOperator, "flat_map": FlatMapOperator, "filter": FilterOperator,
           "key_by": KeyByOperator, "stateful_map": StatefulMapOperator, "rolling_reduce": RollingReduceOperator,
           "rolling_aggregate": RollingAggregateOperator}

_WINDOW_FUNCTIONS = {
    "reduce": lambda spec: fn.ReduceFunction(spec["f"]),
    "aggregate": lambda spec: fn.AggregateWindowFunction(spec["f"]),
    "process": lambda spec: fn.ProcessFunction(spec["f"]),
    "count": lambda spec: fn.CountFunction(),
    "join": lambda spec: fn.JoinFunction(),
}


def _window_function(spec) -> fn.WindowFunction:
    function = _WINDOW_FUNCTIONS[spec["function"]](spec)
    if spec.get("window_function") is not None:
        function = fn.ThroughWindowFunction(function, spec["window_function"])
    return function


def _adapted_window_function(spec, adapter) -> fn.WindowFunction:
    """A time window's function whose user functions take other arguments: ``window_all``'s
    no key (``fn.WithoutKey``), a count window's no bounds (``fn.WithoutWindow``)."""
    spec = dict(spec)
    if spec.get("window_function") is not None:
        spec["window_function"] = adapter(spec["window_function"])
    if spec["function"] == "process":           # process's f is called as a window function too
        spec["f"] = adapter(spec["f"])
    return _window_function(spec)


def make_operator(node: Node) -> Operator:
    """A fresh physical operator for one instance of ``node`` (not a source)."""
    spec = node.spec
    if node.kind in _SIMPLE:
        return _SIMPLE[node.kind](node.name, spec["f"])
    if node.kind in ("union", "side_output"):
        return ForwardOperator(node.name)
    if node.kind == "collect":
        return CollectOperator(node.name)
    if node.kind == "sink":
        return spec["sink"].operator(node.name)
    if node.kind in ("window", "join"):
        return WindowOperator(node.name, spec["assigner"], _window_function(spec),
                              spec["max_out_of_orderness"], spec["allowed_lateness"])
    if node.kind == "window_all":
        return AllWindowOperator(node.name, spec["assigner"], _adapted_window_function(spec, fn.WithoutKey),
                                 spec["max_out_of_orderness"], spec["allowed_lateness"])
    if node.kind in ("keyed_process", "process"):
        operator = KeyedProcessOperator if node.kind == "keyed_process" else ProcessOperator
        return operator(node.name, spec["function"], spec["side_outputs"])
    if node.kind == "count_window":
        return CountWindowOperator(node.name, spec["size"], spec["slide"],
                                   _adapted_window_function(spec, fn.WithoutWindow))
    if node.kind == "count_window_all":
        return AllCountWindowOperator(node.name, spec["size"], spec["slide"],
                                      _adapted_window_function(spec, fn.WithoutKeyOrWindow))
    raise ValueError(f"{node.name}: no physical operator for kind {node.kind!r}")


def make_committer(node: Node):
    """The driver's committer of a ``collect`` or ``sink`` node (``sinks.py``)."""
    return CollectCommitter() if node.kind == "collect" else node.spec["sink"].committer()


def make_source_reader(node: Node, index: int) -> SourceReader:
    """The reader of source instance ``index`` (its own copy of the source)."""
    spec = node.spec
    source = spec["source"].split(index, node.parallelism)
    return SourceReader(node.name, source, spec["timestamp"], spec["max_out_of_orderness"],
                        spec["idle_timeout"])


def job_clocks(clock=None) -> tuple:
    """``(clock, elapsed)``: the time processing time, ingestion time and processing-time
    windows read, and the seconds a source's idleness counts.

    Processing time is wall-clock time, as Flink's: the same on every host. Idleness is time
    elapsed, which an NTP step of the wall clock must not fake. A given clock serves as both.
    """
    return clock or time.time, clock or time.monotonic
