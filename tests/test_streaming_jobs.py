"""Whole jobs on the local executor: joins, keyed state, processing time, replay,
checkpoints, plans that travel, and errors that name the operator and the record."""

import random
import subprocess
import sys
import threading
import time
import types

import numpy
import pytest

from minibig.streaming import (SessionWindow, SlidingWindow, Source, StreamError, StreamingContext,
                               TumblingWindow)
from minibig.streaming.local import LocalExecutor
from minibig.streaming.operators import FilterOperator
from minibig.streaming.plan import Plan
from tests import streaming_reference as ref


def seeded(seed, n, keys=3, spread=3):
    rng = random.Random(seed)
    return [(i - rng.randint(0, spread), f"k{rng.randrange(keys)}", i) for i in range(n)]


def test_windowed_join_pairs_every_left_and_right_of_a_key_and_window():
    left, right = seeded(1, 80), seeded(2, 60)
    ssc = StreamingContext(parallelism=2, batch_size=5)
    a = ssc.source(left, timestamp=lambda e: e[0], max_out_of_orderness=3).key_by(lambda e: e[1])
    b = ssc.source(right, timestamp=lambda e: e[0], max_out_of_orderness=3).key_by(lambda e: e[1])
    joined = a.join(b, TumblingWindow(10)).collect()
    metrics = ssc.run()
    window = lambda t: t - t % 10
    want = sorted((l[1], window(l[0]), window(l[0]) + 10, (l, r)) for l in left for r in right
                  if l[1] == r[1] and window(l[0]) == window(r[0]))
    assert sorted(joined.result()) == want and metrics["late_records"] == 0


def test_keyed_state_keeps_one_running_value_per_key():
    events = seeded(3, 200, keys=5)

    def running_count(state, record):
        state.update(state.value(0) + 1)
        return (record[1], record[2], state.value())

    ssc = StreamingContext(parallelism=2, batch_size=9)
    out = ssc.source(events, timestamp=lambda e: e[0]).key_by(lambda e: e[1]).map_with_state(running_count).collect()
    ssc.run()
    seen, want = {}, []
    for _, key, i in events:
        seen[key] = seen.get(key, 0) + 1
        want.append((key, i, seen[key]))
    assert sorted(out.result()) == sorted(want)


def test_processing_time_windows_use_the_clock_at_arrival():
    clock = [0.0]
    arrivals = {0: ["a", "b"], 1: ["a"], 12: ["a"], 25: ["b", "b"]}
    ssc = StreamingContext(parallelism=2, clock=lambda: clock[0])
    script = [(t, arrivals.get(t, [])) for t in range(31)]
    out = (ssc.source(ref.ScriptedSource(clock, script)).key_by(lambda r: r)
              .window(TumblingWindow(10, processing_time=True)).count().collect())
    ssc.run()
    assert sorted(out.result()) == [("a", 0, 10, 2), ("a", 10, 20, 1), ("b", 0, 10, 1), ("b", 20, 30, 2)]


def sessions_job(events):
    ssc = StreamingContext(parallelism=2, batch_size=8)
    result = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=2).key_by(lambda e: e[1])
                 .window(SessionWindow(3), allowed_lateness=4).count())
    return ssc, result.collect(), result.late().collect()


def test_a_finite_stream_replays_to_the_same_answer():
    events = seeded(4, 300, spread=12)
    runs = []
    for _ in range(2):
        ssc, out, late = sessions_job(events)
        ssc.run()
        runs.append((out.result(), late.result()))
    assert runs[0] == runs[1] and runs[0][1], "expected late records in this stream"
    ssc.run()                                    # the same context runs again from the start
    assert (out.result(), late.result()) == runs[0]


@pytest.mark.parametrize("stop_after", [1, 7, 20])
def test_restoring_a_checkpoint_gives_the_failure_free_output(stop_after):
    events = seeded(5, 300, spread=12)
    ssc, out, late = sessions_job(events)
    ssc.run()
    want = (sorted(out.result()), sorted(late.result()))

    first = LocalExecutor(ssc.plan, batch_size=8)
    first.open()
    first.run(max_rounds=stop_after)
    checkpoint = first.checkpoint()
    first.run(max_rounds=3)                     # work after the checkpoint, then "killed"
    second = LocalExecutor(Plan.from_bytes(ssc.plan.to_bytes()), batch_size=8)
    second.open()
    second.restore(checkpoint)
    second.run()
    got = (sorted(second.collected(ssc.plan.sinks[0])), sorted(second.collected(ssc.plan.sinks[1])))
    assert got == want


def test_a_plan_travels_pickled_and_runs_the_same():
    events = seeded(6, 150)
    ssc = StreamingContext(parallelism=3, batch_size=4)
    (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=3).key_by(lambda e: e[1])
        .window(SlidingWindow(10, 5)).reduce(lambda a, b: (a[0], a[1], a[2] + b[2])).collect())
    outputs = []
    for plan in (ssc.plan, Plan.from_bytes(ssc.plan.to_bytes())):
        executor = LocalExecutor(plan, batch_size=4)
        executor.open()
        executor.run()
        outputs.append(executor.collected(plan.sinks[0]))
    assert outputs[0] == outputs[1] and outputs[0]


def run_expecting_error(build):
    ssc = StreamingContext(parallelism=2)
    build(ssc).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    return caught.value


def test_a_timestamp_function_that_raises_names_the_source_and_the_record():
    error = run_expecting_error(lambda ssc: ssc.source([{"t": 1}, {"x": 2}], timestamp=lambda r: r["t"]))
    assert error.operator == "source-0" and error.record == {"x": 2}
    assert isinstance(error.__cause__, KeyError) and "{'x': 2}" in str(error)


@pytest.mark.parametrize("bad", ["7", None, float("nan"), True, float("inf"), -float("inf"), numpy.float64("inf")])
def test_a_timestamp_that_is_not_a_finite_number_is_an_error(bad):
    error = run_expecting_error(lambda ssc: ssc.source([("r", bad)], timestamp=lambda r: r[1]))
    assert error.operator == "source-0" and error.record == ("r", bad)


def test_a_record_that_cannot_be_keyed_names_key_by_and_the_record():
    error = run_expecting_error(lambda ssc: ssc.source([(1, "a"), (2,)], timestamp=lambda r: r[0])
                                .key_by(lambda r: r[1]))
    assert error.operator == "key_by-1" and error.record == (2, (2,))
    error = run_expecting_error(lambda ssc: ssc.source([(1, ["unhashable"])], timestamp=lambda r: r[0])
                                .key_by(lambda r: r[1]))
    assert error.operator == "key_by-1" and "cannot key" in str(error)


def test_a_failing_user_function_names_its_operator():
    error = run_expecting_error(lambda ssc: ssc.source([1, 0], timestamp=int).map(lambda x: 1 / x))
    assert error.operator == "map-1" and error.record == (0, 0)
    assert isinstance(error.__cause__, ZeroDivisionError)


def test_importing_streaming_adds_no_numba_pyarrow_or_zmq():
    code = ("import sys, minibig; before = set(sys.modules); import minibig.streaming; "
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('numba', 'pyarrow', 'zmq')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_a_failing_filter_names_the_record_it_failed_on():
    op = FilterOperator("filter-1", lambda v: 10 // v > 1)
    with pytest.raises(StreamError) as info:
        op.process_batch([(1, 2), (2, 0), (3, 5)])
    assert info.value.operator == "filter-1" and info.value.record == (2, 0)


def test_a_job_submitted_to_spark_is_told_streams_are_minibig_only():
    from minibig.rdd.spark_shim import MinibigOnlyError, SparkEngineContext
    # What Context() is under `minibig submit --engine spark`; refused before it is used, so
    # this one needs no Spark started.
    spark = SparkEngineContext.__new__(SparkEngineContext)
    with pytest.raises(MinibigOnlyError, match="minibig.streaming is minibig-only.*without --engine spark"):
        StreamingContext(spark)


class SteppableClock:
    """A wall clock NTP may step: time.time() plus ``offset``."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.time() + self.offset


class SteppingSource(Source):
    """Its batches, one a poll, then none (forever if ``endless``); at poll ``step_at`` NTP steps
    the wall clock (the runtime's clock, a SteppableClock) by ``shift`` seconds, once."""

    def __init__(self, batches, step_at, shift, endless=False):
        self.batches, self.step_at, self.shift, self.endless = batches, step_at, shift, endless
        self.polls = 0

    @property
    def finished(self):
        return not self.endless and self.polls >= len(self.batches)

    def poll(self, max_records):
        if self.polls == self.step_at:
            self.clock.offset += self.shift
        self.polls += 1
        return self.batches[self.polls - 1] if self.polls <= len(self.batches) else []

    def offset(self):
        return self.polls

    def seek(self, offset):
        self.polls = offset


def test_run_with_a_timeout_ends_on_time_when_the_wall_clock_steps_back():
    # run(timeout=...) counts seconds elapsed, as the cluster's does: a wall clock stepped back an
    # hour (NTP) must not keep an endless source's run going for that hour
    clock = SteppableClock()
    ssc = StreamingContext(parallelism=2, clock=clock)
    endless = SteppingSource([[1, 2, 3]], 1, -3600.0, endless=True)
    out = ssc.source(endless, timestamp=int).map(lambda x: 10 * x).collect()
    ran = threading.Thread(target=ssc.run, kwargs={"timeout": 0.2}, daemon=True)
    ran.start()
    ran.join(timeout=15)
    if ran.is_alive():
        clock.offset = 7200.0              # let the run end, then fail
        ran.join(timeout=15)
        pytest.fail("run(timeout=0.2) still running 15 s later: its deadline is on the wall clock")
    assert sorted(out.result()) == [10, 20, 30]


def test_a_wall_clock_step_does_not_make_a_source_idle(monkeypatch):
    # Idleness counts elapsed seconds (monotonic), as Flink's: an NTP step forward of the default
    # wall clock would mark the quiet source idle and drop its record as late
    from minibig.streaming import physical
    wall = SteppableClock()
    monkeypatch.setattr(physical, "time", types.SimpleNamespace(time=wall, monotonic=time.monotonic))
    ssc = StreamingContext(parallelism=2, batch_size=10)
    busy = ssc.source([(t, "a") for t in range(100)], timestamp=lambda e: e[0])
    # silent for five polls, then one record; the wall clock steps forward an hour at the first
    quiet = ssc.source(SteppingSource([[]] * 5 + [[(5, "b")]], 0, 3600.0), timestamp=lambda e: e[0],
                       idle_timeout=60)
    counts = busy.union(quiet).key_by(lambda e: e[1]).window(TumblingWindow(10)).count()
    out, late = counts.collect(), counts.late().collect()
    ssc.run()
    assert wall.offset == 3600.0 and late.result() == [] and ("b", 0, 10, 1) in out.result()


def test_ingestion_time_does_not_go_back_with_the_wall_clock():
    # Records read after the step would be an hour behind the source's watermark: all late
    clock = SteppableClock()
    ssc = StreamingContext(parallelism=2, clock=clock)
    counts = (ssc.source(SteppingSource([["a", "b"], ["a", "a"]], 1, -3600.0)).key_by(lambda w: w)
                 .window(TumblingWindow(3600)).count())
    out, late = counts.collect(), counts.late().collect()
    ssc.run()
    assert clock.offset == -3600.0 and late.result() == []
    assert sum(n for key, _, _, n in out.result() if key == "a") == 3


def test_processing_time_windows_follow_a_clock_stepped_back():
    # As Flink's processing-time timers: records after the step go to windows of the new time,
    # never late, and those fire as the clock passes their end; the old window fires at the end
    clock = [0.0]
    arrivals = {105: ["a"], 52: ["b"], 55: ["c"]}
    stepped_back = ref.ScriptedSource(clock, [(t, arrivals.get(t, [])) for t in (100, 105, 50, 52, 55, 61, 62)])
    ssc = StreamingContext(parallelism=2, clock=lambda: clock[0])
    counts = (ssc.source(stepped_back).key_by(lambda r: r)
                 .window(TumblingWindow(10, processing_time=True)).count())
    out, late = counts.map(lambda w: (w, clock[0])).collect(), counts.late().collect()
    ssc.run()
    assert late.result() == []
    assert sorted(out.result()) == [(("a", 100, 110, 1), 62), (("b", 50, 60, 1), 61),
                                    (("c", 50, 60, 1), 61)]


def test_a_paced_generator_keeps_its_rate_after_a_clock_step_back_and_a_restore():
    from minibig.streaming.sources import GeneratorSource
    now = [1000.0]
    source = GeneratorSource(rate=100, seed=1)
    source.open(lambda: now[0])
    now[0] = 1000.5
    assert len(source.poll(1000)) == 50
    now[0] = 400.0                        # NTP steps the wall clock back 10 minutes
    assert source.poll(1000) == []
    now[0] = 400.25                       # 0.25 s later: 25 more, not nothing for 10 minutes
    assert len(source.poll(1000)) == 25
    restored = GeneratorSource(rate=100, seed=1)
    restored.open(lambda: now[0])         # a restore: opened, then sought to the checkpoint's offset
    restored.seek(source.offset())
    now[0] = 400.5                        # 0.25 s after it: 25, not nothing for the 0.75 s before
    assert len(restored.poll(1000)) == 25 and restored.offset() == 100
