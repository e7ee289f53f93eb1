"""Single-source shortest paths as a vertex program (third column = weight, else 1; inf unreachable).

    minibig submit jobs/graph_sssp.py datasets/graphs/wormnet.txt --undirected --source 1
    minibig submit jobs/graph_sssp.py datasets/graphs/roget.txt --source 1 --program pregel
"""

import argparse
import math
import os
import sys
import time

from minibig import Context
from minibig.graph import Graph, sssp
from minibig.graph.examples import GASShortestPaths, PregelShortestPaths
from minibig.graph.load import read_edge_file

SHIPPED_GRAPH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "graphs", "roget.txt")


def options(argv=None):
    """The command line of the job (and of its baseline)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_GRAPH), help="edge file")
    parser.add_argument("--undirected", action="store_true", help="read each edge both ways")
    parser.add_argument("--source", default="1", help="source vertex id")
    parser.add_argument("--program", choices=["vector", "pregel", "gas"], default="vector")
    return parser.parse_args(argv)


def source_id(text: str, is_int: bool):
    """The source vertex in the graph's id type."""
    return int(text) if is_int else text


def distances(sc, args) -> dict:
    """{vertex: distance from the source}."""
    g = Graph.from_edge_file(sc, args.input, directed=not args.undirected)
    source = source_id(args.source, g.index.is_int)
    if args.program == "vector":
        return sssp(g, source).collectAsMap()
    program = PregelShortestPaths(source) if args.program == "pregel" else GASShortestPaths(source)
    return g.values(g.run(program), program)


def summarise(dist: dict) -> None:
    """Reachable vertices and the farthest distance."""
    reached = [d for d in dist.values() if d != math.inf]
    print(f"{len(reached)} of {len(dist)} vertices reachable; eccentricity {max(reached):g}")


def baseline(argv):
    """scipy.sparse.csgraph Dijkstra in one process (plain text reading of the weights)."""
    # imported here: scipy is a test dependency, not minibig's
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra
    args = options(argv)
    edges = read_edge_file(args.input, directed=not args.undirected)
    n = edges.num_vertices
    A = sp.csr_matrix((edges.weights_or_ones(), (edges.src, edges.dst)), shape=(n, n))
    source = int(edges.index.to_dense([source_id(args.source, edges.index.is_int)])[0])
    summarise(dict(zip(edges.index.ids.tolist(), dijkstra(A, indices=source).tolist())))


def main(argv=None):
    args = options(argv)
    with Context(appName="graph-sssp") as sc:
        started = time.perf_counter()
        summarise(distances(sc, args))
        print(f"done in {time.perf_counter() - started:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
