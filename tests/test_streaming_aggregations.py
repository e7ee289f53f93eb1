"""Flink's rolling aggregations, ``KeyedStream.sum/min/max/min_by/max_by``, asked of minibig.

The scenarios are those of Flink's own tests, rewritten with minibig's API and their
expected answers carried over: PyFlink's ``test_keyed_sum`` and
``test_keyed_min_by_and_max`` (``flink-python/.../test_data_stream.py``, parallelism 1 as
there) and Java's ``AggregationFunctionTest`` (group sum/min/max of tuples and of
objects by field name; ``minBy``/``maxBy`` first and last on ties). minibig's rolling
operators emit ``(key, running)`` as its ``reduce`` does, where Flink emits the running
record: each case takes ``running`` before keying again. Each runs in this process and
on the 2-worker cluster, against a plain-Python oracle too (``rolling_reduce``).
"""

from collections import namedtuple
from types import SimpleNamespace

import pytest

from minibig.streaming import StreamError, StreamingContext
from tests.streaming_reference import by_key, contexts, rolling_reduce

Row2 = namedtuple("Row2", "v1 v2")
Row3 = namedtuple("Row3", "v1 v2 v3")


def Pojo(f0, f1):
    """AggregationFunctionTest's MyPojo: an object with attributes f0 and f1 (a stdlib class,
    so the workers can unpickle it)."""
    return SimpleNamespace(f0=f0, f1=f1)


def run(sc, where, build, parallelism=2):
    ssc = StreamingContext(contexts(sc)[where], parallelism=parallelism, batch_size=2)
    out = build(ssc).collect()
    ssc.run(timeout=60)
    return out.result()


def values(stream):
    """The running records of a rolling aggregation's ``(key, running)`` pairs."""
    return stream.map(lambda pair: pair[1])


def source(ssc, records):
    return ssc.source(list(records), timestamp=lambda r: 0)


WHERE = pytest.mark.parametrize("where", ["local", "cluster"])


@WHERE
def test_keyed_sum_as_pyflinks_test(sc, where):
    """test_keyed_sum (streaming): by name, by position, then field 0 by default."""
    def build(ssc):
        rows = source(ssc, [Row2(1, 1), Row2(1, 2), Row2(1, 3), Row2(2, 5), Row2(2, 1)])
        first = values(rows.key_by(lambda x: x[0]).sum("v2"))
        second = values(first.key_by(lambda x: x[0]).sum(1)).map(lambda x: (x[1], x[0]))
        return values(second.key_by(lambda x: x[1]).sum())
    assert sorted(run(sc, where, build, parallelism=1)) == [(1, 1), (5, 1), (5, 2), (15, 1), (16, 2)]


@WHERE
def test_keyed_min_by_and_max_as_pyflinks_test(sc, where):
    """test_keyed_min_by_and_max (streaming): min_by by name, max and min keep the first
    record's other fields, max_by of single values; Flink's answer is four 'a's."""
    def build(ssc):
        rows = source(ssc, [Row3("a", 3, 0), Row3("a", 1, 1), Row3("b", 5, 0), Row3("b", 3, 1)])
        by_min = values(rows.key_by(lambda x: x[0]).min_by("v2")).map(tuple)
        maxed = values(by_min.key_by(lambda x: x[2]).max(1))
        mined = values(maxed.key_by(lambda x: x[2]).min()).map(lambda x: x[0])
        return values(mined.key_by(lambda x: x).max_by())
    assert run(sc, where, build, parallelism=1) == ["a", "a", "a", "a"]


@WHERE
def test_group_sum_min_max_as_flinks_aggregation_function_test(sc, where):
    """groupSumIntegerTest and pojoGroupSumIntegerTest: (i % 3, i) for i < 9, by position and
    by attribute name; min keeps the key's first f1, max follows i."""
    tuples = [(i % 3, i) for i in range(9)]
    pojos = [Pojo(i % 3, i) for i in range(9)]
    sums, totals = [], {}
    for key, i in tuples:
        totals[key] = totals.get(key, 0) + i
        sums.append((key, totals[key]))
    want = {"sum": sums, "min": [(i % 3, i % 3) for i in range(9)], "max": tuples}
    for kind, expected in want.items():
        got = run(sc, where, lambda ssc: values(getattr(source(ssc, tuples).key_by(lambda t: t[0]), kind)(1)))
        assert sorted(got) == sorted(expected)
        got = run(sc, where, lambda ssc: values(getattr(source(ssc, pojos).key_by(lambda p: p.f0), kind)("f1")))
        assert sorted(got, key=lambda p: (p.f0, p.f1)) == sorted((Pojo(*t) for t in expected),
                                                                    key=lambda p: (p.f0, p.f1))


@WHERE
def test_min_by_max_by_first_and_last_as_flinks_test(sc, where):
    """minMaxByTest: (0, i % 3, i), one key; on a tie ``first=False`` takes the latest record."""
    rows = [(0, i % 3, i) for i in range(9)]
    expected = {
        ("max_by", True): [(0, 0, 0), (0, 1, 1)] + [(0, 2, 2)] * 7,
        ("max_by", False): [(0, 0, 0), (0, 1, 1), (0, 2, 2), (0, 2, 2), (0, 2, 2), (0, 2, 5), (0, 2, 5),
                            (0, 2, 5), (0, 2, 8)],
        ("min_by", True): [(0, 0, 0)] * 9,
        ("min_by", False): [(0, 0, 0)] * 3 + [(0, 0, 3)] * 3 + [(0, 0, 6)] * 3,
    }
    for (kind, first), want in expected.items():
        got = run(sc, where, lambda ssc: values(getattr(source(ssc, rows).key_by(lambda r: r[0]), kind)(1, first)))
        assert got == want                         # one key: its records in order


@WHERE
def test_aggregations_match_a_plain_python_fold_on_many_keys(sc, where):
    """Dict records by key name, lists and tuples by position (plain tuples take a shorter
    path: the same answers and types, ints, floats and bools mixed), 40 keys over 2
    instances: each key's outputs in order are the oracle's."""
    dicts = [{"k": f"k{i % 40}", "v": (i * 7919) % 101, "n": i} for i in range(600)]
    lists = [[f"k{i % 40}", (i * 31) % 17, i] for i in range(600)]
    tuples = [(f"k{i % 40}", ((i * 13) % 23, (i % 7) / 2, i % 5 == 0)[i % 3], i) for i in range(600)]
    cases = [
        (tuples, lambda r: r[0], "sum", 1, lambda a, b: (a[0], a[1] + b[1], a[2])),
        (tuples, lambda r: r[0], "max", 1, lambda a, b: (a[0], b[1] if b[1] > a[1] else a[1], a[2])),
        (tuples, lambda r: r[0], "min_by", 1, lambda a, b: b if b[1] < a[1] else a),
        (dicts, lambda r: r["k"], "sum", "v", lambda a, b: {**a, "v": a["v"] + b["v"]}),
        (dicts, lambda r: r["k"], "max_by", "v", lambda a, b: b if b["v"] > a["v"] else a),
        (lists, lambda r: r[0], "min", 1, lambda a, b: [a[0], min(a[1], b[1]), a[2]]),
        (lists, lambda r: r[0], "min_by", 1, lambda a, b: b if b[1] < a[1] else a),
    ]
    for records, key, kind, field, fold in cases:
        got = run(sc, where, lambda ssc: getattr(source(ssc, records).key_by(key), kind)(field))
        want = rolling_reduce([(key(r), r) for r in records], fold)
        assert by_key(got) == by_key(want)
        assert field_types(by_key(got)) == field_types(by_key(want))        # 1 == True == 1.0


def field_types(grouped: dict) -> dict:
    """The type of every field of every record, per key."""
    return {key: [[type(v) for v in (r.values() if isinstance(r, dict) else r)] for r in records]
            for key, records in grouped.items()}


def test_the_state_is_a_copy_the_users_records_stay_as_they_were():
    """The running list is the operator's own copy: the source's records are never edited,
    and a downstream map mutating what it gets cannot change the next output."""
    records = [["k", 1], ["k", 2], ["k", 3]]
    ssc = StreamingContext(parallelism=2)
    out = values(source(ssc, records).key_by(lambda r: r[0]).sum(1)).map(lambda r: r.append("!") or r).collect()
    ssc.run()
    assert out.result() == [["k", 1, "!"], ["k", 3, "!"], ["k", 6, "!"]]
    assert records == [["k", 1], ["k", 2], ["k", 3]]


@pytest.mark.parametrize("field, error", [(1.5, TypeError), (None, TypeError), (True, TypeError), (-1, ValueError)])
def test_a_field_that_is_no_position_or_name_is_refused_when_the_job_is_written(field, error):
    ssc = StreamingContext(parallelism=2)
    keyed = source(ssc, [(1, 2)]).key_by(lambda r: r[0])
    for kind in ("sum", "min", "max", "min_by", "max_by"):
        with pytest.raises(error):
            getattr(keyed, kind)(field)


@WHERE
@pytest.mark.parametrize("records, field, cause", [
    ([(1, 2)], 5, IndexError),                 # the key's first record already lacks it
    ([5], 1, TypeError),                       # a single value has only field 0
    ([{"a": 1}], "b", KeyError),
    ([Pojo(1, 2)], "f9", AttributeError),
    ([(1, "x"), (1, 2)], 1, TypeError),        # "x" + 2
])
def test_a_missing_field_or_a_failing_sum_names_the_operator_and_record(sc, where, records, field, cause):
    ssc = StreamingContext(contexts(sc)[where], parallelism=2)
    source(ssc, records).key_by(lambda r: 1).sum(field).collect()
    with pytest.raises(StreamError) as caught:
        ssc.run(timeout=60)
    assert caught.value.operator.startswith("rolling_aggregate-")
    assert caught.value.record[1][1] == records[-1]
    assert type(caught.value.__cause__) is cause
