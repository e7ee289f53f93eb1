"""Where a worker keeps its map outputs, and how one segment is read back.

Each map task writes one data file holding one segment per reduce partition,
plus an index of the segments' offsets, as Spark's sort-based shuffle does:

    <work_dir>/shuffle/<shuffle key>/<map>.data    segments back to back
    <work_dir>/shuffle/<shuffle key>/<map>.index   int64 offsets, reducers + 1

Both are written under temporary names and renamed into place, index last, so
a retried or duplicated attempt never exposes a half-written output.
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
    """Store the segments of one map task; return their sizes."""
    folder = shuffle_dir(work_dir, shuffle_key)
    folder.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex
    data_tmp, index_tmp = folder / f".{map_index}.data.{tag}", folder / f".{map_index}.index.{tag}"
    offsets = [0]
    with open(data_tmp, "wb") as out:
        for segment in segments:
            out.write(segment)
            offsets.append(offsets[-1] + len(segment))
    index_tmp.write_bytes(struct.pack(f"<{len(offsets)}q", *offsets))
    os.replace(data_tmp, folder / f"{map_index}.data")
    os.replace(index_tmp, folder / f"{map_index}.index")
    return [b - a for a, b in zip(offsets, offsets[1:])]


def read_segment(work_dir: str, shuffle_key: str, map_index: int, reduce_index: int) -> bytes | None:
    """The bytes one map task wrote for one reducer; None if the output is gone."""
    folder = shuffle_dir(work_dir, shuffle_key)
    try:
        with open(folder / f"{map_index}.index", "rb") as index:
            index.seek(8 * reduce_index)
            raw = index.read(16)
        if len(raw) != 16:
            return None
        start, end = struct.unpack("<2q", raw)
        with open(folder / f"{map_index}.data", "rb") as data:
            data.seek(start)
            segment = data.read(end - start)
        return segment if len(segment) == end - start else None
    except FileNotFoundError:
        return None


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
