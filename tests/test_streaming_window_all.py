"""``DataStream.window_all``: Flink's non-keyed windows (``AllWindowedStream``), asked of minibig.

The scenarios are PyFlink's ``test_event_time_tumbling_window_all``,
``test_window_all_reduce``, ``test_window_all_reduce_process``,
``test_window_all_aggregate`` and ``test_window_all_aggregate_process``
(``flink-python/pyflink/datastream/tests/test_window.py``), rewritten with minibig's
API and their expected answers carried over; minibig's results are ``(start, end,
value)`` (a keyed window's without the key). Each runs in this process and on the
2-worker cluster, from one source instance and from two (one operator instance reads
both, as Flink's all-window operator of parallelism 1). Then the oracle over many
records, late data, and errors.
"""

import pytest

from minibig.streaming import (AggregateFunction, SessionWindow, SlidingWindow, StreamError, StreamingContext,
                               TumblingWindow)
from tests.streaming_reference import contexts
from tests.streaming_reference import contexts

AB = [("a", 1), ("a", 2), ("b", 3), ("a", 6), ("b", 8), ("b", 9), ("a", 15)]
HI = [("hi", 1), ("hello", 2), ("hi", 3), ("hello", 4), ("hello", 5), ("hi", 8), ("hi", 9), ("hi", 15)]


class EvenMinusOdd(AggregateFunction):
    """test_window_all_aggregate's function (test_window_aggregate_passthrough's too): the last
    record's name, evens minus odds, in a dict accumulator mutated in place."""

    def create_accumulator(self):
        return "", {0: 0, 1: 0}

    def add(self, value, accumulator):
        accumulator[1][value[1] % 2] += 1
        return value[0], accumulator[1]

    def get_result(self, accumulator):
        return accumulator[0], accumulator[1][0] - accumulator[1][1]

    def merge(self, a, b):
        return a[0], {0: a[1][0] + b[1][0], 1: a[1][1] + b[1][1]}


class SumWithLastName(AggregateFunction):
    """test_window_all_aggregate_process's function (test_window_aggregate_accumulator_type's too):
    the sum of times, the last name."""

    def create_accumulator(self):
        return 0, ""

    def add(self, value, accumulator):
        return value[1] + accumulator[0], value[0]

    def get_result(self, accumulator):
        return accumulator[1], accumulator[0]

    def merge(self, a, b):
        return a[0] + b[0], a[1]


def first_of(window, results):
    return f"current window start at {window[0]}, reduce result {results[0]}"


def sum_text(window, results):
    return f"key {results[0][0]} timestamp sum {results[0][1]}"


CASES = {
    "test_event_time_tumbling_window_all": (
        HI, lambda s: s.window_all(TumblingWindow(5)).process(lambda window, records: len(records)),
        [(0, 5, 4), (5, 10, 3), (15, 20, 1)]),
    "test_window_all_reduce": (
        AB, lambda s: s.window_all(SessionWindow(2)).reduce(lambda a, b: (a[0], a[1] + b[1])),
        [(1, 5, ("a", 6)), (6, 11, ("a", 23)), (15, 17, ("a", 15))]),
    "test_window_all_reduce_process": (
        AB, lambda s: s.window_all(SessionWindow(2)).reduce(lambda a, b: (a[0], a[1] + b[1]),
                                                            window_function=first_of),
        [(1, 5, "current window start at 1, reduce result ('a', 6)"),
         (6, 11, "current window start at 6, reduce result ('a', 23)"),
         (15, 17, "current window start at 15, reduce result ('a', 15)")]),
    "test_window_all_aggregate": (
        AB, lambda s: s.window_all(SessionWindow(2)).aggregate(EvenMinusOdd()),
        [(1, 5, ("b", -1)), (6, 11, ("b", 1)), (15, 17, ("a", -1))]),
    "test_window_all_aggregate_process": (
        AB, lambda s: s.window_all(SessionWindow(2)).aggregate(SumWithLastName(), window_function=sum_text),
        [(1, 5, "key b timestamp sum 6"), (6, 11, "key b timestamp sum 23"), (15, 17, "key a timestamp sum 15")]),
}


@pytest.mark.parametrize("where", ["local", "cluster"])
@pytest.mark.parametrize("name", list(CASES))
def test_pyflinks_window_all_tests_give_pyflinks_answers(sc, name, where):
    records, job, want = CASES[name]
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    out = job(ssc.source(records, timestamp=lambda r: r[1])).collect()
    ssc.run(timeout=60)
    assert sorted(out.result()) == want


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_every_instance_feeds_one_window_the_oracle_over_many_records(sc, where):
    """Two source instances, a keyed stream's pairs as records (window_all ignores the key),
    sliding windows: each window holds every record of its span, whichever instance read it."""
    events = [(i * 7) % 500 for i in range(1000)]             # times 0..499, out of order
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=37)
    stream = ssc.source(events, timestamp=lambda t: t, max_out_of_orderness=500, parallelism=2)
    counts = stream.key_by(lambda t: t % 3).window_all(SlidingWindow(50, 25)).count()
    got, late = counts.collect(), counts.late().collect()
    ssc.run(timeout=60)
    want = {}
    for t in events:
        for start in (t - t % 25 - 25, t - t % 25):       # the two windows of 50 holding t
            want[(start, start + 50)] = want.get((start, start + 50), 0) + 1
    assert sorted(got.result()) == sorted((s, e, n) for (s, e), n in want.items())
    assert late.result() == []


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_late_records_come_out_as_they_came(sc, where):
    """PyFlink's test_side_output_late_data, without the key: 4 comes after 8 closed [0, 5)."""
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    counts = ssc.source([("a", 0), ("a", 8), ("a", 4), ("a", 6)], timestamp=lambda r: r[1]).window_all(
        TumblingWindow(5)).count()
    out, late = counts.collect(), counts.late().collect()
    metrics = ssc.run(timeout=60)
    assert sorted(out.result()) == [(0, 5, 1), (5, 10, 2)]
    assert late.result() == [("a", 4)]
    assert metrics["late_records"] == 1


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_window_function_that_raises_names_the_window_without_a_key(sc, where):
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    ssc.source([1, 2, 7], timestamp=int).window_all(TumblingWindow(5)).process(
        lambda window, records: {}[window]).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run(timeout=60)
    assert caught.value.operator.startswith("window_all-")
    assert caught.value.record == (0, 5)
    assert type(caught.value.__cause__) is KeyError


def test_a_reduce_that_raises_names_the_record_as_it_came():
    ssc = StreamingContext(parallelism=2, batch_size=1)
    ssc.source([1, 2], timestamp=int).window_all(TumblingWindow(5)).reduce(lambda a, b: a / 0).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert caught.value.record == (2, 2)
    assert type(caught.value.__cause__) is ZeroDivisionError


@pytest.mark.parametrize("build, error", [
    (lambda s: s.window_all(5), TypeError),
    (lambda s: s.window_all(TumblingWindow(5), allowed_lateness=-1), ValueError),
    (lambda s: s.window_all(TumblingWindow(5)).reduce(None), TypeError),
    (lambda s: s.window_all(TumblingWindow(5)).aggregate(object()), TypeError),
])
def test_a_wrong_argument_is_refused_when_the_job_is_written(build, error):
    with pytest.raises(error):
        build(StreamingContext(parallelism=2).source([1], timestamp=int))
