"""The map side of a shuffle: combine, partition, serialise, write — within a budget.

With an aggregator and map-side combine (reduceByKey, combineByKey,
aggregateByKey, foldByKey) the task folds its records into one combiner per
key (an `ExternalMap`); without one (groupByKey, partitionBy, sortByKey) it
splits the records into one bucket per reducer. Either way the task's memory
budget bounds what it holds. State of a `MapOutputWriter`:

    buckets   records not yet written, one list per reducer
    runs      spilled runs: (file, offsets) where partition p's batches are
              bytes [offsets[p], offsets[p + 1]) of the file

When the estimated size reaches the budget, everything in memory is written
as one run, partition after partition, each as pickled batches of a few
thousand records. The combine spills the same way: its partial combiners go
to their partitions as they are (a key may then reach a reducer in several
partial combiners, which the reducer merges anyway, as Hadoop's per-spill
combiner does), so a map task never merges its own spills back. At the end
the output file is written segment by segment: partition p is the bytes of
every run's section p copied as they are, then the batches still in memory.
So a segment is a sequence of pickled batches, and nothing is ever held as
one big bytes object. A numeric reduceByKey writes its combined dicts as
Arrow IPC frames instead (pickled `bytes` in the same segments), cut by
reducer with the kernels: the columnar path, `minibig.shuffle.arrowpath`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import marshal
import os
import pickle
import tempfile
from operator import itemgetter

from minibig.errors import MemoryBudgetError
from minibig.shuffle.blocks import write_output_stream
from minibig.shuffle.hashing import hash_partitions
from minibig.shuffle.partitioners import RangePartitioner, columnar_op, identity, is_hash_partitioner
from minibig.shuffle.sizing import SizeTracker, estimate
from minibig.shuffle.spill import ExternalMap, batch_records, effective_budget, open_run

_COPY = 1 << 20
_first = itemgetter(0)


def combine_values(records, aggregator, budget: int | None = None, spill_dir=None):
    """Fold (key, value) records into (key, combiner) pairs (an iterator).

    Without a budget the fold stays in memory; with one it spills sorted runs
    into `spill_dir()` and merges them back (see `minibig.shuffle.spill`).

    >>> from minibig.core.dependency import Aggregator
    >>> sorted(combine_values([("a", 1), ("b", 2), ("a", 3)], Aggregator(int, max, max)))
    [('a', 3), ('b', 2)]
    """
    return ExternalMap(aggregator, budget, spill_dir).insert_values(records).items()


class MapOutputWriter:
    """One map task's records, bucketed by reducer, spilled as runs past the budget."""

    def __init__(self, partitioner, budget: int | None, spill_dir):
        self.n = partitioner.numPartitions
        self.part = _partition_function(partitioner)
        self.hash_partitioned = is_hash_partitioner(partitioner)
        self.budget = effective_budget(budget)
        self.spill_dir = spill_dir
        self.buckets: list[list] = [[] for _ in range(self.n)]
        self.count = 0
        self.runs: list[tuple[str, list[int]]] = []
        self.tracker = SizeTracker(self.budget)
        self.columnar = False         # a combine's dict may go out as Arrow frames

    def insert(self, records) -> None:
        """Bucket (key, value) records by partition, spilling when over budget."""
        it, tracker, buckets = iter(records), self.tracker, self.buckets
        while True:
            chunk = list(itertools.islice(it, tracker.chunk))
            if not chunk:
                return
            if self.n == 1:
                buckets[0].extend(chunk)
            else:
                appenders = [b.append for b in buckets]
                for record, p in zip(chunk, self._partitions_of(list(map(_first, chunk)))):
                    appenders[p](record)
            self.count += len(chunk)
            size = estimate(chunk[-1])
            if size > self.budget:
                raise MemoryBudgetError("a record", chunk[-1][0], size, self.budget)
            tracker.sample(size)
            total = int(self.count * (tracker.mean + 8)) + 56 * self.n
            if total >= self.budget:
                self.spill_buckets()
                tracker.next_chunk(0, 0)
            else:
                tracker.next_chunk(total, len(chunk))

    def _batches(self, records: list):
        step = batch_records(self.tracker.mean, self.budget)
        for start in range(0, len(records), step):
            yield records[start:start + step]

    def _write_run(self, batches_of) -> None:
        offsets = []
        with open_run(self.spill_dir(), "shuffle") as (path, f):
            for p in range(self.n):
                offsets.append(f.tell())
                for batch in batches_of(p):
                    dump_batch(batch, f)
            offsets.append(f.tell())
        self.runs.append((path, offsets))
        self.tracker.reset()

    def spill_buckets(self) -> None:
        """Write the buckets out as one run and empty them."""
        def batches_of(p):
            yield from self._batches(self.buckets[p])
            self.buckets[p].clear()             # free this partition before the next one
        self._write_run(batches_of)
        self.count = 0

    def spill_dict(self, combined: dict) -> None:
        """Write a map-side combine's dict out as one run, emptying it."""
        frames = self._frames(combined)
        if frames is not None:
            self.spill_frames(frames)
            return
        by_part = self._keys_by_partition(combined)

        def batches_of(p):
            keys = by_part[p]
            for batch in self._batches(keys):
                yield [(k, combined.pop(k)) for k in batch]
            keys.clear()
        self._write_run(batches_of)

    def _frames(self, combined: dict) -> list | None:
        if not self.columnar:
            return None
        from minibig.shuffle.arrowpath import dict_frames   # numpy and Arrow: only when columnar
        return dict_frames(combined, self.n)

    def spill_frames(self, frames: list) -> None:
        """Write one frame (a columnar block, or None) per partition out as one run."""
        self._write_run(lambda p: [] if frames[p] is None else [frames[p]])

    def _keys_by_partition(self, combined: dict) -> list[list]:
        if self.n == 1:
            return [list(combined)]
        by_part: list[list] = [[] for _ in range(self.n)]
        appenders = [b.append for b in by_part]
        for key, p in zip(combined, self._partitions_of(combined)):
            appenders[p](key)
        return by_part

    def _partitions_of(self, keys):
        """The partition of each key: under portable_hash a batch at a time (`hash_partitions`)."""
        if self.hash_partitioned:
            return hash_partitions(keys, self.n)
        return map(self.part, keys)

    def commit(self, work_dir: str, shuffle_key: str, map_index: int,
               combined: dict | None = None, frames: list | None = None) -> list[int]:
        """Write the output file: each partition's spilled sections, then what is in
        memory (the buckets, the combine's dict, or one columnar frame per
        partition); return the segments' sizes."""
        if combined is not None and frames is None:
            frames = self._frames(combined)
        if frames is not None:
            def memory_batches(p):
                return [] if frames[p] is None else [frames[p]]
        elif combined is not None:
            by_part = self._keys_by_partition(combined)

            def memory_batches(p):
                for batch in self._batches(by_part[p]):
                    yield [(k, combined[k]) for k in batch]
        else:
            def memory_batches(p):
                yield from self._batches(self.buckets[p])
        runs = [(open(path, "rb"), offsets) for path, offsets in self.runs]

        def write_segment(p, out):
            for f, offsets in runs:
                _copy_range(f, offsets[p], offsets[p + 1], out)
            for batch in memory_batches(p):
                dump_batch(batch, out)
            if combined is None and frames is None:
                self.buckets[p] = []
            elif frames is not None:
                frames[p] = None
        try:
            return write_output_stream(work_dir, shuffle_key, map_index, self.n, write_segment)
        finally:
            for f, _ in runs:
                f.close()
            for path, _ in self.runs:
                _unlink(path)
            self.runs = []


class _Marshalled:
    """A batch of flat records as marshal bytes, which unpickles as the list itself:
    its pickle calls `marshal.loads`, so a segment's reader needs no new format."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return marshal.loads, (self.data,)


# Types marshal writes and reads back exactly (a subclass of one is refused; marshal
# would turn another buffer, a bytearray say, into bytes).
MARSHAL_ATOMS = frozenset({str, int, float, complex, bool, type(None), bytes})


def flat_records(records: list) -> bool:
    """True when every record is an atom of MARSHAL_ATOMS or a tuple of them (exact types):
    what marshal gives back exactly, shared objects still shared.

    >>> flat_records([("a", 1), ("b", -0.0)]), flat_records([("a", [1])]), flat_records([(("a",), 1)])
    (True, False, False)
    """
    types = set(map(type, records))
    return types <= MARSHAL_ATOMS or (
        types == {tuple} and set(map(type, itertools.chain.from_iterable(records))) <= MARSHAL_ATOMS)


def dump_batch(batch, out) -> None:
    """Write one pickled batch: a list of `flat_records` through marshal, which makes
    160k (str, str) pairs 4x faster than pickle (marshal memoizes only what is shared,
    pickle every string and tuple); any other list, or a columnar frame (bytes), as a
    pickle."""
    if type(batch) is list and flat_records(batch):
        pickle.dump(_Marshalled(marshal.dumps(batch)), out, protocol=5)
    else:
        pickle.dump(batch, out, protocol=5)


def _partition_function(partitioner):
    """partitioner.partition_of, or an equal but faster function for sortByKey's default."""
    if (type(partitioner) is RangePartitioner and partitioner.ascending
            and partitioner.keyfunc is identity):
        return functools.partial(bisect.bisect_left, partitioner.bounds)
    return partitioner.partition_of


def _copy_range(src, start: int, end: int, out) -> None:
    src.seek(start)
    left = end - start
    while left > 0:
        data = src.read(min(_COPY, left))
        if not data:
            raise OSError("a spilled shuffle run ended early")
        out.write(data)
        left -= len(data)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_shuffle(records, dep, work_dir: str, shuffle_key: str, map_index: int,
                  budget: int | None = None, spill_dir=None) -> list[int]:
    """Run the map side of `dep` over `records`; return each segment's size."""
    if spill_dir is None:
        spill_dir = tempfile.gettempdir
    writer = MapOutputWriter(dep.partitioner, budget, spill_dir)
    if dep.aggregator is not None and dep.map_side_combine:
        writer.columnar = columnar_op(dep) is not None
        combine = ExternalMap(dep.aggregator, budget, spill_dir, spill=writer.spill_dict)
        writer.tracker = combine.tracker        # batch sizes follow the combiners' sizes
        combine.insert_values(records)
        return writer.commit(work_dir, shuffle_key, map_index, combined=combine.map)
    writer.insert(records)
    return writer.commit(work_dir, shuffle_key, map_index)
