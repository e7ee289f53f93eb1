"""Weakly connected components as a vertex program (label = smallest vertex id).

    minibig submit jobs/graph_components.py datasets/graphs/wormnet.txt --undirected
    minibig submit jobs/graph_components.py datasets/graphs/roget.txt --program gas
"""

import argparse
import os
import sys
import time
from collections import Counter

import numpy as np

from minibig import Context
from minibig.graph import Graph, connected_components
from minibig.graph.examples import GASComponents, PregelComponents

SHIPPED_GRAPH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "graphs", "roget.txt")


def options(argv=None):
    """The command line of the job (and of its baseline)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_GRAPH), help="edge file")
    parser.add_argument("--undirected", action="store_true", help="read each edge both ways")
    parser.add_argument("--program", choices=["vector", "pregel", "gas"], default="vector")
    parser.add_argument("--top", type=int, default=10)
    return parser.parse_args(argv)


def components(sc, args) -> dict:
    """{vertex: component label}."""
    g = Graph.from_edge_file(sc, args.input, directed=not args.undirected)
    if args.program == "vector":
        return connected_components(g).collectAsMap()
    program = PregelComponents() if args.program == "pregel" else GASComponents()
    return g.values(g.run(program), program)


def print_sizes(labels: dict, top: int) -> None:
    """Number of components, then the biggest ones as `label<TAB>size`."""
    sizes = Counter(labels.values())
    print(f"{len(sizes)} components")
    for label, size in sorted(sizes.items(), key=lambda kv: (-kv[1], str(kv[0])))[:top]:
        print(f"{label}\t{size}")


def baseline(argv):
    """scipy.sparse.csgraph in one process, pyarrow loading."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
    # imported here: scipy is a test dependency, not minibig's, and bench/ is on the path only
    # from the line above
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components as scipy_components
    from graph_baselines import load_edges
    args = options(argv)
    src, dst, ids = load_edges(args.input, directed=not args.undirected)
    n = len(ids)
    _, comp = scipy_components(sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)), directed=True,
                               connection="weak")
    smallest = np.full(comp.max() + 1, n)
    np.minimum.at(smallest, comp, np.arange(n))        # ids are sorted: smallest index = smallest id
    print_sizes(dict(zip(ids.tolist(), ids[smallest[comp]].tolist())), args.top)


def main(argv=None):
    args = options(argv)
    with Context(appName="graph-components") as sc:
        started = time.perf_counter()
        print_sizes(components(sc, args), args.top)
        print(f"done in {time.perf_counter() - started:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
