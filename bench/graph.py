"""Graph benchmark: PageRank on the graph engine vs scipy.sparse vs the RDD PageRank, 1 and 2 workers.

    python datasets/make_debian_graph.py            # writes datasets/big/debian.txt
    python bench/graph.py datasets/big/debian.txt --iterations 20
    python datasets/make_rmat.py --scale 20         # datasets/big/rmat20.txt: 16.8M edges
    python bench/graph.py datasets/big/rmat20.txt --iterations 20 --no-rdd

Everything is measured in one process, one after the other, so the ratios
share the machine's load. Engine start-up (the embedded cluster) is timed
apart from job time. Job time runs from the edge file to the ranks on the
driver, load included on every side: the graph engine's workers read and
cut the file themselves (`minibig/graph/distload.py`: one stage, the tasks swapping
their pieces through their own sockets, when every partition has a slot), then PageRank runs in
a session (`minibig/graph/session.py`; `--stepwise`: a task per superstep); a one-stage load's
line also says where its time went (per step, the slowest task's: `WorkerGraph.phases`), and
with `--breakdown` PageRank's does too (its session against the slowest partition's compute,
summed over the supersteps: `ClusterRun.timings`); scipy reads with
pyarrow's CSV reader and Arrow's hash kernels (bench/graph_baselines.py);
the RDD PageRank is `jobs/pagerank.py` collected with `count()`. Every side
runs twice: the first run pays its imports (scipy, pyarrow in this process;
minibig.graph, numpy, pyarrow in each worker), the second does not, and
both ratios are printed, and the CPU seconds of a warm job (this process and every
process it started: the cluster's) against scipy's. With `--runs N` (default 2) every side runs N
times and "second" is the (low) median of runs 2..N (the warm runs; on a shared
machine one warm run can be 1.5x another). All runs do exactly
`--iterations` PageRank iterations (tol=0). `--json` writes the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "jobs"))
sys.path.insert(0, os.path.join(HERE, ".."))          # minibig itself, when it is not installed

import cloudpickle  # noqa: E402  (after the path set-up)
import psutil  # noqa: E402
import pagerank as rdd_pagerank  # noqa: E402  jobs/pagerank.py
from graph_baselines import load_edges, pagerank_scipy  # noqa: E402

from minibig import Context  # noqa: E402
from minibig.graph import Graph, pagerank  # noqa: E402
from minibig.graph.algorithms import PageRank  # noqa: E402


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and every process it started (the embedded
    cluster's zygote, master and workers), so far."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def time_scipy(path: str, directed: bool, iterations: int) -> tuple[float, float]:
    """(seconds, CPU seconds) for scipy: load with pyarrow, then power iteration."""
    started, cpu = time.perf_counter(), cpu_seconds()
    src, dst, ids = load_edges(path, directed)
    pagerank_scipy(src, dst, len(ids), max_iter=iterations, tol=0.0)
    return time.perf_counter() - started, cpu_seconds() - cpu


def time_graph_job(sc, path: str, directed: bool, iterations: int, session: bool = True,
                   breakdown: bool = False) -> dict:
    """One graph-engine job: load on the workers, PageRank (in a session unless `session` is
    False: see minibig/graph/session.py), ranks on the driver. `breakdown`: PageRank's run
    through `Graph.run` (the program and run `pagerank` makes), to keep its `ClusterRun.timings`."""
    started, cpu = time.perf_counter(), cpu_seconds()
    g = Graph.from_edge_file(sc, path, directed=directed)
    loaded = time.perf_counter()
    run = None
    if breakdown:
        run = g.run(PageRank(g.num_vertices, max_iter=iterations, tol=0.0), checkpoint_every=0, session=session)
    else:
        pagerank(g, max_iter=iterations, tol=0.0, checkpoint_every=0, session=session)   # ranks on the driver
    done = time.perf_counter()
    out = {"job": done - started, "cpu": cpu_seconds() - cpu, "load": loaded - started, "pagerank": done - loaded,
           "stages": dict(g.on_workers.timings), "phases": dict(g.on_workers.phases),
           "run": dict(run.timings) if run is not None else {},
           "vertices": g.num_vertices, "edges": g.num_edges}
    g.on_workers.drop()
    return out


def phases_text(phases: dict) -> str:
    """' (slowest task: parse 12 ms, ...)' for a one-stage load's `phases`, '' for none."""
    if not phases:
        return ""
    return " (slowest task: " + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in phases.items()) + ")"


def times_text(value: float, base: float) -> str:
    """'2.50x' for `value / base`; 'n/a' when `base` is 0 (a small graph's scipy run can take
    less CPU than psutil's clock tick)."""
    return f"{value / base:.2f}x" if base > 0 else "n/a"


def run_text(timings: dict) -> str:
    """' (supersteps 30 ms, the slowest partition computing 13 ms of them)' for a run's
    `ClusterRun.timings`, '' for none."""
    if not timings:
        return ""
    return (f" (supersteps {timings['supersteps'] * 1000:.0f} ms, the slowest partition computing "
            f"{timings['worker'] * 1000:.0f} ms of them)")


def time_rdd(sc, path: str, directed: bool, iterations: int) -> float:
    """Seconds for the RDD PageRank of jobs/pagerank.py."""
    cloudpickle.register_pickle_by_value(rdd_pagerank)    # workers cannot import jobs/
    started = time.perf_counter()
    rdd_pagerank.pagerank(sc, path, iterations, undirected=not directed).count()
    return time.perf_counter() - started


def time_engine(path: str, directed: bool, iterations: int, workers: int, rdd: bool, runs: int = 2,
                session: bool = True, breakdown: bool = False) -> dict:
    """Start-up, `runs` graph-engine jobs (the first, and the median of the others as
    "second") and (optionally) the RDD PageRank on `workers` workers."""
    started = time.perf_counter()
    with Context(workers=workers, progress=False, appName="bench-graph") as sc:
        out = {"startup": time.perf_counter() - started}
        out["first"] = time_graph_job(sc, path, directed, iterations, session, breakdown)
        warm = []
        for _ in range(runs - 1):
            gc.collect()
            warm.append(time_graph_job(sc, path, directed, iterations, session, breakdown))
        out["warm_jobs"] = [job["job"] for job in warm]
        out["warm_cpus"] = [job["cpu"] for job in warm]
        out["second"] = sorted(warm, key=lambda job: job["job"])[(len(warm) - 1) // 2]   # the median (low)
        if rdd:
            out["rdd"] = time_rdd(sc, path, directed, iterations)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--undirected", action="store_true")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--no-rdd", action="store_true", help="skip the RDD PageRank (slow on big graphs)")
    parser.add_argument("--runs", type=int, default=2,
                        help="runs of each side; 'second' is the median of runs 2..N (default 2)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--stepwise", action="store_true",
                        help="run PageRank superstep by superstep, not in a session")
    parser.add_argument("--breakdown", action="store_true",
                        help="say where PageRank's time went: its run's supersteps against the slowest "
                             "partition's compute (PageRank through Graph.run, as pagerank() runs it)")
    args = parser.parse_args(argv)
    directed = not args.undirected
    if args.runs < 2:
        parser.error("--runs must be at least 2 (a first run and a warm one)")
    timed = [time_scipy(args.input, directed, args.iterations) for _ in range(args.runs)]
    scipy_runs, scipy_cpu = [t for t, _ in timed], [c for _, c in timed]
    scipy_s = [scipy_runs[0], statistics.median_low(scipy_runs[1:])]
    scipy_cpu_warm = statistics.median_low(scipy_cpu[1:])
    print(f"scipy.sparse (1 process, load included): first {scipy_s[0]:.2f}s (imports included), "
          f"second {scipy_s[1]:.2f}s (warm runs: {' '.join(f'{t:.2f}' for t in scipy_runs[1:])}; "
          f"CPU {scipy_cpu_warm:.2f}s)", flush=True)
    results = {"input": args.input, "iterations": args.iterations, "scipy": scipy_s, "scipy_runs": scipy_runs,
               "scipy_cpu": scipy_cpu,
               "runs": args.runs, "session": not args.stepwise, "workers": {}, "load_average": os.getloadavg()}
    for workers in [int(w) for w in args.workers.split(",")]:
        r = results["workers"][workers] = time_engine(args.input, directed, args.iterations, workers,
                                                      not args.no_rdd, args.runs, not args.stepwise,
                                                      args.breakdown)
        first, second = r["first"], r["second"]
        warm_cpu = r["warm_cpu"] = statistics.median_low(r["warm_cpus"])
        line = (f"{workers} worker(s): start-up {r['startup']:.2f}s; graph engine first {first['job']:.2f}s "
                f"= {first['job'] / scipy_s[0]:.2f}x scipy's first, second {second['job']:.2f}s "
                f"= {second['job'] / scipy_s[1]:.2f}x scipy's second "
                f"(warm jobs: {' '.join(f'{t:.2f}' for t in r['warm_jobs'])}; load {second['load']:.2f}s "
                f"{ {k: round(v, 2) for k, v in second['stages'].items()} }"
                f"{phases_text(second['phases'])}, "
                f"pagerank {second['pagerank']:.2f}s{run_text(second['run'])}); CPU of a warm job (median) {warm_cpu:.2f}s "
                f"= {times_text(warm_cpu, scipy_cpu_warm)} scipy's")
        if "rdd" in r:
            line += f"; RDD PageRank {r['rdd']:.2f}s = {r['rdd'] / second['job']:.1f}x the graph engine's second"
        print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
