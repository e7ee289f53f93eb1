"""Graph benchmark: the cost of one superstep, from SSSP along a path (one superstep per vertex).

    python bench/graph_superstep.py --vertices 1000 --workers 2

A path of n vertices takes n supersteps of SSSP with one message each, so
the run time divided by the supersteps is the per-superstep overhead of the
engine: the `run_code` round trip, message delivery, barrier. Printed, in
one run: milliseconds per superstep with inline messages (the default) and
with every superstep's messages forced through shuffle files (the earlier
path), and, for scale, an empty `run_code` of the same number of tasks.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))   # minibig, uninstalled

from minibig import Context  # noqa: E402  (after the path set-up)
from minibig.core.task import TaskCode  # noqa: E402
from minibig.graph import Graph, cluster  # noqa: E402
from minibig.graph.algorithms import ShortestPaths  # noqa: E402


def time_path_sssp(sc, vertices: int, partitions: int, inline: bool = True) -> tuple[float, int]:
    """(seconds, supersteps) of unweighted SSSP from one end of a path of `vertices`.

    `inline=False` sends every superstep's messages through shuffle files.
    """
    g = Graph.from_edges(sc, [(i, i + 1) for i in range(vertices - 1)], num_partitions=partitions)
    saved = cluster.INLINE_LIMIT
    cluster.INLINE_LIMIT = saved if inline else -1      # every outbox "too big": the shuffle path
    try:
        started = time.perf_counter()
        run = g.run(ShortestPaths(g.dense(0), weighted=False), checkpoint_every=0)
        return time.perf_counter() - started, run.supersteps
    finally:
        cluster.INLINE_LIMIT = saved


def time_empty_run_code(sc, partitions: int, rounds: int) -> float:
    """Seconds per `run_code` of `partitions` tasks that do nothing (the engine's floor)."""
    class Nothing(TaskCode):
        def run(self, ctx):
            return None

    started = time.perf_counter()
    for _ in range(rounds):
        sc._dag.run_code(Nothing(), list(range(partitions)), "empty")
    return (time.perf_counter() - started) / rounds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vertices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=2)
    args = parser.parse_args(argv)
    with Context(workers=args.workers, progress=False, appName="bench-graph-superstep") as sc:
        time_empty_run_code(sc, args.partitions, 20)                   # warm up
        empty = time_empty_run_code(sc, args.partitions, 200)
        inline, supersteps = time_path_sssp(sc, args.vertices, args.partitions)
        files, _ = time_path_sssp(sc, args.vertices, args.partitions, inline=False)
    per = {name: seconds / supersteps for name, seconds in (("inline", inline), ("files", files))}
    print(f"SSSP on a {args.vertices}-vertex path ({supersteps} supersteps), {args.workers} worker(s), "
          f"{args.partitions} partitions: inline messages {1000 * per['inline']:.2f} ms/superstep, "
          f"through shuffle files {1000 * per['files']:.2f} ms/superstep "
          f"({per['files'] / per['inline']:.2f}x); empty run_code {1000 * empty:.2f} ms "
          f"(inline superstep = {per['inline'] / empty:.2f}x empty run_code)")


if __name__ == "__main__":
    main()
