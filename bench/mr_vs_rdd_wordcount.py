"""MRJob word count against the RDD word count, on the same data and workers.

Both run on one fresh `Context(workers=2)` (or --workers N), each twice,
interleaved; the minimum of each is kept and their ratio printed. The MRJob
is jobs/mr_word_freq.py's MRWordFreqCount (mapper, combiner, reducer), run
through `make_runner()` with `--master` set to the same cluster; its output
is collected to the driver as the RDD's `collect()` is. Both answers are
checked to agree.

    head -c 67108864 datasets/big/corpus.txt > /tmp/c64.txt
    python bench/mr_vs_rdd_wordcount.py /tmp/c64.txt

The machine is shared and noisy: compare the ratio, not lone times.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "jobs"))

from mr_word_freq import MRWordFreqCount  # noqa: E402

from minibig import Context  # noqa: E402


def rdd_wordcount(sc, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    counts = (sc.textFile(path).flatMap(lambda line: line.split())
                .map(lambda word: (word, 1)).reduceByKey(operator.add).collect())
    return time.perf_counter() - started, dict(counts)


def mr_wordcount(sc, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    job = MRWordFreqCount(args=[path, "--master", sc.master])
    with job.make_runner() as runner:
        runner.run()
        counts = dict(job.parse_output(runner.cat_output()))
    return time.perf_counter() - started, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default="/tmp/c64.txt")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        sys.exit(f"{args.corpus} is missing: head -c 67108864 datasets/big/corpus.txt > {args.corpus}"
                 " (build the corpus with python datasets/make_big_corpus.py --size-mb 256)")
    best = {"rdd": float("inf"), "mrjob": float("inf")}
    with Context(workers=args.workers, appName="bench-mr-vs-rdd") as sc:
        answers = {}
        for round_ in range(args.repeat):
            for name, fn in (("rdd", rdd_wordcount), ("mrjob", mr_wordcount)):
                seconds, answers[name] = fn(sc, args.corpus)
                best[name] = min(best[name], seconds)
                print(f"round {round_ + 1}: {name} {seconds:.2f}s", file=sys.stderr)
        assert answers["rdd"] == answers["mrjob"], "the two word counts disagree"
    result = {"corpus_mb": round(os.path.getsize(args.corpus) / 1e6, 1), "workers": args.workers,
              "distinct_words": len(answers["rdd"]),
              "rdd_seconds": round(best["rdd"], 3), "mrjob_seconds": round(best["mrjob"], 3),
              "mrjob_over_rdd": round(best["mrjob"] / best["rdd"], 3)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
