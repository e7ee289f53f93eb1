"""The cross-task path of a streaming job: a key_by keys and routes its records in one pass.

``Route.key_and_split`` must give what ``KeyByOperator`` then ``Route.split``
gave (the oracle), record for record and watermark for watermark, and give
up (None) on any record the two steps would reject, so that they name it.
Its parts come in columns (``KeyedBatch``); a window given them acts as on
the same items. A job's tasks run in one process (``inprocess.run_tasks``),
their batches crossing as the workers' data messages, must count a seeded
stream as plain Python does. A data message (``wire.pack_data``,
pickled without the memo) arrives equal, a cyclic value included.
"""

from __future__ import annotations

import collections
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from minibig.shuffle.hashing import portable_hash
from minibig.streaming import (GeneratorSource, SessionWindow, SlidingWindow, StreamError, StreamingContext,
                               TumblingWindow, wire)
from minibig.streaming.barriers import Barrier
from minibig.streaming.elements import END, IDLE, KeyedBatch
from minibig.streaming.operators import KeyByOperator
from minibig.streaming.functions import CountFunction, ReduceFunction
from minibig.streaming.operators import OperatorContext
from minibig.streaming.routing import Route
from minibig.streaming.window_operator import WindowOperator
from minibig.streaming.inprocess import run_tasks

KEYS = ["a", "b", "ü", 3, 4.0, True, None, (1, "x"), b"z", 10**30, -7]


def _batch(rng: random.Random, size: int, watermark_share: float) -> list:
    items = []
    for _ in range(size):
        if rng.random() < watermark_share:
            items.append(rng.random() * 100)
        else:
            key = rng.choice(KEYS) if rng.random() < 0.5 else rng.randrange(5000)
            items.append((rng.randrange(100), (key, rng.random())))
    return items


@pytest.mark.parametrize("parallelism", [2, 3, 7])
def test_key_and_split_gives_what_key_by_then_split_gave(parallelism):
    rng = random.Random(parallelism)
    key_fn = lambda value: value[0]                       # noqa: E731
    fused = Route(1, "window-2", "main", "hash", parallelism, 0, list(range(parallelism)))
    apart = Route(1, "window-2", "main", "hash", parallelism, 0, list(range(parallelism)))
    key_by = KeyByOperator("key_by-1", key_fn)
    for _ in range(300):
        items = _batch(rng, rng.randrange(0, 200), rng.choice([0.0, 0.01, 0.3, 0.9]))
        got = _as_parts(fused.key_and_split(items, key_fn))
        want = apart.split(key_by.process_batch(items)["main"])
        assert got == want
        for target, part in got:                          # plain Python: the portable hash decides
            assert all(portable_hash(item[1][0]) % parallelism == target
                       for item in part if type(item) is tuple)


def _as_parts(segments: list) -> list:
    """``key_and_split``'s KeyedBatch segments as ``split``'s parts: each target's items, in order."""
    parts = {}
    for target, segment in segments:
        assert type(segment) is KeyedBatch
        assert target not in parts or segment.timestamps, "two watermarks in a row to a target collapse"
        parts.setdefault(target, []).extend(segment.items())
    return sorted(parts.items())


@pytest.mark.parametrize("bad", [
    [(1, ("a",)), (2, ())],                               # the key function raises (IndexError)
    [(1, ("a",)), (2, ([1],))],                           # an unhashable key
    [(1, ("a",)), (2, (object(),))],                      # no process-independent hash
])
def test_key_and_split_gives_up_on_a_record_the_two_steps_reject(bad):
    route = Route(1, "window-2", "main", "hash", 2, 0, [0, 1])
    assert route.key_and_split(bad, lambda value: value[0]) is None


def _window(assigner, function):
    operator = WindowOperator("window-2", assigner, function, max_out_of_orderness=2, allowed_lateness=3)
    operator.open(OperatorContext("window-2"))
    return operator


def _raw_batches(rng: random.Random, count: int) -> list:
    """Seeded batches of ``(ts, (key, n))``, out of order, some late, watermarks between and at the end."""
    batches, clock = [], 0
    for _ in range(count):
        items = []
        for _ in range(rng.randrange(0, 40)):
            clock += rng.randint(0, 2)
            if rng.random() < 0.1:
                if not items or type(items[-1]) is tuple:   # two in a row collapse on any route
                    items.append(clock - 4)
            else:
                late = rng.randint(5, 30) if rng.random() < 0.1 else 0
                items.append((clock - rng.randint(0, 6) - late, (rng.choice("abcde"), rng.randrange(100))))
        batches.append(items)
    return batches


@pytest.mark.parametrize("assigner", [TumblingWindow(10), SlidingWindow(10, 5), SessionWindow(3)])
@pytest.mark.parametrize("function", [CountFunction(), ReduceFunction(lambda a, b: (a[0], f"{a[1]}.{b[1]}"))])
def test_a_window_given_columns_does_what_it_does_with_the_same_items(assigner, function):
    """Tumbling windows in event time walk the columns; others take them as items: both as
    the list path, firing for firing (order too: the reduce is not commutative), late records
    and counters the same."""
    by_items, by_columns = _window(assigner, function), _window(assigner, function)
    route = Route(2, "window-2", "main", "hash", 1, 0, [0])
    key_fn = lambda value: value[0]                       # noqa: E731
    for raw in _raw_batches(random.Random(3), 200):
        want = by_items.process_batch([(item[0], (key_fn(item[1]), item[1])) if type(item) is tuple else item
                                       for item in raw])
        got = {"main": [], "late": []}
        for _, segment in route.key_and_split(raw, key_fn):
            out = by_columns.process_keyed(segment.timestamps, segment.keys, segment.values, segment.watermark)
            for tag in got:
                got[tag].extend(out[tag])
        assert got == want
    assert by_columns.counters == by_items.counters and by_items.counters["late_records"] > 0


def _count_job(parallelism: int, events: int, key_fn):
    ssc = StreamingContext(None, parallelism=parallelism)
    (ssc.source(GeneratorSource(count=events, keys=50, disorder=20, seed=5), timestamp=lambda e: e[0],
                max_out_of_orderness=20, parallelism=parallelism)
        .key_by(key_fn).window(TumblingWindow(1000)).count().collect())
    return ssc.plan


@pytest.mark.parametrize("tasks", [1, 2])
def test_tasks_count_a_seeded_stream_as_plain_python_does(tasks):
    events = 20_000
    results, flows = run_tasks(_count_job(tasks, events, lambda e: e[1]), tasks, batch_size=256)
    assert all(flow.keying for flow in flows)             # the one-pass path ran
    source = GeneratorSource(count=events, keys=50, disorder=20, seed=5)
    source.open(None)
    expected = collections.Counter((key, ts - ts % 1000) for ts, key, _ in source.poll(events))
    assert sorted(results) == sorted((key, start, start + 1000, n) for (key, start), n in expected.items())
    key_by = next(node.id for node in _count_job(2, 10, len).nodes.values() if node.kind == "key_by")
    assert sum(flow.records_out[key_by] for flow in flows) == events


def test_the_one_pass_and_the_two_step_paths_agree():
    plan = _count_job(3, 6_000, lambda e: e[1])
    fused, _ = run_tasks(plan, 3, batch_size=256)
    apart, _ = run_tasks(plan, 3, batch_size=256, one_pass_keying=False)
    assert sorted(fused) == sorted(apart)


@pytest.mark.parametrize("tasks", [1, 2])
def test_an_unkeyable_record_still_names_key_by_and_the_record(tasks):
    plan = _count_job(tasks, 2_000, lambda e: e[1] if e[0] != 777 else e[9])
    with pytest.raises(StreamError) as caught:
        run_tasks(plan, tasks, batch_size=256)
    assert caught.value.operator.startswith("key_by") and "cannot key" in str(caught.value)
    assert caught.value.record[1][0] == 777


def test_a_data_message_arrives_equal_signals_and_barriers_as_themselves():
    cyclic = [1]
    cyclic.append(cyclic)                                 # pickled with the memo instead
    nested = 1
    for _ in range(200):
        nested = [nested]
    items = [(1, 0, [(3, ("k", (3, "k", 1))), (2, ("k", (2.5, "k", None))), 4.0]),
             (2, 1, END), (2, 0, IDLE), (2, 0, Barrier(7)), (3, 0, [(1, ("n", nested))])]
    out = wire.unpack_data(wire.pack_data(items))
    assert out == [(1, 0, items[0][2]), (2, 1, END), (2, 0, IDLE), out[3], (3, 0, items[4][2])]
    assert out[1][2] is END and out[2][2] is IDLE and out[3][2].cid == 7
    again = wire.unpack_data(wire.pack_data([(4, 0, [(1, ("c", cyclic))])]))[0][2][0][1][1]
    assert again[0] == 1 and again[1] is again
    keyed = KeyedBatch([1, 2.5], ["a", ("t", 1)], [(1, "a"), (2.5, ("t", 1))], 2.0)
    back = wire.unpack_data(wire.pack_data([(5, 1, keyed), (5, 0, KeyedBatch())]))
    assert back == [(5, 1, keyed), (5, 0, KeyedBatch())]
    assert back[0][2].items() == [(1, ("a", (1, "a"))), (2.5, (("t", 1), (2.5, ("t", 1)))), 2.0]


def test_the_benchmark_measures_the_exchange_in_process():
    bench = Path(__file__).resolve().parent.parent / "bench" / "streaming.py"
    out = subprocess.run([sys.executable, str(bench), "--in-process", "--events", "20000", "--workers", "1", "2"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["tasks"] for line in lines] == [1, 2]
    assert all(line["in_process_cpu_us_per_event"] > 0 for line in lines)
