"""saveAsPickleFile and pickleFile: records as batches of pickles in part files.

A part file is a sequence of pickles, each one a list of up to `batchSize`
records (PySpark's default batch is 10), written through the same committer
as saveAsTextFile (`minibig.core.output.save_partitions`), so a failed job
leaves nothing behind. Reading unpickles the lists one after the other: a part
file is one partition, as a file of pickles cannot be cut at an arbitrary
byte. Only read pickle files you trust: unpickling runs code.
"""

from __future__ import annotations

from minibig.rdd.base import RDD
from minibig.rdd.saving import read_pickle_file
from minibig.rdd.textfile import expand_paths


class PickleFileRDD(RDD):
    """The records of pickle part files, one partition per file."""

    def __init__(self, ctx, files: list[str], path: str):
        super().__init__(ctx, [], len(files))
        self.files = files
        self._name = path

    def compute(self, split: int, task):
        return read_pickle_file(self.files[split])


def pickle_file(ctx, path: str) -> PickleFileRDD:
    """A dataset over the part files of a folder (or files, globs) of saved pickles."""
    return PickleFileRDD(ctx, expand_paths(path), path)
