"""`minibig bench`'s command line: options, the runs, the table and the files it writes."""

from __future__ import annotations

import argparse
import os
import sys

from minibig.benchmark import amdahl, plot, report, runner
from minibig.benchmark.cgroups import CpuQuota
from minibig.benchmark.timeline import record_timelines


#: The options of `minibig bench` and how many values each takes.
BENCH_OPTIONS = {"--workers": 1, "--repeat": 1, "--warmup": 1, "--out": 1, "--name": 1,
                 "--timeout": 1, "--cpu-quota": 1, "--compare": 0, "--timeline": 0, "--weak": 0,
                 "-h": 0, "--help": 0}


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


def _quota(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of CPUs: {text!r}") from None
    if not 0 < value <= 1024:
        raise argparse.ArgumentTypeError(f"a CPU quota must be a positive number of CPUs, not {text}")
    return value


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
    parser.add_argument("--weak", action="store_true",
                        help="weak scaling: r times the smallest worker count gets r times the input "
                             "({scale} and {copies:PATH} in the job's arguments, MINIBIG_BENCH_SCALE); "
                             "fits Gustafson's law beside Amdahl's")
    parser.add_argument("--cpu-quota", type=_quota, metavar="CPUS",
                        help="run each worker in a cgroup allowed CPUS CPUs (e.g. 0.25; needs root "
                             "or a delegated cgroup)")
    return parser




def _describe(opts, cores: int) -> tuple[str, str]:
    """(what the plot and table titles add, the same for file names): weak scaling, a quota."""
    parts = []
    if opts.weak:
        parts.append("weak scaling, input grows with the workers")
    if opts.cpu_quota:
        with CpuQuota(opts.cpu_quota) as probe:        # fails here, before any run, if it cannot
            mechanism = probe.mechanism
        parts.append(f"each worker limited to {opts.cpu_quota:g} CPU by {mechanism}")
    parts.append(f"{cores}-core machine")
    return ", ".join(parts), mechanism if opts.cpu_quota else ""


def main(argv: list[str]) -> int:
    """Entry point of `minibig bench`; returns the exit status."""
    own, job_args = split_argv(argv)
    opts = _parser().parse_args(own)
    if not os.path.isfile(opts.job):
        print(f"minibig: error: job file not found: {opts.job}", file=sys.stderr)
        return 2
    if opts.repeat < 1 or opts.warmup < 0 or not opts.timeout > 0:
        print("minibig: error: --repeat must be at least 1, --warmup at least 0 and --timeout above 0 s",
              file=sys.stderr)
        return 2
    if opts.weak and opts.compare:
        print("minibig: error: --compare times the other engines at one input size; it does not "
              "combine with --weak", file=sys.stderr)
        return 2
    job = os.path.abspath(opts.job)
    name = opts.name or os.path.splitext(os.path.basename(job))[0]
    cores = os.cpu_count() or 1
    conditions, mechanism = _describe(opts, cores)
    setup = runner.Setup(weak=opts.weak, cpu_quota=opts.cpu_quota, base_workers=opts.workers[0])

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    series = runner.run_scaling(job, job_args, opts.workers, opts.repeat, opts.warmup, opts.timeout,
                                log, setup)
    rows = report.scaling_rows(series, weak=opts.weak)
    workers, medians = [r["workers"] for r in rows], [r["median_s"] for r in rows]
    if opts.weak:
        fit = amdahl.fit_amdahl_weak(workers, medians)
        gustafson = amdahl.fit_gustafson(workers, [r["speedup"] for r in rows])
    else:
        fit, gustafson = amdahl.fit_amdahl(workers, medians), None
    peers = []
    if opts.compare:
        peers = report.peer_rows(runner.run_peers(job, job_args, rows[-1]["workers"], opts.repeat,
                                                  opts.timeout, log), rows[-1])

    what = ("job time: from running the job file to its end, in a fresh driver process against a "
            "fresh embedded cluster; excludes the interpreter's and the cluster's start-up "
            "(start-up column)")
    kind = "scaled speedup" if opts.weak else "speedup"
    title = f"{name}: {kind} vs workers ({conditions})"
    shown_args = " ".join(job_args)
    print(f"minibig bench {opts.job}{' ' + shown_args if shown_args else ''}: "
          f"{opts.repeat} run(s) per worker count, {cores} cores")
    print(f"measured: {what}")
    print(report.format_table(rows, fit, gustafson, title, weak=opts.weak))
    if opts.workers[-1] > cores and not opts.cpu_quota:
        print(f"note: more workers than this machine's {cores} cores: expect no speedup beyond {cores}")
    if opts.cpu_quota and opts.workers[-1] * opts.cpu_quota > cores:
        print(f"note: {opts.workers[-1]} workers x {opts.cpu_quota:g} CPU is more than this machine's "
              f"{cores} cores: the largest counts compete for them")
    if peers:
        print()
        print(report.format_peers(peers, rows[-1]))

    os.makedirs(opts.out, exist_ok=True)
    stem = os.path.join(opts.out, name)
    report.write_csv(stem + ".csv", rows)
    report.write_json(stem + ".json", {
        "job": opts.job, "args": job_args, "workers": opts.workers, "repeat": opts.repeat,
        "warmup": opts.warmup, "measured": what, "title": title, "weak": opts.weak,
        "cpu_quota": opts.cpu_quota, "cpu_quota_by": mechanism or None, "rows": rows,
        "amdahl": fit.to_dict() if fit else None,
        "gustafson": gustafson.to_dict() if gustafson else None, "compare": peers,
    })
    written = [stem + ".csv", stem + ".json"]
    if plot.plot_speedup(stem + ".png", rows, fit, title, gustafson, weak=opts.weak, quota=opts.cpu_quota):
        written.append(stem + ".png")
    else:
        print("note: matplotlib is not installed, so no plot (pip install 'minibig[bench]')")
    if opts.timeline and plot.available():
        written += record_timelines(job, job_args, opts.workers, stem,
                                    f"{name}: tasks ({conditions})", opts.timeout, log, setup)
    print("wrote " + ", ".join(written))
    return 0
