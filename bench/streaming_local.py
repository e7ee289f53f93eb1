"""Per-event cost of the streaming operators: a keyed tumbling-window count on one core.

Two measurements over the same seeded events (made before the clock starts,
so the generator is outside what is measured):

- ``operators``: the hot path alone, as a worker task will run it: batches of
  items (records and the source's per-record watermarks) through key_by,
  a 2-way hash route and two window operators (count per key and 10 s window);
- ``local job``: the whole local executor, source reader (timestamps and
  watermarks) and collect sink included, window parallelism 1.

Events: ``(timestamp_ms, key, 1)``, 1 ms apart, up to ``--disorder`` ms out
of order, ``--keys`` keys. Prints events/s (best of ``--repeat``); the target
for a worker is at least 200k events/s.

    python bench/streaming_local.py --events 1000000
"""

from __future__ import annotations

import argparse
import time

from minibig.streaming import GeneratorSource, StreamingContext, TumblingWindow
from minibig.streaming.functions import CountFunction
from minibig.streaming.operators import KeyByOperator, OperatorContext
from minibig.streaming.routing import Route
from minibig.streaming.source_reader import SourceReader
from minibig.streaming.sources import IterableSource
from minibig.streaming.window_operator import WindowOperator


def make_events(count: int, keys: int, disorder: int, seed: int) -> list:
    """The benchmark's events, generated up front."""
    source = GeneratorSource(count=count, keys=keys, disorder=disorder, seed=seed)
    source.open(None)
    return source.poll(count)


def stamped_batches(events: list, disorder: int, batch: int) -> list[list]:
    """The items a source reader would emit: records with their watermarks, in batches."""
    reader = SourceReader("source", IterableSource(events), timestamp=lambda e: e[0],
                          max_out_of_orderness=disorder)
    reader.open(time.monotonic)
    batches = []
    while not reader.ended:
        items, _ = reader.poll(batch)
        batches.append(items)
    return batches


def time_operators(batches: list[list], window: int) -> float:
    """Seconds to push every batch through key_by, a 2-way hash route and two window counts."""
    key_by = KeyByOperator("key_by", lambda e: e[1])
    counters = [WindowOperator("window", TumblingWindow(window), CountFunction()) for _ in range(2)]
    route = Route(1, "window", "main", "hash", 2, 0, [0, 0])
    for op in (key_by, *counters):
        op.open(OperatorContext(op.name, clock=time.monotonic))
    started = time.perf_counter()
    emitted = 0
    for items in batches:
        for target, part in route.split(key_by.process_batch(items)["main"]):
            emitted += len(counters[target].process_batch(part)["main"])
    elapsed = time.perf_counter() - started
    assert emitted > 0
    return elapsed


def time_local_job(events: list, disorder: int, batch: int, window: int) -> float:
    """Seconds for the whole local job (source reader to collect sink)."""
    ssc = StreamingContext(parallelism=1, batch_size=batch)
    out = (ssc.source(events, timestamp=lambda e: e[0], max_out_of_orderness=disorder)
              .key_by(lambda e: e[1]).window(TumblingWindow(window)).count().collect())
    started = time.perf_counter()
    ssc.run()
    elapsed = time.perf_counter() - started
    assert sum(c for *_, c in out.result()) == len(events)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--disorder", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--window", type=int, default=10_000, help="window size in ms")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    events = make_events(args.events, args.keys, args.disorder, args.seed)
    batches = stamped_batches(events, args.disorder, args.batch)
    operators = min(time_operators(batches, args.window) for _ in range(args.repeat))
    job = min(time_local_job(events, args.disorder, args.batch, args.window) for _ in range(args.repeat))
    print(f"events: {args.events:,}  keys: {args.keys}  window: {args.window} ms  "
          f"disorder: {args.disorder} ms  batch: {args.batch}")
    print(f"operators (key_by + route + window count): {args.events / operators:12,.0f} events/s")
    print(f"local job (source reader ... collect):     {args.events / job:12,.0f} events/s")


if __name__ == "__main__":
    main()
