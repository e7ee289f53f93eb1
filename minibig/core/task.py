"""What a task is, and how one runs on a worker.

The task protocol. A stage ships one `TaskCode` object, pickled once and
unpickled by each of its tasks; the worker calls `run_task(code, ctx)`,
which calls `code.run(ctx)` with the task's `TaskContext` (its partition,
attempt, payload, memory budget, spill folder, block stores, shuffle
locations) and sends the value back to the driver. The engine runs a task
without knowing which API made it:

    minibig.core.stages     an RDD stage's tasks: compute a partition through
                            its narrow pipeline, then apply the action's
                            function (ResultCode) or write shuffle blocks
                            (ShuffleMapCode)
    minibig.graph           a superstep on one graph partition kept in the
                            worker's `resident` store between supersteps
    minibig.streaming       a long-running operator instance

While it runs, the task is the thread's `current_task()` (PySpark's
TaskContext.get()), so code below a `mapPartitions` (sorting a partition,
combining in place) can find the task's memory budget and spill folder; the
folder is removed when the task ends, whatever the outcome, and thread-local
state an API keeps for its task (`task_local`: mapreduce's jobconf) is put back.
`describe_failure` packs an exception for the trip back to the driver, with
the user's frames of the traceback and, when the code can tell, the dataset
that raised it.

A value that is a list of records (a plain `list`, `Records` wrapping an
iterator, which collect hands its tasks, or a `Columns` of a combine's dict
or an `ArrowItems` of a reducer's Arrow sums that collect hands on whole:
`collected_records`) streams: on a worker, `run_task`
encodes it a frame of about FRAME_BYTES at a time (marshal for flat records,
a piece at a time, pickle otherwise: `encode_frame`; a dict's flat keys and
values as columns) and hands each frame to
`ctx.send_frame` as it is made, so the driver decodes one frame while the
worker makes the next; the last few records (fewer than FIRST_FRAME_RECORDS)
ride with the task's report, which says how many frames came before it. The
driver keeps an attempt's frames apart from every other attempt's and uses
them only when that attempt's report arrives (`core/dag.py`), so a failed,
killed or superseded attempt leaves nothing in the answer.
"""

from __future__ import annotations

import marshal
import os
import pickle
import shutil
import tempfile
import threading
import time
import uuid
from itertools import chain, islice
from dataclasses import dataclass, field

from minibig.core import serialization
from minibig.core.accumulators import begin_task, end_task
from minibig.core.cache import CopiedPairs
from minibig.core.taskmetrics import gc_seconds
from minibig.errors import FetchFailedError, ResultTooLargeError, format_user_traceback
from minibig.shuffle.reader import CHUNK, fetch_segments
from minibig.shuffle.spill import ArrowItems, DictItems, pickled, take_spilled
from minibig.shuffle.writer import Columns, flat_records


class TaskCode:
    """What a stage's tasks run: one object shipped once per stage.

    Subclasses implement `run`; the others have defaults. Attributes hold
    what every task of the stage shares (the pipeline, the program); what
    differs per task arrives in `ctx` (partition, payloads).
    """

    returns_to_driver = True      # False: the value is for the master only (shuffle sizes)

    def run(self, ctx: "TaskContext"):
        """Compute this task's value (pickled back to the driver)."""
        raise NotImplementedError

    def result_fields(self, value) -> dict:
        """Header fields the master reads from a finished task (e.g. shuffle sizes)."""
        return {}

    def failure_site(self, exc: BaseException) -> str:
        """Where in the user's program a failure came from ('' when unknown)."""
        return ""


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
    host: str = ""                        # the worker's host id: same-host blocks are read from disk
    driver_id: str = ""
    blocks: object = None                 # the worker's BlockStore (cached partitions)
    resident: object = None               # the worker's ResidentStore (state kept across tasks)
    cached: list = field(default_factory=list)   # block keys this task stored
    progress: float | None = None         # 0..1 where the input reader can tell
    fetch_timeout: float = 30.0
    memory_pool: object = None            # the worker's MemoryPool; None: no limit
    spill_folder: str | None = None       # created on first use, removed when the task ends
    block_addr: str = ""                  # the worker's block server, which serves its work dir's outputs
    live: dict | None = None              # a long-running task's latest metrics; heartbeats carry them
    spilled_bytes: int = 0                # known once the task releases its folder
    send_frame: object = None             # (seq, codec, bytes) -> None: streams a result's frames

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
            self.spilled_bytes += take_spilled(self.spill_folder)
            shutil.rmtree(self.spill_folder, ignore_errors=True)
            self.spill_folder = None
        if self.memory_pool is not None:
            self.memory_pool.release(self)

    def persisted(self, rdd, split: int):
        """The records of a persisted partition: from the block store, or computed and kept."""
        key = block_key(self.driver_id, rdd.id, split)
        records = self.blocks.get(key)
        if records is None:
            computed, level = rdd.compute(split, self), rdd.getStorageLevel()
            # A fresh read of a block of groups, for a level that keeps its memory blocks in
            # that form, is kept as that block: no list of its pairs made, then checked and
            # taken apart again (`BlockStore.put`). Deserialized or on disk, its list, as
            # the general path's: the block itself, or what is pickled, read once.
            fresh = (type(computed) is CopiedPairs and level.useMemory and not level.deserialized
                     and computed.untouched())
            records = computed.block if fresh else list(computed)
            if self.blocks.put(key, records, level, self):
                self.cached.append(key)
        return iter(records)

    def fetch_shuffle(self, dep, reduce_index: int):
        """The segments of `dep` for one reduce partition, one by one (see `read_batches`)."""
        chunk = min(CHUNK, max(1 << 18, self.memory_budget // 16)) if self.memory_budget else CHUNK
        return fetch_segments(dep.shuffle_key, dep.num_maps, reduce_index,
                              self.locations.get(dep.shuffle_key, {}), self.shuffle_local_read,
                              self.fetch_timeout, chunk, self.spill_dir, self.host)


_current = threading.local()
_task_locals: list = []


def task_local() -> threading.local:
    """A thread-local whose attributes belong to the task running on the thread: `run_task`
    puts them back as they were before each task when it ends, whatever ended it. A task's
    code cannot do that itself when the engine stops reading its result half-way (too large
    for max_result_size, a kill, an interrupt): the generator that set them is left
    suspended, so what it set would stay for the next task on the pool thread."""
    local = threading.local()
    _task_locals.append(local)
    return local


def _task_locals_state() -> list:
    return [dict(local.__dict__) for local in _task_locals]


def _put_back_task_locals(saved: list) -> None:
    for local, state in zip(_task_locals, saved):
        held = local.__dict__                 # the same dict: a task may keep a reference to it
        held.clear()
        held.update(state)


def current_task() -> TaskContext | None:
    """The task running on this thread, or None outside a task."""
    return getattr(_current, "task", None)


def task_memory() -> tuple[int | None, object]:
    """(memory budget, spill folder factory) of the running task; (None, None) outside one."""
    task = current_task()
    return (None, None) if task is None else (task.memory_budget, task.spill_dir)


def _fallback_dir() -> str:
    return tempfile.gettempdir()


def block_prefix(driver_id: str, rdd_id: int) -> str:
    """The start of the names of every persisted partition of one dataset."""
    return f"{driver_id}/rdd{rdd_id}_"


def block_key(driver_id: str, rdd_id: int, split: int) -> str:
    """Name of a persisted partition in block stores and the master's registry."""
    return f"{block_prefix(driver_id, rdd_id)}{split}"


class Records:
    """A task's value: the list of these records, streamed to the driver as they come.

    `rdd.collect()` runs `Records` over each partition's iterator, so a
    worker never holds a whole partition's records nor its whole pickle.
    The driver gets a `list`, as if the task had returned `list(records)`.
    """

    __slots__ = ("records",)

    def __init__(self, records):
        self.records = records


def collected_records(records):
    """A partition's records as the value of a task that collects them: a combine's dict
    nothing has read from yet (`minibig.shuffle.spill.DictItems`) as its keys and values,
    a `Columns` (sent as `COLUMNS` frames when both are flat: no tuple per item is made,
    checked and marshalled on the worker; a reducer's 307k (str, int) counts: 0.135 ->
    0.09 s to encode), an Arrow sum nothing has read from (`ArrowItems`) as it is (sent
    as `COLUMNS` frames of its slices), anything else as `Records`. The driver gets the
    list of the records either way, a dict's items in its order."""
    if type(records) is DictItems and records.untouched():
        return Columns(list(records.dict), list(records.dict.values()))
    if type(records) is ArrowItems and records.untouched():
        return records
    return Records(records)


# A result's first frame holds FIRST_FRAME_RECORDS records; later ones are sized
# from the bytes per record of the last one, to about FRAME_BYTES. A worker keeps
# at most a few frames of an attempt ahead of the driver (cluster/worker.py:
# FrameCredit), so what waits in the sockets stays a few megabytes per attempt.
FIRST_FRAME_RECORDS = 1024
FRAME_BYTES = 1 << 20

# Flat records (`shuffle.writer.flat_records`: atoms and tuples of atoms, exact
# types) go through marshal, which memoizes only objects referenced more than
# once where pickle memoizes every tuple and string: a frame of 500k (str, int)
# pairs is made 6-8x faster and read back as fast or faster, shared objects still
# shared (within a piece: see PIECE_RECORDS).
MARSHAL, PICKLE = "marshal", "pickle"
# A `Columns` value's frames: a slice of its keys and the same slice of its values,
# marshalled together in marshal's current version, whose table keeps what is shared
# within the frame shared, as the record frames do (a reducer's values may be one big
# object). Not version 2 as a shuffle's `Columns.marshalled`: for 307k (str, int) pairs
# it encoded 0.026 -> 0.020 s but decoded the same (0.050 s) and sent 13% more bytes.
COLUMNS = "columns"
# A marshal frame is the marshal of a list of pieces' marshal bytes, a piece PIECE_RECORDS
# records pulled from the task and checked and marshalled at once, while its records are
# in the CPU's cache: a frame's ~50k records taken whole first, then looked over and then
# marshalled, missed the cache in both passes (357k (str, int) pairs of a reducer's dict:
# 0.111 -> 0.084 s to encode; 0.027 -> 0.029 s to decode).
PIECE_RECORDS = 1024


def encode_frame(chunk: list) -> tuple[str, bytes]:
    """(codec, bytes) of a list of records: marshal for `flat_records`, pickle otherwise."""
    held: list = []
    return _encode(_pieces(iter(chunk), len(chunk), held), held)


def _pieces(records, count: int, held: list):
    """At most `count` records of `records`, in lists of PIECE_RECORDS, each kept in `held` too."""
    while count > 0:
        piece = list(islice(records, min(PIECE_RECORDS, count)))
        if not piece:
            return
        held.append(piece)
        count -= len(piece)
        yield piece


def _encode(pieces, held: list) -> tuple[str, bytes]:
    """(codec, bytes) of the records of `pieces` (which keeps them in `held`): each piece
    marshalled as it comes while every one is `flat_records`, else a pickle of them all."""
    marshalled = []
    for piece in pieces:
        if not flat_records(piece):
            for _ in pieces:                      # the rest of the frame, into `held`
                pass
            return PICKLE, pickled(list(chain.from_iterable(held)), serialization.dumps)
        marshalled.append(marshal.dumps(piece))
    return MARSHAL, marshal.dumps(marshalled)


def _load_pieces(data) -> list:
    records: list = []
    for piece in marshal.loads(data):
        records += marshal.loads(piece)
    return records


def _load_columns(data) -> list:
    return Columns(*marshal.loads(data)).records()


_LOADS = {MARSHAL: _load_pieces, COLUMNS: _load_columns, PICKLE: pickle.loads}


def decode_frame(codec: str, data) -> list:
    """The records of a frame `stream_result` sent (the cyclic GC paused meanwhile)."""
    return serialization.loads_without_gc(data, _LOADS[codec])


def stream_result(value, ctx: "TaskContext", max_result_size: int):
    """Send a list-valued result's frames; (what is left of the value, frames, bytes sent).

    Records are pulled and encoded a piece at a time (`PIECE_RECORDS`); once they end,
    a frame of fewer than FIRST_FRAME_RECORDS records is not sent: they ride with the
    report (a small result sends no frame), a bigger one goes as the last frame.
    A `Columns` value goes as `COLUMNS` frames, cut the same way, when its keys and
    values are `flat_records`, else as the `Records` of its items.
    Without `ctx.send_frame` (an inline task) a `Records` or `Columns` value becomes
    its list and nothing streams.
    """
    if type(value) is ArrowItems:
        if ctx.send_frame is None:
            return list(value), 0, 0
        return _send_frames(_column_frames(len(value), value.columns), ctx, max_result_size)
    if type(value) is Columns:
        if ctx.send_frame is None:
            return value.records(), 0, 0
        if value.flat():
            keys, values = value.keys, value.values
            return _send_frames(_column_frames(len(keys), lambda start, end: (
                keys[start:end], values[start:end])), ctx, max_result_size)
        value = Records(zip(value.keys, value.values))
    if isinstance(value, Records):
        records = iter(value.records)
    elif type(value) is list and ctx.send_frame is not None and len(value) > FIRST_FRAME_RECORDS:
        records = iter(value)
    else:
        return value, 0, 0
    if ctx.send_frame is None:
        return list(records), 0, 0
    return _send_frames(_record_frames(records), ctx, max_result_size)


def _send_frames(next_frame, ctx: "TaskContext", max_result_size: int):
    """`stream_result`'s frame loop, for every kind of frame: (the records left, frames,
    bytes sent). `next_frame(count)` makes the frame of the next `count` records:
    (codec, bytes, how many it took), or (None, the records, how many) when fewer than
    both `count` and FIRST_FRAME_RECORDS are left, which ride with the report.

    The first frame is of FIRST_FRAME_RECORDS records, each next one sized from the
    last's bytes per record to about FRAME_BYTES; a frame of fewer than it asked for is
    the last one."""
    frames = sent = 0
    count = FIRST_FRAME_RECORDS
    while True:
        codec, data, taken = next_frame(count)
        if codec is None:
            return data, frames, sent
        sent += len(data)
        check_result_size(sent, max_result_size, ctx.partition)
        ctx.send_frame(frames, codec, data)
        frames += 1
        if taken < count:
            return [], frames, sent
        count = max(1, count * FRAME_BYTES // len(data))


def _record_frames(records):
    """`_send_frames`'s `next_frame` over an iterator of records (`_encode`)."""
    def next_frame(count: int):
        held: list = []
        codec, data = _encode(_pieces(records, count, held), held)
        taken = sum(map(len, held))
        if taken < count and taken < FIRST_FRAME_RECORDS:
            return None, list(chain.from_iterable(held)), taken
        return codec, data, taken
    return next_frame


def _column_frames(count: int, columns):
    """`_send_frames`'s `next_frame` over `count` items whose keys and values
    `columns(start, end)` gives as two `flat_records` lists: COLUMNS frames of a slice of each."""
    start = 0

    def next_frame(asked: int):
        nonlocal start
        left = count - start
        if left < asked and left < FIRST_FRAME_RECORDS:
            return None, list(zip(*columns(start, count))), left
        end = min(start + asked, count)
        data = marshal.dumps(columns(start, end))
        start = end
        return COLUMNS, data, min(asked, left)
    return next_frame


def check_result_size(size: int, max_result_size: int, partition: int) -> None:
    """ResultTooLargeError once a partition's result is past Conf.max_result_size."""
    if size > max_result_size:
        raise ResultTooLargeError(
            f"the result of partition {partition} is {size} bytes or more, over the "
            f"limit of {max_result_size} (Conf.max_result_size); write it out with "
            "saveAsTextFile or reduce it before collecting")


def load_stage(blob: bytes) -> TaskCode:
    """Unpickle a stage's code for one task (each task gets its own accumulators)."""
    begin_task()
    return serialization.loads(blob)


#: PySpark's words (SPARK-23754) for a StopIteration that left a user's function.
USER_STOP_ITERATION = "Caught StopIteration thrown from user's code; failing the task"


def user_stop_iteration(stop: StopIteration) -> RuntimeError:
    """The RuntimeError that replaces `stop`, with its traceback (the user's frames) and cause."""
    error = RuntimeError(USER_STOP_ITERATION).with_traceback(stop.__traceback__)
    error.__cause__ = stop
    return error


def fail_on_stopiteration(f):
    """`f`, raising RuntimeError where it would raise StopIteration: a StopIteration
    let out would end any loop around the call, as if its input were exhausted."""
    def call(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except StopIteration as stop:
            raise user_stop_iteration(stop) from stop
    return call


def run_task(code: TaskCode, ctx: TaskContext, max_result_size: int) -> tuple[dict, bytes]:
    """Run one task loaded by `load_stage`; return (header fields, result bytes).

    The result bytes hold (value, accumulator updates); a list value may
    have gone ahead in frames (`stream_result`), and then the bytes hold the
    rest of it. The header has the task's own time, its GC time
    (`taskmetrics`), the bytes it spilled (counted by the shuffle as it
    writes runs: `shuffle.spill.take_spilled`) and the frames sent. The
    thread's `task_local` state is put back as it was when the task ends.
    """
    started, gc_before = time.perf_counter(), gc_seconds()
    frames = sent = 0
    _current.task, outer = ctx, _task_locals_state()
    try:
        value = code.run(ctx)
        fields = code.result_fields(value)
        if code.returns_to_driver:
            # Inside the task: the records may still be computed as they are pickled.
            value, frames, sent = stream_result(value, ctx, max_result_size)
    except StopIteration as stop:      # from a user's function: fail as PySpark does, loudly
        raise user_stop_iteration(stop) from stop
    finally:
        _current.task = None
        _put_back_task_locals(outer)
        ctx.release()
    data = pickled((value, end_task()), serialization.dumps)
    if code.returns_to_driver:
        check_result_size(sent + len(data), max_result_size, ctx.partition)
    return {"seconds": round(time.perf_counter() - started, 6), "result_size": sent + len(data),
            "frames": frames, "cached": ctx.cached,
            "gc_seconds": round(gc_seconds() - gc_before, 6),
            "spill_bytes": ctx.spilled_bytes, **fields}, data


def describe_failure(exc: BaseException, code: TaskCode | None) -> tuple[dict, bytes]:
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
            site = code.failure_site(exc)
        except Exception:                 # naming the site is best effort; the error is not
            site = ""
    report = {"type": f"{type(exc).__module__}.{type(exc).__qualname__}", "message": str(exc),
              "traceback": text, "dataset": site,
              "exception": serialization.exception_blob(exc)}   # None unless it comes back to life
    return header, pickle.dumps(report, protocol=5)
