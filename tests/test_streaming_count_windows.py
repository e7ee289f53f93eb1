"""``KeyedStream.count_window``: Flink's count windows, asked of minibig.

The scenarios are Flink's: PyFlink's ``test_count_tumbling_window`` and
``test_count_sliding_window`` (``flink-python/.../test_window.py``) and Java's
``EvictingWindowOperatorTest.testCountTrigger`` (``CountTrigger.of(2)`` with
``CountEvictor.of(4)``, what ``countWindow(4, 2)`` builds), with their expected answers.
Where PyFlink's ``CountSlidingWindowAssigner`` differs from the Java API (it fires only
full windows; Java's evictor fires every ``slide`` records from the first, with what
has come) minibig follows Java's ``countWindow`` and the case says so. Each runs in
this process and on the 2-worker cluster, then against a plain-Python oracle over many
keys, then errors, state copies and a checkpoint round trip.
"""

import pytest

from minibig.streaming import AggregateFunction, StreamError, StreamingContext
from minibig.streaming.count_window_operator import CountWindowOperator
from minibig.streaming.functions import ReduceFunction
from tests.streaming_reference import by_key, contexts

PYFLINK_TUMBLING = [(1, "hi"), (2, "hello"), (3, "hi"), (4, "hello"), (5, "hi"), (6, "hello"), (6, "hello")]
PYFLINK_SLIDING = [(1, "hi"), (2, "hello"), (3, "hi"), (4, "hello"), (5, "hi"), (6, "hello")]
# EvictingWindowOperatorTest.testCountTrigger's input: (key, 1) at these times, in this order
JAVA_EVICTING = [("key2", 3000), ("key2", 3999), ("key1", 20), ("key1", 0), ("key1", 999), ("key2", 1998),
                 ("key2", 1999), ("key2", 1000), ("key1", 10999), ("key2", 1000)]


def run(sc, where, records, timestamp, build):
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    out = build(ssc.source(records, timestamp=timestamp)).collect()
    ssc.run(timeout=60)
    return out.result()


def sum_first(key, records):
    """PyFlink's SumWindowFunction: the sum of the records' first fields."""
    return sum(record[0] for record in records)


WHERE = pytest.mark.parametrize("where", ["local", "cluster"])


@WHERE
def test_count_tumbling_window_as_pyflinks_test(sc, where):
    """The last 'hello' is a window of one that never fills: nothing for it."""
    got = run(sc, where, PYFLINK_TUMBLING, lambda r: r[0],
              lambda s: s.key_by(lambda r: r[1]).count_window(3).process(sum_first))
    assert sorted(got) == [("hello", 12), ("hi", 9)]


@WHERE
def test_count_sliding_window_as_pyflinks_test_and_javas_count_window(sc, where):
    """PyFlink's answer is the full windows: (hi, 4), (hi, 8), (hello, 6), (hello, 10). Java's
    countWindow(2, 1) also fires at each key's first record, with that record alone."""
    got = run(sc, where, PYFLINK_SLIDING, lambda r: r[0],
              lambda s: s.key_by(lambda r: r[1]).count_window(2, 1).process(sum_first))
    assert sorted(got) == sorted([("hi", 4), ("hi", 8), ("hello", 6), ("hello", 10)] + [("hi", 1), ("hello", 2)])


@WHERE
def test_count_window_4_2_as_javas_evicting_window_operator_test(sc, where):
    """Every 2 records of a key, the sum of its last 4: key2 2, 4, 4 and key1 2, 4."""
    def build(stream):
        return stream.key_by(lambda r: r[0]).count_window(4, 2).reduce(lambda a, b: (b[0], a[1] + b[1]))
    got = run(sc, where, [(key, 1, t) for key, t in JAVA_EVICTING], lambda r: r[2],
              lambda s: build(s.map(lambda r: (r[0], r[1]))))
    assert sorted(got) == sorted([("key2", ("key2", 2)), ("key2", ("key2", 4)), ("key2", ("key2", 4)),
                                  ("key1", ("key1", 2)), ("key1", ("key1", 4))])


class Mean(AggregateFunction):
    def create_accumulator(self):
        return [0, 0]

    def add(self, value, accumulator):
        accumulator[0] += value[1]
        accumulator[1] += 1
        return accumulator

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]

    def merge(self, a, b):
        return [a[0] + b[0], a[1] + b[1]]


def oracle(records, size, slide, result):
    """Per key, in arrival order: every ``slide`` records (``size`` when tumbling), ``result`` of
    the last ``size`` records (of the ``size`` since the last window when tumbling)."""
    seen, out = {}, []
    for key, value in records:
        mine = seen.setdefault(key, [])
        mine.append((key, value))
        if len(mine) % (slide or size) == 0:
            out.append((key, result(mine[-size:])))
    return out


@WHERE
@pytest.mark.parametrize("size, slide", [(5, None), (5, 2), (3, 7), (1, None)])
def test_every_function_matches_the_oracle_on_many_keys(sc, where, size, slide):
    """30 keys over 2 instances, tumbling, sliding, slide longer than size: each key's windows
    in order, for count, reduce, aggregate, process and a reduce through a window function."""
    records = [(f"k{(i * 7) % 30}", (i * 7919) % 97) for i in range(900)]
    jobs = {
        "count": (lambda w: w.count(), len),
        "reduce": (lambda w: w.reduce(lambda a, b: (a[0], a[1] + b[1])), lambda rs: (rs[0][0], sum(v for _, v in rs))),
        "aggregate": (lambda w: w.aggregate(Mean()), lambda rs: sum(v for _, v in rs) / len(rs)),
        "process": (lambda w: w.process(lambda key, rs: (key, [v for _, v in rs])), lambda rs: (rs[0][0], [v for _, v in rs])),
        "window_function": (lambda w: w.reduce(lambda a, b: (a[0], max(a[1], b[1])), window_function=lambda key, r: r[0][1]),
                            lambda rs: max(v for _, v in rs)),
    }
    for name, (apply, result) in jobs.items():
        got = run(sc, where, records, lambda r: 0, lambda s: apply(s.key_by(lambda r: r[0]).count_window(size, slide)))
        assert by_key(got) == by_key(oracle(records, size, slide, result)), name


def test_results_carry_the_newest_timestamp_and_watermarks_pass_through():
    operator = CountWindowOperator("count_window-1", 2, None, ReduceFunction(lambda a, b: a + b))
    out = operator.process_batch([(5, ("k", 1)), (3, ("k", 2)), 4, (9, ("j", 1)), float("inf")])
    assert out == {"main": [(5, ("k", 3)), 4, float("inf")]}
    assert operator.end_input() == {}                       # ("j", 1) never fills its window


def test_a_process_function_editing_its_records_cannot_change_the_next_sliding_window():
    ssc = StreamingContext(parallelism=2)
    rows = [["k", i] for i in range(4)]
    out = ssc.source(rows, timestamp=lambda r: 0).key_by(lambda r: r[0]).count_window(2, 1).process(
        lambda key, records: [r.append("seen") or list(r) for r in records]).collect()
    ssc.run()
    assert [value for _, value in out.result()] == [
        [["k", 0, "seen"]], [["k", 0, "seen"], ["k", 1, "seen"]], [["k", 1, "seen"], ["k", 2, "seen"]],
        [["k", 2, "seen"], ["k", 3, "seen"]]]
    assert rows == [["k", i] for i in range(4)]


def test_the_state_round_trips_through_a_checkpoint():
    """A snapshot taken mid-window, restored into a fresh operator, fires what the first would."""
    def fresh():
        return CountWindowOperator("count_window-1", 3, 2, ReduceFunction(lambda a, b: a + b))
    first, second = fresh(), fresh()
    first.process_batch([(1, ("k", 1)), (2, ("k", 2)), (3, ("k", 4))])
    second.restore(first.snapshot())
    items = [(4, ("k", 8)), (5, ("k", 16))]
    assert second.process_batch(items) == first.process_batch(items) == {"main": [(4, ("k", 14))]}    # 2 + 4 + 8


@WHERE
def test_a_function_that_raises_names_the_key_and_window(sc, where):
    ssc = StreamingContext(contexts(sc)[where], parallelism=2)
    ssc.source([1, 2, 3], timestamp=int).key_by(lambda x: "k").count_window(2).process(
        lambda key, records: records[5]).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run(timeout=60)
    assert caught.value.operator.startswith("count_window-")
    assert caught.value.record == ("k", [1, 2])
    assert type(caught.value.__cause__) is IndexError


@pytest.mark.parametrize("size, slide, error", [(0, None, ValueError), (2.5, None, ValueError), (3, 0, ValueError),
                                                (True, None, ValueError)])
def test_a_size_or_slide_that_is_no_positive_int_is_refused_when_the_job_is_written(size, slide, error):
    keyed = StreamingContext(parallelism=2).source([1], timestamp=int).key_by(lambda x: x)
    with pytest.raises(error):
        keyed.count_window(size, slide)


def test_a_wrong_function_is_refused_when_the_job_is_written():
    windows = StreamingContext(parallelism=2).source([1], timestamp=int).key_by(lambda x: x).count_window(2)
    with pytest.raises(TypeError):
        windows.reduce(None)
    with pytest.raises(TypeError):
        windows.aggregate(object())


# -- count_window_all: Flink's countWindowAll ------------------------------------------------

@WHERE
@pytest.mark.parametrize("size, slide", [(4, None), (4, 2)])
def test_count_window_all_is_one_window_over_every_instance(sc, where, size, slide):
    """Two source instances, one operator instance: every `slide` records of the whole stream,
    the last `size` (the windows' sizes, and the tumbling windows' total, whatever order the
    two instances' records interleave in)."""
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=3)
    stream = ssc.source(list(range(30)), timestamp=int, parallelism=2)
    counts = stream.count_window_all(size, slide).count().collect()
    sums = stream.count_window_all(size, slide).process(lambda records: sum(records)).collect()
    ssc.run(timeout=60)
    fired = [min(size, n) for n in range(slide or size, 31, slide or size)]
    assert counts.result() == fired
    assert len(sums.result()) == len(fired)
    if slide is None:
        assert sum(sums.result()) == sum(range(28))        # 28 records in 7 full windows; 2 never fire


@WHERE
def test_count_window_all_as_javas_test_with_a_key_ignored(sc, where):
    """EvictingWindowOperatorTest.testCountTrigger's records through countWindowAll(4, 2) from one
    source: every 2 records of the stream, the sum of the last 4, keys ignored."""
    ssc = StreamingContext(contexts(sc)[where], parallelism=2, batch_size=1)
    out = ssc.source([(key, 1, t) for key, t in JAVA_EVICTING], timestamp=lambda r: r[2]).count_window_all(4, 2).reduce(
        lambda a, b: (b[0], a[1] + b[1], b[2]), window_function=lambda results: results[0][1]).collect()
    ssc.run(timeout=60)
    assert out.result() == [2, 4, 4, 4, 4]


def test_count_window_all_errors_name_the_records_without_a_key():
    ssc = StreamingContext(parallelism=2)
    ssc.source([1, 2, 3], timestamp=int).count_window_all(2).process(lambda records: records[5]).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run()
    assert caught.value.operator.startswith("count_window_all-")
    assert caught.value.record == [1, 2]
    assert type(caught.value.__cause__) is IndexError
