"""What CurveZMQ costs: word count on a keyed embedded cluster vs an --insecure one, in one run.

Every cluster is keyed by default (README, Security): all traffic between
driver, master and workers is encrypted and authenticated. This measures the
price on jobs/wordcount.py's pipeline, 2 workers, each mode on its own fresh
embedded cluster, interleaved `--repeat` times (minimum kept: the machine is
shared and noisy), in two settings:

- default: same-host reduce tasks read shuffle blocks from disk, so only
  task payloads, results and control messages cross sockets;
- `shuffle_local_read=False`: every shuffle block crosses a (keyed or not)
  block-server socket, as between hosts: the worst case for encryption.

    python datasets/make_big_corpus.py --size-mb 256
    python bench/security.py datasets/big/corpus.txt
    python bench/security.py datasets/text/*.txt          # a quick look

Results go to bench/results/security.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "jobs"))

from wordcount import word_counts  # noqa: E402

from minibig import Context  # noqa: E402


def run_once(path: str, insecure: bool, local_read: bool, workers: int) -> float:
    """Seconds for one word count (job only, cluster start excluded)."""
    if insecure:
        os.environ["MINIBIG_INSECURE"] = "1"
    else:
        os.environ.pop("MINIBIG_INSECURE", None)
    with Context(workers=workers, progress=False, appName="bench-security",
                 shuffle_local_read=local_read) as sc:
        started = time.perf_counter()
        words = word_counts(sc, path).count()
        seconds = time.perf_counter() - started
    assert words > 0
    return seconds


def main() -> None:
    """Parse the arguments, measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="text files (or globs) to count the words of")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files = sorted({f for p in args.paths for f in glob.glob(p)})
    path = ",".join(files)
    size = sum(os.path.getsize(f) for f in files)
    results = {"input_bytes": size, "workers": args.workers, "settings": {}}
    for local_read in (True, False):
        best = {"keyed": float("inf"), "insecure": float("inf")}
        for _ in range(args.repeat):
            for mode in best:                       # interleaved: noise hits both alike
                best[mode] = min(best[mode], run_once(path, mode == "insecure", local_read,
                                                      args.workers))
        name = "local shuffle reads" if local_read else "every block over a socket"
        ratio = best["keyed"] / best["insecure"]
        results["settings"][name] = {**best, "keyed/insecure": round(ratio, 3)}
        print(f"{name:28} keyed {best['keyed']:.2f}s  insecure {best['insecure']:.2f}s  "
              f"ratio {ratio:.2f}  ({size / 1e6:.0f} MB, {args.workers} workers)")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "security.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
