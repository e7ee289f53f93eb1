"""Collecting (str, int) pairs from 2 workers to the driver: this tree against another.

Issue 14: a million pairs took ~2 s to reach the driver, the workers'
pickling and the driver's decoding one after the other. Each round runs
one child process per tree (this one, and `--before`, e.g. a `git worktree`
of an older commit), alternated so that both see the same machine; each
child starts an embedded 2-worker cluster, warms it up, and collects every
size once: the pairs are made on the workers (half on each), so only the
result path is measured. It prints and saves the wall time, the driver's
CPU time (all its threads) and the cluster's (master and workers) per
collect, and their ratios: on a shared machine the CPU times move less.

    flock /tmp/bench.lock python bench/collect.py --before /tmp/before \\
        --pairs 1000000,5000000 --rounds 3 --json bench/results/collect.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(sizes: list[int]) -> dict:
    """In a child process: collect each size once on a fresh 2-worker cluster."""
    import psutil

    import minibig
    from minibig import Context

    def pairs(split, n):
        return ((f"word{i}", i) for i in range(split * n // 2, (split + 1) * n // 2))

    def cluster_cpu(sc) -> float:
        """CPU seconds the cluster's master and workers have used so far."""
        return sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in sc._cluster.processes())

    out = {"minibig": os.path.dirname(minibig.__file__), "runs": {}}
    with Context(workers=2, appName="bench-collect") as sc:
        sc.parallelize(range(2), 2).flatMap(lambda s: pairs(s, 10_000)).collect()   # warm
        for n in sizes:
            rdd = sc.parallelize(range(2), 2).flatMap(lambda s, n=n: pairs(s, n))
            wall, cpu, others = time.perf_counter(), time.process_time(), cluster_cpu(sc)
            result = rdd.collect()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            others = cluster_cpu(sc) - others
            last = (f"word{n - 1}", n - 1)
            if len(result) != n or result[0] != ("word0", 0) or result[-1] != last:
                raise SystemExit(f"wrong answer collecting {n} pairs")
            out["runs"][str(n)] = {"wall": round(wall, 4), "driver_cpu": round(cpu, 4),
                                   "cluster_cpu": round(others, 4)}
            del result
    return out


def run_tree(root: str, sizes: list[int]) -> dict:
    """One child on the minibig of `root` (its folder first on the child's path)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", ",".join(map(str, sizes))],
        env=env, cwd=root, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"the child on {root} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="root of the tree to compare with (a git worktree)")
    parser.add_argument("--pairs", default="1000000,5000000", help="sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="children per tree, alternated")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child([int(n) for n in args.child.split(",")])))
        return 0
    sizes = [int(n) for n in args.pairs.split(",")]
    trees = {"after": os.path.dirname(HERE)}
    if args.before:
        trees["before"] = os.path.abspath(args.before)
    load = [os.getloadavg()]
    rounds = {name: [] for name in trees}
    for r in range(args.rounds):
        for name in (trees if r % 2 == 0 else reversed(list(trees))):
            rounds[name].append(run_tree(trees[name], sizes))
            print(f"round {r} {name}: {rounds[name][-1]['runs']}", flush=True)
    load.append(os.getloadavg())
    summary = {}
    for n in map(str, sizes):
        row = {}
        for name in trees:
            for what in ("wall", "driver_cpu", "cluster_cpu"):
                values = [run["runs"][n][what] for run in rounds[name]]
                row[f"{name}_{what}"] = {"median": round(statistics.median(values), 4),
                                         "min": min(values), "all": values}
        if "before" in trees:
            for what in ("wall", "driver_cpu", "cluster_cpu"):
                row[f"{what}_ratio_before_over_after"] = round(
                    row[f"before_{what}"]["median"] / row[f"after_{what}"]["median"], 3)
        summary[n] = row
        print(f"{n} pairs: " + ", ".join(
            f"{k} {v['median'] if isinstance(v, dict) else v}" for k, v in row.items()))
    print(f"load average at start and end: {load}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": sizes, "trees": trees, "rounds": rounds, "summary": summary,
                       "loadavg": load, "cpus": os.cpu_count()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
