"""Event-time stream processing with Flink's semantics (see ``api.py`` for the user API).

Modules, one job each: ``windows`` (assigners), ``watermarks`` (generation,
combining, idleness), ``elements`` (what a channel carries), ``functions``
(what a window computes), ``aggregations`` (rolling
sum/min/max/min_by/max_by), ``operators``, ``window_operator``,
``all_window_operator`` and ``count_window_operator`` and ``process_operator`` (physical operators),
``process_function`` (what a keyed process function is handed),
``instance`` (an operator with its input valve), ``routing`` (key
partitioning), ``sources``, ``redis_source`` and ``source_reader``, ``sinks``
(two-phase commit sinks: files, Redis Streams), ``plan`` (the logical DAG),
``physical`` (plan node to operator), ``local`` (the in-process executor),
``inprocess`` (a job's cluster tasks in one process, for the benchmark and
tests), ``metrics``, ``state``, ``copies`` (what stateful operators keep of
their input and emit of their state), ``checks`` (the API's argument checks),
``errors``.
"""

from minibig.streaming.api import (AllCountWindowedStream, AllWindowedStream, AllWindowResultStream, Collected,
                                   CountWindowedStream, DataStream, KeyedStream, ProcessResultStream, StreamingContext,
                                   WindowedStream, WindowResultStream)
from minibig.streaming.errors import StreamError
from minibig.streaming.functions import AggregateFunction
from minibig.streaming.sinks import FileSink, RedisStreamSink, Sink
from minibig.streaming.redis_source import RedisStreamSource
from minibig.streaming.sources import (DirectorySource, GeneratorSource, IterableSource, SocketSource, Source,
                                       TailFileSource)
from minibig.streaming.process_function import KeyedProcessFunction, OutputTag, ProcessFunction, TimeDomain
from minibig.streaming.state import (AggregatingState, AggregatingStateDescriptor, ListState, ListStateDescriptor,
                                     MapState, MapStateDescriptor, ReducingState, ReducingStateDescriptor, ValueState,
                                     ValueStateDescriptor)
from minibig.streaming.windows import SessionWindow, SlidingWindow, TumblingWindow, WindowAssigner

__all__ = ["StreamingContext", "DataStream", "KeyedStream", "WindowedStream", "WindowResultStream",
           "AllWindowedStream", "AllWindowResultStream", "AllCountWindowedStream", "CountWindowedStream", "ProcessResultStream", "Collected",
           "TumblingWindow", "SlidingWindow", "SessionWindow", "WindowAssigner", "AggregateFunction",
           "ValueState", "ValueStateDescriptor", "ListState", "ListStateDescriptor", "MapState",
           "MapStateDescriptor", "ReducingState", "ReducingStateDescriptor", "AggregatingState",
           "AggregatingStateDescriptor", "KeyedProcessFunction", "ProcessFunction", "OutputTag", "TimeDomain", "StreamError", "Source", "IterableSource", "GeneratorSource", "DirectorySource",
           "TailFileSource", "SocketSource", "RedisStreamSource", "Sink", "FileSink", "RedisStreamSink"]
