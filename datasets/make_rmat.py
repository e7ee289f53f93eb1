"""Write an R-MAT graph (Graph500's generator parameters) as a `src dst` edge file.

    python datasets/make_rmat.py --scale 20 --edgefactor 16 --out datasets/big/rmat20.txt

2**scale vertices, edgefactor * 2**scale edges (before duplicates collapse).
Each edge picks one quadrant of the adjacency matrix per bit of the ids with
probabilities a=0.57, b=0.19, c=0.19, d=0.05 (Graph500's), all edges at once
per bit with numpy; then, as Graph500 does, vertex ids are permuted so that
the high-degree vertices are not all small numbers, and the edge order is
shuffled. Same seed, same file. Self-loops and duplicates are kept in the
file (a loader collapses duplicates).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pyarrow as pa
from pyarrow import csv

A, B, C = 0.57, 0.19, 0.19


def rmat_edges(scale: int, edgefactor: int = 16, seed: int = 1, a: float = A, b: float = B, c: float = C,
               chunk: int = 1 << 22):
    """(src, dst) int64 arrays of an R-MAT graph, ids permuted, edges shuffled."""
    rng = np.random.default_rng(seed)
    m = edgefactor << scale
    src = np.zeros(m, np.int64)
    dst = np.zeros(m, np.int64)
    for start in range(0, m, chunk):                 # chunks bound the temporary arrays
        stop = min(m, start + chunk)
        s = src[start:stop]
        d = dst[start:stop]
        for bit in range(scale):
            r = rng.random(stop - start)
            down = r >= a + b                        # quadrants c and d: source bit set
            right = ((r >= a) & (r < a + b)) | (r >= a + b + c)   # quadrants b and d: destination bit set
            s |= down.astype(np.int64) << bit
            d |= right.astype(np.int64) << bit
    permutation = rng.permutation(1 << scale)
    order = rng.permutation(m)
    return permutation[src[order]], permutation[dst[order]]


def write_edges(path: str, src: np.ndarray, dst: np.ndarray, header: str) -> None:
    """`src dst` lines through pyarrow's CSV writer (a Python loop would take minutes)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(header.encode())
        csv.write_csv(pa.table({"src": src, "dst": dst}), f,
                      csv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20, help="log2 of the number of vertices (default 20)")
    parser.add_argument("--edgefactor", type=int, default=16, help="edges per vertex (default 16)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="default datasets/big/rmat<scale>.txt")
    args = parser.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "big", f"rmat{args.scale}.txt")
    started = time.perf_counter()
    src, dst = rmat_edges(args.scale, args.edgefactor, args.seed)
    header = (f"# R-MAT scale {args.scale}, edgefactor {args.edgefactor}, seed {args.seed}, "
              f"a={A} b={B} c={C} (Graph500); DIRECTED; {len(src)} lines, duplicates not removed\n")
    write_edges(out, src, dst, header)
    print(f"{out}: {len(src)} edges over {1 << args.scale} vertex ids in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
