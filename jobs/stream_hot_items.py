"""Hot items (NEXMark query 5): the auction with the most bids in each sliding window.

Shows a two-stage windowed dataflow on the workers: bids keyed by auction are
counted over sliding windows (``SlidingWindow(size, slide)``); each count
carries its window's last timestamp, so a second, tumbling window of one
slide keyed by the sliding window collects every auction's count of that
window and keeps the largest (the watermark reaches the second stage only
after the counts it released, so no count is late there). Bids come from a
seeded generator (a few hot auctions draw most bids, out of order by up to
``--disorder`` ms), so every run prints the same answer; ``--out DIR``
writes the results with an exactly-once file sink as well.

    python jobs/stream_hot_items.py --bids 50000
    minibig submit --workers 2 jobs/stream_hot_items.py --bids 200000 --size 10000 --slide 2000
    minibig submit --workers 2 jobs/stream_hot_items.py --bids 50000 --out /tmp/hot-items
"""

import argparse
import itertools
import random

from minibig import Context
from minibig.streaming import SlidingWindow, Source, StreamingContext, TumblingWindow


class BidSource(Source):
    """``bids`` seeded bids ``(time_ms, auction, bidder, price)``; bid ``i`` depends on ``(seed, i)`` only.

    One bid per ms of event time, each up to ``disorder`` ms early; auctions
    are drawn with weights ``1/rank`` (Zipf), so the hot ones stand out.
    """

    def __init__(self, bids, auctions=1000, disorder=50, seed=0):
        self.bids, self.auctions, self.disorder, self.seed = bids, auctions, disorder, seed
        self.position = 0
        self.cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(auctions)))

    @property
    def finished(self):
        return self.position >= self.bids

    def bid(self, i):
        """Bid number ``i``."""
        rng = random.Random(self.seed * 1_000_003 + i)
        auction = rng.choices(range(self.auctions), cum_weights=self.cumulative)[0]
        return (i - rng.randint(0, self.disorder), auction, rng.randrange(10_000), rng.randint(1, 500))

    def poll(self, max_records):
        end = min(self.bids, self.position + max_records)
        batch = [self.bid(i) for i in range(self.position, end)]
        self.position = end
        return batch

    def offset(self):
        return self.position

    def seek(self, offset):
        self.position = offset


def build(ssc, bids, size, slide, disorder):
    """The dataflow: a stream of ``(window_start, window_end, auction, bids)``, one per window."""
    counts = (ssc.source(bids, timestamp=lambda b: b[0], max_out_of_orderness=disorder)
                 .key_by(lambda b: b[1]).window(SlidingWindow(size, slide)).count())
    return (counts.key_by(lambda c: (c[1], c[2]))
                  .window(TumblingWindow(slide))
                  .reduce(lambda a, b: max(a, b, key=lambda c: (c[3], -c[0])))
                  .map(lambda r: (r[3][1], r[3][2], r[3][0], r[3][3])))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=50_000, help="bids generated (1 per ms of event time)")
    parser.add_argument("--auctions", type=int, default=1000)
    parser.add_argument("--size", type=float, default=10_000, help="sliding window size, ms")
    parser.add_argument("--slide", type=float, default=2_000, help="sliding window slide, ms")
    parser.add_argument("--disorder", type=int, default=50, help="bids arrive up to this many ms out of order")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the results to this folder (must not exist)")
    parser.add_argument("--parallelism", type=int, default=None, help="window instances (default: all slots)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with Context(appName="stream-hot-items") as sc:
        ssc = StreamingContext(sc, parallelism=args.parallelism or sc.defaultParallelism, checkpoint_interval=1.0)
        hot = build(ssc, BidSource(args.bids, args.auctions, args.disorder, args.seed),
                    args.size, args.slide, args.disorder)
        if args.out:
            hot.write_text(args.out)
        results = hot.collect()
        metrics = ssc.run()
        for start, end, auction, n in sorted(results.result()):
            print(f"[{start:g}, {end:g}) auction {auction}: {n} bids")
        print(f"{len(results.result())} windows, {metrics['late_records']} late bids, "
              f"{ssc.executor.checkpoints} checkpoints")


if __name__ == "__main__":
    main()
