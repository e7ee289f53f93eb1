"""The jobconf a task sees, as Hadoop Streaming's environment gives it: `jobconf_from_env`.

Hadoop Streaming hands each task its job's settings as environment variables
(dots become underscores), among them which file a map task reads
(`mapreduce.map.input.file`); mrjob reads them with
`mrjob.compat.jobconf_from_env`. minibig's tasks are threads of a worker
process, so one process environment cannot hold each task's own: a task sets
its settings for its thread when its stream starts, before its job is built
(and puts back what was there when it ends or fails; a stream the engine stops
reading half-way, a result too large or a kill, cannot: the engine puts them
back when the task ends, as `core.task.task_local` state), and `jobconf_from_env`
reads them there, then the process environment, as mrjob does. Values are
strings, as in an environment.

What a task sees: the job's jobconf (`JOBCONF`, `jobconf()`, `-D`, the step's
own), `mapreduce.task.partition`, `mapreduce.task.ismap`, the job's and the
task's ids (`mapreduce.job.id`, the runner's `get_job_key()`;
`mapreduce.task.id` and `mapreduce.task.attempt.id`, named as mrjob's inline
and local runners name them, the attempt counted from 0 as in Hadoop, so a
retried task's side files need not collide), and in the first
step's map tasks over files `mapreduce.map.input.file` (`file://` and the
absolute path; mrjob's inline runner gives a relative input as given),
`mapreduce.map.input.start` and `mapreduce.map.input.length` (the byte range
of the split; a compressed file is read whole, its length the file's).
Older Hadoop names (`map.input.file`, `mapred.task.partition`, ...) find
the same values. A step's mapper pipelined after the previous step's
reducer (or map-only mapper) in one task sees its own step's settings: the
earlier step hands each pair over with them set back, and sets its own
again when asked for the next (`tasks.StepTask.run_as_task`).

>>> set_task_env({"mapreduce.map.input.file": "file:///data/a.txt"})
>>> jobconf_from_env("map.input.file"), jobconf_from_env("mapreduce.map.input.file")
('file:///data/a.txt', 'file:///data/a.txt')
>>> jobconf_from_env("mapreduce.job.name", "unset")
'unset'
>>> set_task_env(None)
"""

from __future__ import annotations

import contextlib
import os

from minibig.core.task import current_task, task_local
from minibig.mapreduce.options import MAPS_KEYS, REDUCES_KEYS

#: Names of one setting in Hadoop 2 and in Hadoop 1 (those minibig sets or reads).
_SAME = (
    ("mapreduce.map.input.file", "map.input.file"),
    ("mapreduce.map.input.start", "map.input.start"),
    ("mapreduce.map.input.length", "map.input.length"),
    ("mapreduce.task.partition", "mapred.task.partition"),
    ("mapreduce.task.ismap", "mapred.task.is.map"),
    ("mapreduce.job.id", "mapred.job.id"),
    ("mapreduce.task.id", "mapred.tip.id"),
    ("mapreduce.task.attempt.id", "mapred.task.id"),
    REDUCES_KEYS,
    MAPS_KEYS,
)
_VARIANTS = {name: names for names in _SAME for name in names}
_task = task_local()   # put back by the engine when each task ends


def set_task_env(env: dict | None) -> None:
    """Make `env` ({name: str}, or None: none) the settings `jobconf_from_env` finds in
    this thread."""
    _task.env = env


def thread_env_slot() -> dict:
    """This thread's own dict of the thread-local, where `set_task_env` stores "env": a task
    switching settings per record stores there directly."""
    return _task.__dict__


def thread_task_env() -> dict | None:
    """The settings set for this thread (None: none), for a task to put back when it ends."""
    return getattr(_task, "env", None)


@contextlib.contextmanager
def task_env_kept():
    """Put back this thread's settings when the block ends, whatever stopped it (`-r inline`
    runs its tasks in the driver's thread: a task's stream puts its thread's settings back
    when it ends or its job's code fails, not when the engine stops reading it or a
    KeyboardInterrupt stops it)."""
    saved = thread_task_env()
    try:
        yield
    finally:
        set_task_env(saved)


def jobconf_from_env(variable: str, default=None):
    """The value of jobconf `variable` in the running task (a str), or `default`.

    As `mrjob.compat.jobconf_from_env`: e.g. `jobconf_from_env("mapreduce.map.input.file")`
    in a mapper is the URI of the file it reads; other Hadoop versions' names
    of a setting are tried too. Outside a task, only the environment is read.
    """
    env = thread_task_env() or {}
    names = _VARIANTS.get(variable, (variable,))
    for name in (variable, *names):
        if name in env:
            return env[name]
    for name in (variable, *names):
        found = os.environ.get(name.replace(".", "_"))
        if found is not None:
            return found
    return default


def task_ids(job_key: str, step_num: int, split: int, is_map: bool) -> dict:
    """The job's, the task's and this attempt's ids, as mrjob's runners write them.

    >>> task_ids("wc.ann.20261203.150000.000001", 1, 3, False)["mapreduce.task.attempt.id"]
    'attempt_wc.ann.20261203.150000.000001_reducer_00013_0'
    """
    task = current_task()
    name = "%s_%s_%04d%d" % (job_key, "mapper" if is_map else "reducer", step_num, split)
    return {"mapreduce.job.id": job_key, "mapreduce.task.id": "task_" + name,
            "mapreduce.task.attempt.id": f"attempt_{name}_{task.attempt if task else 0}"}


def map_input_env(source) -> dict:
    """The input settings of a first-step map task reading `source` (see `tasks.MapTask`)."""
    if source is None or source[0] not in ("file", "raw"):
        return {}
    env = {"mapreduce.map.input.file": "file://" + os.path.abspath(source[1])}
    if source[0] == "file":
        _, path, start, end = source
        env["mapreduce.map.input.start"] = str(start)
        # a compressed file is one split, read whole: its length is the file's, as in mrjob
        length = end - start if end is not None else _size(path)
        if length is not None:
            env["mapreduce.map.input.length"] = str(length)
    return env


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None
