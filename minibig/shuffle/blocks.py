"""Where a worker keeps its map outputs, and how one segment is read back.

Each map task writes one data file holding one segment per reduce partition,
plus an index of the segments' offsets, as Spark's sort-based shuffle does:

    <work_dir>/shuffle/<shuffle key>/<map>.data    segments back to back
    <work_dir>/shuffle/<shuffle key>/<map>.index   int64 offsets, reducers + 1

Both are written under temporary names and renamed into place, index last, so
a retried or duplicated attempt never exposes a half-written output.

A segment is a sequence of pickled batches (lists of records) back to back:
a map task that spilled writes each partition's spilled batches, then the
batches still in memory, so a reader loads pickles until the segment ends.
Segments are written one at a time through `write_output_stream` (the data
never sits in memory whole) and read either whole (`read_segment`), by byte
range (`read_segment_range`, for chunked remote fetches), or located
(`segment_bounds`) so a reader on the same host streams it from the file.
"""

from __future__ import annotations

import os
import shutil
import struct
import uuid
from pathlib import Path


def shuffle_dir(work_dir: str, shuffle_key: str) -> Path:
    """The folder of one shuffle's map outputs on one worker."""
    return Path(work_dir) / "shuffle" / shuffle_key.replace("/", "_")


def write_output(work_dir: str, shuffle_key: str, map_index: int, segments: list) -> list[int]:
    """Store the segments (bytes) of one map task; return their sizes."""
    return write_output_stream(work_dir, shuffle_key, map_index, len(segments),
                               lambda p, out: out.write(segments[p]))


def write_output_stream(work_dir: str, shuffle_key: str, map_index: int, partitions: int,
                        write_segment) -> list[int]:
    """Store one map task's output, `write_segment(p, file)` writing segment p in turn;
    return the segments' sizes."""
    folder = shuffle_dir(work_dir, shuffle_key)
    folder.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex
    data_tmp, index_tmp = folder / f".{map_index}.data.{tag}", folder / f".{map_index}.index.{tag}"
    offsets = [0]
    try:
        with open(data_tmp, "wb") as out:
            for p in range(partitions):
                write_segment(p, out)
                offsets.append(out.tell())
        index_tmp.write_bytes(struct.pack(f"<{len(offsets)}q", *offsets))
        os.replace(data_tmp, folder / f"{map_index}.data")
        os.replace(index_tmp, folder / f"{map_index}.index")
    finally:
        for leftover in (data_tmp, index_tmp):     # a failed or killed attempt leaves nothing
            if leftover.exists():
                leftover.unlink()
    return [b - a for a, b in zip(offsets, offsets[1:])]


def segment_bounds(work_dir: str, shuffle_key: str, map_index: int,
                   reduce_index: int) -> tuple[str, int, int] | None:
    """(data file, start, end) of one map task's segment for one reducer; None if gone."""
    folder = shuffle_dir(work_dir, shuffle_key)
    try:
        with open(folder / f"{map_index}.index", "rb") as index:
            index.seek(8 * reduce_index)
            raw = index.read(16)
    except FileNotFoundError:
        return None
    if len(raw) != 16:
        return None
    start, end = struct.unpack("<2q", raw)
    return str(folder / f"{map_index}.data"), start, end


def read_segment_range(work_dir: str, shuffle_key: str, map_index: int, reduce_index: int,
                       offset: int = 0, length: int | None = None) -> tuple[bytes, int] | None:
    """(bytes [offset, offset + length) of a segment, the segment's size); None if gone."""
    bounds = segment_bounds(work_dir, shuffle_key, map_index, reduce_index)
    if bounds is None:
        return None
    path, start, end = bounds
    total = end - start
    offset = max(0, min(offset, total))
    want = total - offset if length is None else max(0, min(length, total - offset))
    try:
        with open(path, "rb") as data:
            data.seek(start + offset)
            chunk = data.read(want)
    except FileNotFoundError:
        return None
    return (chunk, total) if len(chunk) == want else None


def read_segment(work_dir: str, shuffle_key: str, map_index: int, reduce_index: int) -> bytes | None:
    """The bytes one map task wrote for one reducer; None if the output is gone."""
    found = read_segment_range(work_dir, shuffle_key, map_index, reduce_index)
    return None if found is None else found[0]


def drop(work_dir: str, shuffle_key: str = "", prefix: str = "") -> None:
    """Delete one shuffle's outputs, or every shuffle whose key starts with `prefix`."""
    root = Path(work_dir) / "shuffle"
    if shuffle_key:
        shutil.rmtree(shuffle_dir(work_dir, shuffle_key), ignore_errors=True)
    elif prefix and root.is_dir():
        safe = prefix.replace("/", "_")
        for folder in root.iterdir():
            if folder.name.startswith(safe):
                shutil.rmtree(folder, ignore_errors=True)
