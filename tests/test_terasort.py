"""Fixed-length binary records and the TeraSort job (gen, sort, validate) on the 2-worker cluster."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from minibig.rdd.binary import plan_record_splits

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "jobs"))

import terasort  # noqa: E402


@pytest.fixture(scope="module")
def tsc(sc):
    """The session cluster, with jobs/terasort.py shipped to its workers."""
    sc.addPyFile(os.path.join(REPO, "jobs", "terasort.py"))
    return sc


def test_splits_hold_whole_records(tmp_path):
    path = tmp_path / "r.bin"
    path.write_bytes(bytes(range(7)) * 100)           # 100 records of 7 bytes
    splits = plan_record_splits([str(path)], 7, 6, 1 << 20)
    assert all((start % 7, end % 7) == (0, 0) for _, start, end in splits)
    assert [s[1] for s in splits[1:]] == [s[2] for s in splits[:-1]]
    assert splits[0][1] == 0 and splits[-1][2] == 700 and len(splits) >= 5


def test_a_file_of_partial_records_is_refused(tmp_path):
    (tmp_path / "bad.bin").write_bytes(b"x" * 10)
    with pytest.raises(ValueError, match="not a multiple of the record length 3"):
        plan_record_splits([str(tmp_path / "bad.bin")], 3, 2, 1 << 20)


def test_binary_records_round_trip_in_order(sc, tmp_path):
    records = [bytes([i % 256]) * 5 for i in range(1000)]
    out = str(tmp_path / "out")
    sc.parallelize(records, 3).saveAsBinaryRecords(out)
    assert sc.binaryRecords(out, 5, minPartitions=7).collect() == records
    assert sc.binaryRecords(out, 5).getNumPartitions() >= 2


def test_teragen_layout_matches_hadoop():
    rows = terasort.generate_rows(255, 3, seed=1)
    assert rows.shape == (3, 100)
    first = rows[0].tobytes()
    assert first[10:12] == b"\x00\x11" and first[44:48] == b"\x88\x99\xaa\xbb"
    assert first[96:100] == b"\xcc\xdd\xee\xff"
    assert first[12:44] == b"%032X" % 255 and rows[2].tobytes()[12:44] == b"%032X" % 257
    filler = first[48:96]
    assert all(filler[i:i + 4] == filler[i:i + 1] * 4 for i in range(0, 48, 4))
    assert (terasort.generate_rows(255, 3, seed=1) == rows).all()


def test_gen_sort_validate(tsc, tmp_path):
    inp, out = str(tmp_path / "in"), str(tmp_path / "out")
    summary = terasort.teragen(tsc, 2_000_000, inp)
    assert summary["records"] == 20_000
    with open(os.path.join(inp, terasort.CHECKSUM_FILE)) as f:
        assert json.load(f) == summary
    terasort.terasort(tsc, inp, out, partitions=3)
    assert terasort.teravalidate(tsc, out) == []
    data = b"".join(open(os.path.join(out, f), "rb").read()
                    for f in sorted(os.listdir(out)) if f.startswith("part-"))
    keys = [data[i:i + 10] for i in range(0, len(data), 100)]
    assert keys == sorted(keys) and len(keys) == 20_000


def test_validate_finds_disorder_and_lost_records(tsc, tmp_path):
    inp, out = str(tmp_path / "in"), str(tmp_path / "out")
    terasort.teragen(tsc, 500_000, inp)
    terasort.terasort(tsc, inp, out, partitions=2)
    part = os.path.join(out, "part-00000")
    rows = np.fromfile(part, dtype=np.uint8).reshape(-1, 100)
    rows[[0, 1]] = rows[[1, 0]]                       # two records swapped
    rows.tofile(part)
    problems = terasort.teravalidate(tsc, out)
    assert problems == [f"{part} is not sorted"]
    rows[1:].tofile(part)                             # and one lost
    problems = terasort.teravalidate(tsc, out)
    assert any(p.startswith("records: 4999 in the output, 5000") for p in problems)
    assert any(p.startswith("checksum") for p in problems)
