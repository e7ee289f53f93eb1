"""The runner: compiles a job's steps into one engine job and runs it.

Plan, for a job of steps s1..sN over input files:

    textFile(inputs)                           (read as mrjob reads them, see inputs;
                                                stdin: a parallelized list of lines;
                                                mapper_raw: one partition per file)
      -> mapPartitionsWithIndex(MapTask s1)    mapper + hooks, group, combiner; groups in
                                               columns, cut by reducer (keys hashed)
      -> partitionBy(reducers of s1)           the engine's shuffle: a record per block of keys
      -> mapPartitionsWithIndex(ReduceTask s1) merge, sort keys, reducer + hooks
      -> mapPartitionsWithIndex(MapTask s2)    pipelined in the same task as s1's reducer
      -> partitionBy(...) -> ReduceTask s2 ... -> one block of output lines per partition

so a job of N steps with reducers is N + 1 engine stages and N shuffles, run
by a single action: `collect()` of the output blocks, or `save_partitions`
into `-o DIR` (part-NNNNN files renamed into place when each task commits,
then `_SUCCESS`). A map-only step adds no shuffle. Each step counts into its
own accumulator, so `counters()` gives one dict per step, as mrjob does.

The job's class travels inside the stage code: pickled by value when it
comes from `__main__` or from the user's own modules (the runner registers
the modules of the job class and its bases with cloudpickle), and the folder
of the job's file is shipped with `addPyFile`, so modules beside it import
on the workers, as with `minibig submit`.
"""

from __future__ import annotations

import datetime
import getpass
import logging
import os
import shutil
import sys
import sysconfig
import tempfile

import cloudpickle

from minibig.core.output import save_partitions
from minibig.mapreduce.counters import CounterParam, format_counters
from minibig.mapreduce.inputs import input_files, text_input
from minibig.mapreduce.options import (combine_min_values_from, command_line_jobconf, maps_from,
                                       reducers_from)
from minibig.mapreduce.taskenv import task_env_kept
from minibig.mapreduce.tasks import JobSpec, MapTask, ReduceTask
from minibig.rdd.context import Context

log = logging.getLogger("minibig.mapreduce")


def write_blocks(blocks, out) -> None:
    """Write a partition's output blocks to its part file (for save_partitions)."""
    for block in blocks:
        out.write(block)


def _stdin_lines(stream) -> list[str]:
    data = stream.read() if hasattr(stream, "read") else b"".join(stream)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]


def _user_module(module) -> bool:
    """True for a module of the user's own code: not minibig, not installed, not the stdlib."""
    name = getattr(module, "__name__", "")
    path = getattr(module, "__file__", None)
    if not path or name == "__main__" or name == "minibig" or name.startswith("minibig."):
        return False
    installed = {os.path.abspath(p) + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")
                 if (p := sysconfig.get_paths().get(key))}
    return not os.path.abspath(path).startswith(tuple(installed))


def _ship_job_code(sc, job_cls) -> None:
    """Make the job's classes and the modules beside its file available to the workers.

    The modules that define the job class and its bases are pickled by value
    when they are the user's own (workers may not be able to import them);
    the job file's folder is shipped with addPyFile, for what they import.
    """
    for cls in job_cls.__mro__:
        module = sys.modules.get(cls.__module__)
        if module is not None and _user_module(module):
            try:
                cloudpickle.register_pickle_by_value(module)
            except (ValueError, TypeError):
                pass
    script = job_cls.mr_job_script()
    if script and sc.master != "inline":
        folder = os.path.dirname(os.path.abspath(script))
        shipped = os.environ.get("MINIBIG_PY_FILES", "").split(os.pathsep)
        if folder not in shipped and os.path.isdir(folder):
            sc.addPyFile(folder)


def _unique_job_key(job_cls) -> str:
    """mrjob's job key: the job file's name (or no_script), the user (or no_user), the time."""
    script = job_cls.mr_job_script()
    label = os.path.basename(script).split(".")[0] if script else "no_script"
    try:
        owner = getpass.getuser()
    except Exception:                     # no user name in this environment, as mrjob allows
        owner = "no_user"
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{label}.{owner}.{now:%Y%m%d.%H%M%S}.{now.microsecond:06d}"


class MRJobRunner:
    """Runs one job once; then gives its output and counters (mrjob's runner API).

    Use it as a context manager: leaving the block stops the cluster
    connection it opened (and an embedded cluster with it).
    """

    def __init__(self, job):
        self._job = job
        self._opts = job.options
        self._sc = None
        self._blocks: list | None = None
        self._output_dir = os.path.abspath(job.options.output_dir) if job.options.output_dir else None
        self._counters: list = []
        self._temp_dirs: list = []
        self._ran = False
        self._succeeded = False                # run() returned: there is output to read
        self._job_key = _unique_job_key(type(job))

    # -- running --------------------------------------------------------------------
    def run(self) -> None:
        """Run every step of the job on the cluster; raises the job's own exceptions."""
        if self._ran:
            # ValueError, as mrjob raises it (a test ported from mrjob expects that type)
            raise ValueError("this runner has already run its job; make a new runner")
        self._ran = True
        job = self._job
        steps = self._checked_steps()
        sc = self._sc = self._context()
        _ship_job_code(sc, type(job))
        spec = JobSpec(type(job), list(job._cl_args), job.file_args(), self._job_key)
        conf = {**job.jobconf(), **command_line_jobconf(self._opts)}
        rdd, sources = self._input(sc, steps[0], conf)
        accumulators = []
        name = type(job).__name__
        for n, step in enumerate(steps):
            counters = sc.accumulator({}, CounterParam())
            accumulators.append(counters)
            last = n == len(steps) - 1
            shuffle = step.has_shuffle
            reducers = self._reducers(sc, conf, step) if shuffle else 1
            step_conf = {**conf, **step.jobconf}
            rdd = rdd.mapPartitionsWithIndex(MapTask(
                spec, n, len(steps), counters, final=last and not shuffle, shuffle=shuffle,
                sources=sources if n == 0 else None,
                combine_min_values=combine_min_values_from(step_conf),
                reducers=reducers, jobconf=step_conf))
            rdd.setName(f"{name} step {n + 1}/{len(steps)} mapper")
            if shuffle:
                # The map task's records are keyed by their reducer's index (`column_records`).
                rdd = rdd.partitionBy(reducers).mapPartitionsWithIndex(ReduceTask(
                    spec, n, len(steps), counters, final=last, sort_values=bool(job.sort_values()),
                    jobconf=step_conf))
                rdd.setName(f"{name} step {n + 1}/{len(steps)} reducer")
                log.debug("step %d: %d reducers", n + 1, reducers)
        log.info("Running %s: %d step(s) on %s", name, len(steps), sc.master)
        with task_env_kept():
            if self._output_dir:
                save_partitions(rdd, self._output_dir, "", write_blocks)
                log.info("Output in %s", self._output_dir)
            else:
                self._blocks = rdd.collect()
        self._counters = [dict((g, dict(c)) for g, c in acc.value.items()) for acc in accumulators]
        self._succeeded = True
        for n, counters in enumerate(self._counters):
            if counters:
                log.info("%s", format_counters(counters, step=n + 1))

    def _checked_steps(self) -> list:
        steps = self._job.steps()
        if not steps and callable(getattr(self._job, "spark", None)):
            raise NotImplementedError(
                f"{type(self._job).__name__} defines spark(): minibig runs MRStep steps, not "
                "mrjob's Spark steps (spark(), SparkStep); write it with minibig.Context")
        if not steps:
            raise ValueError(f"{type(self._job).__name__} has no steps: define mapper and/or "
                             "reducer, or steps()")
        for n, step in enumerate(steps):
            if not hasattr(step, "has_shuffle"):
                raise TypeError(f"step {n + 1} is a {type(step).__name__}; minibig runs MRStep "
                                "steps only")
            if step.unsupported():
                raise NotImplementedError(
                    f"step {n + 1} uses {', '.join(step.unsupported())}: minibig runs Python "
                    "mappers, combiners and reducers, not shell commands")
            if n > 0 and step["mapper_raw"]:
                raise ValueError(f"step {n + 1}: mapper_raw is only possible in the first step")
        job = self._job
        if callable(getattr(job, "pick_protocols", None)):
            # mrjob's hook for a protocol per step and phase; ignoring it would write
            # other bytes than the job asks for.
            raise NotImplementedError(
                f"{type(job).__name__} defines pick_protocols(): minibig reads and writes pairs "
                "with INPUT_PROTOCOL, INTERNAL_PROTOCOL and OUTPUT_PROTOCOL (or input_protocol(), "
                "internal_protocol(), output_protocol()), one each for the whole job")
        for what, value in (("HADOOP_INPUT_FORMAT", job.HADOOP_INPUT_FORMAT),
                            ("HADOOP_OUTPUT_FORMAT", job.HADOOP_OUTPUT_FORMAT),
                            ("PARTITIONER", job.partitioner())):
            if value:
                log.warning("%s = %r is ignored: minibig reads text lines and hash-partitions "
                            "keys", what, value)
        return steps

    def _context(self):
        runner = self._opts.runner or "local"
        name = type(self._job).__name__
        if runner == "inline":
            return Context(master="inline", appName=name)
        return Context(master=self._opts.master, workers=self._opts.workers, appName=name)

    def _reducers(self, sc, conf: dict, step) -> int:
        wanted = reducers_from({**conf, **step.jobconf})
        if wanted is None:
            return sc.defaultParallelism
        if wanted < 1:
            raise ValueError(f"a step with a reducer needs at least 1 reducer, not {wanted}")
        return wanted

    # -- input -----------------------------------------------------------------------
    def _input(self, sc, first_step, conf: dict):
        """The first step's input dataset and, per partition, where it comes from."""
        paths = list(self._opts.args) or ["-"]
        use_stdin = "-" in paths
        files = [p for p in paths if p != "-"]
        parts, sources = [], []
        if first_step["mapper_raw"]:
            found = input_files(files)
            if use_stdin:
                found.append(self._stdin_file())
            if found:
                parts.append(sc.parallelize([(f, f) for f in found], len(found)))
                sources += [("raw", f) for f in found]
        else:
            if files:
                text = text_input(sc, input_files(files), maps_from(conf), ",".join(files))
                parts.append(text)
                sources += [("file", *split) for split in getattr(text, "splits", [])]
            if use_stdin:
                lines = _stdin_lines(self._job.stdin)
                count = max(1, min(sc.defaultMinPartitions, len(lines)))
                cuts = [i * len(lines) // count for i in range(count + 1)]
                chunks = [lines[a:b] for a, b in zip(cuts, cuts[1:])]
                parts.append(sc.parallelize(chunks, count).flatMap(list))
                sources += [("stdin", a) for a in cuts[:-1]]
        if not parts:
            return sc.parallelize([], 1), [("stdin", 0)]
        rdd = parts[0] if len(parts) == 1 else sc.union(parts)
        if len(sources) != rdd.getNumPartitions():
            sources = None                     # unknown layout: no line numbers in errors
        return rdd, sources

    def _stdin_file(self) -> str:
        """stdin copied to a file for `mapper_raw`, as mrjob's runner copies it: named
        STDIN, its last line ended with a newline if it had none."""
        folder = tempfile.mkdtemp(prefix="minibig-mr-stdin-")
        self._temp_dirs.append(folder)
        path = os.path.join(folder, "STDIN")
        stream = self._job.stdin
        data = stream.read() if hasattr(stream, "read") else b"".join(stream)
        with open(path, "wb") as out:
            out.write(data if not data or data.endswith(b"\n") else data + b"\n")
        return path

    # -- results -----------------------------------------------------------------------
    def cat_output(self):
        """The job's output as bytes chunks (whole lines), part after part, as in mrjob."""
        if not self._ran:
            raise ValueError("run() the job before reading its output")
        if not self._succeeded:
            raise ValueError("the job's run() failed: it has no output")
        for block in self._output_blocks():
            if block:
                yield block if block.endswith(b"\n") else block + b"\n"

    def stream_output(self):
        """The job's output one line at a time (bytes, with the newline; older mrjob API)."""
        for block in self.cat_output():
            lines = block.split(b"\n")
            lines.pop()                           # the empty string after the last newline
            for line in lines:
                yield line + b"\n"

    def _output_blocks(self):
        if self._blocks is not None:
            yield from self._blocks
            return
        for name in sorted(os.listdir(self._output_dir)):
            if name.startswith(("_", ".")):
                continue
            with open(os.path.join(self._output_dir, name), "rb") as f:
                yield f.read()

    def counters(self) -> list:
        """Counters of the run: one `{group: {counter: amount}}` dict per step."""
        return [{g: dict(c) for g, c in step.items()} for step in self._counters]

    def get_job_key(self) -> str:
        """This run's unique key, `label.owner.YYYYMMDD.HHMMSS.microseconds` as mrjob
        makes it (the job file's name, the user); its tasks see it as `mapreduce.job.id`."""
        return self._job_key

    def get_output_dir(self) -> str | None:
        """The folder holding the part files (given with -o), or None for in-memory output."""
        return self._output_dir

    def cleanup(self) -> None:
        """Stop the cluster connection (and an embedded cluster); remove temporary files."""
        sc, self._sc = self._sc, None
        try:
            if sc is not None:
                sc.stop()
        finally:
            for folder in self._temp_dirs:
                shutil.rmtree(folder, ignore_errors=True)
            self._temp_dirs = []

    def __enter__(self) -> "MRJobRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

