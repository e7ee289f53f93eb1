"""`Context(master="inline")`: every task runs in the driver's own process.

Same planner, same stage code (pickled and unpickled, so a closure behaves as
it would on a worker), same shuffle files; tasks run one by one when the DAG
scheduler asks for the next event. A failing task raises its exception right
there, with its original traceback, so `pdb.pm()` lands in the user's frame.

Jobs from several threads each have their own queue of tasks (`jobs`, job
id -> deque): a job's thread runs only its own job's tasks, and waits on
`events` while its queue is empty (its stage waits for a shuffle another
job is computing, until the DAG scheduler `post`s it a wake-up).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import deque

from minibig.cluster.jobqueues import JobQueues
from minibig.cluster.workdir import WorkDir
from minibig.cluster.worker import default_memory_budget
from minibig.core import serialization
from minibig.core.broadcast import drop_on_worker, store_on_worker
from minibig.core.cache import BlockStore
from minibig.core.memory import MemoryPool
from minibig.core.resident import ResidentStore
from minibig.core.task import TaskContext, load_stage, run_task
from minibig.net import protocol as P
from minibig.shuffle.blocks import drop


class InlineBackend(JobQueues):
    """Runs stages synchronously in this process."""

    def __init__(self, conf, parallelism: int | None = None):
        self.conf = conf
        self.driver_id = f"i{uuid.uuid4().hex[:10]}"
        self.scratch = WorkDir("minibig-inline-")
        self.work_dir = self.scratch.path
        self.default_parallelism = parallelism or os.cpu_count() or 1
        JobQueues.__init__(self)                  # job id -> its tasks and posted events
        self.host = socket.gethostname()
        self.memory = conf.worker_memory or default_memory_budget()
        self.pool = MemoryPool(self.memory, 1)         # one task at a time
        self.blocks = BlockStore(self.work_dir, self.pool)
        self.resident = ResidentStore()

    def submit_stage(self, header: dict, code: bytes, payloads: list) -> None:
        """Queue a stage's tasks for its job's thread to run."""
        with self.events:
            queue = self.jobs.setdefault(int(header["job_id"]), deque())
            for partition, payload in zip(header["partitions"], payloads):
                queue.append((header, code, partition, payload))
            self.events.notify_all()

    def _locations(self, header: dict) -> dict:
        where = {"worker": "inline", "host": self.host, "addr": "", "dir": self.work_dir}
        return {key: {str(m): where for m in range(n)} for key, n in header["shuffle_maps"].items()}

    def next_event(self, job_id: int):
        """Run the job's next task and return its result (or return a posted message)."""
        with self.events:
            queue = self.jobs[job_id]
            while not queue:
                self.events.wait(0.5)
            item = queue.popleft()
        if isinstance(item, P.Message):
            return item
        header, code, partition, payload = item
        stage = load_stage(code)
        ctx = TaskContext(partition=partition, attempt=0, stage_id=header["stage_id"],
                          payloads=serialization.loads(payload), locations=self._locations(header),
                          work_dir=self.work_dir, worker_id="inline", driver_id=self.driver_id,
                          blocks=self.blocks, resident=self.resident, memory_pool=self.pool)
        try:
            fields, data = run_task(stage, ctx, self.conf.max_result_size)
        except Exception as exc:
            site = stage.failure_site(exc)
            exc.add_note(f"minibig: task failed in stage {header['stage_id']}, partition "
                         f"{partition} (inline)" + (f"; failing dataset: {site}" if site else ""))
            self.cancel_job(job_id)
            raise
        return P.Message(P.TASK_RESULT, {
            "stage_id": header["stage_id"], "job_id": job_id,
            "taskset": f"{self.driver_id}/{header['taskset']}",
            "partition": partition, "attempt": 0, "worker": "inline", "locality": "PROCESS_LOCAL",
            **fields}, [data])

    def cancel_job(self, job_id: int) -> None:
        """Drop the job's tasks not run yet."""
        with self.events:
            if job_id in self.jobs:
                self.jobs[job_id].clear()

    def add_file(self, file_id: str, data: bytes, broadcast: bool = False) -> None:
        """Broadcast values are kept as a worker would; modules import already."""
        if broadcast:
            store_on_worker(file_id, data)

    def drop_files(self, ids: list, workers_only: bool = False) -> None:
        if not workers_only:            # this process is the only worker and holds the only copy
            drop_on_worker(ids)

    def drop_blocks(self, prefix: str) -> None:
        self.blocks.drop(prefix)
        self.resident.drop(prefix)

    def drop_shuffles(self, keys: list) -> None:
        for key in keys:
            drop(self.work_dir, key)

    def stop(self) -> None:
        self.scratch.release()
