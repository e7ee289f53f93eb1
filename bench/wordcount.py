"""Word count benchmark: minibig at 1 and 2 workers against plain Python.

Prints, from one run (the machine is shared and noisy: compare the ratios,
not lone times):

- the best single-process plain-Python word count (collections.Counter over
  str.split, reading the file line by line or in 8 MB blocks; the faster);
- minibig's RDD word count (jobs/wordcount.py's pipeline) with 1 and 2
  workers, each on a fresh embedded cluster, timing the job only;
- on the 2-worker cluster, the MRJob word count (jobs/mr_word_freq.py, run
  with make_runner) against the same RDD pipeline collected to the driver
  (the MRJob's output comes back to the driver too), and their ratio (no
  way of writing either job is recognised: both run the general per-record
  path, and `bench/wordcount_ways.py` compares the ways of writing it);
- the ratios between them, and the end-to-end time of a tiny job (start an
  embedded 2-worker cluster, count 10 items, stop), in-process and as a whole
  `python -c` run.

Each measurement is repeated (`--repeat`, interleaved) and the minimum kept.
Results go to bench/results/wordcount.json.

    python datasets/make_big_corpus.py --size-mb 256
    python bench/wordcount.py datasets/big/corpus.txt
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "jobs"))

from mr_word_freq import MRWordFreqCount  # noqa: E402
from wordcount import word_counts  # noqa: E402

from minibig import Context  # noqa: E402


def plain_lines(path: str) -> int:
    counts = collections.Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            counts.update(line.split())
    return len(counts)


def plain_blocks(path: str) -> int:
    counts = collections.Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        while True:
            block = f.read(8 << 20)
            if not block:
                break
            block += f.readline()
            counts.update(block.split())
    return len(counts)


def minibig_job(path: str, workers: int) -> tuple[dict, int]:
    """Seconds of the RDD word count (and, with 2 workers, of the MRJob one) on a fresh cluster."""
    with Context(workers=workers, appName="bench-wordcount") as sc:
        seconds = {}
        started = time.perf_counter()
        distinct = word_counts(sc, path).count()
        seconds[f"minibig_{workers}"] = time.perf_counter() - started
        if workers == 2:
            started = time.perf_counter()
            collected = dict(word_counts(sc, path).collect())
            seconds["rdd_collect_2"] = time.perf_counter() - started
            job = MRWordFreqCount(args=[path, "--master", sc.master, "-q"])
            with job.make_runner() as runner:
                started = time.perf_counter()
                runner.run()
                seconds["mrjob_2"] = time.perf_counter() - started
                assert dict(job.parse_output(runner.cat_output())) == collected
        return seconds, distinct


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def tiny_job_in_process() -> float:
    started = time.perf_counter()
    with Context(workers=2) as sc:
        assert sc.parallelize(range(10)).count() == 10
    return time.perf_counter() - started


def tiny_job_whole_process() -> float:
    code = ("from minibig import Context\n"
            "with Context(workers=2) as sc:\n"
            "    assert sc.parallelize(range(10)).count() == 10\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=os.path.join(HERE, "..", "datasets", "big", "corpus.txt"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "wordcount.json"))
    args = parser.parse_args()
    if not os.path.exists(args.corpus):
        sys.exit(f"{args.corpus} is missing: build it with python datasets/make_big_corpus.py --size-mb 256")
    size_mb = os.path.getsize(args.corpus) / 1e6
    best: dict[str, float] = collections.defaultdict(lambda: float("inf"))
    answers = {}
    for round_ in range(args.repeat):
        for name, fn in (("plain_lines", plain_lines), ("plain_blocks", plain_blocks)):
            seconds, answers[name] = timed(fn, args.corpus)
            best[name] = min(best[name], seconds)
        for workers in (1, 2):
            seconds, answers[f"minibig_{workers}"] = minibig_job(args.corpus, workers)
            for name, value in seconds.items():
                best[name] = min(best[name], value)
        best["tiny_in_process"] = min(best["tiny_in_process"], tiny_job_in_process())
        best["tiny_whole_process"] = min(best["tiny_whole_process"], tiny_job_whole_process())
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in best.items()),
              file=sys.stderr)
    assert len(set(answers.values())) == 1, f"distinct word counts disagree: {answers}"
    plain = min(best["plain_lines"], best["plain_blocks"])
    result = {
        "corpus_mb": round(size_mb, 1), "cores": os.cpu_count(), "repeat": args.repeat,
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "plain_mb_per_s": round(size_mb / plain, 1),
        "speedup_2_over_1_workers": round(best["minibig_1"] / best["minibig_2"], 2),
        "speedup_2_workers_over_plain": round(plain / best["minibig_2"], 2),
        "speedup_1_worker_over_plain": round(plain / best["minibig_1"], 2),
        "mrjob_over_rdd_2_workers": round(best["mrjob_2"] / best["rdd_collect_2"], 2),
    }
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
