"""An iterative job of many rounds: planning time and driver memory per round stay flat.

Each round is one reduceByKey over the last round's result (after a map that
drops the partitioner, so every round is a real shuffle), followed by an
action (`count`, as a convergence check would be); every `--every` rounds
the result is checkpointed (`--local`: localCheckpoint), which cuts the
lineage after that round's action. Printed every `--report` rounds: the
time the DAG scheduler spent planning that round's action (building its
stages: `DAGScheduler.map_stage`), the action's wall time, the number of
stages it ran, and the driver's RSS. With `--every 0` nothing is
checkpointed and the plan grows with every round.

    python bench/lineage.py                         # 1,000 rounds, checkpoint every 10
    python bench/lineage.py --local --every 20
    python bench/lineage.py --rounds 300 --every 0  # no checkpoint: watch it grow
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from operator import add

import psutil

from minibig import Context
from minibig.core.dag import DAGScheduler


def timed_planning():
    """Wrap DAGScheduler.map_stage to add up the seconds spent in it; returns a reader."""
    spent = [0.0]
    original = DAGScheduler.map_stage

    def map_stage(self, dep):
        started = time.perf_counter()
        try:
            return original(self, dep)
        finally:
            spent[0] += time.perf_counter() - started
    DAGScheduler.map_stage = map_stage

    def take() -> float:
        value, spent[0] = spent[0], 0.0
        return value
    return take


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--every", type=int, default=10, help="checkpoint every N rounds (0: never)")
    parser.add_argument("--local", action="store_true", help="localCheckpoint instead of checkpoint")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", type=int, default=50)
    args = parser.parse_args()
    planning = timed_planning()
    process = psutil.Process(os.getpid())
    with tempfile.TemporaryDirectory(prefix="minibig-lineage-") as folder, \
            Context(workers=args.workers, progress=False) as sc:
        sc.setCheckpointDir(folder)
        rdd = sc.parallelize([(i % 100, 1) for i in range(10_000)], args.workers)
        rows = []
        print("round  plan_ms  action_ms  stages  rss_mib")
        for i in range(1, args.rounds + 1):
            rdd = rdd.map(lambda kv: (kv[0], kv[1])).reduceByKey(add, args.workers)
            if args.every and i % args.every == 0:
                rdd.localCheckpoint() if args.local else rdd.checkpoint()
            started = time.perf_counter()
            assert rdd.count() == 100
            action = time.perf_counter() - started
            rows.append((planning(), action, sc.lastJob.stages, process.memory_info().rss / 2**20))
            if i % args.report == 0 or i == 1:
                plan, act, stages, rss = rows[-1]
                print(f"{i:5d}  {plan * 1e3:7.2f}  {act * 1e3:9.1f}  {stages:6d}  {rss:7.1f}",
                      flush=True)
        assert sorted(rdd.collect()) == [(k, 100) for k in range(100)]
    first, last = rows[:args.report], rows[-args.report:]
    for name, index in (("plan ms", 0), ("action ms", 1)):
        print(f"median {name}: first {args.report} rounds "
              f"{statistics.median(r[index] for r in first) * 1e3:.2f}, last {args.report} "
              f"{statistics.median(r[index] for r in last) * 1e3:.2f}")
    print(f"RSS MiB: after round {args.report} {first[-1][3]:.1f}, at the end {last[-1][3]:.1f}")


if __name__ == "__main__":
    main()
