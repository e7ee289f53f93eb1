"""Group-by aggregation over numeric keys: reduceByKey(add) with few and with many keys.

    sc.range(N).map(lambda x: (x % K, x)).reduceByKey(add)

timed on an embedded cluster of `--workers` workers (started before the
clock starts), for each K of `--keys`, against one plain-Python process
folding the same pairs into a dict. The answer is checked against
arithmetic (the sum of x = k mod K over [0, N)). From one run each (the
machine is shared: compare ratios). Results go to bench/results/groupby.json.

    python bench/groupby.py                       # N = 10M, K = 100 and 1M
    python bench/groupby.py --n 2000000 --keys 1000
    MINIBIG_SHUFFLE_COLUMNAR=0 python bench/groupby.py --label row-path

`--compare` runs each K twice, interleaved, on two clusters: one with the
columnar shuffle path and one without (MINIBIG_SHUFFLE_COLUMNAR=0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from operator import add

from minibig import Context

HERE = os.path.dirname(os.path.abspath(__file__))


def expected_sum(k: int, n: int, keys: int) -> int:
    """Sum of the x in [0, n) with x % keys == k."""
    count = (n - k + keys - 1) // keys if k < n else 0
    return count * k + keys * count * (count - 1) // 2


def minibig_groupby(sc, n: int, keys: int) -> tuple[float, bool]:
    """Seconds of the aggregation (the result stays on the workers), and whether it is right."""
    started = time.perf_counter()
    sums = sc.range(n).map(lambda x: (x % keys, x)).reduceByKey(add)
    count, wrong = sums.map(lambda kv: (1, int(kv[1] != expected_sum(kv[0], n, keys)))).fold(
        (0, 0), lambda a, b: (a[0] + b[0], a[1] + b[1]))         # one job, checked on the workers
    seconds = time.perf_counter() - started
    return seconds, wrong == 0 and count == min(n, keys)


def python_groupby(n: int, keys: int) -> float:
    """Seconds for one process to fold the same pairs into a dict."""
    started = time.perf_counter()
    sums: dict = {}
    get = sums.get
    for key, value in map(lambda x: (x % keys, x), range(n)):
        sums[key] = get(key, 0) + value
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="records (default 10M)")
    parser.add_argument("--keys", default="100,1000000", help="comma-separated key counts K")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    parser.add_argument("--compare", action="store_true",
                        help="also time the row path (MINIBIG_SHUFFLE_COLUMNAR=0), interleaved")
    args = parser.parse_args()
    paths = {"": None} if not args.compare else {"columnar": None, "row": "0"}
    contexts = {}
    try:
        for path, switch in paths.items():
            saved = os.environ.get("MINIBIG_SHUFFLE_COLUMNAR")
            if switch is not None:
                os.environ["MINIBIG_SHUFFLE_COLUMNAR"] = switch     # the workers inherit it
            try:
                contexts[path] = Context(workers=args.workers, appName="bench-groupby",
                                         progress=False)
            finally:
                if switch is not None:
                    if saved is None:
                        os.environ.pop("MINIBIG_SHUFFLE_COLUMNAR")
                    else:
                        os.environ["MINIBIG_SHUFFLE_COLUMNAR"] = saved
        for sc in contexts.values():                                 # warm up
            sc.range(200_000).map(lambda x: (x % 100_000, x)).reduceByKey(add).count()
        rows = []
        for keys in (int(k) for k in args.keys.split(",")):
            for path, sc in contexts.items():
                seconds, right = minibig_groupby(sc, args.n, keys)
                rows.append({"n": args.n, "keys": keys, "workers": args.workers, "path": path,
                             "minibig_seconds": round(seconds, 2), "right": right})
    finally:
        for sc in contexts.values():
            sc.stop()
    python_seconds = {}
    for row in rows:
        if row["keys"] not in python_seconds:
            python_seconds[row["keys"]] = round(python_groupby(row["n"], row["keys"]), 2)
        row["python_seconds"] = python_seconds[row["keys"]]
        row["speedup_vs_python"] = round(row["python_seconds"] / row["minibig_seconds"], 2)
    print(f"reduceByKey(add) over sc.range(N).map(lambda x: (x % K, x)), "
          f"{args.workers} workers, one run each {args.label}")
    print(f"{'N':>11} {'K':>9} {'path':>9} {'minibig s':>10} {'python s':>9} {'speedup':>8}  right")
    for row in rows:
        print(f"{row['n']:>11} {row['keys']:>9} {row['path'] or 'default':>9} "
              f"{row['minibig_seconds']:>10.2f} {row['python_seconds']:>9.2f} "
              f"{row['speedup_vs_python']:>8.2f}  {row['right']}")
    path = os.path.join(HERE, "results", "groupby.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    results = json.load(open(path)) if os.path.exists(path) else {}
    results[args.label or "latest"] = rows
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    return 0 if all(row["right"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
