"""One measured run, in a fresh interpreter: `python -m minibig.benchmark.child`.

    python -m minibig.benchmark.child RESULT.json submit MASTER_URL JOB [args]
    python -m minibig.benchmark.child RESULT.json call FUNCTION JOB [args]

`submit` runs the job file exactly as `minibig submit --master MASTER_URL`
does, against a cluster the runner started beforehand (whose key the runner
writes as the first line of stdin, as to the cluster's own processes); `call` loads the job
file as a module (its `if __name__ == "__main__"` block does not run) and
calls `FUNCTION(args)`, e.g. `baseline` or `dask_version`. The clock starts
after the interpreter has started and minibig is imported, and stops when the
job returns (for a function that calls `minibig.benchmark.engine_started()`,
the job time starts there and the time before it is its start-up); the
seconds go to RESULT.json, never to stdout, which belongs to the job (the
runner discards it).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time

# The driver's side of the engine is imported before the clock starts, as every
# run needs it (`import minibig` alone is lazy and would move it into the job).
import minibig.rdd.context  # noqa: F401
from minibig.benchmark.jobapi import engine_ready_at
from minibig.cli import submit
from minibig.net.security import parse_key, use_key


def _run_submit(master: str, job: str, args: list[str]) -> int:
    """The job on the runner's embedded cluster, whose key comes first on stdin (none: insecure)."""
    line = sys.stdin.readline().strip()
    if line:
        use_key(parse_key(line, "the key on standard input"))
    return submit(["--master", master, job, *args])


def _run_call(function: str, job: str, args: list[str]) -> tuple[float, float | None]:
    """(job seconds, start-up seconds or None) of one call of `function(args)`."""
    sys.argv = [job, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(job)))
    namespace = runpy.run_path(job, run_name="__minibig_bench__")
    fn = namespace.get(function)
    if not callable(fn):
        raise SystemExit(f"{job} defines no function {function}(argv)")
    start = time.perf_counter()
    try:
        fn(list(args))
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    end, ready = time.perf_counter(), engine_ready_at()
    if ready is None:
        return end - start, None
    return end - ready, ready - start


def main(argv: list[str]) -> int:
    """Run one measurement and write {"seconds": ..., "startup": ...} to the result file."""
    result, mode, what, job, *args = argv
    startup = None
    if mode == "submit":
        start = time.perf_counter()
        code = _run_submit(what, job, args)
        seconds = time.perf_counter() - start
    elif mode == "call":
        (seconds, startup), code = _run_call(what, job, args), 0
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    if code == 0:
        with open(result, "w") as out:
            json.dump({"seconds": seconds, "startup": startup}, out)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
