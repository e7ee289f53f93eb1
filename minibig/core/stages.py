"""The two kinds of task an RDD stage runs (Spark's ShuffleMapTask and ResultTask).

Both compute one partition of the stage's last dataset by pulling records
through its pipeline of narrow transformations (`rdd.iterator(split, ctx)`),
then either apply the action's function (`ResultCode`) or write the shuffle
blocks a later stage reads (`ShuffleMapCode`). Both run with the cyclic
collector's young threshold raised (`minibig.core.gcpolicy`) to
RDD_YOUNG_THRESHOLD: a stage that builds a table, a cached partition or a
shuffle's combine keeps what it allocates, so at Python's default a young
collection every 700 containers finds nothing to free, and the survivors it
promotes make the older collections rescan them (12-17% of an in-process
PageRank iteration's CPU time; 1-2% at 10,000). A task that keeps a few
hundred thousand containers (building PageRank's links: distinct's pairs,
the groups, the cached block) was still scanned by a young collection every
10,000 of them and by an older one every 100,000: 12% of the links' CPU in
one process, 0.12-0.3 s of a 2-worker job's tasks; at 100,000 the links' four
tasks (two map, two reduce) meet 4 collections in all, against 82, and take
8-11% less CPU. Cyclic garbage waits for at most that many new containers
before a young collection frees it. They are the RDD API's
implementation of the task protocol of `minibig.core.task`; the DAG
scheduler builds them, and knows datasets only through `deps`, `lineage()`,
`iterator()`, `task_payload()` and `user_functions()`.
"""

from __future__ import annotations

import itertools
import traceback
from dataclasses import dataclass

from minibig.core.serialization import ensure_recursion_limit
from minibig.core.task import Records, TaskCode
from minibig.shuffle.writer import write_shuffle
from minibig.core.gcpolicy import young_threshold

BATCH = 1024                  # records computed at a time by a collect's task
RDD_YOUNG_THRESHOLD = 100_000  # the young threshold while a stage's task runs (see above)


@dataclass
class ResultCode(TaskCode):
    """An action's task: `func` over the records of one partition of `rdd`."""

    rdd: object
    func: object

    def run(self, ctx):
        ensure_recursion_limit(len(self.rdd.lineage()))
        with young_threshold(RDD_YOUNG_THRESHOLD):
            value = self.func(self.rdd.iterator(ctx.partition, ctx))
        if isinstance(value, Records):     # computed after run, as it is sent (core/task.py)
            return Records(itertools.chain.from_iterable(_with_young_threshold(value.records)))
        return value

    def failure_site(self, exc):
        return dataset_site(exc, self.rdd)


@dataclass
class ShuffleMapCode(TaskCode):
    """A map task: the records of one partition of `rdd`, written as shuffle blocks of `dep`."""

    rdd: object
    dep: object
    returns_to_driver = False

    def run(self, ctx):
        ensure_recursion_limit(len(self.rdd.lineage()))
        with young_threshold(RDD_YOUNG_THRESHOLD):
            return write_shuffle(self.rdd.iterator(ctx.partition, ctx), self.dep, ctx.work_dir,
                                 self.dep.shuffle_key, ctx.partition,
                                 _writer_budget(ctx.memory_budget, self.dep), ctx.spill_dir)

    def result_fields(self, value):
        return {"sizes": value}              # lets the master place reducers near their input

    def failure_site(self, exc):
        return dataset_site(exc, self.rdd)


def _writer_budget(budget: int | None, dep) -> int | None:
    """The map task's budget for its shuffle writer: all of it, or `dep.writer_share` of it
    where the records' own computation holds the rest while the writer runs
    (`minibig.rdd.shuffled.DistinctCombinedRDD`'s map side)."""
    share = dep.writer_share
    return budget if not budget or share is None else int(budget * share)


def _with_young_threshold(records):
    """The records in lists of BATCH (no generator step per record), each batch computed
    with the young threshold raised. Raised per batch, never across a yield: a generator
    dropped half-way may be finalized by a collection anywhere, even inside gcpolicy's
    lock, and must then have nothing to put back."""
    records = iter(records)
    while True:
        with young_threshold(RDD_YOUNG_THRESHOLD):
            batch = list(itertools.islice(records, BATCH))
        if not batch:
            return
        yield batch


def dataset_site(exc: BaseException, rdd) -> str:
    """'<dataset> created at <file:line>' for the dataset whose function raised `exc`."""
    node = failing_dataset(exc, rdd)
    return f"{node.describe()} created at {node.creation_site}"


def failing_dataset(exc: BaseException, rdd) -> object:
    """The dataset whose user function raised `exc`, or `rdd` when unknown.

    Found by matching the traceback's frames against the code of each
    dataset's functions, so it costs nothing per record; a builtin passed
    directly (`map(int)`) has no frame, and then the stage's last dataset is named.
    """
    codes = {}
    for node in rdd.lineage():
        for fn in node.user_functions():
            code = getattr(fn, "__code__", None)
            if code is not None:
                codes.setdefault(code, node)
    frames = list(traceback.walk_tb(exc.__traceback__))
    for frame, _ in reversed(frames):
        if frame.f_code in codes:
            return codes[frame.f_code]
    return rdd
