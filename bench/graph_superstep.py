"""Graph benchmark: the cost of one superstep, from SSSP along a path (one superstep per vertex).

    python bench/graph_superstep.py --vertices 1000 --workers 2

A path of n vertices takes n supersteps of SSSP with one message each, so
the run time divided by the supersteps is the per-superstep overhead of the
engine: message delivery and the barrier. Printed, in one run: milliseconds
per superstep in a session (the default: one long task per partition,
`minibig/graph/session.py`), with a `run_code` per superstep (messages
inline through the driver, and forced through shuffle files), and, for
scale, an empty `run_code` of the same number of tasks.
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


def time_path_sssp(sc, vertices: int, partitions: int, mode: str = "session") -> tuple[float, int]:
    """(seconds, supersteps) of unweighted SSSP from one end of a path of `vertices`.

    `mode`: "session" (one long task per partition, `minibig/graph/session.py`), "inline"
    (a `run_code` per superstep, messages through the driver) or "files" (a `run_code` per
    superstep, every superstep's messages through shuffle files).
    """
    g = Graph.from_edges(sc, [(i, i + 1) for i in range(vertices - 1)], num_partitions=partitions)
    saved = cluster.INLINE_LIMIT
    cluster.INLINE_LIMIT = -1 if mode == "files" else saved     # every outbox "too big": shuffle files
    try:
        started = time.perf_counter()
        run = g.run(ShortestPaths(g.dense(0), weighted=False), checkpoint_every=0, session=mode == "session")
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
        seconds = {}
        for mode in ("session", "inline", "files"):
            seconds[mode], supersteps = time_path_sssp(sc, args.vertices, args.partitions, mode)
    per = {mode: 1000 * s / supersteps for mode, s in seconds.items()}
    print(f"SSSP on a {args.vertices}-vertex path ({supersteps} supersteps), {args.workers} worker(s), "
          f"{args.partitions} partitions, ms/superstep: session {per['session']:.2f}, "
          f"a run_code per superstep {per['inline']:.2f} (messages inline), {per['files']:.2f} "
          f"(through shuffle files); empty run_code {1000 * empty:.2f} ms "
          f"(session superstep = {per['session'] / (1000 * empty):.2f}x empty run_code)")

if __name__ == "__main__":
    main()
