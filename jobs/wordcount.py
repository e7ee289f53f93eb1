"""Word count: the "hello world" of big data processing.

Shows the classic RDD pipeline: `textFile` cuts the input into splits read in
parallel, `flatMap` and `map` run pipelined in the same task, and
`reduceByKey` combines counts on the map side before the shuffle, so only one
record per distinct word and partition crosses the network.

    python jobs/wordcount.py                      # the shipped Austen novels
    minibig submit --workers 2 jobs/wordcount.py datasets/text --top 20
    python jobs/wordcount.py big.txt --output counts/   # all counts as part files
"""

import argparse
import os
from operator import add

from minibig import Context

SHIPPED_TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "text")


def word_counts(sc, path):
    """An RDD of (word, count) over the lines of `path`."""
    return (sc.textFile(path)
              .flatMap(lambda line: line.split())
              .map(lambda word: (word, 1))
              .reduceByKey(add))


def by_count(word_count):
    """Sort key: most frequent first, then alphabetical."""
    return -word_count[1], word_count[0]


def options(argv=None):
    """The command line of the job (and of its --compare versions)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_TEXT),
                        help="file, folder or glob to count (default: the shipped novels)")
    parser.add_argument("--top", type=int, default=10, help="how many of the most frequent words to print")
    parser.add_argument("--output", help="also save every count under this (new) folder")
    return parser.parse_args(argv)


def print_top(pairs):
    """Print (word, count) pairs, one per line."""
    for word, count in pairs:
        print(f"{word}\t{count}")


def baseline(argv):
    """The same count in plain Python, one process: `minibig bench --compare`'s baseline."""
    from collections import Counter
    from heapq import nsmallest

    from minibig.rdd.textfile import expand_paths
    args = options(argv)
    counts = Counter()
    for path in expand_paths(args.input):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                counts.update(line.split())
    print_top(nsmallest(args.top, counts.items(), key=by_count))


def dask_version(argv):
    """The same count with a Dask bag on a pool of N processes (`--compare`)."""
    from heapq import nsmallest

    import dask.bag as db

    from minibig.benchmark.peers import process_pool
    from minibig.rdd.textfile import expand_paths
    args = options(argv)
    with process_pool() as pool:
        lines = db.read_text(expand_paths(args.input), blocksize="32MiB")   # minibig's split size
        counts = lines.str.split().flatten().frequencies()
        if args.output:
            counts.map(lambda wc: f"{wc[0]}\t{wc[1]}").to_textfiles(os.path.join(args.output, "*.txt"),
                                                                   compute_kwargs={"pool": pool})
        print_top(nsmallest(args.top, counts.compute(scheduler="processes", pool=pool), key=by_count))


def pyspark_version(argv):
    """The same pipeline on PySpark's RDDs, local[N] (`--compare`)."""
    from minibig.benchmark.peers import spark_context
    from minibig.rdd.textfile import expand_paths
    args = options(argv)
    with spark_context("wordcount") as sc:
        counts = (sc.textFile(",".join(expand_paths(args.input)))
                    .flatMap(lambda line: line.split())
                    .map(lambda word: (word, 1))
                    .reduceByKey(add))
        if args.output:
            counts.saveAsTextFile(args.output)
        print_top(counts.takeOrdered(args.top, key=lambda wc: (-wc[1], wc[0])))


def main():
    args = options()
    with Context(appName="wordcount") as sc:
        counts = word_counts(sc, args.input)
        if args.output:
            counts.saveAsTextFile(args.output)
        # A lambda, not by_count: it travels to the workers by value however the job is run.
        print_top(counts.takeOrdered(args.top, key=lambda wc: (-wc[1], wc[0])))


if __name__ == "__main__":
    main()
