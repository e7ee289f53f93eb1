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

import argparse
import os
import sys
import time

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


#: The options of `minibig bench` and how many values each takes.
BENCH_OPTIONS = {"--workers": 1, "--repeat": 1, "--warmup": 1, "--out": 1, "--name": 1,
                 "--timeout": 1, "--compare": 0, "--timeline": 0, "-h": 0, "--help": 0}


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """(bench's own arguments including the job file, the job's arguments).

    >>> split_argv(["job.py", "in.txt", "--top", "5", "--workers", "1,2", "--", "--repeat", "x"])
    (['--workers', '1,2', 'job.py'], ['in.txt', '--top', '5', '--repeat', 'x'])
    """
    own, job, job_args = [], [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            job_args.extend(argv[i + 1:])
            break
        name = arg.split("=", 1)[0]
        if name in BENCH_OPTIONS:
            width = 0 if "=" in arg else BENCH_OPTIONS[name]
            own.extend(argv[i:i + 1 + width])
            i += 1 + width
            continue
        (job_args if job else job).append(arg)
        i += 1
    return own + job, job_args


def _worker_counts(text: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of worker counts: {text!r}") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("worker counts must be positive integers")
    return counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minibig bench", description="Time a job at several worker counts; fit Amdahl's law.",
        usage="minibig bench JOB [job args] [--workers 1,2,4] [--repeat 3] [--compare] [--out DIR]")
    parser.add_argument("job", help="the job file (as for `minibig submit`)")
    parser.add_argument("--workers", type=_worker_counts, default=[1, 2, 4],
                        help="comma-separated worker counts (default 1,2,4)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per worker count (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--compare", action="store_true",
                        help="also time the job's baseline/dask_version/pyspark_version functions")
    parser.add_argument("--out", default=os.path.join("bench", "results"),
                        help="folder for NAME.csv, NAME.json and NAME.png (default bench/results)")
    parser.add_argument("--name", help="file name stem of the results (default: the job file's)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take (default 600)")
    parser.add_argument("--timeline", action="store_true",
                        help="also run the job once more per worker count with an event log, and draw "
                             "its task timeline (DIR/NAME-timeline-wN.png)")
    return parser


def main(argv: list[str]) -> int:
    """Entry point of `minibig bench`; returns the exit status."""
    from minibig.benchmark import amdahl, plot, report, runner

    own, job_args = split_argv(argv)
    opts = _parser().parse_args(own)
    if not os.path.isfile(opts.job):
        print(f"minibig: error: job file not found: {opts.job}", file=sys.stderr)
        return 2
    if opts.repeat < 1 or opts.warmup < 0:
        print("minibig: error: --repeat must be at least 1 and --warmup at least 0", file=sys.stderr)
        return 2
    job = os.path.abspath(opts.job)
    name = opts.name or os.path.splitext(os.path.basename(job))[0]

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    series = runner.run_scaling(job, job_args, opts.workers, opts.repeat, opts.warmup, opts.timeout, log)
    rows = report.scaling_rows(series)
    fit = amdahl.fit_amdahl([r["workers"] for r in rows], [r["median_s"] for r in rows])
    peers = []
    if opts.compare:
        peers = report.peer_rows(runner.run_peers(job, job_args, rows[-1]["workers"], opts.repeat,
                                                  opts.timeout, log), rows[-1])

    cores = os.cpu_count() or 1
    what = ("job time: from running the job file to its end, in a fresh driver process against a "
            "fresh embedded cluster; excludes the interpreter's and the cluster's start-up "
            "(start-up column)")
    shown_args = " ".join(job_args)
    print(f"minibig bench {opts.job}{' ' + shown_args if shown_args else ''}: "
          f"{opts.repeat} run(s) per worker count, {cores} cores")
    print(f"measured: {what}")
    print(report.format_table(rows, fit))
    if opts.workers[-1] > cores:
        print(f"note: more workers than this machine's {cores} cores: expect no speedup beyond {cores}")
    if peers:
        print()
        print(report.format_peers(peers, rows[-1]))

    os.makedirs(opts.out, exist_ok=True)
    stem = os.path.join(opts.out, name)
    report.write_csv(stem + ".csv", rows)
    report.write_json(stem + ".json", {
        "job": opts.job, "args": job_args, "workers": opts.workers, "repeat": opts.repeat,
        "warmup": opts.warmup, "measured": what, "rows": rows,
        "amdahl": fit.to_dict() if fit else None, "compare": peers,
    })
    written = [stem + ".csv", stem + ".json"]
    title = f"{name}: speedup vs workers ({cores}-core machine)"
    if plot.plot_speedup(stem + ".png", rows, fit, title):
        written.append(stem + ".png")
    else:
        print("note: matplotlib is not installed, so no plot (pip install 'minibig[bench]')")
    if opts.timeline and plot.available():
        from minibig.benchmark.timeline import record_timelines
        written += record_timelines(job, job_args, opts.workers, stem,
                                    f"{name}: tasks ({cores}-core machine)", opts.timeout, log)
    print("wrote " + ", ".join(written))
    return 0
