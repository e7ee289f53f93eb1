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


def baseline(argv):
    """The same count in plain Python, one process: `minibig bench --compare`'s baseline."""
    from collections import Counter
    from minibig.io.textfile import expand_paths
    parser = argparse.ArgumentParser()
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_TEXT))
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--output")
    counts = Counter()
    for path in expand_paths(parser.parse_args(argv).input):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                counts.update(line.split())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_TEXT),
                        help="file, folder or glob to count (default: the shipped novels)")
    parser.add_argument("--top", type=int, default=10, help="how many of the most frequent words to print")
    parser.add_argument("--output", help="also save every count under this (new) folder")
    args = parser.parse_args()
    with Context(appName="wordcount") as sc:
        counts = word_counts(sc, args.input)
        if args.output:
            counts.saveAsTextFile(args.output)
        for word, count in counts.takeOrdered(args.top, key=lambda wc: (-wc[1], wc[0])):
            print(f"{word}\t{count}")


if __name__ == "__main__":
    main()
