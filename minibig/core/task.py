"""What a task is, and how one runs on a worker.

The driver serialises each stage once as a `StageCode`: the stage's last
dataset (with its narrow lineage up to the shuffles it reads) and either the
action's function (a result stage) or the shuffle dependency it writes (a
shuffle map stage). Each task adds only its partition number and its payload
(the slice of a parallelized collection, for instance).

`run_task` computes the partition's records by pulling them through the
pipeline of narrow transformations, then either applies the action's function
or writes shuffle blocks. While it runs, the task is the thread's
`current_task()` (PySpark's TaskContext.get()), so code below a
`mapPartitions` (sorting a partition, combining in place) can find the
task's memory budget and spill folder; the folder is removed when the task
ends, whatever the outcome. `describe_failure` packs an exception for the trip
back to the driver, with the traceback and the dataset that raised it.
"""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field

from minibig.core import serialization

from minibig.core.accumulators import begin_task, end_task
from minibig.errors import FetchFailedError, ResultTooLargeError, format_user_traceback
from minibig.shuffle.reader import CHUNK, fetch_segments
from minibig.shuffle.writer import write_shuffle

SHUFFLE_MAP = "shuffle_map"
RESULT = "result"


@dataclass
class StageCode:
    """A stage as shipped to workers: pickled once, run by every task."""

    kind: str                 # SHUFFLE_MAP or RESULT
    rdd: object               # the stage's last RDD
    func: object = None       # RESULT: iterator -> value
    dep: object = None        # SHUFFLE_MAP: the ShuffleDependency written
    counted: object = None    # SHUFFLE_MAP: the dataset whose records are counted as keys
                              # instead of running the stage's last map (shuffle.fusion)


@dataclass
class TaskContext:
    """Everything a running task may ask of its worker."""

    partition: int
    attempt: int
    stage_id: int
    payloads: dict                        # (rdd id, split) -> payload for this task
    locations: dict = field(default_factory=dict)
    work_dir: str = ""
    worker_id: str = "driver"
    shuffle_local_read: bool = True
    driver_id: str = ""
    blocks: object = None                 # the worker's BlockStore
    cached: list = field(default_factory=list)   # block keys this task stored
    progress: float | None = None         # 0..1 where the input reader can tell
    fetch_timeout: float = 30.0
    memory_pool: object = None            # the worker's MemoryPool; None: no limit
    spill_folder: str | None = None       # created on first use, removed when the task ends

    @property
    def memory_budget(self) -> int:
        """Bytes this task's shuffles may hold before spilling (0: no limit), reserved on first use."""
        return 0 if self.memory_pool is None else self.memory_pool.reserve(self)

    def spill_dir(self) -> str:
        """This task's folder for spilled runs: `<work_dir>/spill/<task>/`, made on first use."""
        if self.spill_folder is None:
            root = os.path.join(self.work_dir or _fallback_dir(), "spill")
            name = f"s{self.stage_id}-p{self.partition}-a{self.attempt}-{uuid.uuid4().hex[:8]}"
            os.makedirs(os.path.join(root, name))
            self.spill_folder = os.path.join(root, name)
        return self.spill_folder

    def release(self) -> None:
        """Delete the task's spilled runs and give its memory back to the worker."""
        if self.spill_folder is not None:
            shutil.rmtree(self.spill_folder, ignore_errors=True)
            self.spill_folder = None
        if self.memory_pool is not None:
            self.memory_pool.release(self)

    def persisted(self, rdd, split: int):
        """The records of a persisted partition: from the block store, or computed and kept."""
        key = block_key(self.driver_id, rdd.id, split)
        records = self.blocks.get(key)
        if records is None:
            records = list(rdd.compute(split, self))
            if self.blocks.put(key, records, rdd.getStorageLevel(), self):
                self.cached.append(key)
        return iter(records)

    def fetch_shuffle(self, dep, reduce_index: int):
        """The segments of `dep` for one reduce partition, one by one (see `read_batches`)."""
        chunk = min(CHUNK, max(1 << 18, self.memory_budget // 16)) if self.memory_budget else CHUNK
        return fetch_segments(dep.shuffle_key, dep.num_maps, reduce_index,
                              self.locations.get(dep.shuffle_key, {}), self.shuffle_local_read,
                              self.fetch_timeout, chunk, self.spill_dir)


_current = threading.local()


def current_task() -> TaskContext | None:
    """The task running on this thread, or None outside a task."""
    return getattr(_current, "task", None)


def _fallback_dir() -> str:
    import tempfile
    return tempfile.gettempdir()


def block_prefix(driver_id: str, rdd_id: int) -> str:
    """The start of the names of every persisted partition of one dataset."""
    return f"{driver_id}/rdd{rdd_id}_"


def block_key(driver_id: str, rdd_id: int, split: int) -> str:
    """Name of a persisted partition in block stores and the master's registry."""
    return f"{block_prefix(driver_id, rdd_id)}{split}"


def dumps_result(value) -> bytes:
    """Serialise a task result: plain pickle, cloudpickle when that fails."""
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:
        return serialization.dumps(value)


def load_stage(blob: bytes) -> StageCode:
    """Unpickle a stage's code for one task (each task gets its own accumulators)."""
    begin_task()
    return serialization.loads(blob)


def run_task(code: StageCode, ctx: TaskContext, max_result_size: int) -> tuple[dict, bytes]:
    """Run one task loaded by `load_stage`; return (header fields, result bytes).

    The result bytes hold (value, accumulator updates); a shuffle map task's
    value is the list of its segment sizes.
    """
    started = time.perf_counter()
    _current.task = ctx
    try:
        if code.kind == SHUFFLE_MAP:
            source = code.counted if code.counted is not None else code.rdd
            value = write_shuffle(source.iterator(ctx.partition, ctx), code.dep, ctx.work_dir,
                                  code.dep.shuffle_key, ctx.partition, ctx.memory_budget,
                                  ctx.spill_dir, keys_only=code.counted is not None)
        else:
            value = code.func(code.rdd.iterator(ctx.partition, ctx))
    finally:
        _current.task = None
        ctx.release()
    data = dumps_result((value, end_task()))
    fields = {"seconds": round(time.perf_counter() - started, 6), "result_size": len(data),
              "cached": ctx.cached}
    if code.kind == SHUFFLE_MAP:
        fields["sizes"] = value              # lets the master place reducers near their input
    elif len(data) > max_result_size:
        raise ResultTooLargeError(
            f"the result of partition {ctx.partition} is {len(data)} bytes, over the "
            f"limit of {max_result_size} (Conf.max_result_size); write it out with "
            "saveAsTextFile or reduce it before collecting")
    return fields, data


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


def describe_failure(exc: BaseException, code: StageCode | None) -> tuple[dict, bytes]:
    """Header fields and blob reporting a failed task to the driver."""
    end_task()
    text = format_user_traceback(exc)
    header = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    if isinstance(exc, FetchFailedError):
        header["fetch_failed"] = {"shuffle": exc.shuffle_key, "map": exc.map_index,
                                  "worker": exc.worker}
    site = ""
    if code is not None:
        try:
            node = failing_dataset(exc, code.rdd)
            site = f"{node.describe()} created at {node.creation_site}"
        except Exception:
            site = ""
    report = {"type": f"{type(exc).__module__}.{type(exc).__qualname__}", "message": str(exc),
              "traceback": text, "dataset": site, "exception": None}
    exc.__traceback__ = None
    try:
        report["exception"] = serialization.dumps(exc)
        pickle.loads(report["exception"])          # must also come back to life
    except Exception:
        report["exception"] = None
    return header, pickle.dumps(report, protocol=5)
