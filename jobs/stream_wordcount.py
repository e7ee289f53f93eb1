"""Streaming word count: words per tumbling window of event time, on the workers.

Shows the streaming API end to end: a source (lines from a TCP socket, or a
seeded generator of sentences), ``flat_map`` to words, ``key_by`` the word,
a tumbling window that counts, and a ``collect`` sink the driver prints when
the stream ends. Each line's event time is its arrival (processing) time for
the socket; the generator stamps line ``i`` with ``i`` ms. Checkpoints every
second make a killed worker cost a restore, never a word.

    python jobs/stream_wordcount.py --lines 20000              # generated sentences
    minibig submit --workers 2 jobs/stream_wordcount.py --lines 20000 --window 1000
    nc -lk 9999     # in a terminal of its own: type lines there; Ctrl-C ends the stream
    minibig submit jobs/stream_wordcount.py --socket 127.0.0.1:9999 --window 5   # in another
"""

import argparse
import random
import time

from minibig import Context
from minibig.streaming import Source, SocketSource, StreamingContext, TumblingWindow

WORDS = "the quick brown fox jumps over a lazy dog while streams of events flow".split()


class SentenceSource(Source):
    """``lines`` seeded sentences ``(i, text)``; replays exactly from any offset."""

    def __init__(self, lines, seed=0):
        self.lines, self.seed, self.position = lines, seed, 0

    @property
    def finished(self):
        return self.position >= self.lines

    def poll(self, max_records):
        end = min(self.lines, self.position + max_records)
        batch = [(i, " ".join(random.Random(self.seed * 7_919 + i).choices(WORDS, k=6)))
                 for i in range(self.position, end)]
        self.position = end
        return batch

    def offset(self):
        return self.position

    def seek(self, offset):
        self.position = offset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000, help="generated lines (without --socket)")
    parser.add_argument("--socket", help="HOST:PORT of a line server (e.g. nc -lk PORT)")
    parser.add_argument("--window", type=float, default=1000,
                        help="window size: ms of generated time, or seconds with --socket")
    parser.add_argument("--top", type=int, default=5, help="words shown per window")
    parser.add_argument("--parallelism", type=int, default=None, help="window instances (default: all slots)")
    return parser.parse_args(argv)


def build(ssc, args):
    """The dataflow: the collect handle of ``(word, start, end, count)``."""
    if args.socket:
        host, port = args.socket.rsplit(":", 1)
        lines = ssc.source(SocketSource(host, int(port)))            # event time = arrival time
    else:
        lines = ssc.source(SentenceSource(args.lines), timestamp=lambda line: line[0]).map(lambda line: line[1])
    return (lines.flat_map(str.split).key_by(lambda word: word)
                 .window(TumblingWindow(args.window)).count().collect())


def _when(t, args):
    """A window bound: the time of day for a socket's lines (event time is their arrival, unix
    seconds), with ms for windows of part seconds; else the generated stream's ms."""
    if not args.socket:
        return f"{t:g}"
    day = time.strftime("%H:%M:%S", time.localtime(t))
    return day if float(args.window).is_integer() else f"{day}.{round(t * 1000) % 1000:03d}"


def main(argv=None):
    args = parse_args(argv)
    with Context(appName="stream-wordcount") as sc:
        ssc = StreamingContext(sc, parallelism=args.parallelism or sc.defaultParallelism, checkpoint_interval=1.0)
        counts = build(ssc, args)
        ssc.run()
        windows = {}
        for word, start, end, n in counts.result():
            windows.setdefault((start, end), []).append((n, word))
        for (start, end), words in sorted(windows.items()):
            top = ", ".join(f"{w} {n}" for n, w in sorted(words, reverse=True)[:args.top])
            print(f"[{_when(start, args)}, {_when(end, args)}) {top}")
        # a time window fires once per word in it: the windows are the distinct (start, end)
        print(f"{sum(c[3] for c in counts.result())} words, {len(windows)} windows, "
              f"{ssc.executor.checkpoints} checkpoints")


if __name__ == "__main__":
    main()
