"""PageRank, the classic RDD way (the Spark examples' algorithm).

Shows an iterative job: the link lists are built once (a `groupByKey`
shuffle) and cached, then every iteration joins them with the current ranks,
sends each page's rank to its neighbours (`flatMap`), and sums the
contributions (`reduceByKey`). This is the textbook version, with ranks
starting at 1.0 and `rank = 0.15 + 0.85 * sum(contributions)` (pages without out-links lose
their rank, as in Spark's example); for ranks that follow networkx's
definition (dangling pages, ranks summing to 1) see `jobs/mr_pagerank.py`.

    python jobs/pagerank.py                        # datasets/graphs/roget.txt, 10 iterations
    minibig submit --workers 2 jobs/pagerank.py datasets/graphs/wormnet.txt --iterations 20 --undirected
"""

import argparse
import os
from operator import add

from minibig import Context

SHIPPED_GRAPH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "graphs", "roget.txt")


def parse_edges(line, undirected=False):
    """(src, dst) pairs of one 'src dst [weight]' line; nothing for comments and blanks."""
    fields = line.split()
    if not fields or line.startswith("#"):
        return []
    if len(fields) == 1:
        raise ValueError(f"not an edge (expected 'src dst [weight]'): {line!r}")
    return [(fields[0], fields[1]), (fields[1], fields[0])] if undirected else [(fields[0], fields[1])]


def contributions(neighbours, rank):
    """What a page sends each of its neighbours."""
    share = rank / len(neighbours)
    return ((dst, share) for dst in neighbours)


def pagerank(sc, path, iterations=10, undirected=False):
    """An RDD of (page, rank) after `iterations` rounds."""
    links = (sc.textFile(path)
               .flatMap(lambda line: parse_edges(line, undirected))
               .distinct()
               .groupByKey()
               .cache())
    ranks = links.mapValues(lambda _: 1.0)
    for _ in range(iterations):
        contribs = links.join(ranks).flatMap(lambda page: contributions(*page[1]))
        ranks = contribs.reduceByKey(add).mapValues(lambda total: 0.15 + 0.85 * total)
    return ranks


def options(argv=None):
    """The command line of the job (and of its --compare versions)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_GRAPH), help="edge file")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--undirected", action="store_true", help="read each edge both ways")
    parser.add_argument("--top", type=int, default=10)
    return parser.parse_args(argv)


def print_top(pairs):
    """Print (page, rank) pairs, one per line."""
    for page, rank in pairs:
        print(f"{page}\t{rank:.6f}")


def baseline(argv):
    """The same algorithm in plain Python, one process: `minibig bench --compare`'s baseline."""
    from collections import defaultdict
    from heapq import nsmallest
    args = options(argv)
    links = defaultdict(set)
    with open(args.input, encoding="utf-8") as f:
        for line in f:
            for src, dst in parse_edges(line, args.undirected):
                links[src].add(dst)
    ranks = dict.fromkeys(links, 1.0)
    for _ in range(args.iterations):
        sums = defaultdict(float)
        for page, neighbours in links.items():
            if page not in ranks:
                continue                  # received nothing last round: the join drops it
            share = ranks[page] / len(neighbours)
            for dst in neighbours:
                sums[dst] += share
        ranks = {page: 0.15 + 0.85 * total for page, total in sums.items()}
    print_top(nsmallest(args.top, ranks.items(), key=lambda pr: (-pr[1], pr[0])))


def pyspark_version(argv):
    """Spark's own RDD PageRank example on the same file, local[N] (`--compare`)."""
    from minibig.benchmark.peers import spark_context
    args = options(argv)
    undirected = args.undirected
    with spark_context("pagerank", py_files=[__file__]) as sc:
        links = (sc.textFile(args.input).flatMap(lambda line: parse_edges(line, undirected))
                   .distinct().groupByKey().cache())
        ranks = links.map(lambda page: (page[0], 1.0))
        for _ in range(args.iterations):
            ranks = (links.join(ranks).flatMap(lambda page: contributions(*page[1])).reduceByKey(add)
                     .mapValues(lambda total: 0.15 + 0.85 * total))
        print_top(ranks.takeOrdered(args.top, key=lambda pr: (-pr[1], pr[0])))


def main():
    args = options()
    with Context(appName="pagerank") as sc:
        ranks = pagerank(sc, args.input, args.iterations, args.undirected)
        print_top(ranks.takeOrdered(args.top, key=lambda pr: (-pr[1], pr[0])))


if __name__ == "__main__":
    main()
