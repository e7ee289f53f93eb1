"""The user API: ``StreamingContext`` and the streams it builds (Flink's names).

Each call adds a node to the context's logical ``Plan``; ``ssc.run()``
executes it (on the cluster's workers, ``cluster.py``, or in this process,
``local.py``), fills the ``collect()`` handles and commits the sinks
(``sink_to``, ``sinks.py``).

>>> from minibig.streaming import StreamingContext, TumblingWindow
>>> ssc = StreamingContext(sc)
>>> events = [("a", 1), ("b", 2), ("a", 4), ("a", 12)]
>>> out = (ssc.source(events, timestamp=lambda e: e[1])
...           .key_by(lambda e: e[0])
...           .window(TumblingWindow(10))
...           .count()
...           .collect())
>>> metrics = ssc.run()
>>> sorted(out.result())
[('a', 0, 10, 2), ('a', 10, 20, 1), ('b', 0, 10, 1)]
"""

from __future__ import annotations

from minibig.rdd.spark_shim import MinibigOnlyError, SparkEngineContext
from minibig.streaming import aggregations, checks, process_function
from minibig.streaming.errors import closed_after
from minibig.streaming.functions import AggregateWindowFunction
from minibig.streaming.local import LocalExecutor
from minibig.streaming.metrics import JobMetrics
from minibig.streaming.plan import Edge, Node, Plan
from minibig.streaming.sinks import FileSink, Sink
from minibig.streaming.sources import IterableSource, Source
from minibig.streaming.windows import WindowAssigner


class StreamingContext:
    """The entry point of a streaming job: sources, then ``run()``.

    ``parallelism`` is the number of instances of each keyed operator
    (default: the cluster's task slots, ``sc.defaultParallelism``, as
    Flink's local default is the machine's; 2 in this process);
    ``clock`` (seconds; default ``time.time``, unix time as Flink's) drives
    processing time, ingestion time and idleness.
    With ``sc`` a Context on a cluster, ``run()`` runs the job on its
    workers (``cluster.py``): ``checkpoint_interval`` seconds between
    checkpoints (None: none), ``max_restarts`` recoveries from lost tasks,
    ``on_checkpoint(cid)`` called on the driver when one completes.
    ``name`` is what ``minibig status`` calls the running job (default: the
    Context's appName).
    """

    def __init__(self, sc=None, parallelism: int | None = None, clock=None, batch_size: int = 1024,
                 checkpoint_interval: float | None = None, max_restarts: int = 3,
                 task_timeout: float = 3.0, on_checkpoint=None, name: str | None = None):
        if isinstance(sc, SparkEngineContext):
            # Not in this process instead: a job's stream would quietly leave the cluster it names
            raise MinibigOnlyError("minibig.streaming", "streams run on minibig's engine, so submit "
                                   "this job without --engine spark")
        self.sc = sc
        self.name = name or getattr(sc, "appName", None) or "stream"
        self.checkpoint_interval = checkpoint_interval
        self.max_restarts = max_restarts
        self.task_timeout = task_timeout
        self.on_checkpoint = on_checkpoint
        self.executor = None
        if parallelism is None:        # a job that fits the cluster it is given, one worker included
            parallelism = sc.defaultParallelism if self._on_cluster() else 2
        self.parallelism = checks.count("parallelism", parallelism)
        self.clock = clock
        self.batch_size = checks.count("batch_size", batch_size)     # 0 or below read no record
        self.plan = Plan()
        self._collected: dict[int, "Collected"] = {}
        self._metrics: JobMetrics | None = None

    def source(self, data, timestamp=None, max_out_of_orderness=0, idle_timeout=None,
               parallelism: int = 1) -> "DataStream":
        """A stream of ``data`` (an iterable, read once now, or a ``Source``).

        ``timestamp(record)`` gives event time (a number); without it, the
        arrival time (ingestion time: the clock, unix seconds by default).
        The source's watermark trails its largest timestamp by
        ``max_out_of_orderness``; after ``idle_timeout`` seconds without data
        it stops holding back the operators it feeds.

        >>> ssc = StreamingContext(sc)
        >>> out = ssc.source([3, 1, 2], timestamp=lambda x: x).collect()
        >>> _ = ssc.run(); out.result()
        [3, 1, 2]
        """
        if timestamp is not None:
            checks.function("source(timestamp=...)", timestamp)
        checks.non_negative("max_out_of_orderness", max_out_of_orderness)
        if idle_timeout is not None:
            checks.positive("idle_timeout", idle_timeout)
        parallelism = checks.count("parallelism", parallelism)
        if not isinstance(data, Source):
            data = IterableSource(data)
        node = self.plan.add("source", (), parallelism, source=data, timestamp=timestamp,
                             max_out_of_orderness=max_out_of_orderness, idle_timeout=idle_timeout)
        return DataStream(self, node)

    def run(self, timeout: float | None = None) -> JobMetrics:
        """Run the job until every source ends (or ``timeout``, then drain); returns its metrics.

        On the cluster's workers when ``sc`` is a Context on a cluster, else in this process.
        """
        if self._on_cluster():
            # zmq comes with it: `import minibig.streaming` and local jobs stay without it
            from minibig.streaming.cluster import ClusterExecutor
            executor = ClusterExecutor(self.sc, self.plan, batch_size=self.batch_size, clock=self.clock,
                                       checkpoint_interval=self.checkpoint_interval,
                                       max_restarts=self.max_restarts, task_timeout=self.task_timeout,
                                       on_checkpoint=self.on_checkpoint, name=self.name)
            self.executor = executor
            executor.run(timeout=timeout)
        else:
            executor = LocalExecutor(self.plan, clock=self.clock, batch_size=self.batch_size)
            self.executor = executor
            executor.open()
            with closed_after(executor.close):
                executor.run(timeout=timeout)
        for sink_id, handle in self._collected.items():
            handle._values = executor.collected(sink_id)
        self._metrics = executor.metrics()
        return self._metrics

    def _on_cluster(self) -> bool:
        backend = getattr(self.sc, "_backend", None)
        return backend is not None and type(backend).__name__ == "ClusterBackend"

    @property
    def metrics(self) -> JobMetrics | None:
        """The last run's metrics (``late_records`` and the rest, per operator)."""
        return self._metrics


class DataStream:
    """A stream of records; each method adds an operator and returns the new stream."""

    def __init__(self, ssc: StreamingContext, node: Node):
        self.ssc = ssc
        self.node = node

    def _narrow(self, kind: str, f, stream_class=None) -> "DataStream":
        checks.function(f"{kind}()", f)
        node = self.ssc.plan.add(kind, (Edge(self.node.id),), self.node.parallelism, f=f)
        return (stream_class or DataStream)(self.ssc, node)

    def _one_instance(self, kind: str, **spec):
        """A node of one instance that every record and watermark of this stream reaches (a
        rebalance edge): the collect sink, an all-window operator (parallelism 1, as Flink's)."""
        return self.ssc.plan.add(kind, (Edge(self.node.id, partitioning="rebalance"),), 1, **spec)

    def _side_output(self, output: str, stream_class=None) -> "DataStream":
        """The stream of this operator's output ``output`` (late records, a process function's tag)."""
        node = self.ssc.plan.add("side_output", (Edge(self.node.id, output=output),), self.node.parallelism)
        return (stream_class or DataStream)(self.ssc, node)

    def map(self, f) -> "DataStream":
        """``f(record)`` for each record.

        >>> ssc = StreamingContext(sc)
        >>> out = ssc.source([1, 2], timestamp=lambda x: x).map(lambda x: x * 10).collect()
        >>> _ = ssc.run(); out.result()
        [10, 20]
        """
        return self._narrow("map", f)

    def flat_map(self, f) -> "DataStream":
        """Every item of ``f(record)``, each with the record's timestamp.

        >>> ssc = StreamingContext(sc)
        >>> out = ssc.source(["a b", "c"], timestamp=len).flat_map(str.split).collect()
        >>> _ = ssc.run(); out.result()
        ['a', 'b', 'c']
        """
        return self._narrow("flat_map", f)

    def filter(self, f) -> "DataStream":
        """The records for which ``f(record)`` is true.

        >>> ssc = StreamingContext(sc)
        >>> out = ssc.source(range(5), timestamp=int).filter(lambda x: x % 2).collect()
        >>> _ = ssc.run(); out.result()
        [1, 3]
        """
        return self._narrow("filter", f)

    def process(self, function) -> "ProcessResultStream":
        """Flink's ``DataStream.process``: a ``ProcessFunction`` per record, chained to this
        stream; ``ctx.timestamp()``, the clocks and side outputs (keyed state and timers need
        ``key_by`` first: ``KeyedStream.process``).

        >>> from minibig.streaming import ProcessFunction
        >>> class Stamped(ProcessFunction):
        ...     def process_element(self, value, ctx):
        ...         yield f"current timestamp: {ctx.timestamp()}, current_value: {value}"
        >>> ssc = StreamingContext(sc)
        >>> out = ssc.source([(1, "x"), (2, "y")], timestamp=lambda r: r[0] * 1000).process(Stamped()).collect()
        >>> _ = ssc.run(); out.result()
        ["current timestamp: 1000, current_value: (1, 'x')", "current timestamp: 2000, current_value: (2, 'y')"]
        """
        process_function.check(function)
        node = self.ssc.plan.add("process", (Edge(self.node.id),), self.node.parallelism, function=function,
                                 side_outputs=[])
        return ProcessResultStream(self.ssc, node)

    def key_by(self, f) -> "KeyedStream":
        """Each record as ``(f(record), record)``; the key must be hashable.

        >>> ssc = StreamingContext(sc)
        >>> out = ssc.source(["ab", "c"], timestamp=len).key_by(len).collect()
        >>> _ = ssc.run(); out.result()
        [(2, 'ab'), (1, 'c')]
        """
        return self._narrow("key_by", f, KeyedStream)

    def window_all(self, assigner: WindowAssigner, max_out_of_orderness=0,
                   allowed_lateness=0) -> "AllWindowedStream":
        """Windows over the whole stream, every record in the same windows (Flink's
        ``windowAll``), run by one instance; see ``AllWindowedStream``."""
        _window_options("window_all()", assigner, max_out_of_orderness, allowed_lateness)
        return AllWindowedStream(self, assigner, max_out_of_orderness, allowed_lateness)

    def count_window_all(self, size: int, slide: int | None = None) -> "AllCountWindowedStream":
        """Count windows over the whole stream (Flink's ``countWindowAll``), run by one instance:
        as ``KeyedStream.count_window`` without the key; see ``AllCountWindowedStream``."""
        size, slide = _count_window_options(size, slide)
        return AllCountWindowedStream(self, size, slide)

    def union(self, *others: "DataStream") -> "DataStream":
        """The records of this stream and ``others``; the watermark is the least of theirs.

        >>> ssc = StreamingContext(sc)
        >>> a = ssc.source([1], timestamp=int); b = ssc.source([2], timestamp=int)
        >>> out = a.union(b).collect()
        >>> _ = ssc.run(); sorted(out.result())
        [1, 2]
        """
        streams = (self,) + others
        parallelism = max(s.node.parallelism for s in streams)
        edges = tuple(Edge(s.node.id, partitioning="forward" if s.node.parallelism == parallelism else "rebalance")
                      for s in streams)
        node = self.ssc.plan.add("union", edges, parallelism)
        keyed = all(isinstance(s, KeyedStream) for s in streams)
        return (KeyedStream if keyed else DataStream)(self.ssc, node)

    def sink_to(self, sink) -> None:
        """Write the stream to ``sink`` (Flink's ``sink_to``): a ``FileSink``, a ``RedisStreamSink``.

        One sink instance per instance of this stream. What it writes
        becomes visible when the checkpoint after it completes (and at the end
        of a finite stream), so a restored job writes every record exactly once.

        >>> import os, tempfile
        >>> from minibig.streaming import FileSink
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> ssc = StreamingContext(sc)
        >>> ssc.source([1, 2, 3], timestamp=int).map(lambda x: x * 10).sink_to(FileSink(out))
        >>> _ = ssc.run(); sorted(os.listdir(out))
        ['_SUCCESS', 'part-00000-000001']
        """
        if not isinstance(sink, Sink):
            raise TypeError(f"sink_to() needs a sink (FileSink, RedisStreamSink), got {sink!r}")
        self.ssc.plan.add("sink", (Edge(self.node.id),), self.node.parallelism, sink=sink)

    def write_text(self, path) -> None:
        """``sink_to(FileSink(path))``: ``str(record)`` per line in part files under ``path``."""
        self.sink_to(FileSink(path))

    def collect(self) -> "Collected":
        """A sink: its ``result()`` is every record that reached it, after ``ssc.run()``."""
        node = self._one_instance("collect")
        handle = Collected(node.name)
        self.ssc._collected[node.id] = handle
        return handle


class KeyedStream(DataStream):
    """A stream of ``(key, record)`` pairs: windows, keyed state and joins partition by key."""

    def _keyed(self, kind: str, inputs: tuple[Edge, ...], stream_class, **spec):
        node = self.ssc.plan.add(kind, inputs, self.ssc.parallelism, **spec)
        return stream_class(self.ssc, node)

    def _by_key(self, kind: str, stream_class, **spec):
        """A keyed operator reading this stream partitioned by key (``_keyed`` with one hash edge)."""
        return self._keyed(kind, (Edge(self.node.id, partitioning="hash"),), stream_class, **spec)

    def window(self, assigner: WindowAssigner, max_out_of_orderness=0, allowed_lateness=0) -> "WindowedStream":
        """Windows per key; the operator's watermark trails its input's by ``max_out_of_orderness``."""
        _window_options("window()", assigner, max_out_of_orderness, allowed_lateness)
        return WindowedStream(self, assigner, max_out_of_orderness, allowed_lateness)

    def count_window(self, size: int, slide: int | None = None) -> "CountWindowedStream":
        """Count windows per key (Flink's ``countWindow``): tumbling, every ``size`` records of
        a key; or sliding, every ``slide`` records with the key's last ``size``. See
        ``count_window_operator.py``; a window not full at the end of the input never fires."""
        size, slide = _count_window_options(size, slide)
        return CountWindowedStream(self, size, slide)

    def process(self, function) -> DataStream:
        """Flink's ``KeyedStream.process``: a ``KeyedProcessFunction`` per record, with keyed
        state (``runtime_context.get_state``) and event- and processing-time timers
        (``ctx.timer_service()``); the stream of what it returns. See ``process_function.py``
        and ``process_operator.py``.

        >>> from minibig.streaming import KeyedProcessFunction, ValueStateDescriptor
        >>> class LastSeen(KeyedProcessFunction):
        ...     def open(self, runtime_context):
        ...         self.last = runtime_context.get_state(ValueStateDescriptor("last"))
        ...     def process_element(self, value, ctx):
        ...         self.last.update(ctx.timestamp())
        ...         ctx.timer_service().register_event_time_timer(ctx.timestamp() + 5)
        ...     def on_timer(self, timestamp, ctx):
        ...         if self.last.value() + 5 == timestamp:          # no record since: quiet
        ...             yield ctx.get_current_key(), "quiet at", timestamp
        >>> ssc = StreamingContext(sc, batch_size=1)          # a watermark after every record
        >>> events = [("a", 1), ("b", 2), ("a", 4), ("c", 12), ("a", 20)]
        >>> out = (ssc.source(events, timestamp=lambda e: e[1]).key_by(lambda e: e[0])
        ...           .process(LastSeen()).collect())
        >>> _ = ssc.run(); sorted(out.result(), key=lambda r: r[2])
        [('b', 'quiet at', 7), ('a', 'quiet at', 9), ('c', 'quiet at', 17), ('a', 'quiet at', 25)]
        """
        process_function.check(function)
        return self._by_key("keyed_process", ProcessResultStream, function=function, side_outputs=[])

    def map_with_state(self, f) -> DataStream:
        """``f(state, record)`` per record, ``state`` a ValueState of the record's key.

        >>> ssc = StreamingContext(sc)
        >>> def running_total(state, record):
        ...     state.update(state.value(0) + record)
        ...     return state.value()
        >>> out = (ssc.source([1, 2, 3], timestamp=int).key_by(lambda x: "k")
        ...           .map_with_state(running_total).collect())
        >>> _ = ssc.run(); out.result()
        [1, 3, 6]
        """
        checks.function("map_with_state()", f)
        return self._by_key("stateful_map", DataStream, f=f)

    def reduce(self, f) -> "KeyedStream":
        """Flink's rolling reduce: ``(key, running)`` for every record, ``running`` its key's
        records so far folded with ``f(running, record)`` (starting from a copy of the first, so
        ``f`` may fold into ``running`` in place).

        The running values are keyed state, checkpointed and restored as ``map_with_state``'s;
        the result is a keyed stream of the same shape, ``(key, value)`` pairs.

        >>> ssc = StreamingContext(sc)
        >>> rows = [(1, "a"), (2, "a"), (3, "a"), (4, "b")]
        >>> out = (ssc.source(rows, timestamp=lambda r: r[0]).key_by(lambda r: r[1])
        ...           .reduce(lambda a, b: (a[0] + b[0], b[1])).collect())
        >>> _ = ssc.run(); sorted(out.result())
        [('a', (1, 'a')), ('a', (3, 'a')), ('a', (6, 'a')), ('b', (4, 'b'))]
        """
        checks.function("reduce()", f)
        return self._by_key("rolling_reduce", KeyedStream, f=f)

    def _aggregate(self, kind: str, field, first: bool = True) -> "KeyedStream":
        aggregations.check_field(f"{kind}()", field)
        if not isinstance(first, bool):
            raise TypeError(f"{kind}(first=...) needs True or False, got {first!r}")
        aggregation = aggregations.FieldAggregation(kind, field, first)
        return self._by_key("rolling_aggregate", KeyedStream, f=aggregation)

    def sum(self, field=0) -> "KeyedStream":
        """Flink's rolling sum: ``(key, running)`` per record, ``running`` the key's first record
        with ``field`` (a position, or a dict key / attribute name) summed so far.

        A record that is a single value is its own field 0. The running values are keyed state,
        as ``reduce``'s.

        >>> ssc = StreamingContext(sc)
        >>> rows = [("a", 1, "x"), ("a", 2, "y"), ("b", 5, "z")]
        >>> out = ssc.source(rows, timestamp=lambda r: r[1]).key_by(lambda r: r[0]).sum(1).collect()
        >>> _ = ssc.run(); sorted(out.result())
        [('a', ('a', 1, 'x')), ('a', ('a', 3, 'x')), ('b', ('b', 5, 'z'))]
        """
        return self._aggregate("sum", field)

    def min(self, field=0) -> "KeyedStream":
        """Flink's rolling min: as ``sum``, the first record with ``field`` the least so far
        (its other fields stay the first record's; ``min_by`` gives the whole record).

        >>> ssc = StreamingContext(sc)
        >>> rows = [{"k": "a", "v": 3, "t": 1}, {"k": "a", "v": 1, "t": 2}]
        >>> out = ssc.source(rows, timestamp=lambda r: r["t"]).key_by(lambda r: r["k"]).min("v").collect()
        >>> _ = ssc.run(); [running for _, running in out.result()]
        [{'k': 'a', 'v': 3, 't': 1}, {'k': 'a', 'v': 1, 't': 1}]
        """
        return self._aggregate("min", field)

    def max(self, field=0) -> "KeyedStream":
        """Flink's rolling max: as ``min``, with the greatest ``field`` so far."""
        return self._aggregate("max", field)

    def min_by(self, field=0, first: bool = True) -> "KeyedStream":
        """Flink's rolling ``minBy``: ``(key, record)`` per record, ``record`` the key's record
        with the least ``field`` so far; on a tie the first of them, or the latest with
        ``first=False``.

        >>> ssc = StreamingContext(sc)
        >>> rows = [("a", 3, 1), ("a", 1, 2), ("a", 1, 3)]
        >>> out = ssc.source(rows, timestamp=lambda r: r[2]).key_by(lambda r: r[0]).min_by(1).collect()
        >>> _ = ssc.run(); out.result()
        [('a', ('a', 3, 1)), ('a', ('a', 1, 2)), ('a', ('a', 1, 2))]
        """
        return self._aggregate("min_by", field, first)

    def max_by(self, field=0, first: bool = True) -> "KeyedStream":
        """Flink's rolling ``maxBy``: as ``min_by``, with the greatest ``field``."""
        return self._aggregate("max_by", field, first)

    def join(self, other: "KeyedStream", assigner: WindowAssigner, max_out_of_orderness=0,
             allowed_lateness=0) -> "WindowResultStream":
        """Inner join per key and window: ``(key, start, end, (left, right))`` for every pair.

        >>> from minibig.streaming import TumblingWindow
        >>> ssc = StreamingContext(sc)
        >>> left = ssc.source([("a", 1)], timestamp=lambda r: r[1]).key_by(lambda r: r[0])
        >>> right = ssc.source([("a", 5), ("b", 6)], timestamp=lambda r: r[1]).key_by(lambda r: r[0])
        >>> out = left.join(right, TumblingWindow(10)).collect()
        >>> _ = ssc.run(); out.result()
        [('a', 0, 10, (('a', 1), ('a', 5)))]
        """
        if not isinstance(other, KeyedStream):
            raise TypeError("join() needs another keyed stream (use key_by first)")
        _window_options("join()", assigner, max_out_of_orderness, allowed_lateness)
        edges = (Edge(self.node.id, partitioning="hash", input_index=0),
                 Edge(other.node.id, partitioning="hash", input_index=1))
        return self._keyed("join", edges, WindowResultStream, function="join", assigner=assigner,
                           max_out_of_orderness=max_out_of_orderness, allowed_lateness=allowed_lateness)


def _count_window_options(size, slide) -> tuple:
    """``(size, slide)`` as ints, refusing anything but positive ints (slide None: tumbling)."""
    size = checks.count("count_window(size)", size)
    return size, None if slide is None else checks.count("count_window(slide)", slide)


def _window_options(method: str, assigner, max_out_of_orderness, allowed_lateness) -> None:
    """Refuse a wrong window option when the plan is built (as Flink does), not mid-stream."""
    if not isinstance(assigner, WindowAssigner):
        raise TypeError(f"{method} needs a window assigner, got {assigner!r}")
    checks.non_negative("max_out_of_orderness", max_out_of_orderness)
    checks.non_negative("allowed_lateness", allowed_lateness)


class WindowedStream:
    """A keyed stream cut into windows; ``reduce``, ``aggregate``, ``process`` or ``count`` it."""

    def __init__(self, keyed: KeyedStream, assigner, max_out_of_orderness, allowed_lateness):
        self.keyed = keyed
        self.assigner = assigner
        self.max_out_of_orderness = max_out_of_orderness
        self.allowed_lateness = allowed_lateness

    def _apply(self, function: str, f=None, window_function=None) -> "WindowResultStream":
        if function in ("reduce", "process"):
            checks.function(f"{function}()", f)
        if window_function is not None:
            checks.function(f"{function}(window_function=...)", window_function)
        return self._node(function=function, f=f, window_function=window_function, assigner=self.assigner,
                          max_out_of_orderness=self.max_out_of_orderness, allowed_lateness=self.allowed_lateness)

    def _node(self, **spec) -> "WindowResultStream":
        return self.keyed._by_key("window", WindowResultStream, **spec)

    def reduce(self, f, window_function=None) -> "WindowResultStream":
        """``(key, start, end, record)``, ``f(a, b)`` folding the window's records (associative).

        With ``window_function`` (Flink's option), ``(key, start, end, window_function(key,
        (start, end), [record]))``: the records folded as they come, the bounds for the result.

        >>> from minibig.streaming import SessionWindow
        >>> ssc = StreamingContext(sc)
        >>> out = (ssc.source([("a", 1), ("a", 2), ("a", 6)], timestamp=lambda r: r[1])
        ...           .key_by(lambda r: r[0]).window(SessionWindow(2))
        ...           .reduce(lambda a, b: (a[0], a[1] + b[1]),
        ...                   window_function=lambda key, window, folded: f"{window[0]}: {folded[0]}")
        ...           .collect())
        >>> _ = ssc.run(); out.result()
        [('a', 1, 4, "1: ('a', 3)"), ('a', 6, 8, "6: ('a', 6)")]
        """
        return self._apply("reduce", f, window_function)

    def aggregate(self, aggregate, window_function=None) -> "WindowResultStream":
        """``(key, start, end, get_result(acc))`` with a Flink-style ``AggregateFunction``;
        ``window_function`` as in ``reduce``, given ``[get_result(acc)]``."""
        AggregateWindowFunction(aggregate)          # refuse a wrong object now, not mid-stream
        return self._apply("aggregate", aggregate, window_function)

    def process(self, f) -> "WindowResultStream":
        """``(key, start, end, f(key, (start, end), records))`` with all the window's records."""
        return self._apply("process", f)

    def count(self) -> "WindowResultStream":
        """``(key, start, end, number of records)``."""
        return self._apply("count")


class CountWindowedStream(WindowedStream):
    """A keyed stream cut into count windows; results are ``(key, value)``, a keyed stream.

    >>> ssc = StreamingContext(sc)
    >>> rows = [(1, "hi"), (2, "hello"), (3, "hi"), (4, "hello"), (5, "hi"), (6, "hello"), (7, "hello")]
    >>> out = (ssc.source(rows, timestamp=lambda r: r[0]).key_by(lambda r: r[1]).count_window(3)
    ...           .process(lambda key, records: sum(r[0] for r in records)).collect())
    >>> _ = ssc.run(); sorted(out.result())
    [('hello', 12), ('hi', 9)]
    """

    def __init__(self, keyed: KeyedStream, size: int, slide: int | None):
        super().__init__(keyed, None, 0, 0)
        self.size = size
        self.slide = slide

    def _node(self, assigner, max_out_of_orderness, allowed_lateness, **spec) -> KeyedStream:
        return self.keyed._by_key("count_window", KeyedStream, size=self.size, slide=self.slide, **spec)

    def reduce(self, f, window_function=None) -> KeyedStream:
        """``(key, record)``, ``f(a, b)`` folding the window's records; with ``window_function``,
        ``(key, window_function(key, [record]))``."""
        return self._apply("reduce", f, window_function)

    def aggregate(self, aggregate, window_function=None) -> KeyedStream:
        """``(key, get_result(acc))`` with a Flink-style ``AggregateFunction``; ``window_function``
        as in ``reduce``."""
        return super().aggregate(aggregate, window_function)

    def process(self, f) -> KeyedStream:
        """``(key, f(key, records))`` with the window's records, oldest first."""
        return self._apply("process", f)

    def count(self) -> KeyedStream:
        """``(key, number of records)``: ``size`` for a full window, fewer in a sliding
        window's first firings."""
        return self._apply("count")


class AllCountWindowedStream(CountWindowedStream):
    """A whole stream cut into count windows, run by one instance (Flink's ``countWindowAll``):
    results are the values alone; ``process(f)`` calls ``f(records)``, a ``window_function``
    ``window_function([result])``.

    >>> ssc = StreamingContext(sc)
    >>> out = ssc.source(range(7), timestamp=int).count_window_all(3).process(sum).collect()
    >>> _ = ssc.run(); out.result()
    [3, 12]
    """

    def _node(self, assigner, max_out_of_orderness, allowed_lateness, **spec) -> DataStream:
        node = self.keyed._one_instance("count_window_all", size=self.size, slide=self.slide, **spec)
        return DataStream(self.keyed.ssc, node)

    def reduce(self, f, window_function=None) -> DataStream:
        """The window's records folded with ``f(a, b)``; with ``window_function``,
        ``window_function([folded])``."""
        return self._apply("reduce", f, window_function)

    def aggregate(self, aggregate, window_function=None) -> DataStream:
        """``get_result(acc)`` of a Flink-style ``AggregateFunction``."""
        return super().aggregate(aggregate, window_function)

    def process(self, f) -> DataStream:
        """``f(records)`` with the window's records, oldest first."""
        return self._apply("process", f)

    def count(self) -> DataStream:
        """The number of records."""
        return self._apply("count")


class AllWindowedStream(WindowedStream):
    """A whole stream cut into windows (Flink's ``windowAll``), run by one instance: ``reduce``,
    ``aggregate``, ``process`` or ``count`` it as a keyed ``WindowedStream``, without the key:
    results are ``(start, end, value)``, ``process``'s ``f(window, records)`` and a
    ``window_function(window, [result])`` take no key, ``late()`` gives the records as they came.

    >>> from minibig.streaming import TumblingWindow
    >>> ssc = StreamingContext(sc)
    >>> out = (ssc.source([1, 2, 7, 12, 14], timestamp=int).window_all(TumblingWindow(10))
    ...           .process(lambda window, records: sum(records)).collect())
    >>> _ = ssc.run(); out.result()
    [(0, 10, 10), (10, 20, 26)]
    """

    def _node(self, **spec) -> "AllWindowResultStream":
        node = self.keyed._one_instance("window_all", **spec)
        return AllWindowResultStream(self.keyed.ssc, node)


class WindowResultStream(DataStream):
    """The results of a window operator, with its late-data side output."""

    def late(self) -> KeyedStream:
        """Records every window refused, as they came (``(key, record)``).

        >>> from minibig.streaming import TumblingWindow
        >>> ssc = StreamingContext(sc)
        >>> counts = (ssc.source([5, 15, 3], timestamp=int).key_by(lambda x: "k")
        ...              .window(TumblingWindow(10)).count())
        >>> late = counts.late().collect()
        >>> metrics = ssc.run(); late.result(), metrics["late_records"]
        ([('k', 3)], 1)
        """
        return self._side_output("late", KeyedStream)


class ProcessResultStream(DataStream):
    """What a process function emits, with its side outputs."""

    def get_side_output(self, tag: "process_function.OutputTag") -> DataStream:
        """What the function sent to ``tag`` (``yield tag, value``), with the function's timestamps.

        >>> from minibig.streaming import KeyedProcessFunction, OutputTag
        >>> odd = OutputTag("odd")
        >>> class Split(KeyedProcessFunction):
        ...     def process_element(self, value, ctx):
        ...         yield (odd, value) if value % 2 else value
        >>> ssc = StreamingContext(sc)
        >>> evens = ssc.source(range(6), timestamp=int).key_by(lambda x: x % 3).process(Split())
        >>> main, side = evens.collect(), evens.get_side_output(odd).collect()
        >>> _ = ssc.run(); sorted(main.result()), sorted(side.result())
        ([0, 2, 4], [1, 3, 5])
        """
        if not isinstance(tag, process_function.OutputTag):
            raise TypeError(f"get_side_output() needs an OutputTag, got {tag!r}")
        outputs = self.node.spec["side_outputs"]
        if tag.output not in outputs:
            outputs.append(tag.output)
        return self._side_output(tag.output)


class AllWindowResultStream(DataStream):
    """The results of ``window_all``, ``(start, end, value)``, with its late-data side output."""

    def late(self) -> DataStream:
        """Records every window refused, as they came."""
        return self._side_output("late")


class Collected:
    """The handle of a ``collect()`` sink; ``result()`` after ``ssc.run()``."""

    def __init__(self, name: str):
        self.name = name
        self._values = None

    def result(self) -> list:
        """The collected records (in arrival order at the sink)."""
        if self._values is None:
            raise RuntimeError(f"{self.name}: the job has not run yet (call ssc.run())")
        return self._values
