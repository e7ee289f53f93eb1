"""PageRank as a vertex program on the graph engine (networkx's definition).

The partitions stay on the workers between supersteps; compare with the RDD
version in jobs/pagerank.py (`minibig bench --compare`).

    minibig submit jobs/graph_pagerank.py datasets/graphs/wormnet.txt --undirected
    minibig submit --workers 2 jobs/graph_pagerank.py datasets/graphs/roget.txt --program pregel
"""

import argparse
import os
import sys
import time

from minibig import Context
from minibig.graph import Graph, pagerank
from minibig.graph.examples import GASPageRank, PregelPageRank

SHIPPED_GRAPH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "graphs", "roget.txt")


def options(argv=None):
    """The command line of the job (and of its baseline)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_GRAPH), help="edge file")
    parser.add_argument("--undirected", action="store_true", help="read each edge both ways")
    parser.add_argument("--iterations", type=int, default=100, help="max_iter")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--program", choices=["vector", "pregel", "gas"], default="vector",
                        help="the built-in vectorised program, or the per-vertex Pregel / GAS example")
    parser.add_argument("--top", type=int, default=10)
    return parser.parse_args(argv)


def ranks(sc, args):
    """{vertex: rank} of the graph in args.input."""
    g = Graph.from_edge_file(sc, args.input, directed=not args.undirected)
    if args.program == "vector":
        return pagerank(g, max_iter=args.iterations, tol=args.tol).collectAsMap()
    program = (PregelPageRank(max_iter=args.iterations, tol=args.tol) if args.program == "pregel"
               else GASPageRank(g.num_vertices, tol=args.tol))
    values = g.values(g.run(program, max_supersteps=args.iterations + 1), program)
    return {v: (r[0] if isinstance(r, tuple) else r) for v, r in values.items()}


def print_top(result: dict, top: int) -> None:
    """The `top` highest-ranked vertices, one per line."""
    for vertex, rank in sorted(result.items(), key=lambda kv: (-kv[1], str(kv[0])))[:top]:
        print(f"{vertex}\t{rank:.6f}")


def baseline(argv):
    """scipy.sparse power iteration in one process, pyarrow loading (bench/graph_baselines.py)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
    # imported here: bench/ is on the path only from the line above, and it needs scipy (a test
    # dependency, not minibig's)
    from graph_baselines import load_edges, pagerank_scipy
    args = options(argv)
    src, dst, ids = load_edges(args.input, directed=not args.undirected)
    x, _ = pagerank_scipy(src, dst, len(ids), max_iter=args.iterations, tol=args.tol)
    print_top(dict(zip(ids.tolist(), x.tolist())), args.top)


def main(argv=None):
    args = options(argv)
    with Context(appName="graph-pagerank") as sc:
        started = time.perf_counter()
        result = ranks(sc, args)
        print_top(result, args.top)
        print(f"{len(result)} vertices in {time.perf_counter() - started:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
