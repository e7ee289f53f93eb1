"""What a job file may ask of `minibig bench` while it is being measured.

The runner tells each measured process, through its environment, how many
workers the other engines of `--compare` get (`MINIBIG_BENCH_WORKERS`) and,
under `--weak`, how many times its input should grow
(`MINIBIG_BENCH_SCALE`); a `--compare` function marks the end of its
engine's start-up with `engine_started()`. Importable from
`minibig.benchmark` too.
"""

from __future__ import annotations

import os
import time

#: The environment variable that carries the worker count to a --compare function.
WORKERS_ENV = "MINIBIG_BENCH_WORKERS"
#: The environment variable that carries a weak-scaling run's input multiplier.
SCALE_ENV = "MINIBIG_BENCH_SCALE"

_engine_ready_at: float | None = None


def engine_started() -> None:
    """Mark, from a --compare function, that its engine is up: its job time starts here.

    What the function did before (starting a SparkContext's JVM, a process
    pool) is reported as its start-up, as minibig's cluster start-up is.
    """
    global _engine_ready_at
    _engine_ready_at = time.perf_counter()


def engine_ready_at() -> float | None:
    """When the running --compare function called `engine_started`, if it did."""
    return _engine_ready_at


def peer_workers() -> int:
    """How many workers (processes, cores) the other engines get."""
    return int(os.environ.get(WORKERS_ENV, "2"))


def input_scale() -> float:
    """How many times its input a job should process: r at r times the smallest worker
    count under `minibig bench --weak`, 1 otherwise."""
    return float(os.environ.get(SCALE_ENV, "1"))
