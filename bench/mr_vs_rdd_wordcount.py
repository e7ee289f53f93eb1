"""MRJob word count against the RDD word count, on the same data and workers.

Both run on one fresh `Context(workers=2)` (or --workers N), each --repeat
times (default 2), interleaved; the minimum of each is kept and the ratio
printed. The RDD word count is

    sc.textFile(p).flatMap(lambda l: l.split()).map(lambda w: (w, 1))
      .reduceByKey(operator.add).collect()

and the MRJob is jobs/mr_word_freq.py's MRWordFreqCount (mapper, combiner,
reducer) run with `make_runner()` and `--master` set to the same cluster.
Its time is `runner.run()`: the job from its input to its output lines on the
driver (what `collect()` is for the RDD). Turning those lines back into
Python pairs (`job.parse_output`) is timed separately and shown too, as is
the CPU time the workers spent (less noisy than wall time on a shared
machine). Both answers are checked to agree.

    head -c 67108864 datasets/big/corpus.txt > /tmp/c64.txt
    python bench/mr_vs_rdd_wordcount.py /tmp/c64.txt

The machine is shared and noisy: compare the ratios, not lone times.
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


def workers_cpu(sc) -> float:
    """CPU seconds used so far by the embedded cluster's workers (0 if unknown)."""
    try:
        import psutil
        return sum(sum(psutil.Process(w.pid).cpu_times()[:2]) for w in sc._cluster.workers)
    except Exception:
        return 0.0


def rdd_wordcount(sc, path: str) -> dict:
    started, cpu = time.perf_counter(), workers_cpu(sc)
    counts = (sc.textFile(path).flatMap(lambda line: line.split())
                .map(lambda word: (word, 1)).reduceByKey(operator.add).collect())
    return {"seconds": time.perf_counter() - started, "cpu": workers_cpu(sc) - cpu,
            "answer": dict(counts)}


def mr_wordcount(sc, path: str) -> dict:
    job = MRWordFreqCount(args=[path, "--master", sc.master, "-q"])
    with job.make_runner() as runner:
        started, cpu = time.perf_counter(), workers_cpu(sc)
        runner.run()
        seconds, cpu = time.perf_counter() - started, workers_cpu(sc) - cpu
        started = time.perf_counter()
        answer = dict(job.parse_output(runner.cat_output()))
        parse = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu, "parse": parse, "answer": answer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default="/tmp/c64.txt")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        sys.exit(f"{args.corpus} is missing: head -c 67108864 datasets/big/corpus.txt > {args.corpus}"
                 " (build the corpus with python datasets/make_big_corpus.py --size-mb 256)")
    best: dict[str, float] = {}
    answers = {}
    with Context(workers=args.workers, appName="bench-mr-vs-rdd") as sc:
        for round_ in range(args.repeat):
            for name, fn in (("rdd", rdd_wordcount), ("mrjob", mr_wordcount)):
                result = fn(sc, args.corpus)
                answers[name] = result.pop("answer")
                for key, value in result.items():
                    best[f"{name}_{key}"] = min(best.get(f"{name}_{key}", float("inf")), value)
                print(f"round {round_ + 1}: {name} " + ", ".join(
                    f"{k} {v:.2f}s" for k, v in result.items()), file=sys.stderr)
    assert answers["rdd"] == answers["mrjob"], "the two word counts disagree"
    result = {
        "corpus_mb": round(os.path.getsize(args.corpus) / 1e6, 1), "workers": args.workers,
        "repeat": args.repeat, "distinct_words": len(answers["rdd"]),
        "rdd_seconds": round(best["rdd_seconds"], 3),
        "mrjob_seconds": round(best["mrjob_seconds"], 3),
        "mrjob_over_rdd": round(best["mrjob_seconds"] / best["rdd_seconds"], 3),
        "mrjob_parse_output_seconds": round(best["mrjob_parse"], 3),
        "mrjob_with_parse_over_rdd": round((best["mrjob_seconds"] + best["mrjob_parse"])
                                           / best["rdd_seconds"], 3),
        "workers_cpu_seconds": {"rdd": round(best["rdd_cpu"], 2), "mrjob": round(best["mrjob_cpu"], 2)},
    }
    if best["rdd_cpu"] > 0:
        result["workers_cpu_mrjob_over_rdd"] = round(best["mrjob_cpu"] / best["rdd_cpu"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
