"""binaryRecords and saveAsBinaryRecords: files of fixed-length records.

`sc.binaryRecords(path, recordLength)` reads, as PySpark's does, every
`recordLength` bytes of the files named by `path` (a file, a directory, a glob
or a comma-separated list) as one `bytes` record, with no separator. A file
is cut into splits at multiples of the record length (Hadoop's split-size
rule, as textFile: max(1, min(total / minPartitions, block size)), rounded
down to whole records), so a record is never cut. A file whose size is not a
multiple of the record length is refused when the dataset is made.

`save_as_binary_records(rdd, path)` (`RDD.saveAsBinaryRecords`, in `minibig.rdd.saving`) writes each
record's bytes as they are, one after the other, in part-NNNNN files,
through the same committer as saveAsTextFile: all of them, or none.

TeraSort's 100-byte records are the example (`jobs/terasort.py`).

`sc.binaryFiles(path)` reads each file whole, as PySpark's does: one
(file:/path, bytes) record per file, its bytes as they are on disk (a .gz file
is not decompressed), files grouped into partitions as wholeTextFiles groups
them, a folder's subfolders and hidden files left out.
"""

from __future__ import annotations

import os
import struct
from functools import lru_cache

from minibig.rdd.textfile import FileSplitRDD, WholeFileRDD, expand_paths, plan_whole_files

READ_RECORDS = 8192            # records read from the file at once


def plan_record_splits(files: list[str], record_length: int, min_partitions: int,
                       block_size: int) -> list[tuple[str, int, int]]:
    """(path, start, end) splits holding whole records."""
    if record_length <= 0:
        raise ValueError(f"recordLength must be positive, not {record_length}")
    sizes = {f: os.path.getsize(f) for f in files}
    for f, size in sizes.items():
        if size % record_length:
            raise ValueError(f"{f}: its size {size} is not a multiple of the record "
                             f"length {record_length}")
    total = sum(sizes.values())
    split_size = max(1, min(total // max(1, min_partitions) or 1, block_size))
    split_size = max(record_length, split_size - split_size % record_length)
    splits = []
    for f in files:
        size, start = sizes[f], 0
        while start < size:
            # As Hadoop, the last split may be up to 10% bigger than the others.
            end = size if size - start <= split_size * 1.1 else start + split_size
            splits.append((f, start, end))
            start = end
    return splits


def read_records(path: str, start: int, end: int, record_length: int, on_progress=None):
    """The records of bytes [start, end) of a file, each a `bytes` of record_length."""
    step = record_length * READ_RECORDS
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while pos < end:
            data = f.read(min(step, end - pos))
            if len(data) % record_length or not data:
                raise ValueError(f"{path}: the file changed while it was read "
                                 f"(a record at byte {pos} is cut)")
            pos += len(data)
            yield from _splitter(record_length, len(data) // record_length).unpack(data)
            if on_progress is not None:
                on_progress((pos - start) / max(1, end - start))


@lru_cache(maxsize=16)
def _splitter(record_length: int, count: int) -> struct.Struct:
    # One C call cuts a block into `count` bytes objects (5x a slicing loop).
    return struct.Struct(f"{record_length}s" * count)


class BinaryRecordsRDD(FileSplitRDD):
    """One `bytes` record per `record_length` bytes of the input files."""

    def __init__(self, ctx, splits: list[tuple], record_length: int, path: str):
        super().__init__(ctx, splits, path)
        self.record_length = record_length

    def read(self, path: str, start: int, end: int, on_progress):
        return read_records(path, start, end, self.record_length, on_progress=on_progress)


def binary_records(ctx, path: str, record_length: int,
                   min_partitions: int | None = None) -> BinaryRecordsRDD:
    """The dataset of `sc.binaryRecords(path, recordLength)`."""
    wanted = ctx.defaultMinPartitions if min_partitions is None else min_partitions
    splits = plan_record_splits(expand_paths(path), int(record_length), wanted, ctx.conf.split_size)
    return BinaryRecordsRDD(ctx, splits, int(record_length), path)


class BinaryFilesRDD(WholeFileRDD):
    """One (path, bytes) record per file, the bytes as they are on disk."""

    def content(self, name: str, path: str) -> tuple:
        with open(path, "rb") as f:
            return name, f.read()


def binary_files(ctx, path: str, min_partitions: int | None = None) -> BinaryFilesRDD:
    """The dataset of `sc.binaryFiles(path, minPartitions)`.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name, data in [("a.bin", b"\\x00\\x01"), ("b.bin", b"\\xff")]:
    ...         with open(os.path.join(d, name), "wb") as f:
    ...             _ = f.write(data)
    ...     found = sorted(binary_files(sc, d).collect())
    >>> [(name.rsplit("/", 1)[1], data) for name, data in found]
    [('a.bin', b'\\x00\\x01'), ('b.bin', b'\\xff')]
    """
    wanted = ctx.defaultMinPartitions if min_partitions is None else min_partitions
    groups = plan_whole_files(expand_paths(path, subfolders="skip"), wanted)
    return BinaryFilesRDD(ctx, groups, path)
