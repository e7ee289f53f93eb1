"""Graph benchmark: PageRank on the graph engine vs scipy.sparse vs the RDD PageRank, 1 and 2 workers.

    python datasets/make_debian_graph.py            # writes datasets/big/debian.txt
    python bench/graph.py datasets/big/debian.txt --iterations 20
    python bench/graph.py datasets/graphs/wormnet.txt --undirected --no-rdd

Engine start-up (the embedded cluster) is timed apart from job time. Job
time includes loading (the driver reads and cuts the file, then ships the
partitions) on every side; scipy loads with pyarrow (bench/graph_baselines.py).
All runs do exactly `--iterations` PageRank iterations (tol=0).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "jobs"))
sys.path.insert(0, os.path.join(HERE, ".."))          # minibig itself, when it is not installed


def time_scipy(path: str, directed: bool, iterations: int) -> float:
    """Seconds for scipy: load with pyarrow, then power iteration."""
    from graph_baselines import load_edges, pagerank_scipy
    started = time.perf_counter()
    src, dst, ids = load_edges(path, directed)
    pagerank_scipy(src, dst, len(ids), max_iter=iterations, tol=0.0)
    return time.perf_counter() - started


def time_engine(path: str, directed: bool, iterations: int, workers: int, rdd: bool) -> dict:
    """Start-up, graph-engine job and (optionally) RDD PageRank seconds on `workers` workers."""
    from minibig import Context
    from minibig.graph import Graph, pagerank
    started = time.perf_counter()
    with Context(workers=workers, progress=False, appName="bench-graph") as sc:
        out = {"startup": time.perf_counter() - started}
        started = time.perf_counter()
        g = Graph.from_edge_file(sc, path, directed=directed)
        out["load"] = time.perf_counter() - started
        pagerank(g, max_iter=iterations, tol=0.0, checkpoint_every=0).count()
        out["graph"] = time.perf_counter() - started
        if rdd:
            import cloudpickle
            import pagerank as rdd_pagerank
            cloudpickle.register_pickle_by_value(rdd_pagerank)    # workers cannot import jobs/
            started = time.perf_counter()
            rdd_pagerank.pagerank(sc, path, iterations, undirected=not directed).count()
            out["rdd"] = time.perf_counter() - started
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--undirected", action="store_true")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--no-rdd", action="store_true", help="skip the RDD PageRank (slow on big graphs)")
    args = parser.parse_args(argv)
    directed = not args.undirected
    scipy_s = time_scipy(args.input, directed, args.iterations)
    print(f"scipy.sparse (1 process, load included): {scipy_s:.2f}s")
    for workers in [int(w) for w in args.workers.split(",")]:
        r = time_engine(args.input, directed, args.iterations, workers, not args.no_rdd)
        line = (f"{workers} worker(s): start-up {r['startup']:.2f}s; graph engine {r['graph']:.2f}s "
                f"(load+cut {r['load']:.2f}s) = {r['graph'] / scipy_s:.2f}x scipy")
        if "rdd" in r:
            line += f"; RDD PageRank {r['rdd']:.2f}s = {r['rdd'] / r['graph']:.1f}x slower than the graph engine"
        print(line)


if __name__ == "__main__":
    main()
