"""PageRank, the classic RDD way (the Spark examples' algorithm).

Shows an iterative job: the link lists are built once (a `groupByKey`
shuffle) and cached, then every iteration joins them with the current ranks,
sends each page's rank to its neighbours (`flatMap`), and sums the
contributions (`reduceByKey`). This is the textbook version, with ranks
starting at 1.0 and `rank = 0.15 + 0.85 * sum(contributions)`; for ranks that
follow networkx's definition (dangling pages, ranks summing to 1) use
`minibig.graph.pagerank`.

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
    if len(fields) < 2 or line.startswith("#"):
        return []
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_GRAPH), help="edge file")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--undirected", action="store_true", help="read each edge both ways")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    with Context(appName="pagerank") as sc:
        ranks = pagerank(sc, args.input, args.iterations, args.undirected)
        for page, rank in ranks.takeOrdered(args.top, key=lambda pr: (-pr[1], pr[0])):
            print(f"{page}\t{rank:.6f}")


if __name__ == "__main__":
    main()
