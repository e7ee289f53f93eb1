"""TeraSort benchmark: minibig with 2 workers against one numpy process, files to files.

Generates SIZE bytes of TeraGen records (jobs/terasort.py, not timed), then
times, from one run each (the machine is shared: quote the ratio of one run):

- minibig: `terasort(sc, input, output)` — binaryRecords, keyBy the 10-byte
  key, sortByKey (a sampling job for the range bounds, then the shuffle),
  saveAsBinaryRecords — on an embedded cluster of `--workers` workers that is
  already started (its start-up is not timed);
- numpy, one process: read every input file into one (n, 100) uint8 array,
  view the keys as an `S10` array, `argsort` them (stable), gather the rows
  and write them to one file.

Both outputs are validated (sorted, same count and checksum as the input)
and the ratio minibig / numpy is printed. Results go to
bench/results/terasort.json.

    python bench/terasort.py 256m
    python bench/terasort.py 1g --dir /var/tmp/tera
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "jobs"))

from terasort import RECORD, KEY, parse_size, teragen, terasort, teravalidate  # noqa: E402

from minibig import Context  # noqa: E402
from minibig.rdd.textfile import expand_paths  # noqa: E402


def numpy_sort(inp: str, out: str) -> None:
    """Read, sort by key (numpy argsort of an S10 view) and write, in this one process."""
    files = expand_paths(inp)
    total = sum(os.path.getsize(f) for f in files)
    rows = np.empty((total // RECORD, RECORD), dtype=np.uint8)
    flat, at = rows.reshape(-1), 0
    for path in files:
        with open(path, "rb") as f:
            at += f.readinto(memoryview(flat[at:]))
    keys = np.ascontiguousarray(rows[:, :KEY]).view(f"S{KEY}").ravel()
    order = np.argsort(keys, kind="stable")
    os.makedirs(out)
    rows[order].tofile(os.path.join(out, "part-00000"))
    with open(os.path.join(out, "_SUCCESS"), "wb"):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", default="256m", help="bytes of records (e.g. 256m, 1g)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", help="where the data goes (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data afterwards")
    args = parser.parse_args()
    size = parse_size(args.size)
    root = args.dir or tempfile.mkdtemp(prefix="minibig-terasort-")
    os.makedirs(root, exist_ok=True)
    inp, out, out_np = (os.path.join(root, name) for name in ("input", "minibig", "numpy"))
    for path in (out, out_np):
        shutil.rmtree(path, ignore_errors=True)
    result = {"size_bytes": size, "records": size // RECORD, "workers": args.workers}
    try:
        with Context(workers=args.workers, appName="bench-terasort", progress=False) as sc:
            sc.addPyFile(os.path.join(HERE, "..", "jobs", "terasort.py"))   # workers import it too
            if not os.path.exists(os.path.join(inp, "_CHECKSUM")):
                shutil.rmtree(inp, ignore_errors=True)
                started = time.perf_counter()
                teragen(sc, size, inp)
                result["gen_seconds"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            terasort(sc, inp, out)
            result["minibig_seconds"] = round(time.perf_counter() - started, 2)
            result["minibig_valid"] = not teravalidate(sc, out)
            started = time.perf_counter()
            numpy_sort(inp, out_np)
            result["numpy_seconds"] = round(time.perf_counter() - started, 2)
            result["numpy_valid"] = not teravalidate(sc, out_np, inp)
        result["ratio"] = round(result["minibig_seconds"] / result["numpy_seconds"], 2)
    finally:
        if not args.keep:
            shutil.rmtree(root if not args.dir else out, ignore_errors=True)
            shutil.rmtree(out_np, ignore_errors=True)
    print(f"TeraSort of {size / 2**20:.0f} MiB ({result['records']} records), "
          f"{args.workers} workers, files to files (one run):")
    print(f"  minibig  {result['minibig_seconds']:8.2f} s   valid: {result['minibig_valid']}")
    print(f"  numpy    {result['numpy_seconds']:8.2f} s   valid: {result['numpy_valid']}  "
          "(one process: read, argsort of S10 keys, write)")
    print(f"  ratio minibig / numpy: {result['ratio']:.2f}x")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "terasort.json"), "w") as f:
        json.dump(result, f, indent=2)
    return 0 if result["minibig_valid"] and result["numpy_valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
