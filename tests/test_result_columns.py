"""A collect of a combine's dict streams it as columns (core/task.py: collected_records, COLUMNS;
shuffle/spill.py: DictItems; shuffle/writer.py: Columns).

A reducer whose combine never spilled hands its task the dict itself; a collect sends
it as frames of a slice of its keys and the same slice of its values, when both are
flat, and as the records of its items otherwise. The oracle is plain Python: each
reduce partition's fold (keys by `portable_hash(key) % n`, map partitions in order),
the partitions concatenated: the same records, types and order. Also: the codec each
frame went as, a small result that rides with its report, a dict something read from
first, a dict too big for max_result_size, and the inline backend.
"""

from __future__ import annotations

import decimal
import math
import operator
import pickle
import types

import pytest

from minibig import Context
from minibig.core.task import (COLUMNS, FIRST_FRAME_RECORDS, MARSHAL, PICKLE, Records,
                               collected_records, decode_frame, stream_result)
from minibig.errors import ResultTooLargeError
from minibig.shuffle.hashing import portable_hash
from minibig.shuffle.spill import DictItems
from minibig.shuffle.writer import Columns

MAPS, REDUCERS = 3, 2


def typed(records) -> list:
    return [(type(k), repr(k), type(v), repr(v)) for k, v in records]


def oracle(parts: list, func, reducers: int = REDUCERS) -> list:
    """reduceByKey(func).collect() as the engine folds it: each map partition's dict,
    then in each reduce partition the map partitions' combiners in map order."""
    combined = []
    for part in parts:
        acc: dict = {}
        for key, value in part:
            acc[key] = func(acc[key], value) if key in acc else value
        combined.append(acc)
    out = []
    for p in range(reducers):
        result: dict = {}
        for acc in combined:
            for key, value in acc.items():
                if portable_hash(key) % reducers == p:
                    result[key] = func(result[key], value) if key in result else value
        out += result.items()
    return out


def codecs(sc) -> set:
    """The codecs of the result frames the driver decoded in the last job."""
    return set(sc.lastJob.frame_codecs)


def _keys(i: int):
    # str, ints, floats equal to ints (2.0 and 2 are one key), bools, None, bytes
    kinds = [f"w{i % 4000}", i % 3000, float(i % 50), i % 7 == 0, None, b"b%d" % (i % 90)]
    return kinds[i % len(kinds)]


VALUES = {
    "ints": lambda i: i % 5 + (2 ** 70 if i % 997 == 0 else 0),
    "floats": lambda i: [0.5, -0.0, 1e308, math.inf, 2.5][i % 5],
    "tuples": lambda i: (i % 3, "x"),
}


def _parts(make, key=_keys) -> list:
    n = 3 * FIRST_FRAME_RECORDS * 4
    return [[(key(i), make(i)) for i in range(m * n, (m + 1) * n)] for m in range(MAPS)]


def _tuple_keys(i: int):
    return ("t", i % 3000, i % 2 == 0)


def _add(a, b):
    """`+` as a function of the user's: the general fold (operator.add's numeric reducers
    may take the columnar path, whose workers hand on no dict)."""
    return a + b


@pytest.mark.parametrize("kind", sorted(VALUES) + ["tuple_keys"])
def test_a_reducers_dict_comes_back_as_its_records(sc, kind):
    parts = _parts(VALUES["ints"], _tuple_keys) if kind == "tuple_keys" else _parts(VALUES[kind])
    got = sc.parallelize(parts, MAPS).flatMap(lambda part: part).reduceByKey(_add, REDUCERS).collect()
    assert typed(got) == typed(oracle(parts, _add))
    assert codecs(sc) == {COLUMNS}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_a_sum_by_key_comes_back_as_its_records(sc, kind):
    parts = _parts(VALUES[kind])
    got = sc.parallelize(parts, MAPS).flatMap(lambda part: part).reduceByKey(operator.add,
                                                                             REDUCERS).collect()
    assert typed(got) == typed(oracle(parts, operator.add))


@pytest.mark.parametrize("odd", ["values", "keys"])
def test_items_marshal_would_change_go_as_records(sc, odd):
    """Decimal values, or keys of atoms and tuples mixed, are not flat columns: the
    dict's items are streamed as records, each frame pickled or marshalled as they are."""
    if odd == "values":
        parts = _parts(lambda i: decimal.Decimal(i % 4) / 4)
    else:
        parts = _parts(VALUES["ints"], lambda i: _keys(i) if i % 5 else _tuple_keys(i))
    got = sc.parallelize(parts, MAPS).flatMap(lambda part: part).reduceByKey(_add, 1).collect()
    assert typed(got) == typed(oracle(parts, _add, 1))
    assert codecs(sc) and codecs(sc) <= {MARSHAL, PICKLE}


def test_a_dict_read_from_first_goes_as_records(sc):
    """A partition function that takes records before collect sees them (mapPartitions),
    then the rest as they come: no Columns, the records as the oracle's."""
    parts = _parts(VALUES["ints"])
    summed = sc.parallelize(parts, MAPS).flatMap(lambda part: part).reduceByKey(_add, REDUCERS)
    got = summed.mapPartitions(lambda it: [next(it)] + list(it)).collect()
    assert typed(got) == typed(oracle(parts, _add))
    assert codecs(sc) and COLUMNS not in codecs(sc)
    assert typed(summed.toLocalIterator()) == typed(oracle(parts, _add))
    assert codecs(sc) == {COLUMNS}


def test_a_small_dict_rides_with_its_report(sc):
    parts = [[("a", 1), ("b", 2)], [("a", 3)]]
    got = sc.parallelize(parts, 2).flatMap(lambda part: part).reduceByKey(operator.add, 2).collect()
    assert typed(got) == typed(oracle(parts, operator.add))
    assert codecs(sc) == set()


def test_a_dict_past_max_result_size_fails_and_the_next_job_runs(sc):
    parts = _parts(VALUES["ints"])
    with Context(master=sc.master, max_result_size=20_000, appName="columns-too-large") as ctx:
        rdd = ctx.parallelize(parts, MAPS).flatMap(lambda part: part).reduceByKey(_add)
        with pytest.raises(ResultTooLargeError, match="max_result_size"):
            rdd.collect()
        assert ctx.parallelize(parts[:1], 1).flatMap(lambda part: part).count() == len(parts[0])


def test_inline_collect_of_a_dict():
    parts = _parts(VALUES["floats"])
    with Context(master="inline") as ctx:
        got = ctx.parallelize(parts, MAPS).flatMap(lambda p: p).reduceByKey(operator.add,
                                                                             REDUCERS).collect()
    assert typed(got) == typed(oracle(parts, operator.add))


def test_stream_result_cuts_columns_as_it_cuts_records():
    """Frames of FIRST_FRAME_RECORDS items and more; a tail of fewer rides with the report;
    shared values stay shared within a frame."""
    shared = "v" * 5000
    items = {f"k{i}": shared if i % 2 else i for i in range(5 * FIRST_FRAME_RECORDS + 7)}
    sent = []
    ctx = types.SimpleNamespace(partition=0, send_frame=lambda seq, codec, data: sent.append(
        (seq, codec, data)))
    rest, frames, size = stream_result(collected_records(DictItems(items)), ctx, 1 << 40)
    assert [seq for seq, _, _ in sent] == list(range(frames)) and frames >= 2
    assert {codec for _, codec, _ in sent} == {COLUMNS} and size == sum(len(d) for *_, d in sent)
    decoded = [decode_frame(codec, data) for _, codec, data in sent]
    assert len(decoded[0]) == FIRST_FRAME_RECORDS and len(rest) < FIRST_FRAME_RECORDS
    assert [r for part in decoded for r in part] + rest == list(items.items())
    assert decoded[0][1][1] is decoded[0][3][1]


def _streamed(value) -> tuple[list, list]:
    """(the records left to ride with the report, the decoded frames) of `value`."""
    sent = []
    ctx = types.SimpleNamespace(partition=0, send_frame=lambda seq, codec, data: sent.append(
        (codec, data)))
    rest, frames, _ = stream_result(value, ctx, 1 << 40)
    assert frames == len(sent)
    return rest, [decode_frame(codec, data) for codec, data in sent]


@pytest.mark.parametrize("n", [FIRST_FRAME_RECORDS - 1, FIRST_FRAME_RECORDS,
                               FIRST_FRAME_RECORDS + 1, 3 * FIRST_FRAME_RECORDS + 5])
@pytest.mark.parametrize("values", ["ints", "lists"])
def test_a_dict_is_cut_into_frames_as_its_records_are(n, values):
    """A dict's items and the same records go as frames of the same sizes, the same
    records riding with the report: fewer than FIRST_FRAME_RECORDS ride, exactly that
    many go as one frame (as columns when flat, as records when not)."""
    items = {f"k{i}": (i if values == "ints" else [i]) for i in range(n)}
    rest, frames = _streamed(collected_records(DictItems(items)))
    rest_r, frames_r = _streamed(Records(iter(list(items.items()))))
    assert [len(f) for f in frames] == [len(f) for f in frames_r] and len(rest) == len(rest_r)
    assert [r for f in frames for r in f] + rest == list(items.items())
    assert (n >= FIRST_FRAME_RECORDS) == bool(frames)
    if n == FIRST_FRAME_RECORDS:
        assert rest == [] and [len(f) for f in frames] == [n]


def test_an_inline_task_gets_a_dicts_items():
    items = {"a": 1, ("t", 2): [3]}
    ctx = types.SimpleNamespace(partition=0, send_frame=None)
    assert stream_result(collected_records(DictItems(items)), ctx, 1 << 40) == (list(items.items()), 0, 0)


def test_columns_are_flat_when_both_lists_are():
    assert Columns(["a", 1], [2, "b"]).flat() and Columns([("a", 1)], [("b", None)]).flat()
    assert not Columns([["a"]], [1]).flat() and not Columns(["a"], [[1]]).flat()
    assert Columns([["a"]], [1], flat_keys=True).flat()      # the writer's word for its keys


def test_dict_items_iterate_as_the_dicts_own_iterator():
    items = {"a": 1, "b": 2, "c": 3}
    it = DictItems(items)
    assert it.untouched() and len(list(iter(DictItems(items)))) == 3
    assert next(it) == ("a", 1) and not it.untouched()
    assert pickle.loads(pickle.dumps(it)).__next__() == ("b", 2)     # what is left
    assert list(it) == [("b", 2), ("c", 3)]
