"""Every way of writing word count, against a hand-written multiprocessing.Pool(2).

On one fresh `Context(workers=N)` (default 2), each way runs the whole job
including collecting every count to the driver as a dict:

    pairs_add      flatMap(split).map(lambda w: (w, 1)).reduceByKey(add)
    pairs_lambda   flatMap(split).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
    pairs_lower    flatMap(split).map(lambda w: (w.lower(), 1)).reduceByKey(add)
    count_by_value flatMap(split).countByValue()
    partition_counter  flatMap(split).mapPartitions(lambda it: Counter(it).items()).reduceByKey(add)
    mrjob          jobs/mr_word_freq.py (mapper yields `word, 1`), output parsed to a dict

and the baseline `pool`: a `multiprocessing.Pool(N)` whose processes each
count one byte range of the file each with `Counter.update(line.split())`, the
driver merging the Counters (the pool's start-up included). Each is run
`--repeat` times, interleaved, and the minimum kept; all answers are checked
to agree. Prints each way's seconds and its ratio to the pool and to the
fastest minibig way. The machine is shared and noisy: compare ratios from
one run, not lone times.

    python datasets/make_vocab_corpus.py            # datasets/big/vocab.txt, 1.05M distinct words
    python bench/wordcount_ways.py datasets/big/vocab.txt
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import operator
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "jobs"))

from mr_word_freq import MRWordFreqCount  # noqa: E402

from minibig import Context  # noqa: E402


def _count_range(job: tuple[str, int, int]) -> collections.Counter:
    """Counter of the words of the lines starting in [start, end) of the file."""
    path, start, end = job
    counts: collections.Counter = collections.Counter()
    with open(path, "rb") as f:
        if start:
            f.seek(start - 1)
            f.readline()                          # the line under way belongs to the previous range
        while f.tell() < end:
            line = f.readline()
            if not line:
                break
            counts.update(line.decode("utf-8", "replace").split())
    return counts


def pool_wordcount(path: str, processes: int) -> dict:
    """The hand-written baseline: a Counter per byte range in a Pool, merged in the driver."""
    size = os.path.getsize(path)
    pieces = processes
    ranges = [(path, size * i // pieces, size * (i + 1) // pieces) for i in range(pieces)]
    with multiprocessing.Pool(processes) as pool:
        parts = pool.map(_count_range, ranges)
    total, get = parts[0], parts[0].get
    for part in parts[1:]:
        for word, count in part.items():
            total[word] = get(word, 0) + count
    return dict(total)


def words(sc, path):
    return sc.textFile(path).flatMap(lambda line: line.split())


def pairs_add(sc, path):
    return dict(words(sc, path).map(lambda w: (w, 1)).reduceByKey(operator.add).collect())


def pairs_lambda(sc, path):
    return dict(words(sc, path).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).collect())


def pairs_lower(sc, path):
    return dict(words(sc, path).map(lambda w: (w.lower(), 1)).reduceByKey(operator.add).collect())


def count_by_value(sc, path):
    return dict(words(sc, path).countByValue())


def partition_counter(sc, path):
    return dict(words(sc, path).mapPartitions(lambda it: collections.Counter(it).items())
                .reduceByKey(operator.add).collect())


def mrjob(sc, path):
    job = MRWordFreqCount(args=[path, "--master", sc.master, "-q"])
    with job.make_runner() as runner:
        runner.run()
        return dict(job.parse_output(runner.cat_output()))


WAYS = {"pairs_add": pairs_add, "pairs_lambda": pairs_lambda, "pairs_lower": pairs_lower,
        "count_by_value": count_by_value, "partition_counter": partition_counter, "mrjob": mrjob}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=os.path.join(HERE, "..", "datasets", "big", "vocab.txt"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--ways", default=",".join(WAYS), help="comma-separated subset of " + ",".join(WAYS))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "wordcount_ways.json"))
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        sys.exit(f"{args.corpus} is missing: build it with python datasets/make_vocab_corpus.py")
    chosen = [w for w in args.ways.split(",") if w]
    best: dict[str, float] = collections.defaultdict(lambda: float("inf"))
    answer = None
    with Context(workers=args.workers, appName="bench-wordcount-ways") as sc:
        for round_ in range(args.repeat):
            started = time.perf_counter()
            answer = pool_wordcount(args.corpus, args.workers)
            best["pool"] = min(best["pool"], time.perf_counter() - started)
            for name in chosen:
                started = time.perf_counter()
                got = WAYS[name](sc, args.corpus)
                best[name] = min(best[name], time.perf_counter() - started)
                assert got == answer, f"{name} disagrees with the Pool baseline"
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in best.items()),
                  file=sys.stderr)
    fastest = min(best[n] for n in chosen) if chosen else float("nan")
    print(f"{'way':<18} {'seconds':>8} {'/pool':>7} {'/fastest':>9}")
    for name, seconds in best.items():
        print(f"{name:<18} {seconds:8.2f} {seconds / best['pool']:7.2f} {seconds / fastest:9.2f}")
    result = {"corpus_mb": round(os.path.getsize(args.corpus) / 1e6, 1), "workers": args.workers,
              "distinct_words": len(answer), "repeat": args.repeat,
              "seconds": {k: round(v, 3) for k, v in best.items()},
              "over_pool": {k: round(v / best["pool"], 2) for k, v in best.items()}}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
