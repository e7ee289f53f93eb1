"""A map-side combine's dict travels as `Columns` (keys and combiners in two lists) and
gives the answer of the records it replaces.

The oracle is plain Python: each map task's fold, then the partial results
merged in map order. What must survive the trip: value types (1, 1.0, True,
Decimal, big ints past int64, NaN, -0.0), keys equal across types, str keys
whose salted hash differs between workers, a combine that spills (its
spilled columns and the dict still in memory in one segment), partitions
that get nothing, values marshal cannot write (pickled instead), and
reducers that want records (a cogroup-free `reduceByKey(lambda)`) as well
as the numeric fold (`combine_columnar`).
"""

from __future__ import annotations

import decimal
import io
import math
import operator
import pickle
import types

import numpy
import pytest

from minibig.shuffle.blocks import segment_bounds
from minibig.shuffle.partitioners import Partitioner, reducing
from minibig.shuffle.reader import FileSegment, read_batches
from minibig.shuffle.spill import take_spilled
from minibig.shuffle.writer import Columns, dump_batch, write_shuffle

MISSING = object()


def oracle(pairs: list, func, slices: int) -> dict:
    """reduceByKey(func) over `slices` contiguous map partitions, folded as the engine folds."""
    n = len(pairs)
    result: dict = {}
    for i in range(slices):
        acc: dict = {}
        for key, value in pairs[i * n // slices:(i + 1) * n // slices]:
            old = acc.get(key, MISSING)
            acc[key] = value if old is MISSING else func(old, value)
        for key, value in acc.items():
            old = result.get(key, MISSING)
            result[key] = value if old is MISSING else func(old, value)
    return result


def canon(d: dict) -> dict:
    """Values with their types and signs (1 vs True vs 1.0, -0.0 vs 0.0, NaN)."""
    return {k: (type(v), repr(v)) for k, v in d.items()}


VALUES = {
    "ones": [1],
    "ints": [1, -3, 7],
    "big_ints": [2 ** 70, -(2 ** 65), 1],
    "floats": [0.5, -0.0, 1e308, math.nan],
    "signed_zeros": [-0.0, 0.0],
    "bools": [True, False],
    "decimals": [decimal.Decimal("1.1"), decimal.Decimal(2)],
    "ints_floats_bools": [1, 1.0, True],
    "ints_bools_decimals": [1, True, decimal.Decimal(3)],
    "strs": ["a", "bc"],
    "tuples": [(1,), ("x", 2.5)],
}
KEYS = ["a", "é", "spark", 1, 1.0, True, 2, -0.0, 0.0, ("t", 1), None, "\udc80"]


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_reduce_by_key_add_over_columns_matches_plain_python(sc, kind):
    values = VALUES[kind]
    pairs = [(KEYS[i % len(KEYS)], values[(i * 7) % len(values)]) for i in range(600)]
    got = dict(sc.parallelize(pairs, 3).reduceByKey(operator.add, 4).collect())
    assert canon(got) == canon(oracle(pairs, operator.add, 3))


def test_a_general_combiner_reads_columns_as_records(sc):
    """reduceByKey(lambda): no op, so the reducer merges records of the columns."""
    pairs = [(f"w{i % 97}", [i]) for i in range(1000)] + [(3, [0]), (3.0, [1])]
    got = dict(sc.parallelize(pairs, 4).reduceByKey(lambda a, b: a + b, 5).collect())
    assert got == oracle(pairs, lambda a, b: a + b, 4)


def test_str_keys_meet_across_workers_whatever_their_salted_hash(sc):
    words = [f"word{i}" for i in range(3000)]
    pairs = [(w, 1) for w in words] * 3
    got = dict(sc.parallelize(pairs, 6).reduceByKey(operator.add, 7).collect())
    assert got == {w: 3 for w in words}


def test_partitions_that_get_nothing(sc):
    got = sc.parallelize([("only", 1), ("only", 2)], 2).reduceByKey(operator.add, 8)
    assert got.glom().map(len).collect().count(0) == 7
    assert got.collect() == [("only", 3)]


def _segments(work: str, shuffle_key: str, maps: int, p: int) -> list:
    out = []
    for m in range(maps):
        path, start, end = segment_bounds(work, shuffle_key, m, p)
        out.append(FileSegment(open(path, "rb"), start, end))
    return out


def test_a_spilled_combine_writes_its_runs_and_its_dict_as_columns(tmp_path):
    """A budget far below the dict's size: the combine spills column runs, then the
    rest; every segment holds Columns only, and their records give the oracle's answer."""
    pairs = [(f"k{i % 2000}", i % 5) for i in range(20000)] + [("big", 2 ** 80), ("nan", math.nan)]
    dep = types.SimpleNamespace(partitioner=Partitioner(3), aggregator=reducing(operator.add),
                                map_side_combine=True, str_pair_batches=False)
    write_shuffle(iter(pairs), dep, str(tmp_path), "s", 0, budget=64 << 10,
                  spill_dir=lambda: str(tmp_path))
    assert take_spilled(str(tmp_path)) > 0
    merged: dict = {}
    for p in range(3):
        batches = list(read_batches(_segments(str(tmp_path), "s", 1, p), frames=True))
        assert len(batches) > 1 and {type(b) for b in batches} == {Columns}
        for batch in batches:
            for key, value in zip(batch.keys, batch.values):
                old = merged.get(key, MISSING)
                merged[key] = value if old is MISSING else old + value
    assert canon(merged) == canon(oracle(pairs, operator.add, 1))


@pytest.mark.parametrize("values, flat", [([1, 2.5, None, b"x", True, -0.0, 2 ** 70], True),
                                          ([("a", -0.0), (1, None, b"y")], True),
                                          ([1, 2.5, ("a", -0.0)], False),
                                          ([decimal.Decimal(1), [1]], False)])
def test_columns_come_back_as_the_same_records(values, flat):
    """Marshal for flat columns, pickle for the rest (chosen by `ahead`, as the writer
    writes a batch): the same records, types and all."""
    columns = Columns([f"k{i}" for i in range(len(values))], values)
    ahead = columns.ahead()
    assert (ahead is not columns) == flat
    out = io.BytesIO()
    dump_batch(ahead, out)
    loaded = pickle.loads(out.getvalue())
    assert type(loaded) is Columns
    assert [(k, type(v), repr(v)) for k, v in loaded.records()] == \
        [(k, type(v), repr(v)) for k, v in zip(columns.keys, values)]
    [records] = read_batches([out.getvalue()])
    assert records == list(zip(columns.keys, values))


def test_str_subclass_keys_keep_their_type_through_columns(sc):
    """A str subclass (numpy.str_: equal to the plain str, hashed as it, and a buffer
    marshal would write as bytes) is hashed with the plain strs but never marshalled:
    each key comes back as the object the oracle keeps, type and all."""
    keys = [numpy.str_(f"w{i % 50}") if i % 3 else f"w{i % 50}" for i in range(600)]
    pairs = [(k, 1) for k in keys]
    got = sc.parallelize(pairs, 3).reduceByKey(operator.add, 4).collect()
    expected = oracle(pairs, operator.add, 3)
    assert sorted((str(k), type(k).__name__, v) for k, v in got) == \
        sorted((str(k), type(k).__name__, v) for k, v in expected.items())
    assert {type(k) for k, _ in got} == {str, numpy.str_}

