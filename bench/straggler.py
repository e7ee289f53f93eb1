"""Straggler benchmark: one worker stopped (SIGSTOP) for most of a job.

Runs the same CPU-bound job (36 tasks of ~0.15 s of pure-Python work) on a
fresh 3-worker embedded cluster three ways, in one run:

- no straggler;
- a straggler, speculation on (the default);
- a straggler, speculation off (the stopped worker's task waits until the
  master declares the worker lost, after `worker_timeout`, 10 s by default).

The straggler is the worker that runs task 0: the task announces itself, the
benchmark stops that worker with SIGSTOP and resumes it after the job. The
target: with speculation, at most 1.5x the no-straggler time.

    python bench/straggler.py
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time

from minibig import Context

TASKS = 36


def burn(x: int, folder: str) -> int:
    """~0.15 s of interpreter work; task 0 announces its worker first."""
    if x == 0 and folder:
        with open(os.path.join(folder, f"started-{os.getpid()}"), "w"):
            pass
    total = 0
    for i in range(1_200_000):
        total += (i * x) % 7
    return total


def run(speculation: bool, straggle: bool) -> float:
    folder = tempfile.mkdtemp(prefix="straggler-") if straggle else ""
    with Context(workers=3, speculation=speculation, appName="straggler") as sc:
        sc.parallelize(range(6), 6).map(lambda x: burn(x, "")).count()      # warm the workers
        stopped: list[int] = []

        def stop_when_started():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                names = [n for n in os.listdir(folder) if n.startswith("started-")]
                if names:
                    pid = int(names[0].split("-")[1])
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                    return
                time.sleep(0.002)
        watcher = threading.Thread(target=stop_when_started, daemon=True) if straggle else None
        if watcher:
            watcher.start()
        started = time.perf_counter()
        result = sc.parallelize(range(TASKS), TASKS).map(lambda x: burn(x, folder)).sum()
        seconds = time.perf_counter() - started
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        assert result == sum(burn(x, "") for x in range(TASKS))
        return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "results", "straggler.json"))
    args = parser.parse_args(argv)
    times = {
        "no_straggler": run(speculation=True, straggle=False),
        "straggler_with_speculation": run(speculation=True, straggle=True),
        "straggler_without_speculation": run(speculation=False, straggle=True),
    }
    result = {"seconds": {k: round(v, 2) for k, v in times.items()},
              "speculation_vs_no_straggler": round(times["straggler_with_speculation"]
                                                   / times["no_straggler"], 2),
              "no_speculation_vs_no_straggler": round(times["straggler_without_speculation"]
                                                      / times["no_straggler"], 2)}
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
