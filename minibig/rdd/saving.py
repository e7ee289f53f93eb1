"""Part files of the RDD's own formats, written (pickle files, binary records) and read
back record by record (pickle files).

Apart from the datasets made of them (`minibig.rdd.pickled`,
`minibig.rdd.binary`), so that the actions mixed into `RDD`
(`minibig.rdd.actions`) import them at the top without importing an `RDD`
subclass, which would import `RDD` and so the actions again. Both write
through the same committer as saveAsTextFile (`minibig.core.output.save_partitions`):
all part files, or none.
"""

from __future__ import annotations

import itertools
import os
import pickle

from minibig.core.output import save_partitions
from minibig.shuffle.spill import dump_into

WRITE_RECORDS = 8192            # binary records joined into one write


def batches(records, size: int):
    """Lists of up to `size` records, in order."""
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
        for batch in batches(records, size):
            dump_into(batch, out)     # cloudpickle for classes the task got by value
    save_partitions(rdd, path, "", write)


def read_pickle_file(path: str):
    """The records of one part file written by save_as_pickle_file.

    A file that is not one, or is cut short, raises pickle.UnpicklingError naming it:
    the batch it was reading is not dropped as if the file had ended there. Any other
    error of unpickling (a newer pickle protocol's ValueError, a record's class raising)
    keeps its type and gets a note naming the file.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        while f.tell() < size:
            try:
                batch = pickle.load(f)
            except (pickle.UnpicklingError, EOFError) as e:
                raise pickle.UnpicklingError(f"{path}: not a whole file written by "
                                             f"saveAsPickleFile ({e})") from e
            except Exception as e:
                e.add_note(f"minibig: while unpickling {path} at byte {f.tell()}")
                raise
            yield from batch


def _write_bytes(records, out) -> None:
    # Joined a few thousand at a time: one write call per block, not per record.
    for block in batches(records, WRITE_RECORDS):
        out.write(b"".join(block))


def save_as_binary_records(rdd, path: str) -> None:
    """Write every record's bytes, with nothing between them, into part files under `path`.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = os.path.join(d, "out")
    ...     save_as_binary_records(sc.parallelize([b"ab", b"cd", b"ef"], 2), out)
    ...     sorted(sc.binaryRecords(out, 2).collect())
    [b'ab', b'cd', b'ef']
    """
    save_partitions(rdd, path, "", _write_bytes)
