"""TeraSort: generate, sort and validate 100-byte records — the classic big-data sort.

Shows a total sort across partitions: `sortByKey` first samples the keys to
choose range boundaries (a range partitioner), the shuffle sends each record
to its range, each reducer sorts its range, and the part files read in order
are in total order. Records are read as fixed-length binary records
(`sc.binaryRecords(path, 100)`), not lines, and written back the same way.

The record layout is the one of Hadoop's TeraGen (GenSort), byte by byte:

    bytes  0-9    key: 10 random bytes (the high 10 bytes of a 128-bit random number)
    bytes 10-11   0x00 0x11
    bytes 12-43   the row number, 32 upper-case hex digits (ASCII)
    bytes 44-47   0x88 0x99 0xAA 0xBB
    bytes 48-95   filler: 12 groups of 4 equal ASCII hex digits, digits 20..31
                  of the same 128-bit random number (its low 48 bits)
    bytes 96-99   0xCC 0xDD 0xEE 0xFF

The random numbers come from numpy's PCG64 seeded with (seed, first row of
the part), not Hadoop's Random16, so the keys differ from Hadoop's while the
format is the same; a given seed and size always give the same data.
The checksum, as TeraValidate's, is the sum of the CRC-32 of every record:
it does not depend on the order, so the sorted output must have the input's.

    python jobs/terasort.py gen 256m /tmp/tera-in      # 2,684,354 records
    python jobs/terasort.py sort /tmp/tera-in /tmp/tera-out
    python jobs/terasort.py validate /tmp/tera-out
    minibig submit --workers 2 jobs/terasort.py sort /tmp/tera-in /tmp/tera-out2
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from minibig import Context

RECORD, KEY = 100, 10
ROWS_PER_BLOCK = 100_000          # 10 MB generated at a time
GEN_PART = 64 << 20               # bytes per generated part file
HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
CHECKSUM_FILE = "_CHECKSUM"
SOURCE_FILE = "_SORTED_FROM"


def parse_size(text: str) -> int:
    """'1g', '256m', '100k' or a number of bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def generate_rows(first_row: int, count: int, seed: int = 0) -> np.ndarray:
    """`count` TeraGen records from row `first_row` on, as a (count, 100) uint8 array."""
    rng = np.random.Generator(np.random.PCG64([seed, first_row]))
    rand = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)      # a 128-bit number per row
    rows = np.empty((count, RECORD), dtype=np.uint8)
    rows[:, 0:10] = rand[:, 0:10]
    rows[:, 10:12] = (0x00, 0x11)
    row_ids = np.arange(first_row, first_row + count, dtype=np.uint64)
    rows[:, 12:28] = ord("0")                                          # row ids < 2**64
    for j in range(16):
        rows[:, 28 + j] = HEX[((row_ids >> np.uint64(4 * (15 - j))) & np.uint64(15)).astype(np.intp)]
    rows[:, 44:48] = (0x88, 0x99, 0xAA, 0xBB)
    for i in range(12):
        digit = 20 + i                                                 # hex digit of the 128 bits
        nibble = rand[:, digit // 2] >> 4 if digit % 2 == 0 else rand[:, digit // 2] & 15
        rows[:, 48 + 4 * i:52 + 4 * i] = HEX[nibble.astype(np.intp)][:, None]
    rows[:, 96:100] = (0xCC, 0xDD, 0xEE, 0xFF)
    return rows


def record_checksums(rows: np.ndarray) -> np.ndarray:
    """CRC-32 of each record of a (n, 100) uint8 array (the shuffle kernels' CRC)."""
    from minibig.shuffle.kernels import hash_binary
    n = len(rows)
    offsets = np.arange(0, (n + 1) * RECORD, RECORD, dtype=np.int64)
    return hash_binary(offsets, np.ascontiguousarray(rows).reshape(-1), np.zeros(0, np.uint8), 0)


def teragen(sc, size: int, out: str, seed: int = 0) -> dict:
    """Write size // 100 records under `out` (one part file per 64 MB); return count and checksum."""
    total = size // RECORD
    per_part = max(1, GEN_PART // RECORD)
    parts = [(start, min(per_part, total - start)) for start in range(0, total, per_part)]
    count, checksum = sc.accumulator(0), sc.accumulator(0)

    def blocks(part):
        first, rows_left = part
        while rows_left > 0:
            n = min(ROWS_PER_BLOCK, rows_left)
            rows = generate_rows(first, n, seed)
            count.add(n)
            checksum.add(int(record_checksums(rows).sum()))
            yield rows.tobytes()               # a block of whole records
            first, rows_left = first + n, rows_left - n
    sc.parallelize(parts, max(1, len(parts))).flatMap(blocks).saveAsBinaryRecords(out)
    summary = {"records": count.value, "checksum": checksum.value}
    with open(os.path.join(out, CHECKSUM_FILE), "w") as f:
        json.dump(summary, f)
    return summary


def terasort(sc, inp: str, out: str, partitions: int | None = None) -> None:
    """Sort the records of `inp` by their 10-byte keys into part files under `out`."""
    (sc.binaryRecords(inp, RECORD)
       .keyBy(lambda record: record[:KEY])
       .sortByKey(True, partitions)
       .values()
       .saveAsBinaryRecords(out))
    with open(os.path.join(out, SOURCE_FILE), "w") as f:
        json.dump({"input": os.path.abspath(inp)}, f)


def _scan_file(path: str, check_order: bool) -> dict:
    """Count, checksum, first and last key of one part file, and whether it is sorted."""
    count, checksum, first, last, in_order = 0, 0, None, None, True
    with open(path, "rb") as f:
        while True:
            data = f.read(ROWS_PER_BLOCK * RECORD)
            if not data:
                break
            if len(data) % RECORD:
                raise ValueError(f"{path}: not a whole number of {RECORD}-byte records")
            rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
            count += len(rows)
            checksum += int(record_checksums(rows).sum())
            if check_order:
                # A 10-byte key compares as (8-byte big-endian int, 2-byte big-endian int).
                high = rows[:, :8].copy().view(">u8").ravel()
                low = rows[:, 8:10].copy().view(">u2").ravel()
                later = (high[1:] > high[:-1]) | ((high[1:] == high[:-1]) & (low[1:] >= low[:-1]))
                in_order = in_order and bool(later.all()) and (last is None or last <= data[:KEY])
            first = data[:KEY] if first is None else first
            last = data[-RECORD:-RECORD + KEY]
    return {"path": path, "records": count, "checksum": checksum, "first": first, "last": last,
            "sorted": in_order}


def summarize(sc, path: str, check_order: bool) -> list[dict]:
    """_scan_file of every part file under `path`, in file order, one task each."""
    from minibig.rdd.textfile import expand_paths
    files = expand_paths(path)
    return sc.parallelize(files, max(1, len(files))).map(
        lambda f: _scan_file(f, check_order)).collect()


def teravalidate(sc, out: str, inp: str | None = None) -> list[str]:
    """The problems of a sorted output (an empty list: valid), as TeraValidate checks them."""
    parts = summarize(sc, out, True)
    problems = [f"{p['path']} is not sorted" for p in parts if not p["sorted"]]
    filled = [p for p in parts if p["records"]]
    for a, b in zip(filled, filled[1:]):
        if a["last"] > b["first"]:
            problems.append(f"{a['path']} ends after {b['path']} starts")
    got = {"records": sum(p["records"] for p in parts), "checksum": sum(p["checksum"] for p in parts)}
    source = os.path.join(out, SOURCE_FILE)
    if inp is None and os.path.exists(source):
        with open(source) as f:
            inp = json.load(f)["input"]
    if inp is None:
        problems.append(f"no input to compare with (give it, or sort with this job: {SOURCE_FILE})")
        return problems
    expected_file = os.path.join(inp, CHECKSUM_FILE)
    if os.path.exists(expected_file):
        with open(expected_file) as f:
            expected = json.load(f)
    else:
        scanned = summarize(sc, inp, False)
        expected = {"records": sum(p["records"] for p in scanned),
                    "checksum": sum(p["checksum"] for p in scanned)}
    print(f"output: {got['records']} records, checksum {got['checksum']:x}; "
          f"input: {expected['records']} records, checksum {expected['checksum']:x}",
          file=sys.stderr)
    for what in ("records", "checksum"):
        if got[what] != expected[what]:
            problems.append(f"{what}: {got[what]} in the output, {expected[what]} in the input")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("gen", help="generate SIZE bytes of records under OUT")
    gen.add_argument("size", help="e.g. 1g, 256m, 1000000 (bytes; 100 per record)")
    gen.add_argument("out")
    gen.add_argument("--seed", type=int, default=0)
    srt = sub.add_parser("sort", help="sort the records under IN into OUT")
    srt.add_argument("input")
    srt.add_argument("out")
    srt.add_argument("--partitions", type=int, help="reduce partitions (default: input splits)")
    val = sub.add_parser("validate", help="check that OUT is sorted and holds IN's records")
    val.add_argument("out")
    val.add_argument("input", nargs="?", help="default: the input `sort` recorded in OUT")
    args = parser.parse_args(argv)
    with Context(appName=f"terasort-{args.command}") as sc:
        if args.command == "gen":
            summary = teragen(sc, parse_size(args.size), args.out, args.seed)
            print(f"{summary['records']} records, checksum {summary['checksum']:x}")
        elif args.command == "sort":
            terasort(sc, args.input, args.out, args.partitions)
        else:
            problems = teravalidate(sc, args.out, args.input)
            for problem in problems:
                print(problem)
            print("valid" if not problems else "INVALID")
            return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
