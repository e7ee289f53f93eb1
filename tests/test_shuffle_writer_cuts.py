"""A map-side combine's dict is written a cut at a time (`MapOutputWriter._dict_parts`):
each partition's `Columns` batches, pickled as they fill, must give back every key
once, in the dict's order, with its value's type, and never a batch past the size
the task's budget allows (`batch_records`).

The oracle is the dict itself: each key's partition by `portable_hash`, in dict order.
"""

from __future__ import annotations

import decimal
import operator
import types

import numpy
import pytest

from minibig.shuffle.blocks import segment_bounds
from minibig.shuffle.hashing import portable_hash
from minibig.shuffle.partitioners import Partitioner, reducing
from minibig.shuffle.reader import FileSegment, read_batches
from minibig.shuffle.spill import batch_records, take_spilled
from minibig.shuffle.writer import CUT_KEYS, Columns, MapOutputWriter, write_shuffle


def _write(tmp_path, combined: dict, n: int, budget: int | None) -> tuple[MapOutputWriter, list]:
    writer = MapOutputWriter(Partitioner(n), budget, lambda: str(tmp_path))
    writer.commit(str(tmp_path), "s", 0, combined=combined)
    batches = []
    for p in range(n):
        path, start, end = segment_bounds(str(tmp_path), "s", 0, p)
        batches.append(list(read_batches([FileSegment(open(path, "rb"), start, end)], frames=True)))
    return writer, batches


def _expected(entries: list, n: int) -> list:
    return [[(k, v) for k, v in entries if portable_hash(k) % n == p] for p in range(n)]


def _typed(records) -> list:
    return [(type(k), k, type(v), repr(v)) for k, v in records]


FLAT = [1, 2.5, True, 2 ** 70, -0.0, None, b"x"]        # values marshal writes


@pytest.mark.parametrize("values", [FLAT, FLAT + [(1, "a"), decimal.Decimal("1.5"), [3]]])
@pytest.mark.parametrize("n", [1, 2, 7])
def test_every_key_once_in_dict_order_with_its_type(tmp_path, n, values):
    """Several cuts; a key marshal would write wrongly (numpy.str_, a buffer it would
    write as bytes) only after the first cut; values marshal writes, and values it
    cannot."""
    entries = [(f"w{i}", values[i % len(values)]) for i in range(3 * CUT_KEYS + 17)]
    entries[CUT_KEYS + 5] = (numpy.str_("late"), 4)
    entries[2 * CUT_KEYS] = (("t", 1), 5)
    combined = dict(entries)
    _, batches = _write(tmp_path, combined, n, None)
    assert combined == {}                     # the dict is emptied
    for p, expected in enumerate(_expected(entries, n)):
        assert {type(b) for b in batches[p]} <= {Columns}
        got = [(k, v) for b in batches[p] for k, v in zip(b.keys, b.values)]
        assert _typed(got) == _typed(expected)


def test_a_batch_never_holds_more_than_the_budget_allows(tmp_path):
    """A budget whose batch size is below CUT_KEYS: batches stay within it."""
    budget = 1 << 20
    entries = [(f"key-{i:06d}", i) for i in range(20000)]
    writer, batches = _write(tmp_path, dict(entries), 3, budget)
    size = batch_records(writer.tracker.mean, writer.budget)
    assert size < CUT_KEYS
    assert max(len(b.keys) for part in batches for b in part) <= size
    for p, expected in enumerate(_expected(entries, 3)):
        assert [(k, v) for b in batches[p] for k, v in zip(b.keys, b.values)] == expected


def test_cut_batches_answer_reduce_by_key(sc):
    """End to end, with more distinct keys per map task than one cut."""
    pairs = [(f"w{i % 9000}", 1) for i in range(36000)] + [(i, 2) for i in range(5000)]
    got = dict(sc.parallelize(pairs, 2).reduceByKey(operator.add, 3).collect())
    expected: dict = {}
    for key, value in pairs:
        expected[key] = expected.get(key, 0) + value
    assert got == expected


def test_a_spilling_combine_cuts_its_dict_the_same_way(tmp_path):
    """spill_dict takes the same cuts: the run and the final output together hold each
    key's partial combiners."""
    dep = types.SimpleNamespace(partitioner=Partitioner(2), aggregator=reducing(operator.add),
                                map_side_combine=True, str_pair_batches=False)
    pairs = [(f"k{i % 30000}", 1) for i in range(60000)]
    write_shuffle(iter(pairs), dep, str(tmp_path), "s", 0, budget=256 << 10,
                  spill_dir=lambda: str(tmp_path))
    assert take_spilled(str(tmp_path)) > 0
    merged: dict = {}
    for p in range(2):
        path, start, end = segment_bounds(str(tmp_path), "s", 0, p)
        for batch in read_batches([FileSegment(open(path, "rb"), start, end)], frames=True):
            assert type(batch) is Columns
            for key, value in zip(batch.keys, batch.values):
                assert portable_hash(key) % 2 == p
                merged[key] = merged.get(key, 0) + value
    assert merged == {f"k{i}": 2 for i in range(30000)}


@pytest.mark.parametrize("n", [1, 3])
def test_a_small_budget_keeps_whole_cuts(tmp_path, n):
    """A budget far below a cut's worth: the dict is still cut CUT_KEYS keys at a time
    (the cut once shrank to the batch size, 256 keys here), so each cut's share of a
    partition goes out in full batches of `batch_records` keys, a partial one at most
    per cut and partition; every key in the dict's order with its type."""
    budget = 128 << 10
    entries = [(f"key-{i:06d}", i if i % 3 else float(i)) for i in range(3 * CUT_KEYS + 101)]
    writer, batches = _write(tmp_path, dict(entries), n, budget)
    size = batch_records(writer.tracker.mean, writer.budget)
    assert size < CUT_KEYS // n                      # several batches in every cut's share
    cuts = -(-len(entries) // CUT_KEYS)
    for p, expected in enumerate(_expected(entries, n)):
        lengths = [len(b.keys) for b in batches[p]]
        assert max(lengths) <= size and sum(1 for k in lengths if k < size) <= cuts
        got = [(k, v) for b in batches[p] for k, v in zip(b.keys, b.values)]
        assert _typed(got) == _typed(expected)
