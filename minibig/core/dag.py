"""The DAG scheduler: from an action on a dataset to stages run on the cluster.

Runs in the driver. An action calls `run_job(rdd, func, partitions)`; the
scheduler walks the lineage back from `rdd`, cutting it at every shuffle
dependency. Each shuffle becomes a *shuffle map stage* (the pipeline of narrow
transformations that feeds it, ending in writing shuffle blocks); the action
itself is the *result stage*. A stage runs once all its parent stages'
outputs are available. State, all plain:

    shuffle_stages   shuffle id -> Stage while some job holds it (weakly: a
                     Stage holds its dependency, which must be free to go;
                     see `minibig.core.cleaner`)
    available        shuffle key -> set of map partitions whose output exists,
                     kept across jobs so a later action reuses shuffle outputs
                     instead of recomputing them, until the shuffle is cleaned
    computing        shuffle id -> the job running that shuffle's map stage
    active           (per job) stage id -> Stage submitted and not finished
    waiting          (per job) stages whose parents are not all available yet

Jobs run concurrently, one per calling thread (PySpark runs jobs from
several threads; the master shares the cluster between their task sets).
Each job blocks in its own thread on `backend.next_event(job_id)`, which
hands it only its own events; everything else a job does — planning,
launching, handling an event — holds `lock`, so the shared state above
changes under one lock. Two jobs needing the same shuffle never both run
it: the first to launch its map stage owns it (`computing`); the other
waits, as a *watcher* of the owner, until the owner posts it a WAKE (the
stage finished, or the owner ended without finishing it), then re-plans
its waiting stages: the shuffle is available, or it is free for it to run.
`last_job` is the summary of the calling thread's last job (the last
finished job of any thread, for a thread that ran none).

Planning never recurses: lineages of iterative jobs are thousands of
shuffles long, so the stage graph is built and walked with explicit stacks.

Events from the master drive it: a task result marks a map output available
(or stores an action's result); a failed task aborts the job with the user's
exception re-raised in its own type; a fetch failure or a lost worker makes
map outputs unavailable again, so the parent stage is resubmitted for just the
lost partitions before the stage that needed them runs again (Spark's
FetchFailed path).

Example: `textFile -> flatMap -> map -> reduceByKey -> collect` is two
stages: stage A (read, flatMap, map, combine, write blocks) and stage B
(fetch blocks, merge, collect). B waits in `waiting` until every map partition
of A is in `available`.
"""

from __future__ import annotations

import itertools
import pickle
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field

from minibig.core import serialization
from minibig.core.broadcast import collect_ids_while
from minibig.core.dependency import NarrowDependency
from minibig.core.serialization import dumps_stage
from minibig.core.stages import ResultCode, ShuffleMapCode
from minibig.core.task import TaskCode, block_key, decode_frame
from minibig.errors import FetchFailedError, JobAbortedError, ResultTooLargeError, TaskError
from minibig.net import protocol as P

MAX_STAGE_RESUBMITS = 8

# Stage kinds: an RDD stage writing a shuffle, an RDD action, or tasks of a
# TaskCode given directly (a graph superstep, a streaming operator).
SHUFFLE_MAP = "shuffle_map"
RESULT = "result"
CODE = "code"

# A driver-local event (never on the wire): a job that waited on another job's
# shuffle should look at its waiting stages again.
WAKE = "driver_wake"


@dataclass
class JobSummary:
    """What one action cost: stages, tasks, time, and where tasks ran."""

    job_id: int
    description: str
    stages: int = 0
    tasks: int = 0
    seconds: float = 0.0
    locality: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)   # engine counters tasks reported
    # result frames decoded as they came (any attempt's), by codec: "marshal", "pickle",
    # "columns" (a reducer's dict as its keys and values), so a user sees which path ran
    frame_codecs: Counter = field(default_factory=Counter)

    @property
    def frames(self) -> int:
        """Result frames decoded as they came, any attempt's."""
        return sum(self.frame_codecs.values())

    def share(self, level: str) -> float:
        """Fraction of the job's tasks that ran at locality `level`."""
        return self.locality[level] / self.tasks if self.tasks else 0.0

    def __str__(self) -> str:
        levels = ", ".join(f"{k} {v}" for k, v in sorted(self.locality.items()))
        return (f"job {self.job_id} ({self.description}): {self.stages} stages, {self.tasks} tasks "
                f"in {self.seconds:.3f}s; locality: {levels or '-'}")


@dataclass(eq=False)
class Stage:
    """A set of tasks running the same pipeline on different partitions."""

    id: int
    kind: str
    rdd: object
    num_tasks: int
    parents: list
    func: object = None
    dep: object = None
    attempt: int = 0
    code: bytes | None = None
    broadcasts: list = field(default_factory=list)
    resubmits: int = 0
    partitions: list = field(default_factory=list)
    task_code: TaskCode | None = None     # CODE stages: what their tasks run
    task_set: dict = field(default_factory=dict)   # CODE stages: see DAGScheduler.run_code
    launched_by: int | None = None        # the job that last submitted its tasks

    @property
    def key(self) -> str:
        return f"{self.id}.{self.attempt}"

    def describe(self) -> str:
        if self.kind == CODE:
            return f"Stage {self.id} ({self.task_set['description']})"
        what = "ShuffleMapStage" if self.kind == SHUFFLE_MAP else "ResultStage"
        return f"{what} {self.id} ({self.rdd.describe()} at {self.rdd.creation_site})"

    def build_code(self) -> TaskCode:
        """The task code this stage ships."""
        if self.kind == CODE:
            return self.task_code
        if self.kind == RESULT:
            return ResultCode(self.rdd, self.func)
        return ShuffleMapCode(self.rdd, self.dep)

    def serialize_code(self) -> bytes:
        if self.kind == CODE:
            return serialization.dumps(self.task_code)
        return dumps_stage(self.build_code(), self.rdd)

    def ensure_code(self) -> None:
        """Serialize the stage's code (and note the broadcasts it holds) unless done already:
        at its launch, or sooner by `prepare_next`."""
        if self.code is None:
            self.code, self.broadcasts = collect_ids_while(self.serialize_code)

    def task_payload_blobs(self, splits: list[int]) -> list[bytes]:
        if self.kind == CODE:
            per_task = self.task_set.get("payloads") or {}
            return [serialization.dumps({"task": per_task.get(s)}) for s in splits]
        return [serialization.dumps(task_payloads(self.rdd, s)) for s in splits]


def shuffle_dependencies(rdd) -> list:
    """The shuffle dependencies met walking back from `rdd` through narrow ones."""
    return [dep for node in rdd.lineage() for dep in node.deps
            if not isinstance(dep, NarrowDependency)]


def narrow_partitions(rdd, split: int, stop=lambda node: False):
    """(dataset, partition) pairs the task of `split` computes, walking narrow
    dependencies back from (rdd, split); a node for which `stop` is true is
    yielded but not walked past."""
    stack = [(rdd, split)]
    while stack:
        node, part = stack.pop()
        yield node, part
        if stop(node):
            continue
        for dep in node.deps:
            if isinstance(dep, NarrowDependency):
                stack.extend((dep.rdd, p) for p in dep.parents(part))


def task_payloads(rdd, split: int) -> dict:
    """{(rdd id, split): payload} of every partition the task of `split` reads."""
    payloads = {}
    for node, part in narrow_partitions(rdd, split):
        payload = node.task_payload(part)
        if payload is not None:
            payloads[(node.id, part)] = payload
    return payloads


def persisted_blocks(rdd, split: int, driver_id: str) -> list[str]:
    """Block keys of the persisted partitions the task of `split` reads, nearest first.

    A persisted partition hides its own lineage: the walk stops there.
    """
    def persisted(node):
        return node._persisted()
    return [block_key(driver_id, node.id, part)
            for node, part in narrow_partitions(rdd, split, stop=persisted) if persisted(node)]


class DAGScheduler:
    """Turns actions into stages and runs them through a backend."""

    def __init__(self, ctx, backend, conf, progress):
        self.ctx = ctx
        self.backend = backend
        self.conf = conf
        self.progress = progress
        self.lock = threading.RLock()           # every piece of shared state below
        self.stage_ids = itertools.count()
        self.job_ids = itertools.count()
        self.shuffle_stages: weakref.WeakValueDictionary[int, Stage] = weakref.WeakValueDictionary()
        self.available: dict[str, set] = {}
        self.computing: dict[int, "_Job"] = {}
        self._last_finished: JobSummary | None = None
        self._thread_last = threading.local()

    @property
    def last_job(self) -> JobSummary | None:
        """This thread's last job, or the last finished job when this thread ran none."""
        return getattr(self._thread_last, "summary", None) or self._last_finished

    # -- building stages ----------------------------------------------------
    def map_stage(self, dep) -> Stage:
        """The stage writing shuffle `dep`, made (with its missing ancestors) if need be.

        A walk with a stack, each stage made after its parents: a lineage of
        thousands of shuffles would overflow Python's recursion limit.
        """
        made: dict[int, Stage] = {}              # strong references: shuffle_stages is weak
        parents_of: dict[int, list] = {}
        stack = [dep]
        while stack:
            d = stack[-1]
            if d.shuffle_id in made or self.shuffle_stages.get(d.shuffle_id) is not None:
                made.setdefault(d.shuffle_id, self.shuffle_stages.get(d.shuffle_id))
                stack.pop()
                continue
            if d.shuffle_id not in parents_of:
                parents_of[d.shuffle_id] = shuffle_dependencies(d.rdd)
                stack.extend(p for p in parents_of[d.shuffle_id] if p.shuffle_id not in made)
                continue
            stack.pop()
            parents = [made[p.shuffle_id] for p in parents_of[d.shuffle_id]]
            stage = Stage(next(self.stage_ids), SHUFFLE_MAP, d.rdd, d.num_maps, parents, dep=d)
            self.shuffle_stages[d.shuffle_id] = made[d.shuffle_id] = stage
            self.available.setdefault(d.shuffle_key, set())
        return made[dep.shuffle_id]

    def forget_shuffle(self, shuffle_id: int, shuffle_key: str) -> None:
        """The shuffle's dependency is gone (see `minibig.core.cleaner`): drop what is known of it."""
        with self.lock:
            self.shuffle_stages.pop(shuffle_id, None)
            self.available.pop(shuffle_key, None)

    def has_output(self, shuffle_key: str) -> bool:
        """Whether some map output of the shuffle exists (a plan that skips the shuffle
        would recompute what is there to read)."""
        return bool(self.available.get(shuffle_key))

    def missing(self, stage: Stage) -> list[int]:
        """Partitions of a map stage whose output is not available."""
        done = self.available[stage.dep.shuffle_key]
        return [p for p in range(stage.num_tasks) if p not in done]

    # -- running a job ------------------------------------------------------
    def run_job(self, rdd, func, partitions: list[int], description: str) -> list:
        """Run `func` over the given partitions of `rdd`; results in that order."""
        with self.lock:
            job_id = next(self.job_ids)
            parents = [self.map_stage(d) for d in shuffle_dependencies(rdd)]
            final = Stage(next(self.stage_ids), RESULT, rdd, len(partitions), parents, func=func,
                          partitions=list(partitions))
        return self._run(_Job(self, job_id, final, description))

    def run_code(self, code: TaskCode, partitions: list[int], description: str, *,
                 payloads: dict | None = None, reads: list = (), writes=None,
                 prefer: dict | None = None, speculate: bool = True) -> list:
        """Run `code` as one task per partition; its values, in partition order.

        For computations that are not RDD lineages (a graph superstep, a
        streaming operator): no parent stages, no lineage recovery. Each
        task finds `payloads[partition]` as `ctx.payloads["task"]`;
        `reads` are shuffles (objects with `shuffle_key` and `num_maps`)
        its tasks fetch with `ctx.fetch_shuffle`; `writes` is one such
        shuffle its tasks write (the master records where); `prefer` maps
        a partition to block keys whose holder it should run on (the keys
        a task lists in `ctx.cached`). A lost shuffle input raises
        `FetchFailedError`: the caller decides how to recover. `speculate=False`
        keeps the master from backing up slow tasks (a task whose state lives
        on one worker cannot run anywhere else).
        """
        with self.lock:
            job_id, stage_id = next(self.job_ids), next(self.stage_ids)
        stage = Stage(stage_id, CODE, None, len(partitions), [], dep=writes,
                      partitions=list(partitions), task_code=code,
                      task_set={"description": description, "payloads": payloads or {},
                                "reads": list(reads), "prefer": prefer or {},
                                "speculation": speculate})
        return self._run(_Job(self, job_id, stage, description))

    def _run(self, job: "_Job") -> list:
        started = time.perf_counter()
        try:
            return job.run()
        except BaseException:
            self.backend.cancel_job(job.job_id)
            raise
        finally:
            job.summary.seconds = time.perf_counter() - started
            self._thread_last.summary = self._last_finished = job.summary
            with self.lock:
                self.progress.finish()

    def release(self, job: "_Job", shuffle_id: int | None = None) -> None:
        """`job` no longer runs shuffle `shuffle_id` (None: any): wake the jobs waiting on it.

        Called with `lock` held.
        """
        owned = [sid for sid, owner in self.computing.items()
                 if owner is job and shuffle_id in (None, sid)]
        for sid in owned:
            del self.computing[sid]
        if owned or shuffle_id is None:
            for watcher in job.watchers:
                self.backend.post(watcher.job_id, P.Message(WAKE, {"job_id": watcher.job_id}))
            job.watchers.clear()


class _Job:
    """The state of one running action."""

    def __init__(self, dag: DAGScheduler, job_id: int, final: Stage, description: str):
        self.dag = dag
        self.job_id = job_id
        self.final = final
        self.description = description
        self.summary = JobSummary(job_id, description)
        self.results: dict[int, object] = {}
        self.result_bytes = 0
        # (taskset, partition, attempt) -> [decoded records of each frame, bytes]: kept per
        # attempt, used when that attempt's result comes (see `core.task.stream_result`)
        self.frames: dict[tuple, list] = {}
        self.active: dict[int, Stage] = {}
        self.waiting: list[Stage] = []
        self.watchers: set = set()              # jobs waiting for a shuffle this job runs

    def run(self) -> list:
        if self.final.num_tasks == 0:
            return []
        backend, lock = self.dag.backend, self.dag.lock
        backend.start_job(self.job_id)
        try:
            with lock:
                self.submit(self.final)
            while len(self.results) < self.final.num_tasks:
                msg = backend.next_event(self.job_id)
                if msg is None:
                    raise JobAbortedError(f"job {self.job_id} ({self.description}): "
                                          "the cluster went away")
                with lock:
                    self.handle(msg)
            return [self.results[s] for s in self.final.partitions]
        finally:
            with lock:
                self.dag.release(self)
            backend.end_job(self.job_id)

    def submit(self, *stages: Stage) -> None:
        """Launch each stage whose parents are available; make the missing parents first.

        A worklist, not recursion (lineages are long). A map stage another
        job is running is not launched twice: this job becomes its watcher.
        """
        todo = list(stages)
        launched: list[Stage] = []
        while todo:
            stage = todo.pop()
            if stage.id in self.active or stage in self.waiting:
                continue
            missing_parents = [p for p in stage.parents if self.dag.missing(p)]
            if missing_parents:
                self.waiting.append(stage)
                todo.extend(missing_parents)
                continue
            if stage.kind in (RESULT, CODE):
                splits = [s for s in stage.partitions if s not in self.results]
            else:
                splits = self.dag.missing(stage)
            if not splits:
                todo.extend(self.finish_stage(stage))
                continue
            owner = self.dag.computing.get(stage.dep.shuffle_id) if stage.kind == SHUFFLE_MAP else None
            if owner is not None and owner is not self:
                owner.watchers.add(self)              # WAKE comes when the owner is done with it
                continue
            self.launch(stage, splits)
            launched.append(stage)
        if launched:
            self.prepare_next(launched)

    def prepare_next(self, launched: list[Stage]) -> None:
        """Serialize the code of each waiting child of the `launched` stages whose parents
        all run or are done, now that the driver waits for them: the stage then launches as
        soon as they finish (a stage's code was 0.25 of a warm cluster's 0.9 ms from one
        stage's end to the next one's launch, more for a long narrow pipeline). Only their
        children are looked at: a lineage thousands of shuffles long waits in `waiting`. A
        stage whose code cannot be pickled fails the job as it would at its launch, only
        sooner."""
        for stage in self.waiting:
            if (stage.code is None and any(p in launched for p in stage.parents)
                    and all(p.id in self.active or not self.dag.missing(p) for p in stage.parents)):
                stage.ensure_code()

    def launch(self, stage: Stage, splits: list[int]) -> None:
        dag = self.dag
        if stage.kind == SHUFFLE_MAP:
            dag.computing[stage.dep.shuffle_id] = self
            if stage.launched_by not in (None, self.job_id):
                stage.attempt += 1            # a new task set: the last one was another job's
        stage.launched_by = self.job_id
        stage.ensure_code()
        payloads = stage.task_payload_blobs(splits)
        reads = [p.dep for p in stage.parents] + stage.task_set.get("reads", [])
        header = {
            "driver_id": dag.backend.driver_id, "job_id": self.job_id, "stage_id": stage.id,
            "taskset": stage.key, "partitions": splits,
            "description": stage.describe(), "job_description": self.description,
            "reads_shuffles": [d.shuffle_key for d in reads],
            "shuffle_maps": {d.shuffle_key: d.num_maps for d in reads},
            "writes_shuffle": stage.dep.shuffle_key if stage.dep is not None else None,
            "py_files": list(dag.ctx._py_file_ids), "broadcasts": stage.broadcasts,
            "cache_keys": self.preferred_blocks(stage, splits),
            "max_attempts": dag.conf.max_task_attempts,
            "speculation": stage.task_set.get("speculation", True),
            # For the event log and the web UI: the stage graph, and which stage ends the job.
            "parents": [p.id for p in stage.parents], "final": stage is self.final,
            "task_conf": {"max_result_size": dag.conf.max_result_size,
                          "shuffle_local_read": dag.conf.shuffle_local_read,
                          "fetch_timeout": dag.conf.fetch_timeout},
        }
        self.active[stage.id] = stage
        self.summary.stages += 1
        dag.progress.stage_started(stage, len(splits))
        dag.backend.submit_stage(header, stage.code, payloads)

    def preferred_blocks(self, stage: Stage, splits: list[int]) -> dict:
        """{partition: block keys} a task should run next to (PROCESS_LOCAL)."""
        if stage.kind == CODE:
            prefer = stage.task_set.get("prefer", {})
            return {str(s): list(prefer[s]) for s in splits if prefer.get(s)}
        return {str(s): keys for s in splits
                if (keys := persisted_blocks(stage.rdd, s, self.dag.backend.driver_id))}

    def stage_finished(self, stage: Stage) -> None:
        self.submit(*self.finish_stage(stage))

    def finish_stage(self, stage: Stage) -> list[Stage]:
        """Mark a stage done; return the waiting stages it made ready."""
        self.active.pop(stage.id, None)
        self.dag.progress.stage_done(stage)
        if stage.kind == SHUFFLE_MAP:
            self.dag.release(self, stage.dep.shuffle_id)
        ready = [s for s in self.waiting if not any(self.dag.missing(p) for p in s.parents)]
        for s in ready:
            self.waiting.remove(s)
        return ready

    # -- events ---------------------------------------------------------------
    def handle(self, msg: P.Message) -> None:
        h = msg.header
        if msg.kind == P.OUTPUTS_LOST:
            self.dag.available.get(h["shuffle"], set()).difference_update(h["maps"])
            return
        if msg.kind == WAKE:                    # a shuffle this job waited on: plan again
            waiting, self.waiting = self.waiting, []
            self.submit(*waiting)
            return
        if msg.kind == P.JOB_QUIET:             # a silence: does the master still run our stages?
            # The question first: it tells the master where this driver is reached now (a
            # connection that came back), before the re-acks let workers send more frames.
            self.dag.backend.ask_job_state(self.job_id,
                                           [self.taskset_key(s) for s in self.active.values()])
            self.ack_again()
            return
        if msg.kind == P.JOB_STATE_REPLY:
            self.master_state(h)
            return
        stage = self.active.get(int(h.get("stage_id", -1)))
        if stage is None or h.get("taskset") not in (None, self.taskset_key(stage)):
            return                                   # from an earlier attempt or job
        if msg.kind == P.RESULT_FRAME:
            self.frame_arrived(stage, h, msg.blobs[0])
        elif msg.kind == P.TASK_RESULT:
            self.summary.tasks += 1
            self.summary.locality[h.get("locality") or "ANY"] += 1
            chunks, frame_bytes = self.attempt_frames(h)
            self.task_succeeded(stage, int(h["partition"]), msg.blobs[0], chunks, frame_bytes)
        elif msg.kind == P.STAGE_FAILED:
            raise_task_failure(stage, h, msg.blobs[0])
        elif msg.kind == P.FETCH_FAILED:
            self.fetch_failed(stage, h)

    def taskset_key(self, stage: Stage) -> str:
        """The key the master knows this stage's current attempt by."""
        return f"{self.dag.backend.driver_id}/{stage.key}"

    def master_state(self, h: dict) -> None:
        """The master's answer after a silence (`ClusterBackend.ask_job_state`).

        Whatever it sent before the answer has been handled, so a stage still
        active whose task set it no longer holds will never hear again: a
        message was lost (a submit, a task's result) or the master dropped the
        set. An RDD stage runs again for what it lacks (its lineage says how).
        A CODE stage's tasks may have changed state kept on their workers (a
        graph superstep) before the set was lost: run again, out of their
        caller's order, they would apply their step twice, so the job fails and
        the caller recovers (as from a FetchFailedError). A master that no
        longer knows this driver dropped its shuffles too, and the job fails.
        """
        if not h["known"]:
            raise JobAbortedError(
                f"job {self.job_id} ({self.description}): the master no longer knows this "
                "driver (it heard no heartbeat from it for driver_timeout, or it restarted); "
                "its stages and shuffle outputs are gone")
        missing = set(h["missing"])
        for stage in [s for s in self.active.values() if self.taskset_key(s) in missing]:
            if stage.kind == CODE:
                raise JobAbortedError(f"job {self.job_id} ({self.description}): the master lost "
                                      f"the task set of {stage.describe()}; its tasks may have "
                                      "changed state on their workers, so they are not run again")
            self.resubmit(stage, "its task set kept getting lost by the master")

    def ack_again(self) -> None:
        """Ack once more the last frame decoded of each attempt still streaming: a lost ack
        leaves its worker waiting for room (up to worker.FRAME_WAIT, 300 s), and a silence
        is how that shows here; a worker takes an ack it had already as a no-op."""
        for (taskset, partition, attempt), (chunks, _) in self.frames.items():
            if chunks:
                self.dag.backend.frame_taken({"taskset": taskset, "partition": partition,
                                              "attempt": attempt, "seq": len(chunks) - 1})

    def frame_arrived(self, stage: Stage, h: dict, blob) -> None:
        """Decode a frame of a running attempt's result now, while the worker makes the next."""
        partition = int(h["partition"])
        if partition in self.results:
            return                                   # a late frame of a superseded attempt
        held = self.frames.setdefault((h["taskset"], partition, int(h["attempt"])), [[], 0])
        if int(h["seq"]) != len(held[0]):
            raise JobAbortedError(f"{self.description}: frame {h['seq']} of partition "
                                  f"{partition}'s result came after {len(held[0])} frames")
        held[1] += len(blob)
        self.summary.frame_codecs[h["codec"]] += 1
        self.check_result_bytes(self.result_bytes + held[1])
        held[0].append(decode_frame(h["codec"], P.blob_bytes(blob)))
        self.dag.backend.frame_taken(h)          # the worker may send one more

    def attempt_frames(self, h: dict) -> tuple[list, int]:
        """(decoded frames, their bytes) of the attempt a task result is from, as many as
        it says it sent; every attempt's frames of that partition are let go."""
        partition, attempt = int(h["partition"]), int(h["attempt"])
        chunks, size = [], 0
        for key in [k for k in self.frames if k[0] == h["taskset"] and k[1] == partition]:
            held = self.frames.pop(key)
            if key[2] == attempt:
                chunks, size = held
        if len(chunks) != int(h.get("frames", 0)):
            raise JobAbortedError(f"{self.description}: partition {partition}'s result came "
                                  f"with {len(chunks)} of its {h.get('frames')} frames")
        return chunks, size

    def check_result_bytes(self, total: int) -> None:
        """ResultTooLargeError once an action's results add up to more than max_result_size."""
        if total > self.dag.conf.max_result_size:
            raise ResultTooLargeError(
                f"{self.description}: results add up to more than "
                f"{self.dag.conf.max_result_size} bytes (Conf.max_result_size); reduce the "
                "data before collecting it, or write it out with saveAsTextFile")

    def task_succeeded(self, stage: Stage, partition: int, blob, chunks: list,
                       frame_bytes: int) -> None:
        """A task's result: a map output available, or an action's value (the records of
        `chunks`, the frames of `frame_bytes` that came ahead of it, in front)."""
        dag = self.dag
        if stage.kind != SHUFFLE_MAP:
            self.result_bytes += len(blob) + frame_bytes
            self.check_result_bytes(self.result_bytes)
        value, updates = serialization.loads_without_gc(P.blob_bytes(blob))
        if chunks:
            value = list(itertools.chain(*chunks, value))
        self.summary.counters.update(dag.ctx._merge_accumulators(stage.id, partition, updates))
        if stage.kind == SHUFFLE_MAP:
            dag.available[stage.dep.shuffle_key].add(partition)
            done = stage.num_tasks - len(dag.missing(stage))
        else:
            self.results[partition] = value
            done = len(self.results)
        dag.progress.task_done(stage, done)
        if done == stage.num_tasks:
            self.stage_finished(stage)

    def fetch_failed(self, stage: Stage, h: dict) -> None:
        """A parent's map output is gone: rebuild it, then run this stage again."""
        if stage.kind == CODE:                    # no lineage here: the caller recovers
            raise FetchFailedError(h["shuffle"], int(h["map"]), str(h.get("worker")),
                                   f"needed by {stage.describe()}")
        self.dag.available.get(h["shuffle"], set()).discard(int(h["map"]))
        self.resubmit(stage, "shuffle output kept getting lost")

    def resubmit(self, stage: Stage, trouble: str) -> None:
        """Run an active stage again, as a new task set, for what it still lacks (the
        frames of its last attempts go: their results will never come)."""
        old = self.taskset_key(stage)
        for key in [k for k in self.frames if k[0] == old]:
            del self.frames[key]
        self.active.pop(stage.id, None)
        stage.resubmits += 1
        if stage.resubmits > MAX_STAGE_RESUBMITS:
            raise JobAbortedError(f"{stage.describe()}: {trouble} "
                                  f"({MAX_STAGE_RESUBMITS} resubmissions)")
        stage.attempt += 1
        self.submit(stage)


def raise_task_failure(stage: Stage, h: dict, blob) -> None:
    """Re-raise a task's exception on the driver, in its own type, with context."""
    report = pickle.loads(P.blob_bytes(blob))
    exc = None
    if report.get("exception"):
        try:
            exc = pickle.loads(report["exception"])
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = TaskError(f"{report['type']}: {report['message']}")
    note = (f"minibig: task failed in {stage.describe()}, partition {h.get('partition')}, "
            f"attempt {h.get('attempt')}, on worker {h.get('worker')}")
    if report.get("dataset"):
        note += f"\nminibig: failing dataset: {report['dataset']}"
    note += "\n--- remote traceback ---\n" + report.get("traceback", "").rstrip()
    exc.add_note(note)
    exc.minibig_context = {"stage": stage.id, "partition": h.get("partition"),
                           "attempt": h.get("attempt"), "worker": h.get("worker"),
                           "dataset": report.get("dataset"), "traceback": report.get("traceback")}
    raise exc
