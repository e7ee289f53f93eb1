"""Single-process baselines for the graph benchmarks: scipy.sparse PageRank, load included.

    python bench/graph_baselines.py datasets/big/debian.txt --iterations 20
    python bench/graph_baselines.py datasets/graphs/wormnet.txt --undirected

`load_edges` is the fastest reader found for `src dst` text: pyarrow's
multi-threaded CSV reader (leading `#` lines skipped, one delimiter), ids
mapped to 0..n-1 by Arrow's hash kernels. `pagerank_scipy` is networkx's
definition (uniform teleport, dangling mass spread uniformly, duplicates
collapsed, unweighted) as power iteration on a CSR matrix: x' = d (x P + s/N)
+ (1-d)/N, stopping when |x' - x|_1 < N tol or after `max_iter` iterations.
This is what minibig's graph engine must beat (COST) in `bench/`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv


def load_edges(path: str, directed: bool = True):
    """(src, dst, ids): int64 index arrays over 0..n-1 and the sorted original ids, read with pyarrow."""
    skip, delimiter = 0, " "
    with pa.input_stream(path, compression="detect") as stream:
        head = stream.read(1 << 16).decode("utf-8", "replace").splitlines()
    while skip < len(head) and (not head[skip].strip() or head[skip].startswith("#")):
        skip += 1
    if skip < len(head) and "\t" in head[skip]:
        delimiter = "\t"
    table = csv.read_csv(path, read_options=csv.ReadOptions(skip_rows=skip, column_names=["src", "dst"],
                                                            block_size=1 << 24),
                         parse_options=csv.ParseOptions(delimiter=delimiter, quote_char=False),
                         convert_options=csv.ConvertOptions(include_columns=["src", "dst"]))
    src, dst = table.column("src"), table.column("dst")
    ids = pc.unique(pa.chunked_array(src.chunks + dst.chunks))
    ids = ids.take(pc.sort_indices(ids))
    s = pc.index_in(src, value_set=ids).to_numpy()
    d = pc.index_in(dst, value_set=ids).to_numpy()
    if not directed:
        s, d = np.concatenate((s, d)), np.concatenate((d, s))
    return s.astype(np.int64), d.astype(np.int64), ids.to_numpy(zero_copy_only=False)


def pagerank_scipy(src: np.ndarray, dst: np.ndarray, n: int, damping: float = 0.85, max_iter: int = 100,
                   tol: float = 1e-6) -> tuple[np.ndarray, int]:
    """networkx.pagerank (unweighted) by scipy.sparse power iteration; returns (ranks, iterations)."""
    import scipy.sparse as sp        # here: scipy is a test dependency, not minibig's
    A = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    A.data[:] = 1.0                                  # duplicates collapse, as in a DiGraph
    out = np.asarray(A.sum(axis=1)).ravel()
    dangling = out == 0
    scale = np.divide(1.0, out, out=np.zeros(n), where=~dangling)
    P = sp.diags(scale) @ A
    PT = P.T.tocsr()
    x = np.full(n, 1.0 / n)
    for iteration in range(1, max_iter + 1):
        new = damping * (PT @ x + x[dangling].sum() / n) + (1 - damping) / n
        err = np.abs(new - x).sum()
        x = new
        if err < n * tol:
            break
    return x, iteration


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--undirected", action="store_true")
    parser.add_argument("--iterations", type=int, default=100, help="max_iter (default 100)")
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    src, dst, ids = load_edges(args.path, directed=not args.undirected)
    loaded = time.perf_counter()
    ranks, iterations = pagerank_scipy(src, dst, len(ids), max_iter=args.iterations, tol=args.tol)
    done = time.perf_counter()
    print(f"{args.path}: {len(ids)} vertices, {len(src)} edge lines; load {loaded - started:.3f} s, "
          f"pagerank {done - loaded:.3f} s ({iterations} iterations), total {done - started:.3f} s")


if __name__ == "__main__":
    main()
