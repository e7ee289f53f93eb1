"""Windowed streams against the reference model (tests/streaming_reference.py).

Seeded random streams, out of order and with late records, through the local
executor with two window instances and small source batches, compared
window by window: every firing's values, in firing order, the late side
output and the late counters.
"""

import random
import re
import threading

import numpy
import pytest

from minibig.streaming import (AggregateFunction, SessionWindow, SlidingWindow, StreamError, StreamingContext,
                               TumblingWindow)
from tests import streaming_reference as ref


def random_events(seed, n=400, keys=4, disorder=6, late_share=0.08, very_late=40):
    """``(timestamp, key, i)``: mostly rising, some out of order, some very late; ``i`` unique."""
    rng = random.Random(seed)
    events, clock = [], 0
    for i in range(n):
        clock += rng.randint(0, 2)
        timestamp = clock - rng.randint(0, disorder)
        if rng.random() < late_share:
            timestamp -= rng.randint(disorder, very_late)
        events.append((timestamp, f"k{rng.randrange(keys)}", i))
    return events


def run_windowed(events, assigner, source_delay=0, window_delay=0, lateness=0, batch_size=7, sc=None):
    ssc = StreamingContext(sc, parallelism=2, batch_size=batch_size)
    result = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=source_delay)
                 .key_by(lambda e: e[1])
                 .window(assigner, max_out_of_orderness=window_delay, allowed_lateness=lateness)
                 .process(lambda key, window, records: sorted(r[2] for r in records)))
    out, late = result.collect(), result.late().collect()
    metrics = ssc.run()
    fired = {}
    for key, start, end, values in out.result():
        fired.setdefault((key, start, end), []).append(values)
    return fired, sorted(((key, record[2]) for key, record in late.result()), key=repr), metrics


def expected(model):
    return ref.by_window(model.emitted, sorted), sorted(model.late, key=repr)


def arrivals_of(events):
    return [ref.Arrival(0, ts, key, i) for ts, key, i in events]


def check(events, assigner, model, **options):
    fired, late, metrics = run_windowed(events, assigner, **options)
    want_fired, want_late = expected(model)
    assert fired == want_fired
    assert late == want_late
    assert metrics["late_records"] == len(want_late)
    assert metrics["late_window_refusals"] == model.refusals


@pytest.mark.parametrize("seed,size,source_delay,window_delay,lateness", [
    (1, 10, 0, 0, 0), (2, 10, 3, 2, 0), (3, 7, 5, 0, 8), (4, 25, 0, 4, 30), (5, 1, 2, 0, 3)])
def test_tumbling_windows_match_the_reference(seed, size, source_delay, window_delay, lateness):
    events = random_events(seed)
    arrivals = arrivals_of(events)
    marks = ref.watermarks(arrivals, {}, 1, source_delay, window_delay)
    model = ref.fixed_windows(arrivals, marks, size, size, lateness)
    assert model.late or lateness > 0, "the stream should exercise late records"
    check(events, TumblingWindow(size), model, source_delay=source_delay,
          window_delay=window_delay, lateness=lateness)


@pytest.mark.parametrize("seed,size,source_delay,lateness", [(6, 10, 0, 0), (7, 7, 3, 8), (8, 1, 2, 3)])
def test_tumbling_counts_match_the_reference(seed, size, source_delay, lateness):
    """count() on event-time tumbling windows adds inline: every firing (re-firings within
    the lateness included) is the reference's number of values, late records as it says."""
    events = random_events(seed)
    arrivals = arrivals_of(events)
    model = ref.fixed_windows(arrivals, ref.watermarks(arrivals, {}, 1, source_delay, 0), size, size, lateness)
    ssc = StreamingContext(parallelism=2, batch_size=7)
    counted = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=source_delay)
                  .key_by(lambda e: e[1]).window(TumblingWindow(size), allowed_lateness=lateness).count())
    out, late = counted.collect(), counted.late().collect()
    metrics = ssc.run()
    fired = {}
    for key, start, end, count in out.result():
        fired.setdefault((key, start, end), []).append(count)
    assert model.late, "the stream should exercise late records"
    assert fired == ref.by_window(model.emitted, len)
    assert sorted((key, record[2]) for key, record in late.result()) == sorted(model.late)
    assert metrics["late_records"] == len(model.late)


@pytest.mark.parametrize("seed,size,slide,delay,lateness", [
    (11, 10, 5, 0, 0), (12, 12, 4, 3, 0), (13, 10, 3, 2, 6), (14, 6, 6, 0, 0), (15, 20, 1, 1, 2),
    (16, 4, 10, 2, 3)])
def test_sliding_windows_match_the_reference(seed, size, slide, delay, lateness):
    events = random_events(seed, n=250)
    arrivals = arrivals_of(events)
    marks = ref.watermarks(arrivals, {}, 1, delay, 0)
    model = ref.fixed_windows(arrivals, marks, size, slide, lateness)
    check(events, SlidingWindow(size, slide), model, source_delay=delay, lateness=lateness)


def test_sliding_record_late_for_some_windows_only_is_kept_in_the_others():
    # Watermark 12 after the second record: [0, 10) is closed, [5, 15) is open.
    events = [(1, "a", 0), (12, "a", 1), (7, "a", 2)]
    fired, late, metrics = run_windowed(events, SlidingWindow(10, 5))
    assert fired[("a", 5, 15)] == [[1, 2]]
    assert fired[("a", 0, 10)] == [[0]]
    assert late == []
    assert metrics["late_window_refusals"] == 1 and metrics["late_records"] == 0


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_record_in_no_sliding_window_is_late_only_when_its_own_time_is(sc, on_cluster):
    # Slide 10, size 5: [20, 25) and [30, 35) leave 27 out. Flink's isElementLate: at W = 30,
    # 7 and 27 are late (side output, no window refused them); 36, above W, is just dropped
    events = [(1, "a", 0), (30, "a", 1), (7, "a", 2), (27, "a", 3), (36, "a", 4)]
    fired, late, metrics = run_windowed(events, SlidingWindow(5, 10), batch_size=1,
                                        sc=sc if on_cluster else None)
    assert fired == {("a", 0, 5): [[0]], ("a", 30, 35): [[1]]}
    assert late == [("a", 2), ("a", 3)]
    assert metrics["late_records"] == 2 and metrics["late_window_refusals"] == 0


def test_sliding_windows_start_before_zero():
    fired, _, _ = run_windowed([(2, "a", 0)], SlidingWindow(10, 5))
    assert sorted(fired) == [("a", -5, 5), ("a", 0, 10)]


@pytest.mark.parametrize("seed,gap,delay,lateness", [(21, 3, 0, 0), (22, 5, 4, 0), (23, 2, 2, 10), (24, 8, 1, 3)])
def test_session_windows_match_the_reference(seed, gap, delay, lateness):
    events = random_events(seed, n=300, keys=3)
    arrivals = arrivals_of(events)
    marks = ref.watermarks(arrivals, {}, 1, delay, 0)
    model = ref.sessions(arrivals, marks, gap, lateness)
    check(events, SessionWindow(gap), model, source_delay=delay, lateness=lateness)


def test_sessions_that_touch_merge():
    events = [(0, "a", 0), (10, "a", 1), (5, "a", 2), (30, "a", 3)]
    fired, _, _ = run_windowed(events, SessionWindow(5), source_delay=10)
    assert fired == {("a", 0, 15): [[0, 1, 2]], ("a", 30, 35): [[3]]}


def test_allowed_lateness_fires_the_window_again_with_the_updated_value():
    events = [(1, "a", 0), (3, "a", 1), (11, "a", 2), (4, "a", 3), (25, "a", 4), (5, "a", 5)]
    fired, late, metrics = run_windowed(events, TumblingWindow(10), lateness=10)
    # W=11 fires [0,10); 4 arrives within lateness: fires again; W=25 >= 10+10 drops it: 5 is late.
    assert fired[("a", 0, 10)] == [[0, 1], [0, 1, 3]]
    assert late == [("a", 5)]
    assert metrics["late_records"] == 1


def test_float_timestamps_and_negative_times():
    events = [(-2.5, "a", 0), (-0.5, "a", 1), (0.25, "a", 2), (1.75, "b", 3)]
    fired, _, _ = run_windowed(events, TumblingWindow(1.0))
    assert fired == {("a", -3.0, -2.0): [[0]], ("a", -1.0, 0.0): [[1]], ("a", 0.0, 1.0): [[2]],
                     ("b", 1.0, 2.0): [[3]]}


class Mean(AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, acc):
        return (acc[0] + value[2], acc[1] + 1)

    def merge(self, a, b):
        return (a[0] + b[0], a[1] + b[1])

    def get_result(self, acc):
        return acc[0] / acc[1]


@pytest.mark.parametrize("assigner", [TumblingWindow(10), SlidingWindow(10, 5), SessionWindow(4)])
def test_reduce_aggregate_and_count_agree_with_process(assigner):
    events = random_events(31, n=200)
    ssc = StreamingContext(parallelism=2, batch_size=16)
    keyed = ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=3).key_by(lambda e: e[1])
    window = keyed.window(assigner, allowed_lateness=5)
    lists = window.process(lambda key, w, records: [r[2] for r in records]).collect()
    sums = window.reduce(lambda a, b: (a[0], a[1], a[2] + b[2])).collect()
    means = window.aggregate(Mean()).collect()
    counts = window.count().collect()
    ssc.run()
    assert sorted((k, s, e, sum(v)) for k, s, e, v in lists.result()) == sorted(
        (k, s, e, v[2]) for k, s, e, v in sums.result())
    assert sorted((k, s, e, len(v)) for k, s, e, v in lists.result()) == sorted(counts.result())
    assert sorted((k, s, e, sum(v) / len(v)) for k, s, e, v in lists.result()) == sorted(means.result())


@pytest.mark.parametrize("stamp", [int, numpy.int64])
def test_windows_chain_downstream(stamp):
    """Results carry their window's largest timestamp, so a second window of the same size regroups
    them; integer bounds stay integers (numpy's too), as the first window's are."""
    events = [(stamp(t), f"k{t % 3}", t) for t in range(30)]
    ssc = StreamingContext(parallelism=2)
    per_key = (ssc.source(events, timestamp=lambda e: e[0]).key_by(lambda e: e[1])
                  .window(TumblingWindow(10)).count())
    totals = (per_key.key_by(lambda r: "all").window(TumblingWindow(10))
                     .reduce(lambda a, b: ("all", a[1], a[2], a[3] + b[3])).collect())
    metrics = ssc.run()
    assert sorted((s, e, v[3]) for _, s, e, v in totals.result()) == [(0, 10, 10), (10, 20, 10), (20, 30, 10)]
    assert {type(bound) for _, s, e, _ in totals.result() for bound in (s, e)} == {stamp}
    assert metrics["late_records"] == 0


# Flink's rules at their edges, in this process and on the cluster's workers (the window's two
# instances in two tasks, the records crossing the exchange), against hand-worked answers and
# the reference model.

@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_window_s_last_lateness_tick_accepts_and_refires_and_the_next_refuses(sc, on_cluster):
    # 10 is [10, 20)'s, not [0, 10)'s; W = 14 = end + lateness - 1 still takes 9 and fires again;
    # W = 15 = end + lateness drops the window, and 8 is late (Flink: maxTimestamp + lateness <= W)
    events = [(3, "a", 0), (10, "a", 1), (14, "a", 2), (9, "a", 3), (15, "a", 4), (8, "a", 5)]
    fired, late, metrics = run_windowed(events, TumblingWindow(10), lateness=5, batch_size=1,
                                        sc=sc if on_cluster else None)
    assert fired == {("a", 0, 10): [[0], [0, 3]], ("a", 10, 20): [[1, 2, 4]]}
    assert late == [("a", 5)] and metrics["late_records"] == metrics["late_window_refusals"] == 1
    arrivals = arrivals_of(events)
    model = ref.fixed_windows(arrivals, ref.watermarks(arrivals, {}, 1, 0, 0), 10, 10, 5)
    assert (fired, late) == expected(model)


@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_record_bridging_two_fired_sessions_fires_their_merge_once(sc, on_cluster):
    # Flink merges [0, 5), [5, 10) and [10, 15) into [0, 15): still within the lateness, it fires
    # at once with all three records; the two earlier firings stand (no retraction)
    events = [(0, "a", 0), (10, "a", 1), (20, "a", 2), (5, "a", 3)]
    fired, late, _ = run_windowed(events, SessionWindow(5), lateness=20, batch_size=1,
                                  sc=sc if on_cluster else None)
    assert fired == {("a", 0, 5): [[0]], ("a", 10, 15): [[1]], ("a", 0, 15): [[0, 1, 3]],
                     ("a", 20, 25): [[2]]}
    assert late == []


KEYS = ["a", b"a", ("a", 1), None, frozenset({1, "x"}), 7, 2.5, "\u00e9", (None, b"z", (3,)), -1]


def mixed_events(seed, n=300):
    """Negative timestamps, keys of every kind that crosses the exchange, and one key ("gone")
    whose every record comes too late for its windows."""
    events = [(t - 150, KEYS[i % len(KEYS)], i) for t, _, i in random_events(seed, n=n)]
    return events + [(-1000 - i, "gone", n + i) for i in range(3)]


@pytest.mark.parametrize("on_cluster", [False, True])
@pytest.mark.parametrize("assigner", [TumblingWindow(10), SlidingWindow(10, 4), SessionWindow(3)],
                         ids=["tumbling", "sliding", "session"])
def test_keys_of_every_kind_negative_times_and_a_late_only_key_match_the_reference(sc, on_cluster, assigner):
    events = mixed_events(51)
    arrivals = arrivals_of(events)
    marks = ref.watermarks(arrivals, {}, 1, 2, 0)
    if assigner.merging:
        model = ref.sessions(arrivals, marks, assigner.gap, 4)
    else:
        model = ref.fixed_windows(arrivals, marks, assigner.size, assigner.slide, 4)
    assert ("gone", len(events) - 1) in model.late
    check(events, assigner, model, source_delay=2, lateness=4, sc=sc if on_cluster else None)


def test_keys_of_every_kind_from_two_source_tasks_meet_in_one_window_instance(sc):
    # Each source task keys and routes its half: a key hashed differently in the two processes
    # (str, bytes and frozenset hashes are salted per process) would fire its window twice.
    # In event-time order within each half, so nothing is late whatever the interleaving.
    events = [(i // 3, KEYS[i % len(KEYS)], i) for i in range(600)]
    ssc = StreamingContext(sc, parallelism=2, batch_size=16)
    counts = (ssc.source(events, timestamp=lambda e: e[0], parallelism=2).key_by(lambda e: e[1])
                 .window(TumblingWindow(25)).count().collect())
    metrics = ssc.run()
    want = {}
    for t, key, _ in events:
        window = (key, t - t % 25, t - t % 25 + 25)
        want[window] = want.get(window, 0) + 1
    assert sorted(counts.result(), key=repr) == sorted(((*w, n) for w, n in want.items()), key=repr)
    assert metrics["late_records"] == 0
    assert len(set(ssc.executor.task_workers.values())) == 2          # two processes hashed the keys


@pytest.mark.parametrize("on_cluster", [False, True])
@pytest.mark.parametrize("assigner", [TumblingWindow(10), SessionWindow(5)], ids=["tumbling", "session"])
def test_a_downstream_function_mutating_a_result_does_not_change_the_window_s_next_firing(
        sc, on_cluster, assigner):
    # The reduce's accumulator is a list the window keeps for its lateness; the map after it
    # appends to what it gets. Flink gives the map a copy: the late firing is [0, 1, 3], not
    # [0, 1, 'seen', 3]
    events = [(1, "a", 0), (3, "a", 1), (20, "a", 2), (4, "a", 3)]
    ssc = StreamingContext(sc if on_cluster else None, parallelism=2, batch_size=1)
    lists = (ssc.source(events, timestamp=lambda e: e[0]).key_by(lambda e: e[1])
                .map(lambda e: (e[0], [e[1][2]]))
                .key_by(lambda e: "a")
                .window(assigner, allowed_lateness=30).reduce(lambda a, b: (a[0], a[1] + b[1])))
    seen = lists.map(lambda r: r[3][1].append("seen") or r).collect()
    ssc.run()
    fired = [(start, values) for _, start, _, (_, values) in seen.result() if start < 10]
    assert fired == [(1 if assigner.merging else 0, [0, 1, "seen"]), (1 if assigner.merging else 0, [0, 1, 3, "seen"])]


def test_a_result_that_cannot_be_copied_is_emitted_as_it_is():
    # The copy guards the window's kept state; a value holding a lock cannot be copied and is shared
    events = [(1, "a", 0), (20, "a", 1), (2, "a", 2)]
    ssc = StreamingContext(parallelism=2, batch_size=1)
    locked = (ssc.source(events, timestamp=lambda e: e[0]).key_by(lambda e: e[1])
                 .window(TumblingWindow(10), allowed_lateness=30)
                 .aggregate(LockedCount()).map(lambda r: (r[:3], r[3][0])).collect())
    ssc.run()
    assert sorted(locked.result()) == [(("a", 0, 10), 1), (("a", 0, 10), 2), (("a", 20, 30), 1)]


class LockedCount(AggregateFunction):
    """A count whose accumulator (and result) holds a lock: it cannot be deep-copied."""

    def create_accumulator(self):
        return [0, threading.Lock()]

    def add(self, value, acc):
        acc[0] += 1
        return acc

    def merge(self, a, b):
        return [a[0] + b[0], a[1]]

    def get_result(self, acc):
        return acc


@pytest.mark.parametrize("assigner", [TumblingWindow(10), SlidingWindow(10, 5), SlidingWindow(100, 0.5),
                                      SessionWindow(10)], ids=repr)
@pytest.mark.parametrize("timestamp", [2.0 ** 60, 1.5e300])
def test_a_float_timestamp_too_large_for_its_window_fails_the_job_naming_it(assigner, timestamp):
    # At 2**60 a float cannot hold start + 10 apart from start: the window had no length, its
    # first record fired it at once and the others were counted late (a count of 1 for 3 records)
    ssc = StreamingContext(None, parallelism=1)
    ssc.source([1, 2, 3], timestamp=lambda x: timestamp).key_by(lambda x: 0).window(assigner).count().collect()
    with pytest.raises(StreamError, match=re.escape(f"timestamp {timestamp!r} is too large for a window")):
        ssc.run()


@pytest.mark.parametrize("assigner", [TumblingWindow(10), SlidingWindow(10, 5), SessionWindow(10)], ids=repr)
def test_float_timestamps_that_still_tell_a_window_apart_count_every_record(assigner):
    ssc = StreamingContext(None, parallelism=1)
    counts = (ssc.source([1, 2, 3], timestamp=lambda x: 2.0 ** 53).key_by(lambda x: 0)
              .window(assigner).count().collect())
    ssc.run()
    assert {c[-1] for c in counts.result()} == {3}
