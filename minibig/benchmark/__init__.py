"""`minibig bench`: speedup against worker count, the way a course teaches it.

    minibig bench JOB [job args] --workers 1,2,4 --repeat 3 [--compare] [--out DIR]

runs a plain job file (one that `minibig submit` runs) at each worker count,
on a fresh embedded cluster each time (see `runner` for exactly what is
timed), then prints a table of median, min and max times, speedup, parallel
efficiency and the Karp–Flatt serial fraction, fits Amdahl's law (`amdahl`),
and writes `DIR/NAME.csv`, `DIR/NAME.json` and the speedup curve
`DIR/NAME.png` (`report`, `plot`; NAME defaults to the job file's name).
`--timeline` adds one more run per worker count, untimed, with an event log,
and draws its task timeline as `DIR/NAME-timeline-wN.png` (`timeline`).
`--weak` grows the input with the worker count (weak scaling: see `runner`
for how a job is told) and fits Gustafson's law beside Amdahl's;
`--cpu-quota Q` runs each worker in a cgroup allowed Q CPUs (`cgroups`), so
a small machine can stand in for more, smaller ones. Every table and plot
made either way says so in its title.
`--compare` also times the job's `baseline`, `dask_version` and
`pyspark_version` functions, when it defines them and the packages are
installed, at the largest worker count, and prints each one's ratio to
minibig; a function that calls `engine_started()` once its engine is up
has the time before that reported as start-up, not job time.

Options may come before or after the job's own arguments; everything after
`--` goes to the job verbatim (for a job option that clashes with one of
these). Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

from minibig.benchmark.command import BENCH_OPTIONS, main, split_argv
from minibig.benchmark.jobapi import engine_ready_at, engine_started, input_scale

__all__ = ["BENCH_OPTIONS", "engine_ready_at", "engine_started", "input_scale", "main", "split_argv"]
