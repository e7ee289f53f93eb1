"""What Flink's own PyFlink tests assert, asked of minibig.streaming.

Each case is a test of ``flink-python/pyflink/datastream/tests`` (``test_window.py``,
``test_data_stream.py``) rewritten with minibig's API and its expected answer
carried over: the same windows, bounds and values, on the cluster as in this
process. Where minibig's model differs by design (``key_by`` emits ``(key,
record)``; a watermark after every record, where Flink's test sees none until
the end) the case says so. Then what Flink refuses when the job is written
(a negative lateness, a window offset that is no number), and a window
function that raises as its window fires.
"""

import functools
import math
import random
from fractions import Fraction

import numpy as np
import pytest

from minibig.streaming import (AggregateFunction, SessionWindow, SlidingWindow, StreamError, StreamingContext,
                               TumblingWindow)
from tests import streaming_reference as ref
from tests.test_streaming_window_all import AB, EvenMinusOdd, SumWithLastName     # test_window.py's data, functions

HI = [("hi", 1), ("hi", 2), ("hi", 3), ("hi", 4), ("hi", 5), ("hi", 8), ("hi", 9), ("hi", 15)]


def second(record):
    return record[1]


def count_records(key, window, records):
    return len(records)


def keyed(ssc, events, **source_options):
    return ssc.source(events, timestamp=second, **source_options).key_by(lambda r: r[0])


def tumbling(ssc):
    return keyed(ssc, HI).window(TumblingWindow(5)).process(count_records)


def sliding(ssc):
    return keyed(ssc, HI).window(SlidingWindow(5, 2)).process(count_records)


def session(ssc):
    return keyed(ssc, [r for r in HI if r[1] != 5]).window(SessionWindow(5)).process(count_records)


def session_reduce(ssc):
    return keyed(ssc, AB).window(SessionWindow(2)).reduce(lambda a, b: (b[0], a[1] + b[1]))


def session_aggregate(ssc):
    return keyed(ssc, AB).window(SessionWindow(2)).aggregate(EvenMinusOdd())


def describe_reduced(key, window, folded):
    return f"current window start at {window[0]}, reduce result {next(iter(folded))}"


def session_reduce_through_a_window_function(ssc):
    return keyed(ssc, AB).window(SessionWindow(2)).reduce(lambda a, b: (b[0], a[1] + b[1]),
                                                          window_function=describe_reduced)


def session_aggregate_through_a_window_function(ssc):
    def describe(key, window, results):
        key, total = next(iter(results))
        return f"key {key} timestamp sum {total}"
    return keyed(ssc, AB).window(SessionWindow(2)).aggregate(SumWithLastName(), window_function=describe)


def session_merged_by_a_late_record(ssc):
    # Flink's test sees no watermark before 4 arrives (periodic watermarks); a delay of 8 does that here
    return keyed(ssc, [("hi", 0), ("hi", 8), ("hi", 4)], max_out_of_orderness=8).window(
        SessionWindow(5)).process(count_records)


def session_with_a_watermark_after_every_record(ssc):
    # the same records with Flink's PerElementWatermarkGenerator: [0, 5) fires before 4 comes
    return keyed(ssc, [("hi", 0), ("hi", 8), ("hi", 4)]).window(SessionWindow(5)).process(count_records)


def chained_window(ssc):
    minute = 1676461680000
    rows = [(minute, "a1", "b1", 1), (minute, "a1", "b1", 1), (minute, "a2", "b2", 1), (minute, "a1", "b2", 1),
            (minute + 60000, "a1", "b1", 1), (minute + 60000, "a2", "b2", 1)]
    return (ssc.source(rows, timestamp=lambda r: r[0]).key_by(lambda r: r[:3]).window(TumblingWindow(60000))
               .reduce(lambda x, y: (x[0], x[1], x[2], x[3] + y[3])).map(lambda out: out[3]))


def values(rows):
    return sorted(row[3] for row in rows)


FLINK_CASES = {
    # test name in Flink: (job, what minibig's output must be, Flink's expected answer in that shape);
    # its window_all tests are in test_streaming_window_all.py
    "test_event_time_tumbling_window": (tumbling, sorted, [("hi", 0, 5, 4), ("hi", 5, 10, 3), ("hi", 15, 20, 1)]),
    "test_event_time_sliding_window": (sliding, sorted, [("hi", s, s + 5, n) for s, n in [
        (-2, 2), (0, 4), (2, 4), (4, 3), (6, 2), (8, 2), (12, 1), (14, 1)]]),
    "test_event_time_session_window": (session, sorted, [("hi", 1, 14, 6), ("hi", 15, 20, 1)]),
    "test_window_reduce_passthrough": (session_reduce, values,
                                       sorted([("a", 3), ("a", 6), ("a", 15), ("b", 3), ("b", 17)])),
    "test_window_aggregate_passthrough": (session_aggregate, values,
                                          sorted([("a", -1), ("a", 0), ("a", 1), ("b", -1), ("b", 0)])),
    "test_window_aggregate_accumulator_type": (lambda ssc: keyed(ssc, AB).window(SessionWindow(2)).aggregate(
        SumWithLastName()), values, sorted([("a", 15), ("a", 3), ("a", 6), ("b", 17), ("b", 3)])),
    "test_window_reduce_process": (session_reduce_through_a_window_function, values, sorted([
        "current window start at 1, reduce result ('a', 3)", "current window start at 15, reduce result ('a', 15)",
        "current window start at 3, reduce result ('b', 3)", "current window start at 6, reduce result ('a', 6)",
        "current window start at 8, reduce result ('b', 17)"])),
    "test_window_aggregate_process": (session_aggregate_through_a_window_function, values, sorted([
        "key a timestamp sum 15", "key a timestamp sum 3", "key a timestamp sum 6", "key b timestamp sum 17",
        "key b timestamp sum 3"])),
    "test_session_window_late_merge": (session_merged_by_a_late_record, sorted, [("hi", 0, 13, 3)]),
    "test_session_window_late_merge, per-element watermarks": (
        session_with_a_watermark_after_every_record, sorted, [("hi", 0, 5, 1), ("hi", 4, 13, 2)]),
    "test_chained_window": (chained_window, sorted, sorted([
        (1676461680000, "a1", "b1", 2), (1676461680000, "a2", "b2", 1), (1676461680000, "a1", "b2", 1),
        (1676461740000, "a1", "b1", 1), (1676461740000, "a2", "b2", 1)])),
}


@pytest.mark.parametrize("where", ["local", "cluster"])
@pytest.mark.parametrize("name", list(FLINK_CASES))
def test_flinks_window_tests_give_flinks_answers(sc, name, where):
    job, shape, want = FLINK_CASES[name]
    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    out = job(ssc).collect()
    ssc.run(timeout=60)
    assert shape(out.result()) == want


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_side_output_late_data_as_flinks_test(sc, where):
    """test_side_output_late_data: 4 comes after 8 closed [0, 5); [5, 10) still counts 6."""
    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    counts = keyed(ssc, [("a", 0), ("a", 8), ("a", 4), ("a", 6)]).window(
        TumblingWindow(5), allowed_lateness=0).process(count_records)
    out, late = counts.collect(), counts.late().collect()
    metrics = ssc.run(timeout=60)
    assert sorted(out.result()) == [("a", 0, 5, 1), ("a", 5, 10, 2)]
    assert late.result() == [("a", ("a", 4))]
    assert metrics["late_records"] == 1


# -- a window function that raises as its window fires ------------------------------------------

def boom(*args):
    raise KeyError("boom")


class FailingResult(AggregateFunction):
    def create_accumulator(self):
        return 0

    def add(self, value, accumulator):
        return accumulator + 1

    def merge(self, a, b):
        return a + b

    def get_result(self, accumulator):
        raise KeyError("boom")


FAILING_WINDOWS = {
    "tumbling process": (TumblingWindow(5), lambda w: w.process(boom), ("k", 0, 5)),
    "tumbling aggregate": (TumblingWindow(5), lambda w: w.aggregate(FailingResult()), ("k", 0, 5)),
    "sliding process": (SlidingWindow(5, 5), lambda w: w.process(boom), ("k", 0, 5)),
    "session process": (SessionWindow(3), lambda w: w.process(boom), ("k", 1, 9)),
}


@pytest.mark.parametrize("where", ["local", "cluster"])
@pytest.mark.parametrize("kind", list(FAILING_WINDOWS))
def test_a_window_function_raising_as_its_window_fires_names_the_operator_and_the_window(sc, kind, where):
    assigner, apply, window = FAILING_WINDOWS[kind]
    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    apply(keyed(ssc, [("k", 1), ("k", 3), ("k", 6), ("k", 12)]).window(assigner)).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run(timeout=60)
    assert caught.value.operator.startswith("window-")
    assert caught.value.record == window
    assert type(caught.value.__cause__) is KeyError


# -- what Flink refuses when the job is written ---------------------------------------------------

def on_window(**options):
    return lambda ssc: keyed(ssc, AB).window(TumblingWindow(5), **options)


REFUSED = {
    "offset NaN (lost every record)": (ValueError, lambda ssc: TumblingWindow(5, offset=math.nan)),
    "offset inf (lost every record)": (ValueError, lambda ssc: SlidingWindow(5, 1, offset=math.inf)),
    "offset not a number": (ValueError, lambda ssc: TumblingWindow(5, offset="1")),
    "negative allowed_lateness": (ValueError, on_window(allowed_lateness=-1)),
    "allowed_lateness NaN": (ValueError, on_window(allowed_lateness=math.nan)),
    "max_out_of_orderness NaN (lost every record)": (ValueError, on_window(max_out_of_orderness=math.nan)),
    "max_out_of_orderness not a number": (ValueError, on_window(max_out_of_orderness="2")),
    "source max_out_of_orderness negative": (ValueError, lambda ssc: keyed(ssc, AB, max_out_of_orderness=-1)),
    "source idle_timeout negative": (ValueError, lambda ssc: keyed(ssc, AB, idle_timeout=-1)),
    "source parallelism 0": (ValueError, lambda ssc: ssc.source(AB, timestamp=second, parallelism=0)),
    "timestamp not callable": (TypeError, lambda ssc: ssc.source(AB, timestamp=1)),
    "map not callable": (TypeError, lambda ssc: ssc.source(AB, timestamp=second).map(None)),
    "key_by not callable": (TypeError, lambda ssc: ssc.source(AB, timestamp=second).key_by("x")),
    "map_with_state not callable": (TypeError, lambda ssc: keyed(ssc, AB).map_with_state(3)),
    "window process not callable": (TypeError, lambda ssc: on_window()(ssc).process(5)),
    "window_function not callable": (TypeError, lambda ssc: on_window()(ssc).reduce(min, window_function=1)),
    "join without a window assigner": (TypeError, lambda ssc: keyed(ssc, AB).join(keyed(ssc, AB), 5)),
    "join with a negative lateness": (ValueError, lambda ssc: keyed(ssc, AB).join(
        keyed(ssc, AB), TumblingWindow(5), allowed_lateness=-1)),
}


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"batch_size": -1}, {"parallelism": 0},
                                     {"parallelism": 1.5}, {"parallelism": "2"}], ids=repr)
def test_a_context_option_that_loses_records_is_refused_when_the_context_is_made(options):
    """batch_size 0 read no record and -1 dropped the last, without an error; a parallelism of 0
    failed at run() on 'an operator instance needs at least one input channel'."""
    with pytest.raises(ValueError, match=next(iter(options))):
        StreamingContext(**options)


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_wrong_option_is_refused_when_the_job_is_written(case):
    error, build = REFUSED[case]
    with pytest.raises(error):
        build(StreamingContext(parallelism=2))


def test_an_infinite_lateness_is_allowed_and_keeps_every_window():
    ssc = StreamingContext(parallelism=2, batch_size=1)
    counts = keyed(ssc, [("k", 1), ("k", 12), ("k", 2)]).window(TumblingWindow(5), allowed_lateness=math.inf)
    out = counts.count().collect()
    ssc.run()
    assert out.result() == [("k", 0, 5, 1), ("k", 0, 5, 2), ("k", 10, 15, 1)]


# -- reduce / aggregate with a window_function: as process over the folded records ------------

def seeded_events(seed, n=300):
    rng = random.Random(seed)
    return [(i - rng.randint(0, 12), f"k{rng.randrange(3)}", i) for i in range(n)]


def label(key, window, folded):
    return (key, window, list(folded))


@pytest.mark.parametrize("where", ["local", "cluster"])
@pytest.mark.parametrize("assigner", [TumblingWindow(10), SlidingWindow(10, 4), SessionWindow(3)], ids=repr)
def test_a_window_function_after_reduce_sees_what_process_would_have_folded(sc, assigner, where):
    def run(apply):
        ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=5)
        windows = ssc.source(seeded_events(7), timestamp=lambda e: e[0]).key_by(lambda e: e[1]).window(
            assigner, allowed_lateness=4)
        result = apply(windows)
        out, late = result.collect(), result.late().collect()
        ssc.run(timeout=60)
        return sorted(out.result(), key=repr), sorted(late.result())

    def fold(a, b):
        return (a[0], a[1], a[2] + b[2])

    through = run(lambda w: w.reduce(fold, window_function=label))
    general = run(lambda w: w.process(lambda key, window, records: label(key, window, [functools.reduce(fold, records)])))
    assert through == general
    assert through[1]                       # some records came too late for every window


# -- rolling KeyedStream.reduce (Flink's test_reduce) ----------------------------------------------

@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_rolling_reduce_emits_every_running_value_as_flinks_test_reduce(sc, where):
    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    rows = [(1, "a"), (2, "a"), (3, "a"), (4, "b")]
    out = ssc.source(rows, timestamp=lambda r: r[0]).key_by(lambda r: r[1]).reduce(
        lambda a, b: (a[0] + b[0], b[1])).collect()
    ssc.run(timeout=60)
    assert sorted(out.result()) == [("a", (1, "a")), ("a", (3, "a")), ("a", (6, "a")), ("b", (4, "b"))]


def per_key(pairs):
    sequences = {}
    for key, value in pairs:
        sequences.setdefault(key, []).append(value)
    return sequences


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_rolling_reduce_matches_the_reference_model_key_by_key(sc, where):
    """Per key, in the source's order (None is a running value like any other); downstream of
    it a window sees the running values as a keyed stream."""
    events = [(ts, key, i) for ts, key, i in seeded_events(11, n=2000)]

    def fold(a, b):
        return None if (a is None or b[2] % 97 == 0) else (a[0], a[1], a[2] + b[2])

    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=7)
    running = ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=12).key_by(
        lambda e: e[1]).reduce(fold)
    out = running.collect()
    last = running.window(TumblingWindow(50)).reduce(lambda a, b: b).collect()
    ssc.run(timeout=60)
    want = ref.rolling_reduce([(e[1], e) for e in events], fold)
    assert per_key(out.result()) == per_key(want)
    assert len(last.result()) >= 40


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_rolling_reduce_hands_on_a_copy_so_a_mutating_consumer_cannot_change_its_state(sc, where):
    def grab(pair):
        pair[1].append("changed downstream")          # mutates what the reduce emitted
        return list(pair[1])

    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    out = ssc.source([1, 2, 3], timestamp=int).map(lambda x: [x]).key_by(lambda r: "k").reduce(
        lambda a, b: a + b).map(grab).collect()
    ssc.run(timeout=60)
    assert out.result() == [[1, "changed downstream"], [1, 2, "changed downstream"],
                            [1, 2, 3, "changed downstream"]]


class Unbalanced(Exception):
    pass


def refuse_three(a, b):
    if b == 3:
        raise Unbalanced("three")
    return a + b


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_rolling_reduce_that_raises_names_its_operator_and_record(sc, where):
    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    ssc.source([1, 2, 3], timestamp=int).key_by(lambda x: "k").reduce(refuse_three).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run(timeout=60)
    assert caught.value.operator.startswith("rolling_reduce-")
    assert caught.value.record == (3, ("k", 3))
    assert type(caught.value.__cause__) is Unbalanced


def fold_in_place(running, record):
    running.append(record[0])            # Flink's idiom: fold into the accumulator, return it
    return running


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_rolling_reduce_folding_in_place_leaves_its_input_records_alone(sc, where):
    """The first record of a key starts the running value as a copy: folding into it must not
    change the record a window on the same stream still holds, nor the user's source list."""
    rows = [[1], [2], [3]]
    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    keyed_rows = ssc.source(rows, timestamp=lambda r: r[0]).key_by(lambda r: "k")
    running = keyed_rows.reduce(fold_in_place).collect()
    held = keyed_rows.window(TumblingWindow(10)).process(lambda key, window, records: sorted(records)).collect()
    ssc.run(timeout=60)
    assert running.result() == [("k", [1]), ("k", [1, 2]), ("k", [1, 2, 3])]
    assert held.result() == [("k", 0, 10, [[1], [2], [3]])]
    assert rows == [[1], [2], [3]]



@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_window_reduce_folding_in_place_starts_each_window_from_a_copy(sc, where):
    """A record is the first of every sliding window holding it: folding into it in place gave
    [-5, 5) and [0, 10) one accumulator ([1, 2, 2, 7] in both), and changed the record a window
    on the same stream held and the user's source list."""
    rows = [[1], [2], [7]]
    ssc = StreamingContext(ref.contexts(sc)[where], parallelism=2, batch_size=1)
    keyed_rows = ssc.source(rows, timestamp=lambda r: r[0]).key_by(lambda r: "k")
    folded = keyed_rows.window(SlidingWindow(10, 5)).reduce(fold_in_place).collect()
    held = keyed_rows.window(TumblingWindow(20)).process(lambda key, window, records: sorted(records)).collect()
    ssc.run(timeout=60)
    assert sorted(folded.result()) == [("k", -5, 5, [1, 2]), ("k", 0, 10, [1, 2, 7]), ("k", 5, 15, [7])]
    assert held.result() == [("k", 0, 20, [[1], [2], [7]])]
    assert rows == [[1], [2], [7]]

# -- options that worked before the checks: still accepted, same answers --------------------------

class Second:
    def __call__(self, record):
        return record[1]

    def key(self, record):
        return record[0]


ACCEPTED = {
    "numpy int parallelism": lambda ssc: ssc.source(AB, timestamp=second, parallelism=np.int64(2)).key_by(
        lambda r: r[0]).window(TumblingWindow(5)),
    "int lateness too large for a float (never drop)": on_window(allowed_lateness=10 ** 400),
    "int offset too large for a float": lambda ssc: keyed(ssc, AB).window(TumblingWindow(5, offset=10 ** 400)),
    "Fraction lateness, numpy delay": on_window(allowed_lateness=Fraction(1, 2), max_out_of_orderness=np.float64(0)),
    "callable object, bound method, partial": lambda ssc: ssc.source(AB, timestamp=Second()).key_by(
        Second().key).window(TumblingWindow(5, offset=np.int64(0))),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_an_option_that_worked_before_the_checks_is_still_accepted(case):
    def counts(build):
        ssc = StreamingContext(parallelism=2, batch_size=1)
        out = build(ssc).process(functools.partial(count_records)).collect()
        ssc.run()
        return sorted(out.result())

    assert counts(ACCEPTED[case]) == counts(on_window())
