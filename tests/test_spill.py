"""Shuffles bigger than the workers' memory spill to disk and still give the right answer.

The cluster: 2 real worker processes, one task slot each, started with a
memory budget of 16 MiB each (`Conf.worker_memory`, passed as `--memory`),
32 MiB in all. Each shuffle below moves 4x that much (`SHUFFLE_BYTES`: the
number of records times one record's in-memory size by the engine's own
estimate, `minibig.shuffle.sizing.estimate`): reduceByKey with one distinct
key per two records, groupByKey, sortByKey; a join moves 2x. Answers are
checked against arithmetic, on the workers.

While a job runs a thread samples, every 5 ms, each worker's resident memory
(psutil) and the files under each worker's `<work_dir>/spill/`. The test
asserts that spill files appeared during the job, that none is left after it,
and that each worker's peak RSS minus its idle RSS (after a warm-up job)
stays within its budget plus 25% plus 8 MiB. The 8 MiB is the slack for what
the estimate does not see: the interpreter's allocator keeping partly used
arenas, pickling and file buffers, ZeroMQ messages.

The errors: one key's group, or one record, bigger than the budget fails the
job with MemoryBudgetError (naming the key, its size and the budget), and
the failed tasks' spill files are gone too. Unit tests run the spilling
structures in this process against plain Python, with tiny budgets and
colliding hashes.
"""

from __future__ import annotations

import itertools
import operator
import os
import threading
import time

import psutil
import pytest
from hypothesis import given, settings, strategies as st

from minibig import Context
from minibig.core.dependency import Aggregator
from minibig.errors import MemoryBudgetError
from minibig.shuffle.hashing import portable_hash
from minibig.shuffle.partitioners import Partitioner
from minibig.shuffle.sizing import estimate
from minibig.shuffle.spill import ExternalMap, ExternalSorter
from minibig.shuffle.writer import MapOutputWriter

BUDGET = 16 << 20
WORKERS = 2
SHUFFLE_BYTES = 4 * WORKERS * BUDGET      # records shuffled x estimate(record)
SLACK = 0.25
SLACK_BYTES = 8 << 20


@pytest.fixture
def small():
    """A fresh 2-worker cluster whose workers each have a 16 MiB memory budget.

    Fresh for each test: a worker keeps some memory it once used (allocator
    arenas), which would hide part of the next test's growth over its baseline.
    No speculation: on a loaded machine a backup copy of a slow map task may
    still be cleaning up its spill files, after its kill, when the job returns
    (seen in CI); what a killed copy leaves is tested in test_lost_tasks.py.
    """
    ctx = Context(workers=WORKERS, worker_memory=BUDGET, max_task_attempts=1, speculation=False,
                  appName="test_spill", progress=False)
    try:
        yield ctx
    finally:
        ctx.stop()


@pytest.fixture(scope="module")
def shared():
    """One cluster like `small`, for the tests that measure no memory."""
    ctx = Context(workers=WORKERS, worker_memory=BUDGET, max_task_attempts=1, speculation=False,
                  appName="test_spill", progress=False)
    try:
        yield ctx
    finally:
        ctx.stop()


def _where(_):
    from minibig.core.task import current_task
    return os.getpid(), current_task().work_dir


@pytest.fixture
def work_dirs(small):
    """{worker pid: work dir} of `small`'s workers."""
    return _work_dirs(small)


def _work_dirs(ctx) -> dict:
    found: dict = {}
    for _ in range(20):                     # run tasks until both workers answered
        found.update(ctx.parallelize(range(16), 16).map(_where).collect())
        if len(found) == WORKERS:
            return found
    pytest.fail(f"tasks ran on {len(found)} workers only")


def _spill_files(work_dir: str) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(os.path.join(work_dir, "spill"))
            for f in files]


class Watch:
    """Samples workers' RSS and spill folders in a thread while a job runs."""

    def __init__(self, ctx, work_dirs: dict):
        self.procs = [psutil.Process(p.pid) for p in ctx._cluster.workers]
        self.dirs = [work_dirs[p.pid] for p in self.procs]
        self.base = [p.memory_info().rss for p in self.procs]
        self.peak = list(self.base)
        self.most_spill_files = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.005):
            for i, proc in enumerate(self.procs):
                self.peak[i] = max(self.peak[i], proc.memory_info().rss)
            files = sum(len(_spill_files(d)) for d in self.dirs)
            self.most_spill_files = max(self.most_spill_files, files)

    def __enter__(self) -> "Watch":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def growth(self) -> list[int]:
        return [peak - base for peak, base in zip(self.peak, self.base)]

    def check(self, spilled: bool = True) -> None:
        """Memory within the budget, no spill file left, and files spilled during the job
        if `spilled` (none if not)."""
        print(f"peak RSS growth per worker (MiB): {[round(g / 2**20, 1) for g in self.growth()]}, "
              f"budget {BUDGET >> 20} MiB; most spill files at once: {self.most_spill_files}")
        if spilled:
            assert self.most_spill_files > 0, "no spill file appeared during the job"
        else:
            assert self.most_spill_files == 0, "a job that fits its budget spilled"
        assert not any(_spill_files(d) for d in self.dirs), "spill files left after the job"
        limit = BUDGET * (1 + SLACK) + SLACK_BYTES
        for growth in self.growth():
            assert growth <= limit, (f"a worker grew by {growth >> 20} MiB, over its budget of "
                                     f"{BUDGET >> 20} MiB + 25% + 8 MiB")


def _load_libraries(_):
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401
    import minibig.shuffle.kernels  # noqa: F401
    return os.getpid()


@pytest.fixture
def watch(small, work_dirs):
    """A Watch whose baseline is taken after a warm-up shuffle (imports, stage code)."""
    small.range(2000, numSlices=4).map(lambda x: (x % 7, x)).groupByKey(2).count()
    small.range(2000, numSlices=4).map(lambda x: (x % 7, x)).sortByKey(True, 2).count()
    # Libraries load once per worker, on first use (numpy by a spill's sort; pyarrow and the
    # numba kernels by the columnar path): code, not data, so loaded before the baseline.
    loaded: set = set()
    for _ in range(20):
        loaded.update(small.parallelize(range(16), 16).map(_load_libraries).collect())
        if len(loaded) == WORKERS:
            break
    else:
        pytest.fail(f"libraries loaded on {len(loaded)} workers only")
    small.range(40_000, numSlices=2).map(lambda x: (x, x)).reduceByKey(operator.add, 2).count()
    time.sleep(0.3)
    return Watch(small, work_dirs)


def _records_for(nbytes: int, record) -> int:
    """How many records like `record` make `nbytes` by the engine's size estimate."""
    return nbytes // estimate(record)


def _count_and_wrong(rdd, is_wrong) -> tuple[int, int]:
    """(records, records for which is_wrong holds), in one pass on the workers."""
    return rdd.map(lambda r: (1, int(bool(is_wrong(r))))).fold(
        (0, 0), lambda a, b: (a[0] + b[0], a[1] + b[1]))


def test_reduce_by_key_with_more_distinct_keys_than_fit(small, watch):
    k = _records_for(SHUFFLE_BYTES, (10**6, 10**6)) // 2
    n = 2 * k                               # every key twice, from two different map tasks

    def key(x):
        r = x % k
        return r if r % 3 else str(r)       # ints and strings: keys that cannot be ordered
    with watch:
        sums = small.range(n, numSlices=8).map(lambda x: (key(x), x)).reduceByKey(operator.add, 4)
        count, wrong = _count_and_wrong(sums, lambda kv: kv[1] != 2 * int(kv[0]) + k)
    assert (count, wrong) == (k, 0)
    watch.check()


def test_numeric_reduce_by_key_on_the_columnar_path(small, watch):
    # Int keys and values: the combined dicts travel as Arrow frames.
    k = _records_for(SHUFFLE_BYTES, (10**6, 10**6)) // 2
    n = 2 * k
    with watch:
        sums = small.range(n, numSlices=8).map(lambda x: (x % k, x)).reduceByKey(operator.add, 4)
        count, wrong = _count_and_wrong(sums, lambda kv: kv[1] != 2 * kv[0] + k)
    assert (count, wrong) == (k, 0)
    watch.check()


def test_group_by_key_bigger_than_the_budget(small, watch):
    k = _records_for(SHUFFLE_BYTES, (10**6, 10**6)) // 3
    n = 3 * k
    with watch:
        groups = small.range(n, numSlices=8).map(lambda x: (x % k, x)).groupByKey(4)
        count, wrong = _count_and_wrong(
            groups, lambda kv: list(kv[1]) != [kv[0], kv[0] + k, kv[0] + 2 * k])
    assert (count, wrong) == (k, 0)         # and each key's values in arrival order
    watch.check()


def _sorted_runs(split, it):
    first = last = None
    count, in_order = 0, True
    for key, value in it:
        in_order = in_order and (last is None or last <= key) and value == b"%090d" % key
        first = key if first is None else first
        last, count = key, count + 1
    return [(split, first, last, count, in_order)]


def test_sort_by_key_bigger_than_the_budget(small, watch):
    n = _records_for(SHUFFLE_BYTES, (10**6, b"%090d" % 0))
    step = 7919                             # a prime: x * step % n visits every key once
    with watch:
        parts = (small.range(n, numSlices=8)
                 .map(lambda x: ((x * step) % n, b"%090d" % ((x * step) % n)))
                 .sortByKey(True, 4).mapPartitionsWithIndex(_sorted_runs).collect())
    parts = [p for p in parts if p[3]]
    assert all(p[4] for p in parts)
    assert sum(p[3] for p in parts) == n
    assert parts[0][1] == 0 and parts[-1][2] == n - 1
    assert all(a[2] < b[1] for a, b in zip(parts, parts[1:]))
    watch.check()


def _join_twice_the_budget(ctx, big_on_left: bool):
    """(records expected, (count, wrong)) of a join of k keys with 2k records (2x the
    budget), the big side on the left (streamed) or on the right (hashed)."""
    k = _records_for(SHUFFLE_BYTES // 2, (10**6, 10**6)) // 3      # half as big: 2x the budget
    big = ctx.range(2 * k, numSlices=8).map(lambda x: (x % k, x))
    keys = ctx.range(k, numSlices=4).map(lambda x: (x, -x))
    if big_on_left:
        return 2 * k, _count_and_wrong(
            big.join(keys, 4), lambda kv: kv[1][0] % k != kv[0] or kv[1][1] != -kv[0])
    return 2 * k, _count_and_wrong(
        keys.join(big, 2), lambda kv: kv[1][1] % k != kv[0] or kv[1][0] != -kv[0])


def test_join_bigger_than_the_budget(small, watch):
    """The join's hashed side (other's values) outgrows the budget in each task: the
    hash join hands its table to the cogroup, which spills."""
    with watch:
        n, found = _join_twice_the_budget(small, big_on_left=False)
    assert found == (n, 0)
    watch.check()


def test_join_streams_its_left_side(small, watch):
    """A join whose left side is 2x the budget and whose right side fits: the left streams
    through the right's table, so nothing spills and memory stays within the budget."""
    with watch:
        n, found = _join_twice_the_budget(small, big_on_left=True)
    assert found == (n, 0)
    watch.check(spilled=False)


def _memory_of_worker(_):
    from minibig.core.task import current_task
    task = current_task()
    return os.getpid(), task.blocks.used, task.memory_pool.storage


def _cached_bytes(ctx) -> dict:
    """{worker pid: bytes of cached blocks it holds in memory}, asked of the workers."""
    found: dict = {}
    for _ in range(20):
        for pid, used, storage in ctx.parallelize(range(16), 16).map(_memory_of_worker).collect():
            assert used == storage, "the block store and the memory pool disagree"
            found[pid] = used
        if len(found) == WORKERS:
            return found
    pytest.fail(f"tasks ran on {len(found)} workers only")


def test_cached_blocks_and_a_shuffle_share_one_budget(small, watch):
    """Storage and shuffles draw on one budget: a full cache shrinks the shuffle's share.

    Two cached partitions of 14 MiB: wherever the scheduler puts them, at
    least one worker holds 14 MiB of its 16 (a second does not fit beside it).
    """
    record = (10**6, b"%090d" % 0)
    per_part = _records_for(14 << 20, record)
    cached = small.range(2 * per_part, numSlices=2).map(lambda x: (x, b"%090d" % x)).cache()
    k = _records_for(SHUFFLE_BYTES, (10**6, 10**6)) // 2
    with watch:
        assert cached.count() == 2 * per_part
        held = _cached_bytes(small)
        sums = small.range(2 * k, numSlices=8).map(lambda x: (x % k, x)).reduceByKey(operator.add, 4)
        count, wrong = _count_and_wrong(sums, lambda kv: kv[1] != 2 * kv[0] + k)
    assert (count, wrong) == (k, 0)
    assert max(held.values()) >= 13 << 20, f"no worker's cache is nearly full: {held}"
    assert _cached_bytes(small) == held, "a shuffle does not evict cached blocks"
    watch.check()


def test_remote_fetch_in_chunks_streams_big_segments(shared):
    # Read every block through the block servers, in chunks of 1 MiB (budget / 16).
    work_dirs = _work_dirs(shared)
    n = 60_000
    with Context(master=shared.master, shuffle_local_read=False, progress=False) as remote:
        got = (remote.range(n, numSlices=2).map(lambda x: (x % 1000, b"%0200d" % x))
               .groupByKey(2).mapValues(len).collect())
    assert sorted(got) == [(i, n // 1000) for i in range(1000)]
    assert not any(_spill_files(d) for d in work_dirs.values())


def test_a_group_bigger_than_the_budget_fails_with_its_size(shared):
    work_dirs = _work_dirs(shared)
    n = 600_000                             # one key: ~24 MiB of values
    with pytest.raises(MemoryBudgetError, match=r"the group of key 0 is about \d+ bytes, over "
                                                 r"the task's memory budget of 16777216 bytes"):
        shared.range(n, numSlices=4).map(lambda x: (0, x)).groupByKey(2).count()
    time.sleep(0.2)
    assert not any(_spill_files(d) for d in work_dirs.values())


def test_a_record_bigger_than_the_budget_fails_with_its_key(shared):
    with pytest.raises(MemoryBudgetError, match="a record of key 'huge'"):
        shared.parallelize([0], 1).map(lambda _: ("huge", b"x" * (BUDGET + 1))).groupByKey().count()


# -- the structures, in this process ---------------------------------------------------------

def _spill_folder(tmp_path):
    return lambda: str(tmp_path)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(-3, 40), st.text(max_size=2), st.none(),
                                    st.tuples(st.integers(0, 3))),
                          st.integers(-5, 5))))
def test_external_map_equals_a_dict_fold(tmp_path_factory, records):
    folder = tmp_path_factory.mktemp("spill")
    agg = Aggregator(lambda v: [v], lambda c, v: c + [v], operator.add)
    external = ExternalMap(agg, 2048, lambda: str(folder)).insert_values(records)
    expected: dict = {}
    for key, value in records:
        expected.setdefault(key, []).append(value)
    assert dict(external.items()) == expected
    assert not os.listdir(folder)


def test_external_map_keeps_colliding_keys_apart(tmp_path):
    # In CPython hash(-1) == hash(-2): two keys, one hash.
    assert portable_hash(-1) == portable_hash(-2)
    keys = [-1, -2, "a", 1.5, *range(3, 400)]
    records = [(key, 1) for key in itertools.islice(itertools.cycle(keys), 100 * len(keys))]
    external = ExternalMap(Aggregator(int, operator.add, operator.add), 8192, _spill_folder(tmp_path))
    assert dict(external.insert_values(records).items()) == {key: 100 for key in keys}
    assert external.spills > 1


def test_external_map_merges_more_runs_than_its_fan_in(tmp_path):
    records = [(i % 5000, i) for i in range(60_000)]
    external = ExternalMap(Aggregator(int, operator.add, operator.add), 8192, _spill_folder(tmp_path))
    got = dict(external.insert_values(records).items())
    assert external.spills > 16
    assert got == {k: sum(range(k, 60_000, 5000)) for k in range(5000)}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 50), st.integers())), st.booleans())
def test_external_sorter_is_a_stable_sort(tmp_path_factory, records, reverse):
    folder = tmp_path_factory.mktemp("sort")
    sorter = ExternalSorter(lambda kv: kv[0], reverse, 1024, lambda: str(folder))
    assert list(sorter.sort(records)) == sorted(records, key=lambda kv: kv[0], reverse=reverse)
    assert not os.listdir(folder)


def test_the_shuffle_writer_holds_big_records_after_a_small_one_within_its_budget(tmp_path):
    """One 100-byte record, then 300 of 1/32 of the 16 MiB budget each (a MapReduce
    task's packed blocks of keys: a reducer's small last block, then full ones). The
    small one, sampled for all, let a chunk of 1,024 records be taken before the next
    check: 150 MiB held before the first spill. Now at most one record past the budget."""
    budget, block = 16 << 20, (16 << 20) // 32
    writer = MapOutputWriter(Partitioner(4), budget, _spill_folder(tmp_path))
    seen = {"runs": 0, "held": 100, "peak": 0}

    def records():                      # counts what the writer has taken since its last spill
        yield 0, b"s" * 100
        for i in range(300):
            if len(writer.runs) != seen["runs"]:
                seen["runs"], seen["held"] = len(writer.runs), 0
            seen["held"] += block
            seen["peak"] = max(seen["peak"], seen["held"])
            yield i % 4, bytes([i % 256]) * block

    writer.insert(records())
    assert seen["runs"] >= 8
    assert seen["peak"] <= budget + block
    spilled = sum(offsets[-1] for _, offsets in writer.runs)
    for path, _ in writer.runs:
        os.unlink(path)
    assert spilled + sum(map(len, map(operator.itemgetter(1), itertools.chain(*writer.buckets)))) \
        >= 300 * block


def test_a_join_hot_key_between_half_and_the_whole_budget_spills_instead_of_failing():
    """A join whose right side outgrows half the 1 MiB budget goes on as a cogroup within
    the other half; a hot key's group of about 0.7 MiB is over that half but within the
    task's budget, so the join must still answer (it raised MemoryBudgetError)."""
    hot = 18_000
    left = [("hot", i) for i in range(hot)] + [(i, -i) for i in range(3000)]
    right = [("hot", "h")] + [(i % 2500, i) for i in range(40_000)]
    entry = estimate("hot") + estimate(([i for i in range(hot)], ["h"]))
    assert (1 << 19) < entry < (1 << 20)
    with Context(master="inline", worker_memory=1 << 20, progress=False) as ctx:
        got = ctx.parallelize(left, 2).join(ctx.parallelize(right, 2), 1).collect()
    by_key: dict = {}
    for key, w in right:
        by_key.setdefault(key, []).append(w)
    want = [(k, (v, w)) for k, v in left for w in by_key.get(k, ())]
    assert sorted(got, key=repr) == sorted(want, key=repr)
