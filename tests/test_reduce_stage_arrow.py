"""reduceByKey(operator.add) of str keys and int values: a big combine goes out as
`ArrowColumns`, its reducer sums them in Arrow (`ArrowItems`) and a collect sends the
sums as column frames (shuffle/writer.py, shuffle/spill.py, core/task.py).

The oracle is plain Python: each map task's fold, then in each reduce partition the map
outputs' sums in map order, which is also the order of the records (Arrow numbers the
keys as they first come, as the dict does). What must fall back to the dict, with the
same answer, types and order: values that are not exact ints (True, 1.0, a numpy int,
an int past int64), sums that could leave int64, keys that are not exact str or have
no UTF-8 (a lone surrogate), batches of both kinds in one reducer, a budget too small
for the batches (the dict spills), and records a reader wants as they are.
"""

from __future__ import annotations

import operator
import pickle
import subprocess
import sys
import tracemalloc
import types

import numpy
import pytest

from minibig import Context
from minibig.cluster import forking
from minibig.core.task import COLUMNS, FIRST_FRAME_RECORDS, collected_records, decode_frame, stream_result
from minibig.shuffle import spill as spill_module, writer as writer_module
from minibig.shuffle.blocks import segment_bounds
from minibig.shuffle.partitioners import Partitioner, reducing
from minibig.shuffle.reader import FileSegment, read_batches
from minibig.shuffle.spill import ArrowItems, DictItems, ExternalMap
from minibig.shuffle.writer import ArrowColumns, Columns, write_shuffle

from support import env
from test_result_columns import oracle as fold_oracle, typed

ADD = reducing(operator.add)


def oracle(maps: list, reducers: int) -> list:
    """reduceByKey(add).collect(): each map's fold, then each reducer's in map order."""
    return fold_oracle(maps, operator.add, reducers)


def words(start: int, stop: int, value=lambda i: i % 3 + 1) -> list:
    """(str, int) pairs; each key twice, so the map side has something to sum."""
    return [(f"w{i}", value(i)) for i in range(start, stop)] * 2


@pytest.fixture
def arrow_from_few_keys(monkeypatch):
    """The Arrow path from a few keys in this process, as in a worker that loaded pyarrow."""
    monkeypatch.setattr(writer_module, "ARROW_MIN_KEYS", 16)
    monkeypatch.setattr(writer_module, "ARROW_MIN_KEYS_COLD", 16)


def shuffle(tmp_path, maps: list, reducers: int, budget: int | None = None) -> list:
    """Write each map's records as a map task does; each reducer's batches, as it reads them."""
    dep = types.SimpleNamespace(partitioner=Partitioner(reducers), aggregator=ADD,
                                map_side_combine=True, str_pair_batches=False)
    for m, records in enumerate(maps):
        write_shuffle(iter(records), dep, str(tmp_path), "s", m, budget, lambda: str(tmp_path))
    out = []
    for p in range(reducers):
        segments = []
        for m in range(len(maps)):
            path, start, end = segment_bounds(str(tmp_path), "s", m, p)
            segments.append(FileSegment(open(path, "rb"), start, end))
        out.append(list(read_batches(segments, frames=True)))
    return out


def reduce(batches: list, budget: int | None = None, tmp_path=None):
    return ExternalMap(ADD, budget, lambda: str(tmp_path)).insert_batches(batches).items()


def test_a_big_str_count_is_summed_in_arrow_in_the_dicts_order(tmp_path, arrow_from_few_keys):
    maps = [words(0, 3000), words(2000, 5000)]
    got = []
    for batches in shuffle(tmp_path, maps, 2):
        assert {type(b) for b in batches} == {ArrowColumns}
        items = reduce(batches)
        assert type(items) is ArrowItems
        got += items
    assert typed(got) == typed(oracle(maps, 2))


@pytest.mark.parametrize("odd", [True, 1.0, numpy.int64(2), 2 ** 63, -(2 ** 70)])
def test_a_value_arrow_would_change_sends_its_batch_as_columns(tmp_path, arrow_from_few_keys, odd):
    """One odd value in the second map: its batch goes as Columns, and the reducer, having
    summed the first map's batches in Arrow, folds them all as pairs, in order."""
    maps = [words(0, 3000), words(2000, 5000) + [("odd", odd)]]
    got, kinds = [], set()
    for batches in shuffle(tmp_path, maps, 2):
        kinds |= {type(b) for b in batches}
        got += reduce(batches)
    assert kinds == {ArrowColumns, Columns}
    assert typed(got) == typed(oracle(maps, 2))


def test_sums_that_could_leave_int64_are_python_ints(tmp_path, arrow_from_few_keys):
    big = 2 ** 61                      # each map's sums 2**62: within int64; both, not
    maps = [words(0, 3000, lambda i: big), words(0, 3000, lambda i: big)]
    got = []
    for batches in shuffle(tmp_path, maps, 2):
        assert {type(b) for b in batches} == {ArrowColumns}      # each map's sums fit
        items = reduce(batches)
        assert type(items) is DictItems                          # their sum would not
        got += items
    assert typed(got) == typed(oracle(maps, 2))
    assert got[0][1] == 4 * big


@pytest.mark.parametrize("key", ["\udc80", numpy.str_("np"), 7])
def test_keys_arrow_cannot_hold_as_they_are_go_as_columns(tmp_path, arrow_from_few_keys, key):
    maps = [words(0, 3000) + [(key, 5)], words(2000, 5000)]
    got = []
    for batches in shuffle(tmp_path, maps, 1):
        assert Columns in {type(b) for b in batches}
        got += reduce(batches)
    assert typed(got) == typed(oracle(maps, 1))


def test_a_small_map_output_in_columns_joins_the_arrow_sum(tmp_path, arrow_from_few_keys, monkeypatch):
    """A map task under the threshold writes Columns; after Arrow batches its reducer
    takes them into the Arrow sum."""
    monkeypatch.setattr(writer_module, "ARROW_MIN_KEYS", 2000)
    maps = [words(0, 3000), words(2000, 2500)]
    got = []
    for batches in shuffle(tmp_path, maps, 1):
        assert {type(b) for b in batches} == {ArrowColumns, Columns}
        items = reduce(batches)
        assert type(items) is ArrowItems
        got += items
    assert typed(got) == typed(oracle(maps, 1))


def test_batches_past_half_the_budget_go_to_the_dict_which_spills(tmp_path, arrow_from_few_keys):
    maps = [words(0, 20000), words(10000, 30000)]
    batches = shuffle(tmp_path, maps, 1)[0]
    combine = ExternalMap(ADD, 256 << 10, lambda: str(tmp_path)).insert_batches(batches)
    assert combine.runs and not combine.arrow
    assert sorted(typed(combine.items())) == sorted(typed(oracle(maps, 1)))


def test_batches_past_the_held_limit_go_to_the_dict_whatever_the_budget(tmp_path, arrow_from_few_keys,
                                                                      monkeypatch):
    """One Arrow string array holds at most 2 GiB of keys (int32 offsets): a reducer keeps
    at most ARROW_HELD_LIMIT bytes of batches even without a budget."""
    monkeypatch.setattr(spill_module, "ARROW_HELD_LIMIT", 64 << 10)
    maps = [words(0, 20000), words(10000, 30000)]
    combine = ExternalMap(ADD, None, lambda: str(tmp_path)).insert_batches(
        shuffle(tmp_path, maps, 1)[0])
    assert not combine.arrow and not combine.runs
    assert typed(combine.items()) == typed(oracle(maps, 1))


# Sums 200k distinct keys within a budget (argv[2]: "third", three times the batches; or
# "fits", what `_take_arrow` counts for their sum), counting Arrow's allocations (a pool
# of its own: the test's process keeps the default one).
_ARROW_PEAK = """
import operator, os, sys
import pyarrow as pa
pool = pa.proxy_memory_pool(pa.default_memory_pool())
pa.set_memory_pool(pool)
from minibig.shuffle.partitioners import reducing
from minibig.shuffle.spill import ARROW_SUM_BYTES, ExternalMap
from minibig.shuffle.writer import ArrowColumns
count = 100_000
batches = [ArrowColumns.of([f"w{i:09d}" for i in range(m * count, (m + 1) * count)],
                           [1] * count) for m in range(2)]
held = sum(b.batch.nbytes for b in batches)
budget = 3 * held if sys.argv[2] == "third" else 2 * held + ARROW_SUM_BYTES * 2 * count
items = ExternalMap(reducing(operator.add), budget, lambda: sys.argv[1]).insert_batches(
    batches).items()
pairs = list(items)
if sorted(pairs) != [(f"w{i:09d}", 1) for i in range(2 * count)]:   # a spilled map: hash order
    print("wrong sums", flush=True)
    os._exit(1)
print(pool.max_memory(), budget, type(items).__name__, flush=True)
os._exit(0)                 # before the interpreter frees the pool its arrays came from
"""


@pytest.mark.parametrize("budget, summed", [("third", "generator"), ("fits", "ArrowItems")])
def test_the_arrow_sum_stays_within_the_budget_with_its_hash_table(tmp_path, budget, summed):
    """What `ArrowItems` allocates besides the batches (their keys combined, the dictionary,
    Arrow's hash table of the keys: ~7x the batches for distinct keys) counts: batches
    within a third of the budget go to the dict, which spills, when their sum would not fit;
    within what is counted for their sum, they are summed within the budget."""
    done = subprocess.run([sys.executable, "-c", _ARROW_PEAK, str(tmp_path), budget],
                          capture_output=True, text=True, timeout=120, env=env())
    assert done.returncode == 0, done.stdout + done.stderr
    peak, limit, kind = done.stdout.split()
    assert int(peak) <= int(limit) and kind == summed


def test_a_reader_that_wants_records_gets_them(tmp_path, arrow_from_few_keys):
    maps = [words(0, 3000)]
    batches = shuffle(tmp_path, maps, 1)[0]
    records = [r for b in batches for r in b.records()]
    assert typed(records) == typed(oracle(maps, 1))
    segment = pickle.dumps(batches[0], protocol=5)
    assert typed(next(read_batches([segment]))) == typed(batches[0].records())


def test_sums_are_collected_as_column_frames_of_the_same_records(tmp_path, arrow_from_few_keys):
    maps = [words(0, 3 * FIRST_FRAME_RECORDS + 5), words(100, 2 * FIRST_FRAME_RECORDS)]
    items = reduce(shuffle(tmp_path, maps, 1)[0])
    sent = []
    ctx = types.SimpleNamespace(partition=0, send_frame=lambda seq, codec, data: sent.append(
        (codec, data)))
    rest, frames, _ = stream_result(collected_records(items), ctx, 1 << 40)
    assert frames == len(sent) >= 2 and {codec for codec, _ in sent} == {COLUMNS}
    got = [r for codec, data in sent for r in decode_frame(codec, data)] + rest
    assert typed(got) == typed(oracle(maps, 1))


def test_sums_read_before_the_collect_come_as_records(tmp_path, arrow_from_few_keys):
    maps = [words(0, 3000)]
    items = reduce(shuffle(tmp_path, maps, 1)[0])
    first = next(items)
    value = collected_records(items)
    assert type(value) is not ArrowItems
    assert typed([first] + list(value.records)) == typed(oracle(maps, 1))
    again = reduce(shuffle(tmp_path, maps, 1)[0])
    assert typed(pickle.loads(pickle.dumps(again))) == typed(oracle(maps, 1))


def test_iterating_the_sums_holds_the_python_pairs_of_one_slice_at_a_time():
    """A reducer's output read by a next stage: the pairs are made ARROW_SLICE at a time,
    not all at once (their Python objects are ~5x the Arrow bytes the budget bounded)."""
    count = 4 * spill_module.ARROW_SLICE
    keys = [f"w{i}" for i in range(count)]
    items = ArrowItems([ArrowColumns.of(keys, list(range(count))).batch])
    tracemalloc.start()
    try:
        whole = items.columns(0, count)
        every_pair = tracemalloc.get_traced_memory()[0]
        del whole
        first = next(items)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert first == ("w0", 0)
    assert held < every_pair / 2
    assert [first] + list(items) == list(zip(keys, range(count)))


def _loaded(_):
    import sys
    return ["pyarrow" in sys.modules]


def test_a_fresh_clusters_big_str_count_goes_through_arrow_with_the_same_answer():
    """Two map tasks of 210k distinct words each (past ARROW_MIN_KEYS_COLD): the workers
    load pyarrow for it, and the answer is the oracle's, order and types too; then, warm,
    a smaller count read with mapValues gives the records."""
    assert writer_module.ARROW_MIN_KEYS_COLD <= 210_000
    maps = [[(f"w{i}", 1 + i % 2) for i in range(m * 100_000, m * 100_000 + 210_000)]
            for m in range(2)]
    small = [words(0, 9000), words(5000, 14000)]
    forking.discard_prewarmed()
    with Context(workers=2) as ctx:
        got = ctx.parallelize(maps, 2).flatMap(lambda part: part).reduceByKey(operator.add,
                                                                              2).collect()
        assert set(ctx.lastJob.frame_codecs) == {COLUMNS}
        loaded = ctx.parallelize(range(2), 2).mapPartitions(_loaded).collect()
        doubled = ctx.parallelize(small, 2).flatMap(lambda part: part).reduceByKey(
            operator.add, 2).mapValues(lambda v: 2 * v).collect()
    assert typed(got) == typed(oracle(maps, 2))
    assert loaded == [True, True]
    assert doubled == [(k, 2 * v) for k, v in oracle(small, 2)]


def test_inline_collect_of_arrow_sums(arrow_from_few_keys):
    maps = [words(0, 3000), words(2000, 5000)]
    with Context(master="inline") as ctx:
        got = ctx.parallelize(maps, 2).flatMap(lambda part: part).reduceByKey(operator.add,
                                                                               2).collect()
    assert typed(got) == typed(oracle(maps, 2))
