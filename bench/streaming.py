"""A windowed count on the cluster's workers: throughput, event-time latency, checkpoint cost.

Job: ``source -> key_by -> TumblingWindow -> count -> collect``, the source
with as many instances as workers (one task per worker, slot sharing), keys
hash-exchanged between the workers.

- **throughput**: ``--events`` seeded events from ``GeneratorSource`` (the
  generator runs inside each task's source instance: on these workers it
  cannot be outside the task, so its cost is counted), as fast as they go;
  events/s per worker = events / wall seconds of ``ssc.run()`` / workers.
  Also with a checkpoint every second, against none. On a shared machine
  (fewer free cores than workers) the wall clock mostly measures the
  sharing, so each run also reports **events per worker CPU second**:
  events / CPU seconds the worker processes used (psutil), i.e. what one
  worker with a core of its own would sustain.
- **in-process** (``--in-process``): the same job's tasks run in this one
  process, their batches to each other through the data messages the
  workers send (``wire.pack_data``), no sockets: CPU microseconds per event
  with 1 and 2 tasks, what the exchange costs apart from the machine's
  sharing (``valgrind --tool=callgrind`` on it counts instructions, which a
  shared machine does not disturb).
- **latency**: a rate-limited source (``--rate-share`` of the measured
  throughput) stamps each event with the wall clock as its event time; a
  map after the window stamps each result on emission; latency = emission
  time minus window end (the watermark delay is 0), p50 and p99.

    python bench/streaming.py --events 400000 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import psutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))   # minibig, uninstalled
from minibig import Context  # noqa: E402
from minibig.streaming import GeneratorSource, Source, StreamingContext, TumblingWindow  # noqa: E402
from minibig.streaming.inprocess import run_tasks  # noqa: E402


class WallClockSource(Source):
    """``count`` events ``(key, 1)`` at ``rate``/s, event time = wall clock at generation."""

    def __init__(self, count, rate, keys, index=0, parallelism=1):
        self.count, self.rate, self.keys = count, rate, keys
        self.index, self.parallelism = index, parallelism
        self.position = index
        self.started = None

    def split(self, index, parallelism):
        return WallClockSource(self.count, self.rate / parallelism, self.keys, index, parallelism)

    @property
    def finished(self):
        return self.position >= self.count

    def poll(self, max_records):
        now = time.time()
        if self.started is None:
            self.started = now
        due = int((now - self.started) * self.rate) - (self.position - self.index) // self.parallelism
        batch = []
        while len(batch) < min(max_records, due) and self.position < self.count:
            batch.append((now, f"k{self.position % self.keys}", 1))
            self.position += self.parallelism
        return batch

    def offset(self):
        return self.position

    def seek(self, offset):
        self.position = offset


def worker_cpu_seconds(sc) -> float:
    """CPU seconds (user + system) the embedded cluster's worker processes have used."""
    total = 0.0
    for worker in sc._cluster.workers:
        times = psutil.Process(worker.pid).cpu_times()
        total += times.user + times.system
    return total


def windowed_count(ssc, workers, events, keys):
    """The benchmark's job on ``ssc``: source -> key_by -> TumblingWindow -> count -> collect."""
    return (ssc.source(GeneratorSource(count=events, keys=keys, disorder=100), timestamp=lambda e: e[0],
                       max_out_of_orderness=100, parallelism=workers)
               .key_by(lambda e: e[1]).window(TumblingWindow(10_000)).count().collect())


def in_process(tasks, events, keys) -> float:
    """CPU microseconds per event of the job's ``tasks`` run in this process (see the docstring)."""
    ssc = StreamingContext(None, parallelism=tasks)
    windowed_count(ssc, tasks, events, keys)
    started = time.process_time()
    run_tasks(ssc.plan, tasks)
    return (time.process_time() - started) / events * 1e6


def throughput(sc, workers, events, keys, checkpoint_interval=None) -> tuple[float, float]:
    """(events/s per worker, events per worker CPU second) of the windowed count."""
    ssc = StreamingContext(sc, parallelism=workers, checkpoint_interval=checkpoint_interval)
    windowed_count(ssc, workers, events, keys)
    cpu = worker_cpu_seconds(sc)
    started = time.perf_counter()
    ssc.run()
    wall = time.perf_counter() - started
    return events / wall / workers, events / (worker_cpu_seconds(sc) - cpu)


def latency(sc, workers, events, rate, keys, window) -> dict:
    """p50/p99 of (emission time - window end), seconds, at ``rate`` events/s in total."""
    ssc = StreamingContext(sc, parallelism=workers, batch_size=256)
    out = (ssc.source(WallClockSource(events, rate, keys), timestamp=lambda e: e[0], parallelism=workers)
              .key_by(lambda e: e[1]).window(TumblingWindow(window)).count()
              .map(lambda r: (r[2], time.time())).collect())
    ssc.run()
    lags = sorted(emitted - end for end, emitted in out.result() if end != float("inf"))
    lags = lags[len(lags) // 10:] or lags            # skip the first tenth (warm-up)
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
    return {"p50_ms": round(pick(0.50) * 1000, 1), "p99_ms": round(pick(0.99) * 1000, 1), "results": len(lags)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate-share", type=float, default=0.5, help="latency run's rate, share of throughput")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=0.1, help="latency run's window, seconds")
    parser.add_argument("--in-process", action="store_true", help="only the in-process CPU per event")
    args = parser.parse_args(argv)
    if args.in_process:
        for tasks in args.workers:
            print(json.dumps({"tasks": tasks, "in_process_cpu_us_per_event":
                              round(in_process(tasks, args.events, args.keys), 2)}), flush=True)
        return
    report = {}
    for workers in args.workers:
        with Context(workers=workers, appName="bench-streaming") as sc:
            throughput(sc, workers, args.events // 10, args.keys)      # warm-up: imports, first pickles
            plain, plain_cpu = throughput(sc, workers, args.events, args.keys)
            checkpointed, checkpointed_cpu = throughput(sc, workers, args.events, args.keys,
                                                        checkpoint_interval=1.0)
            rate = plain * workers * args.rate_share
            lat = latency(sc, workers, int(rate * args.latency_seconds), rate, args.keys // 10, args.window)
            report[workers] = {"events_per_s_per_worker": round(plain),
                               "with_checkpoints_every_1s": round(checkpointed),
                               "checkpoint_ratio": round(checkpointed / plain, 3),
                               "events_per_worker_cpu_s": round(plain_cpu),
                               "with_checkpoints_per_worker_cpu_s": round(checkpointed_cpu),
                               "latency_rate_events_per_s": round(rate), **lat}
            print(json.dumps({"workers": workers, **report[workers]}), flush=True)


if __name__ == "__main__":
    main()
