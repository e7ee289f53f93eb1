"""Streaming jobs on the cluster's workers give the local executor's output.

Each job runs twice, on the ``LocalExecutor`` (the oracle, itself checked
against the plain-Python reference in the other streaming tests) and on the
shared 2-worker cluster; outputs are compared as multisets (the sink's
arrival order depends on how the workers interleave), metrics exactly.
Chosen streams have one source per keyed input or no late data, where a
distributed run must match the local one exactly.
"""

import os
import random
import sys
import threading
import time

import pytest

from minibig import Context
from minibig.streaming import (SessionWindow, SlidingWindow, Source, StreamError, StreamingContext,
                               TumblingWindow)


def seeded(seed, n, keys=3, spread=3):
    rng = random.Random(seed)
    return [(i - rng.randint(0, spread), f"k{rng.randrange(keys)}", i) for i in range(n)]


def both(sc, build, **options):
    """``build(ssc)`` -> collect handles; their results and metrics, local then on the cluster."""
    runs = []
    for context in (None, sc):
        both.last = ssc = None
        ssc = StreamingContext(context, **{"parallelism": 2, "batch_size": 16, **options})
        handles = build(ssc)
        metrics = ssc.run()
        runs.append(([sorted(h.result(), key=repr) for h in handles], metrics.by_operator))
        both.last = ssc
    return runs


def test_sliding_windows_with_late_data_match_the_local_run(sc):
    events = seeded(1, 3000, keys=7, spread=25)

    def build(ssc):
        out = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=2).key_by(lambda e: e[1])
                  .window(SlidingWindow(10, 5), allowed_lateness=1).count())
        return out.collect(), out.late().collect()
    local, cluster = both(sc, build)
    assert local == cluster and local[0][1], "expected late records in this stream"


def test_sessions_and_keyed_state_match_the_local_run(sc):
    events = seeded(2, 1500, keys=5, spread=6)

    def running_total(state, record):
        state.update(state.value(0) + record[2])
        return (record[1], state.value())

    def build(ssc):
        keyed = ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=2).key_by(lambda e: e[1])
        sessions = keyed.window(SessionWindow(3), allowed_lateness=4).count()
        return sessions.collect(), sessions.late().collect(), keyed.map_with_state(running_total).collect()
    local, cluster = both(sc, build)
    assert local == cluster


def test_running_the_same_job_again_on_the_cluster_replays_the_same_answer(sc):
    # collect() handles are refilled by each run(); sessions with late data, as in Flink's replay
    events = seeded(6, 800, keys=5, spread=9)

    def build(ssc):
        sessions = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=2).key_by(lambda e: e[1])
                       .window(SessionWindow(3), allowed_lateness=2).count())
        return sessions.collect(), sessions.late().collect()
    local, cluster = both(sc, build)
    ssc = both.last
    metrics = ssc.run()
    again = [sorted(h.result(), key=repr) for h in ssc._collected.values()]
    assert local == cluster == (again, metrics.by_operator) and again[1], "expected late records"


def test_a_windowed_join_of_two_sources_matches_the_local_run(sc):
    left, right = seeded(3, 400), seeded(4, 300)

    def build(ssc):
        a = ssc.source(left, timestamp=lambda e: e[0], max_out_of_orderness=3).key_by(lambda e: e[1])
        b = ssc.source(right, timestamp=lambda e: e[0], max_out_of_orderness=3).key_by(lambda e: e[1])
        return (a.join(b, TumblingWindow(10)).collect(),)
    local, cluster = both(sc, build)
    assert local == cluster and local[0][0]


def test_checkpoints_during_the_run_leave_the_output_unchanged(sc):
    events = seeded(5, 4000, keys=9, spread=8)

    def build(ssc):
        out = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=3).key_by(lambda e: e[1])
                  .window(TumblingWindow(50)).reduce(lambda a, b: (a[0], a[1], a[2] + b[2])))
        return out.collect(), out.late().collect()
    local, cluster = both(sc, build, batch_size=4, checkpoint_interval=0.01)
    assert local == cluster and both.last.executor.checkpoints >= 3


def test_a_failing_user_function_names_its_operator_and_the_cluster_stays_up(sc):
    ssc = StreamingContext(sc, parallelism=2)
    ssc.source([1, 2, 0, 3], timestamp=int).key_by(lambda x: x % 2).map_with_state(lambda s, x: 1 / x).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert caught.value.operator == "stateful_map-2" and caught.value.record == (0, (0, 0))
    assert "ZeroDivisionError" in str(caught.value) and "streaming task" in str(caught.value.__notes__)
    assert sc.parallelize(range(10), 2).sum() == 45


class BadReading(Exception):
    """A user's own exception type, defined in the job's module."""


def reject_negative(x):
    if x < 0:
        raise BadReading(f"negative reading {x}")      # the line the remote traceback must name
    return x


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_failing_user_function_keeps_its_exception_type_and_line_as_the_cause(sc, on_cluster):
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    ssc.source([1, -2, 3], timestamp=lambda x: abs(x)).map(reject_negative).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    cause = caught.value.__cause__
    assert type(cause) is BadReading and str(cause) == "negative reading -2"   # the driver's own class
    assert caught.value.operator == "map-1" and caught.value.record == (2, -2)
    if on_cluster:
        line = reject_negative.__code__.co_firstlineno + 2
        notes = "\n".join(caught.value.__notes__)
        assert f'test_streaming_cluster.py", line {line}, in reject_negative' in notes


class LockedError(Exception):
    """An exception that cannot be pickled: it holds a lock."""

    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()


DRIVER_PID = os.getpid()


def _rebuilt_on_a_worker(message):
    if os.getpid() == DRIVER_PID:
        raise ImportError("this exception's class imports on the workers only")
    return WorkerOnlyError(message)


class WorkerOnlyError(Exception):
    """An exception that unpickles on the workers but not on the driver."""

    def __reduce__(self):
        return _rebuilt_on_a_worker, (str(self),)


@pytest.mark.parametrize("error_class", [LockedError, WorkerOnlyError])
def test_a_cause_that_cannot_reach_the_driver_still_fails_the_job_with_a_stream_error(sc, error_class):
    # LockedError does not pickle on the worker; WorkerOnlyError does not unpickle on the driver
    def fail(x):
        raise error_class(f"failed on {x}")
    ssc = StreamingContext(sc, parallelism=2)
    ssc.source([5], timestamp=int).map(fail).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert caught.value.operator == "map-1" and caught.value.__cause__ is None
    assert f"{error_class.__name__}: failed on 5" in str(caught.value)


def fail_on_three(record):
    if record[0] == 3:
        raise BadReading("three")
    return record


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_failing_record_that_cannot_be_pickled_still_fails_the_job_with_a_stream_error(sc, on_cluster):
    # The record holds a lock: on the cluster it travels as its text, the cause as itself
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    ssc.source([1, 3], timestamp=int).map(lambda t: (t, threading.Lock())).map(fail_on_three).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    error = caught.value
    assert error.operator == "map-2" and type(error.__cause__) is BadReading
    assert repr(error.record).startswith("(3, (3, <unlocked _thread.lock object")
    assert str(error) == f"map-2: BadReading: three (record {error.record!r})"
    if on_cluster:
        assert f"line {fail_on_three.__code__.co_firstlineno + 2}, in fail_on_three" in "\n".join(error.__notes__)


class UnprintableRecord:
    """A record whose ``repr`` raises: the error about it must still be a StreamError."""

    def __repr__(self):
        raise RuntimeError("no text for this record")


def _record_rebuilt_on_a_worker(n):
    if os.getpid() == DRIVER_PID:
        raise ImportError("this record's class imports on the workers only")
    return WorkerOnlyRecord(n)


class WorkerOnlyRecord:
    """A record that pickles and unpickles on the workers, but does not unpickle on the driver."""

    def __init__(self, n):
        self.n = n

    def __reduce__(self):
        return _record_rebuilt_on_a_worker, (self.n,)

    def __repr__(self):
        return f"WorkerOnlyRecord({self.n})"


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_failing_record_whose_repr_raises_still_fails_the_job_with_a_stream_error(sc, on_cluster):
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    ssc.source([1, 3], timestamp=int).map(lambda t: (t, UnprintableRecord())).map(fail_on_three).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert caught.value.operator == "map-2" and type(caught.value.__cause__) is BadReading
    assert "(record <tuple object, repr raised RuntimeError>)" in str(caught.value)


class Unspeakable(Exception):
    """A user's exception whose ``__str__`` raises."""

    def __str__(self):
        raise RuntimeError("no text for this error")


def raise_unspeakable_on_three(x):
    if x == 3:
        raise Unspeakable()
    return x


@pytest.mark.parametrize("on_cluster", [False, True])
def test_an_exception_whose_str_raises_still_fails_the_job_with_a_stream_error(sc, on_cluster):
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    ssc.source([1, 3], timestamp=int).map(raise_unspeakable_on_three).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert type(caught.value.__cause__) is Unspeakable
    assert "Unspeakable: <str() raised RuntimeError>" in str(caught.value)


def unspeakable_on_three(x):
    if x == 3:
        raise Unspeakable()
    return x


@pytest.mark.parametrize("on_cluster", [False, True])
@pytest.mark.parametrize("where", ["key_by", "timestamp"])
def test_a_key_or_timestamp_function_raising_an_exception_whose_str_raises_names_it(sc, on_cluster, where):
    # Their messages formatted the exception with str() themselves, which raised in turn
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    if where == "key_by":
        ssc.source([1, 3], timestamp=int).key_by(unspeakable_on_three).collect()
    else:
        ssc.source([1, 3], timestamp=unspeakable_on_three).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert type(caught.value.__cause__) is Unspeakable
    assert "Unspeakable: <str() raised RuntimeError>" in str(caught.value)


class UnspeakableSource(Source):
    """A user's source whose reading raises an exception whose ``__str__`` raises."""

    def split(self, index, parallelism):
        return self

    def poll(self, max_records):
        raise Unspeakable()


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_source_raising_an_exception_whose_str_raises_fails_the_job_with_that_exception(sc, on_cluster):
    # Outside any operator: the task's own error report must not raise while formatting it
    # (it did: the task died and was restarted until the job gave up with a JobAbortedError)
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    ssc.source(UnspeakableSource(), timestamp=int).collect()
    with pytest.raises(Unspeakable):
        ssc.run()
    if on_cluster:
        assert ssc.executor.restarts == 0 and sc.parallelize(range(10), 2).sum() == 45


def test_a_failing_record_that_only_unpickles_on_the_workers_fails_the_job_with_a_stream_error(sc):
    ssc = StreamingContext(sc, parallelism=2)
    ssc.source([1, 3], timestamp=int).map(lambda t: (t, WorkerOnlyRecord(t))).map(fail_on_three).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    error = caught.value
    assert error.operator == "map-2" and type(error.__cause__) is BadReading
    assert repr(error.record) == "(3, (3, WorkerOnlyRecord(3)))"


def test_a_huge_failing_record_that_cannot_be_pickled_travels_as_its_preview_only(sc):
    ssc = StreamingContext(sc, parallelism=2)
    ssc.source([1, 3], timestamp=int).map(lambda t: (t, threading.Lock(), "x" * 1_000_000)).map(fail_on_three).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    error = caught.value
    assert error.operator == "map-2" and type(error.__cause__) is BadReading
    assert len(error.record) < 300 and str(error) == f"map-2: BadReading: three (record {error.record!r})"


def exit_on_three(x):
    if x == 3:
        sys.exit(3)
    return x


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_user_function_calling_sys_exit_ends_the_run_with_its_system_exit(sc, on_cluster):
    # As in this process and as an RDD task's: not a task lost and restarted max_restarts times
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    ssc.source(list(range(6)), timestamp=int).map(exit_on_three).collect()
    with pytest.raises(SystemExit) as caught:
        ssc.run()
    assert caught.value.code == 3
    if on_cluster:
        assert ssc.executor.restarts == 0 and sc.parallelize(range(10), 2).sum() == 45


def test_keyed_operators_default_to_the_clusters_slots_so_a_one_worker_cluster_runs_a_job(sc):
    events = seeded(6, 200, keys=3, spread=0)

    def build(ssc):
        return (ssc.source(events, timestamp=lambda e: e[0]).key_by(lambda e: e[1])
                   .window(TumblingWindow(20)).count().collect())
    oracle = StreamingContext()
    want = build(oracle)
    oracle.run()
    assert oracle.parallelism == 2 and StreamingContext(sc).parallelism == sc.defaultParallelism == 2
    with Context(workers=1) as one:
        ssc = StreamingContext(one)
        out = build(ssc)
        ssc.run()
    assert ssc.parallelism == 1 and sorted(out.result()) == sorted(want.result())


def test_a_job_wider_than_the_cluster_is_refused(sc):
    ssc = StreamingContext(sc, parallelism=sc.defaultParallelism + 1)
    ssc.source([1], timestamp=int).key_by(lambda x: x).map_with_state(lambda s, x: x).collect()
    with pytest.raises(ValueError, match="task slots"):
        ssc.run()


class EndlessSource(Source):
    """``records``, then nothing forever: only ``run(timeout=...)`` ends the job."""

    def __init__(self, records):
        self.records, self.position = records, 0

    def poll(self, max_records):
        batch = self.records[self.position:self.position + max_records]
        self.position += len(batch)
        return batch

    def offset(self):
        return self.position

    def seek(self, offset):
        self.position = offset


def test_run_with_a_timeout_drains_an_endless_source_on_the_cluster(sc):
    events = seeded(5, 2000, keys=4, spread=0)

    def build(ssc, source):
        return (ssc.source(source, timestamp=lambda e: e[0]).key_by(lambda e: e[1])
                   .window(TumblingWindow(50)).count().collect())
    ssc = StreamingContext(sc, parallelism=2, checkpoint_interval=0.1)
    out = build(ssc, EndlessSource(events))
    started = time.monotonic()
    metrics = ssc.run(timeout=1.0)
    assert time.monotonic() - started < 30                    # startup and the drain, well bounded
    # The drain's +inf watermark fires every window of what the source emitted by then.
    emitted = metrics.by_operator["window-2"]["records_in"]
    oracle = StreamingContext(parallelism=2)
    want = build(oracle, events[:emitted])
    oracle.run()
    assert emitted > 0 and sorted(out.result()) == sorted(want.result())


class PacedSource(Source):
    """``count`` records ``(clock at emission, key)`` at ``rate`` per second of the task's clock."""

    def __init__(self, count, rate):
        self.count, self.rate, self.position, self.started = count, rate, 0, None

    @property
    def finished(self):
        return self.position >= self.count

    def poll(self, max_records):
        now = self.clock()
        if self.started is None:
            self.started = now
        due = min(self.count, int((now - self.started) * self.rate) + 1)
        batch = [(now, f"k{i % 3}") for i in range(self.position, min(due, self.position + max_records))]
        self.position += len(batch)
        return batch

    def offset(self):
        return self.position

    def seek(self, offset):
        self.position = offset


@pytest.mark.parametrize("on_cluster", [False, True])
def test_without_a_timestamp_function_event_time_is_the_wall_clock_at_ingestion(sc, on_cluster):
    # Flink's ingestion time: comparable between hosts and across a restore elsewhere (a
    # monotonic clock counts from each machine's boot), and what a watermark's lag is taken from.
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2)
    out = ssc.source(["a", "b", "a"]).key_by(lambda w: w).window(TumblingWindow(1)).count().collect()
    before = time.time()
    ssc.run()
    after = time.time()
    results = out.result()
    totals = {}
    for key, start, end, n in results:
        totals[key] = totals.get(key, 0) + n
        assert int(before) <= start <= after and end == start + 1
    assert totals == {"a": 2, "b": 1}


def test_processing_time_windows_fire_on_the_workers_clock_as_time_passes(sc):
    count, rate, size = 300, 200, 0.25          # 1.5 s of records, windows of 0.25 s
    ssc = StreamingContext(sc, parallelism=2)
    out = (ssc.source(PacedSource(count, rate)).key_by(lambda r: r[1])
              .window(TumblingWindow(size, processing_time=True)).count()
              .map(lambda w: (w, time.time())).collect())      # stamped as it leaves the window
    ssc.run()
    results = out.result()
    assert sum(w[3] for w, _ in results) == count
    assert all(w[2] - w[1] == pytest.approx(size) for w, _ in results)
    # Records span 1.5 s of clock: at least 6 windows, and a window fires as its end passes,
    # not when the stream ends (bounded lag, not exact timing).
    assert len({w[1] for w, _ in results}) >= int((count - 1) / rate / size)
    assert max(fired - w[2] for w, fired in results) < 0.75
