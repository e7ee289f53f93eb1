"""Benchmark: the numba shuffle kernels against the per-record Python they replace.

    python bench/kernels.py                # about 15 seconds on 2 cores
    python bench/kernels.py --cold         # also time compiling every kernel from scratch

Prints, from one run:
- hash-partitioning 10M int64 keys (`portable_hash(k) % n`) with the fused
  kernel, against the per-record loop `[portable_hash(k) % n for k in keys]`
  timed on 1M keys and scaled by 10 (the loop on 10M takes long and needs
  gigabytes of Python ints; per-key cost does not depend on the count);
- hashing 1M strings (real words from datasets/text) straight from an Arrow
  array's buffers, against `[portable_hash(w) for w in words]` over a list;
- for context: the stable counting sort of the 10M keys into partitions, and
  a word count (`aggregate(..., "count")`) against `collections.Counter`.
Kernel times exclude compiling: the kernels are warmed up first, and the
warm-up itself (loading machine code from the disk cache, or compiling when
the cache is cold) is reported separately, as is a compile from scratch in a
fresh process with an empty cache. Each timing is the best of --repeat runs,
both for the kernels and for the Python loops.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

import numpy as np
import pyarrow as pa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from minibig.shuffle.hashing import portable_hash  # noqa: E402

TEXT = os.path.join(ROOT, "datasets", "text")


def best_of(repeat: int, fn) -> float:
    """Smallest wall time of `repeat` calls of fn() (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def corpus_words(count: int) -> list[str]:
    """`count` words of the shipped novels, in reading order, cycling if needed."""
    words: list[str] = []
    for name in sorted(os.listdir(TEXT)):
        with open(os.path.join(TEXT, name), encoding="utf-8") as f:
            words.extend(f.read().split())
        if len(words) >= count:
            break
    while len(words) < count:
        words.extend(words[:count - len(words)])
    return words[:count]


COMPILE_SCRIPT = """
import time
t0 = time.perf_counter()
from minibig.shuffle import kernels as K
import numpy as np, pyarrow as pa
from minibig.shuffle import columnar as C
t1 = time.perf_counter()
{body}
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""
BENCH_KERNELS = ("C.partition_of(np.arange(3, dtype=np.int64), 2); "
                 "C.hash_keys(pa.array(['a'])); C.partition_batch(np.arange(3), 2)")


def compile_from_scratch(body: str) -> tuple[float, float]:
    """(import seconds, compile seconds) of `body` in a fresh process with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=ROOT)
        out = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT.format(body=body)], env=env,
                             capture_output=True, text=True, check=True)
    first, second = out.stdout.split()
    return float(first), float(second)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000_000, help="int64 keys to partition")
    parser.add_argument("--loop-keys", type=int, default=1_000_000, help="keys for the Python loop (scaled)")
    parser.add_argument("--strings", type=int, default=1_000_000, help="strings to hash")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also compile every kernel from scratch (slow)")
    args = parser.parse_args(argv)
    n, repeat = args.partitions, args.repeat

    start = time.perf_counter()
    from minibig.shuffle import columnar as C
    from minibig.shuffle import kernels as K
    imported = time.perf_counter()
    K.warm_up()
    warmed = time.perf_counter()
    misses = sum(sum(d.stats.cache_misses.values()) for d in vars(K).values() if hasattr(d, "stats"))
    how = "compiled (cache was cold)" if misses else "loaded from the disk cache"
    print(f"import kernels (numba): {imported - start:.2f} s; warm_up, every signature {how}: "
          f"{warmed - imported:.2f} s")
    imp, comp = compile_from_scratch(BENCH_KERNELS)
    print(f"compile from scratch (fresh process, empty cache) of the benchmarked kernels: {comp:.2f} s")
    if args.cold:
        imp, comp = compile_from_scratch("K.warm_up()")
        print(f"compile from scratch of every kernel (warm_up): {comp:.2f} s")

    rng = np.random.default_rng(0)
    keys = rng.integers(-2**63, 2**63 - 1, size=args.keys, dtype=np.int64)
    loop_keys = keys[:args.loop_keys].tolist()
    scale = args.keys / args.loop_keys
    print(f"\nhash-partition {args.keys:,} random int64 keys (one kernel call, fresh output array)")
    for parts in (n, n - 1 if n > 2 else 3):    # a power of two (a mask) and not (a division)
        assert C.partition_of(keys[:1000], parts).tolist() == [portable_hash(k) % parts for k in loop_keys[:1000]]
        kernel = best_of(repeat, lambda: C.partition_of(keys, parts))
        loop = best_of(repeat, lambda: [portable_hash(k) % parts for k in loop_keys]) * scale
        print(f"  n={parts:<3} kernel partition_of {kernel * 1e3:7.1f} ms ({kernel / args.keys * 1e9:4.1f} ns/key);"
              f" Python loop on {args.loop_keys:,} keys x{scale:g} {loop * 1e3:7.1f} ms"
              f" ({loop / args.keys * 1e9:.0f} ns/key): {loop / kernel:.0f}x  (target >= 50x)")
    out = np.empty(args.keys, dtype=np.int32)
    kernel = best_of(repeat, lambda: C.partition_of(keys, n - 1, out))
    print(f"  n={n - 1:<3} into a reused output buffer, as a writer would per batch: {kernel * 1e3:.1f} ms")
    sort = best_of(repeat, lambda: C.partition_batch(keys, n - 1))
    print(f"  n={n - 1:<3} partition_batch (ids + stable counting sort): {sort * 1e3:.1f} ms")

    words = corpus_words(args.strings)
    arr = pa.array(words, type=pa.string())
    assert C.hash_keys(arr[:1000]).tolist() == [portable_hash(w) for w in words[:1000]]
    kernel = best_of(repeat, lambda: C.hash_keys(arr))
    loop = best_of(repeat, lambda: [portable_hash(w) for w in words])
    mean_len = arr.buffers()[2].size / len(words) if len(words) else 0
    print(f"\nhash {len(words):,} strings (words of datasets/text, {mean_len:.1f} bytes on average)")
    print(f"  kernel hash_keys(Arrow array): {kernel * 1e3:9.1f} ms  ({kernel / len(words) * 1e9:.1f} ns/string)")
    print(f"  Python portable_hash per word: {loop * 1e3:9.1f} ms  ({loop / len(words) * 1e9:.1f} ns/string)")
    print(f"  speedup: {loop / kernel:.0f}x   (target >= 10x)")

    kernel = best_of(repeat, lambda: C.aggregate(arr, op="count"))
    loop = best_of(repeat, lambda: Counter(words))
    print(f"\nword count of the {len(words):,} words: kernel aggregate(count) {kernel * 1e3:.1f} ms, "
          f"collections.Counter {loop * 1e3:.1f} ms ({loop / kernel:.1f}x)")
    print(f"\n(best of {repeat} runs each; {os.cpu_count()} cores; numba {K.numba.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
