"""MRJob grouping, combining and sorting stay within the workers' memory budget.

The cluster is test_spill.py's: 2 real worker processes with a 16 MiB budget
each (`--memory`), 32 MiB in all, watched by its `Watch` (each worker's peak
RSS growth over its idle RSS within its budget + 25% + 8 MiB, spill files
seen during the job and none left after it). Each job's groups, by the
engine's own estimate (`minibig.shuffle.sizing.estimate` of every key's
list of values), are 4x that. The answers are checked against plain Python,
which is what the job gives without a budget. The in-process tests compare
the reduce side's grouping under a tiny budget with no budget at all.
"""

from __future__ import annotations

import json
import os
import random

import pytest
from test_spill import BUDGET, WORKERS, Watch

from minibig import Context
from minibig.mapreduce import MRJob
from minibig.mapreduce.internal import JSONPath, LinePath, column_records, columns_of, unpacked
from minibig.mapreduce.protocols import PickleProtocol
from minibig.mapreduce.tasks import Position
from minibig.shuffle.sizing import estimate

GROUP_BYTES = 4 * WORKERS * BUDGET
PER_KEY = 4                                   # values of each key
PER_LINE = 64                                 # pairs each input line stands for


def _value(n: int) -> str:
    return "%0400d" % n


def _keys_for(nbytes: int) -> int:
    """Keys of PER_KEY values like the jobs' that make `nbytes` of groups."""
    group = [_value(10**6)] * PER_KEY
    return nbytes // (estimate("k1000000") + estimate(group) + 8 * PER_KEY)


class MRSumPerKey(MRJob):
    """Line i stands for pairs n = 64 i .. 64 i + 63: ("k<n % keys>", the 400-digit
    text of n); the reducer sums each key's values. Key k gets n = k + j * keys,
    j < 4: two from each half of the input."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--keys", type=int)

    def mapper(self, _, line):
        start, keys = int(line) * PER_LINE, self.options.keys
        for n in range(start, start + PER_LINE):
            yield "k%d" % (n % keys), _value(n)

    def reducer(self, key, values):
        yield key, sum(map(int, values))


class MRSortedPartials(MRSumPerKey):
    """A combiner whose values differ from the mapper's ("s<sum>/<count>"), and
    SORT_VALUES: the reducer says whether its values came sorted by their JSON
    text, and totals them."""

    SORT_VALUES = True

    def combiner(self, key, values):
        values = [int(value) for value in values]
        yield key, "s%d/%d" % (sum(values), len(values))

    def reducer(self, key, values):
        values = list(values)
        in_order = values == sorted(values, key=json.dumps)
        total = count = 0
        for value in values:
            if value.startswith("s"):
                partial_sum, partial_count = map(int, value[1:].split("/"))
                total, count = total + partial_sum, count + partial_count
            else:
                total, count = total + int(value), count + 1
        yield key, [total, count, in_order]


@pytest.fixture
def small():
    """A fresh cluster like test_spill's `small`: 2 workers of 16 MiB each."""
    ctx = Context(workers=WORKERS, worker_memory=BUDGET, max_task_attempts=1,
                  appName="test_mapreduce_memory", progress=False)
    try:
        yield ctx
    finally:
        ctx.stop()


def _lines(tmp_path, keys: int) -> str:
    """The input for `keys` keys: one line per PER_LINE pairs."""
    path = tmp_path / f"lines-{keys}.txt"
    path.write_text("".join(f"{i}\n" for i in range(keys * PER_KEY // PER_LINE)))
    return str(path)


def _run(job_cls, ctx, *args) -> None:
    job = job_cls(args=[*args, "--master", ctx.master, "-q"])
    with job.make_runner() as runner:
        runner.run()


def _output(folder) -> dict:
    """The part files' pairs, checking that each part's keys come in JSON text order."""
    pairs = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith("part-"):
            with open(os.path.join(folder, name)) as f:
                keys = [line.split("\t", 1)[0] for line in f]
            assert keys == sorted(keys), f"{name}: keys out of order"
            with open(os.path.join(folder, name)) as f:
                pairs.update((json.loads(k), json.loads(v))
                             for k, v in (line.rstrip("\n").split("\t") for line in f))
    return pairs


def _where(_):
    from minibig.core.task import current_task
    return os.getpid(), current_task().work_dir


def _work_dirs(ctx) -> dict:
    """{worker pid: work dir} (defined here: a function of test_spill's would not
    travel to the workers unless test_spill is collected too)."""
    found: dict = {}
    for _ in range(20):
        found.update(ctx.parallelize(range(16), 16).map(_where).collect())
        if len(found) == WORKERS:
            return found
    pytest.fail(f"tasks ran on {len(found)} workers only")


def _watch(ctx, tmp_path) -> Watch:
    """A Watch whose baseline follows a small run of the same job (imports, stage code)."""
    _run(MRSortedPartials, ctx, _lines(tmp_path, 1600), "--keys", "1600", "-o",
         str(tmp_path / "warm"))
    return Watch(ctx, _work_dirs(ctx))


def test_groups_four_times_the_memory_spill_and_give_the_unbudgeted_answer(small, tmp_path):
    keys = _keys_for(GROUP_BYTES) // PER_LINE * PER_LINE
    numbers = _lines(tmp_path, keys)
    watch = _watch(small, tmp_path)
    with watch:
        _run(MRSumPerKey, small, numbers, "--keys", str(keys), "--num-reducers", "4",
             "-D", "mapreduce.job.maps=2", "-o", str(tmp_path / "out"))
    got = _output(tmp_path / "out")
    assert got == {f"k{k}": PER_KEY * k + 6 * keys for k in range(keys)}
    watch.check()


def test_combiner_and_sort_values_within_the_budget(small, tmp_path):
    keys = _keys_for(GROUP_BYTES) // PER_LINE * PER_LINE
    numbers = _lines(tmp_path, keys)
    watch = _watch(small, tmp_path)
    with watch:
        _run(MRSortedPartials, small, numbers, "--keys", str(keys), "--num-reducers", "4",
             "-D", "mapreduce.job.maps=2", "-D", "minibig.combine.min.values=1",
             "-o", str(tmp_path / "out"))
    got = _output(tmp_path / "out")
    assert got == {f"k{k}": [PER_KEY * k + 6 * keys, PER_KEY, True] for k in range(keys)}
    # The map tasks' groups are 4x the budget, combined batch by batch; what the
    # combiner leaves (a short text per key and task, a few MiB packed) fits.
    watch.check(spilled=False)


# -- the reduce side's grouping, in this process -------------------------------------

def _shuffle_records(path, pairs, rng) -> list:
    """What map tasks would send for `pairs`: grouped in random batches, in order."""
    records, start = [], 0
    while start < len(pairs):
        end = start + rng.randrange(1, 60)
        groups: dict = {}
        path.group(pairs[start:end], groups)
        records += column_records(columns_of(groups), 1)
        start = end
    return records


def _oracle(path, records, sort_values: bool) -> list:
    """What the reducer gets, as plain Python: the groups in a dict in arrival order,
    keys sorted by their encoding, and each key's values too with SORT_VALUES (stable
    sorts), each read back as the reducer sees it."""
    from minibig.mapreduce.internal import record_values
    from minibig.mapreduce.protocols import json_text
    groups: dict = {}
    for record in unpacked(records):
        groups.setdefault(record[0], []).extend(record_values(record))
    json_path = isinstance(path, JSONPath)
    order = sorted(groups, key=JSONPath.sort_key if json_path else None)
    if sort_values:
        for values in groups.values():
            values.sort(key=json_text if json_path else None)
    if json_path:
        return [(JSONPath.key_of(identity), groups[identity]) for identity in order]
    return [(path.read(groups[identity][0])[0], [path.read(line)[1] for line in groups[identity]])
            for identity in order]


@pytest.mark.parametrize("path", [JSONPath(), LinePath(PickleProtocol())],
                         ids=["json", "lines"])
@pytest.mark.parametrize("sort_values", [False, True])
def test_grouping_within_a_tiny_budget_equals_grouping_in_memory(tmp_path, path, sort_values):
    rng = random.Random(11)
    keys = ["a", "b", "é", 'q"', 7, 7.5, None, (1, "x"), [1, "x"], "k" * 30]
    pairs = [(rng.choice(keys), rng.choice([3, "v", [2, 1], None, 2.5, "w" * 40]))
             for _ in range(3000)]
    records = _shuffle_records(path, pairs, rng)
    spills = []

    def spill_dir():
        spills.append(1)
        return str(tmp_path)

    def grouped(budget):
        return [(key, list(values)) for key, values in
                path.reducer_input(iter(records), sort_values, Position(), budget, spill_dir)]
    in_memory = grouped(None)
    assert not spills
    assert grouped(4096) == in_memory == _oracle(path, records, sort_values)
    assert spills, "a 4 KiB budget did not spill"
    assert not os.listdir(tmp_path)
