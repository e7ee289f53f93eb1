"""saveAsPickleFile and pickleFile: records as batches of pickles in part files.

A part file is a sequence of pickles, each one a list of up to `batchSize`
records (PySpark's default batch is 10), written through the same committer
as saveAsTextFile (`minibig.core.output.save_partitions`), so a failed job
leaves nothing behind. Reading unpickles the lists one after the other: a part
file is one partition, as a file of pickles cannot be cut at an arbitrary
byte. Only read pickle files you trust: unpickling runs code.
"""

from __future__ import annotations

import itertools
import pickle

from minibig.core.output import save_partitions
from minibig.rdd.textfile import expand_paths
from minibig.rdd.base import RDD


def _batches(records, size: int):
    it = iter(records)
    while True:
        batch = list(itertools.islice(it, size))
        if not batch:
            return
        yield batch


def save_as_pickle_file(rdd, path: str, batch_size: int = 10) -> None:
    """Write every partition of `rdd` as pickled lists of `batch_size` records."""
    size = max(1, int(batch_size))

    def write(records, out):
        for batch in _batches(records, size):
            pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    save_partitions(rdd, path, "", write)


def read_pickle_file(path: str):
    """The records of one part file written by save_as_pickle_file."""
    with open(path, "rb") as f:
        while True:
            try:
                batch = pickle.load(f)
            except EOFError:
                return
            yield from batch


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
