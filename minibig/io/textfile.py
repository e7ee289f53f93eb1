"""textFile: files cut into byte-range splits at line boundaries.

A split [start, end) of a plain file owns every line whose first byte lies
in it: a split that does not start at 0 skips the rest of the line it starts
in (the previous split reads it to its end), and the last line of a split may
run past `end`. Lines end at "\n", and a "\r" before it is stripped, as
Hadoop's LineRecordReader does for "\r\n". Compressed files (.gz, .bz2, .xz) cannot be
cut and become one split each. Split size follows Hadoop's rule:
max(1, min(total / minPartitions, block size)).
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os

from minibig.errors import InputPathError
from minibig.rdd import RDD

CHUNK = 4 << 20
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def expand_paths(path: str) -> list[str]:
    """Files named by a path, a directory, a glob, or a comma-separated list of them."""
    files: list[str] = []
    for part in str(path).split(","):
        part = os.path.expanduser(part.strip())
        matches = sorted(glob.glob(part)) if glob.has_magic(part) else [part]
        found = []
        for match in matches:
            if os.path.isdir(match):
                found.extend(os.path.join(match, f) for f in sorted(os.listdir(match))
                             if not f.startswith((".", "_"))
                             and os.path.isfile(os.path.join(match, f)))
            elif os.path.isfile(match):
                found.append(match)
        if not found and not (matches and all(os.path.isdir(m) for m in matches)):
            raise InputPathError(f"input path does not exist: {part}")
        files.extend(found)
    return files


def plan_splits(files: list[str], min_partitions: int, block_size: int) -> list[tuple]:
    """(path, start, end) splits; end is None for a whole compressed file."""
    sizes = {f: os.path.getsize(f) for f in files}
    plain = [f for f in files if os.path.splitext(f)[1] not in _OPENERS]
    total = sum(sizes[f] for f in plain)
    split_size = max(1, min(total // max(1, min_partitions) or 1, block_size))
    splits = []
    for f in files:
        if f not in plain:
            splits.append((f, 0, None))
            continue
        size, start = sizes[f], 0
        if size == 0:
            splits.append((f, 0, 0))
        while start < size:
            # Like Hadoop, let the last split be up to 10% bigger than the others.
            end = size if size - start <= split_size * 1.1 else start + split_size
            splits.append((f, start, end))
            start = end
    return splits


def _decode_lines(data: bytes):
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if "\r" in text:
        lines = [l[:-1] if l.endswith("\r") else l for l in lines]
    return lines


def read_split(path: str, start: int, end: int | None):
    """The lines of one split, without their line terminators."""
    if end is None:
        opener = _OPENERS[os.path.splitext(path)[1]]
        with io.TextIOWrapper(opener(path, "rb"), encoding="utf-8", errors="replace",
                              newline=None) as f:
            for line in f:
                yield line[:-1] if line.endswith("\n") else line
        return
    with open(path, "rb") as f:
        pos = start
        if start > 0:
            f.seek(start - 1)
            pos = start - 1 + len(f.readline())
        f.seek(pos)
        carry = b""
        while pos < end:
            chunk = f.read(min(CHUNK, end - pos))
            if not chunk:
                break
            pos += len(chunk)
            if pos >= end and not chunk.endswith(b"\n"):
                chunk += f.readline()          # finish the line that crosses `end`
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if pos >= end:
                cut = len(data)
            carry = data[cut:]
            if cut:
                lines = _decode_lines(data[:cut])
                if data[cut - 1:cut] == b"\n":
                    lines.pop()                # the empty string after the final "\n"
                yield from lines
        if carry:
            yield from _decode_lines(carry)


class TextFileRDD(RDD):
    """One record per line of the input files."""

    def __init__(self, ctx, splits: list[tuple], path: str):
        super().__init__(ctx, [], len(splits))
        self.splits = splits
        self._name = path

    def compute(self, split: int, task):
        return read_split(*self.splits[split])
