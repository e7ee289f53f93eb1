"""How `minibig bench` measures: a fresh cluster and a fresh driver for every run.

For one run at N workers the runner

1. starts an embedded cluster of N workers the way `minibig submit` does
   (`minibig.cli._start_cluster`: a master and N worker processes, waiting
   until every worker has registered) and times that as the *start-up*;
2. runs the job in a fresh interpreter, `python -m minibig.benchmark.child`,
   which runs the job file exactly as `minibig submit --master URL` would,
   with stdout discarded; the child times the job itself, from running the
   job file to its return, after its interpreter has started and imported
   minibig, so the *job time* holds neither process start-up nor cluster
   start-up;
3. stops the cluster.

Two settings change what a run is (`Setup`):

- weak scaling (`--weak`): the input grows with the workers. A run at r
  times the smallest worker count gets `MINIBIG_BENCH_SCALE=r` in its
  environment (`minibig.benchmark.input_scale()`), `{scale}` in a job
  argument becomes r, and an argument `{copies:PATH}` becomes a temporary
  folder of r links to PATH (a text input read r times over);
- a CPU quota (`--cpu-quota Q`): once the cluster is up, each worker
  process is moved into a cgroup of its own allowed Q CPUs (`cgroups`),
  and the runs record how often the quota throttled it.

Runs are interleaved across worker counts (1, 2, 4, 1, 2, 4, ...) so that
noise from other load on the machine spreads over all counts instead of
landing on one, and one untimed warm-up run first fills the page cache and
writes the bytecode caches.

For `--compare`, a job file may define plain functions that do the same work
elsewhere: `baseline(argv)` (plain Python, one process), `dask_version(argv)`
and `pyspark_version(argv)`. Each is called in a fresh interpreter with the
job's arguments, with MINIBIG_BENCH_WORKERS set to the worker count to use;
its whole body is timed, unless it calls `minibig.benchmark.engine_started()`
once its engine is up (a SparkContext made, a process pool started): then
the time before that is its start-up and the job time starts there, as
minibig's job time excludes its cluster's start-up. An
engine whose package is not importable, or that the job does not define, is
skipped with a note; one that fails is reported, not fatal.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import re
from dataclasses import dataclass, field

from minibig.benchmark.cgroups import CpuQuota
from minibig.benchmark.jobapi import SCALE_ENV, WORKERS_ENV
from minibig.cli import _start_cluster
from minibig.cluster.forking import with_minibig_importable
from minibig.errors import UserError
from minibig.net.security import key_text


#: Engines of --compare: (function a job defines, package it needs, label).
PEERS = [
    ("baseline", None, "plain Python, 1 process"),
    ("dask_version", "dask", "Dask"),
    ("pyspark_version", "pyspark", "PySpark"),
]


class BenchError(UserError):
    """A measured run failed; the message carries the end of its stderr."""


@dataclass
class Series:
    """The runs of one engine at one worker count."""

    engine: str
    workers: int
    label: str = ""
    times: list[float] = field(default_factory=list)
    startups: list[float] = field(default_factory=list)
    note: str = ""
    scale: float = 1.0                    # the input's multiplier (weak scaling)
    throttled: list = field(default_factory=list)   # per run, each worker's cpu.stat (a quota)


@dataclass
class Setup:
    """How every run of a benchmark is made: weak scaling, a CPU quota per worker."""

    weak: bool = False
    cpu_quota: float | None = None
    base_workers: int = 1                 # weak scaling: the count that gets the input as given

    def scale(self, workers: int) -> float:
        """The input's multiplier at `workers` workers."""
        return workers / self.base_workers if self.weak else 1.0


_COPIES = re.compile(r"^\{copies:(.+)\}$")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def scaled_args(job_args: list[str], scale: float, folder: str) -> list[str]:
    """The job's arguments for a run at `scale`: `{scale}` and `{copies:PATH}` filled in."""
    out = []
    for arg in job_args:
        copies = _COPIES.match(arg)
        if copies:
            path = os.path.abspath(copies[1])
            if not os.path.exists(path):
                raise BenchError(f"{arg}: no such input {path}")
            if not float(scale).is_integer():
                raise BenchError(f"{arg}: {scale:g} copies is not a whole number (choose worker "
                                 "counts that are multiples of the smallest)")
            target = os.path.join(folder, "copies-" + str(len(out)))
            os.makedirs(target)
            for i in range(int(scale)):
                os.symlink(path, os.path.join(target, f"{i:04d}-{os.path.basename(path)}"))
            out.append(target)
        else:
            out.append(arg.replace("{scale}", _number(scale)))
    return out


def _child_env(workers: int, scale: float = 1.0) -> dict:
    env = with_minibig_importable(dict(os.environ))
    env[SCALE_ENV] = _number(scale)
    env[WORKERS_ENV] = str(workers)
    env.pop("MINIBIG_MASTER", None)
    return env


def _run_child(args: list[str], workers: int, timeout: float,
               stdin: bytes = b"", scale: float = 1.0) -> tuple[float, float | None]:
    """Run the child with `args` and `stdin`; return the (job, start-up or None) seconds it measured."""
    with tempfile.TemporaryDirectory(prefix="minibig-bench-") as tmp:
        result = os.path.join(tmp, "result.json")
        with open(os.path.join(tmp, "stderr"), "w+b") as err:
            cmd = [sys.executable, "-m", "minibig.benchmark.child", result, *args]
            try:
                code = subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL,
                                      stderr=err, env=_child_env(workers, scale), timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                raise BenchError(f"a run took longer than --timeout {timeout:g} s") from None
            err.seek(0)
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
        if code != 0 or not os.path.exists(result):
            # The job's traceback (from its last "Traceback" line), or the end of stderr.
            starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
            tail = lines[starts[-1]:] if starts else lines
            what = " ".join(args[:1] + args[2:3])
            raise BenchError(f"a run ({what}, workers={workers}) exited with status {code}:\n  "
                             + "\n  ".join(tail[-30:]))
        with open(result) as f:
            measured = json.load(f)
        return float(measured["seconds"]), measured.get("startup")


def measure_minibig(job: str, job_args: list[str], workers: int, timeout: float,
                    setup: Setup | None = None) -> tuple[float, float, list | None]:
    """(job seconds, cluster start-up seconds, the workers' cpu.stat under a quota or None)
    of one run on a fresh N-worker cluster."""
    setup = setup or Setup()
    scale = setup.scale(workers)
    with tempfile.TemporaryDirectory(prefix="minibig-bench-input-") as inputs, \
            contextlib.ExitStack() as stack:
        args = scaled_args(job_args, scale, inputs)
        quota = stack.enter_context(CpuQuota(setup.cpu_quota)) if setup.cpu_quota else None
        start = time.perf_counter()
        cluster = _start_cluster(workers)
        startup = time.perf_counter() - start
        try:
            for worker in cluster.workers if quota else ():
                quota.limit(worker.pid)
            key = key_text(cluster.key).encode() if cluster.key else b"\n"   # as its processes get it
            seconds, _ = _run_child(["submit", cluster.url, job, *args], workers, timeout, key, scale)
        finally:
            cluster.stop()
        return seconds, startup, quota.stats() if quota else None


def measure_function(job: str, function: str, job_args: list[str], workers: int,
                     timeout: float) -> tuple[float, float | None]:
    """(job seconds, start-up seconds or None) of one call of `function(job_args)` from the
    job file, in a fresh interpreter."""
    return _run_child(["call", function, job, *job_args], workers, timeout)


def defined_functions(job: str) -> set[str]:
    """Names of the top-level functions of a job file, read without running it."""
    with open(job, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=job)
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def run_scaling(job: str, job_args: list[str], worker_counts: list[int], repeat: int,
                warmup: int, timeout: float, log, setup: Setup | None = None) -> list[Series]:
    """Every repeat at every worker count, interleaved; one Series per count."""
    setup = setup or Setup()
    series = {n: Series("minibig", n, f"minibig, {n} worker{'s' if n > 1 else ''}",
                        scale=setup.scale(n)) for n in worker_counts}
    for i in range(warmup):
        log(f"warm-up run {i + 1}/{warmup} at {worker_counts[0]} workers")
        measure_minibig(job, job_args, worker_counts[0], timeout, setup)
    for r in range(repeat):
        for n in worker_counts:
            seconds, startup, throttled = measure_minibig(job, job_args, n, timeout, setup)
            series[n].times.append(seconds)
            series[n].startups.append(startup)
            if throttled is not None:
                series[n].throttled.append(throttled)
            input_note = f", input x{_number(setup.scale(n))}" if setup.weak else ""
            log(f"run {r + 1}/{repeat}, {n} workers{input_note}: {seconds:.3f} s "
                f"(+ {startup:.2f} s cluster start-up)")
    return [series[n] for n in worker_counts]


def run_peers(job: str, job_args: list[str], workers: int, repeat: int, timeout: float, log) -> list[Series]:
    """The --compare engines the job defines and the machine has; skipped ones carry a note."""
    defined = defined_functions(job)
    out = []
    for function, package, label in PEERS:
        s = Series(function, 1 if package is None else workers, label)
        out.append(s)
        if function not in defined:
            s.note = f"skipped: {os.path.basename(job)} defines no {function}(argv)"
        elif package and importlib.util.find_spec(package) is None:
            s.note = f"skipped: {package} is not installed (pip install {package})"
        if s.note:
            log(f"{label}: {s.note}")
            continue
        try:
            for r in range(repeat):
                seconds, startup = measure_function(job, function, job_args, workers, timeout)
                s.times.append(seconds)
                if startup is not None:
                    s.startups.append(startup)
                log(f"{label}, run {r + 1}/{repeat}: {seconds:.3f} s"
                    + ("" if startup is None else f" (+ {startup:.2f} s start-up)"))
        except BenchError as exc:
            s.times.clear()
            s.startups.clear()
            s.note = "failed: " + str(exc).splitlines()[-1].strip()
            log(f"{label}: {s.note}")
    return out
