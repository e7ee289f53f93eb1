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
one big bytes object. A combine's dict goes out as `Columns` batches (a list
of keys and a list of their combiners: no tuple per entry on either side);
a big reduceByKey(add) of str keys and int sums as `ArrowColumns` (the same
batches as Arrow record batches, which its reducer sums without a Python
object per key); or, for a big numeric reduceByKey in a worker that has the
kernels loaded, as Arrow IPC frames (pickled `bytes` in the same segments),
cut by reducer with the kernels: the columnar path, `minibig.shuffle.arrowpath`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import marshal
import os
import pickle
import sys
import tempfile
from array import array
from operator import itemgetter

from minibig.errors import MemoryBudgetError
from minibig.shuffle.blocks import write_output_stream
from minibig.shuffle.hashing import hash_partitions, split_by_partition
from minibig.shuffle.partitioners import (RangePartitioner, columnar_enabled, columnar_op,
                                          columnar_size_pays, identity, is_hash_partitioner)
from minibig.shuffle.sizing import SizeTracker, estimate
from minibig.shuffle.spill import ExternalMap, batch_records, dump_into, effective_budget, open_run

_COPY = 1 << 20
# Entries of a combine's dict cut, typed, hashed and split at a time (`_dict_parts`):
# few enough that their keys stay in a core's cache (1 MiB here) from pass to pass.
CUT_KEYS = 4096
_NONES = [None] * CUT_KEYS
_first = itemgetter(0)
_second = itemgetter(1)
_BYTES = {bytes}
# A (key, bytes) record beside its bytes: the tuple (64), a small int key (32),
# the bytes' header rounded up (48), its slot in a bucket (8).
_BYTES_RECORD = 152
_STR = {str}
_INT = {int}
# A reduceByKey(add) combine's dict of str keys and int sums goes out as `ArrowColumns`
# from this many keys where pyarrow is loaded, from ARROW_MIN_KEYS_COLD where the worker
# would import it first: pyarrow, numpy and the first batch summed cost ~0.18 s of CPU
# once a process, and the reduce side saves ~0.3 us a key (a reducer of 357k keys from two
# map tasks: 0.22 -> 0.11 s to read, sum and encode its result), so a worker's first
# big count pays it back from ~600k keys, and every later one gains.
ARROW_MIN_KEYS = CUT_KEYS
ARROW_MIN_KEYS_COLD = 200_000


def arrow_pays(keys: int) -> bool:
    """Whether a reduceByKey(add) combine of this many str keys goes out as `ArrowColumns`:
    from ARROW_MIN_KEYS where pyarrow is loaded, from ARROW_MIN_KEYS_COLD where not.
    `MINIBIG_SHUFFLE_COLUMNAR=0` turns it off, as it does the numeric columnar path."""
    if not columnar_enabled():
        return False
    return keys >= (ARROW_MIN_KEYS if "pyarrow" in sys.modules else ARROW_MIN_KEYS_COLD)


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

    def __init__(self, partitioner, budget: int | None, spill_dir, str_pairs: bool = False):
        self.n = partitioner.numPartitions
        self.part = _partition_function(partitioner)
        self.hash_partitioned = is_hash_partitioner(partitioner)
        self.budget = effective_budget(budget)
        self.spill_dir = spill_dir
        self.buckets: list[list] = [[] for _ in range(self.n)]
        self.count = 0                # records held whose size is estimated from samples
        self.measured = 0             # bytes held by records measured whole (`_measure`)
        self.runs: list[tuple[str, list[int]]] = []
        self.tracker = SizeTracker(self.budget)
        self.columnar = False         # a combine's dict may go out as Arrow frames
        self.sums = False             # a reduceByKey(add) combine: may go out as ArrowColumns
        # Every record inserted so far a (str, str) tuple, where the dependency asks
        # (`ShuffleDependency.str_pair_batches`): the batches then go out as `StrPairs`.
        self.str_pairs = str_pairs

    def insert(self, records) -> None:
        """Bucket (key, value) records by partition, spilling when over budget."""
        it, tracker, buckets = iter(records), self.tracker, self.buckets
        while True:
            chunk = list(itertools.islice(it, tracker.chunk))
            if not chunk:
                return
            # Checked while the chunk is fresh in the cache, not when its bucket is written.
            self.str_pairs = self.str_pairs and str_pairs(chunk)
            if self.n == 1:
                buckets[0].extend(chunk)
            else:
                appenders = [b.append for b in buckets]
                for record, p in zip(chunk, self._partitions_of(list(map(_first, chunk)))):
                    appenders[p](record)
            if type(chunk[-1][1]) is bytes and set(map(type, map(_second, chunk))) == _BYTES:
                self._measure(chunk)
            else:
                self.count += len(chunk)
                size = estimate(chunk[-1])
                if size > self.budget:
                    raise MemoryBudgetError("a record", chunk[-1][0], size, self.budget)
                tracker.sample(size)
            total = int(self.count * (tracker.mean + 8)) + self.measured + 56 * self.n
            if total >= self.budget:
                self.spill_buckets()
                tracker.next_chunk(0, 0)
            else:
                tracker.next_chunk(total, len(chunk))

    def _measure(self, chunk: list) -> None:
        """Count a chunk of records whose values are all `bytes` (a MapReduce task's
        packed columns: 1 to 4,096 keys each) at their exact size, in C passes.

        Their sizes vary a thousandfold, so one sampled record says nothing of
        the others: a small one taken for them all let a chunk of big ones
        far past the budget."""
        sizes = list(map(len, map(_second, chunk)))
        biggest = max(sizes)
        if biggest + _BYTES_RECORD > self.budget:
            key = chunk[sizes.index(biggest)][0]
            raise MemoryBudgetError("a record", key, biggest + _BYTES_RECORD, self.budget)
        held = sum(sizes) + _BYTES_RECORD * len(sizes)
        self.measured += held
        self.tracker.sample(held / len(sizes))

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
                    self._dump(batch, f)
            offsets.append(f.tell())
        self.runs.append((path, offsets))
        self.tracker.reset()

    def spill_buckets(self) -> None:
        """Write the buckets out as one run and empty them."""
        def batches_of(p):
            yield from self._batches(self.buckets[p])
            self.buckets[p].clear()             # free this partition before the next one
        self._write_run(batches_of)
        self.count = self.measured = 0

    def spill_dict(self, combined: dict) -> None:
        """Write a map-side combine's dict out as one run, emptying it."""
        parts = self._dict_parts(combined)
        self._write_run(lambda p: self._part_batches(parts, p))

    def _dict_parts(self, combined: dict) -> list:
        """A combine's dict, emptied, as one part per partition: an Arrow frame (bytes)
        or None where the columnar path takes it (`minibig.shuffle.arrowpath`), else
        the partition's `Columns` batches (`Columns.ahead`), in the dict's order.

        Two lists per batch, not a (key, value) tuple per entry (a 357k-key dict of
        words: 1.09 -> 0.43 s to partition and serialise). The dict is cut CUT_KEYS
        entries at a time, each cut typed, hashed and split while its keys are in
        the CPU's cache, and a partition's batch marshalled as soon as it is full, its
        newest keys still cached: one pass over the whole dict per step missed the
        cache on every key (357k words in 2 partitions: 0.28 -> 0.15 s)."""
        if self.columnar and columnar_size_pays(len(combined)):
            from minibig.shuffle.arrowpath import dict_frames   # numpy and Arrow: only where they may pay
            frames = dict_frames(combined, self.n)
            if frames is not None:
                return frames
        keys, values = list(combined), list(combined.values())
        combined.clear()                     # the lists hold the entries now
        n = self.n
        # A batch holds at most `size` keys, what the budget allows and at most a cut; the cut
        # itself does not shrink with the budget (a 1 MiB budget made cuts of a few hundred
        # keys, each typed, hashed and split on its own).
        size = min(batch_records(self.tracker.mean, self.budget), CUT_KEYS)
        parts: list[list] = [[] for _ in range(n)]
        pending_keys: list[list] = [[] for _ in range(n)]
        pending_values: list[list] = [[] for _ in range(n)]
        # Every key cut so far is a marshal atom (known from the hash's look at the types;
        # one partition has no hash, and `Columns` then looks at each batch itself).
        flat = n > 1
        # Every key cut so far a str, in a reduceByKey(add) combine big enough: `ArrowColumns`.
        arrow = self.sums and arrow_pays(len(keys))
        for start in range(0, len(keys), CUT_KEYS):
            end = start + CUT_KEYS
            cut_keys, cut_values = keys[start:end], values[start:end]
            # Let the cut go with its batches: marshalled, they are all that stays of it.
            keys[start:end] = values[start:end] = _NONES[:len(cut_keys)]
            if n == 1:
                by_key, by_value = [cut_keys], [cut_values]
                arrow = arrow and set(map(type, cut_keys)) == _STR
            else:
                kinds = set(map(type, cut_keys))          # once for the hash, marshal and Arrow
                flat = flat and kinds <= MARSHAL_ATOMS
                arrow = arrow and kinds == _STR
                by_key, by_value = split_by_partition(
                    cut_keys, cut_values, self._partitions_of(cut_keys, kinds, len(keys)), n)
            for p in range(n):
                held_keys, new_keys, new_values = pending_keys[p], by_key[p], by_value[p]
                if len(held_keys) + len(new_keys) <= size:
                    held_keys += new_keys
                    pending_values[p] += new_values
                    continue
                if held_keys:
                    parts[p].append(column_batch(held_keys, pending_values[p], flat, arrow))
                if len(new_keys) <= size:
                    pending_keys[p], pending_values[p] = new_keys, new_values
                    continue
                # A share of the cut past a batch (a small budget's) goes in full batches now,
                # while its keys are cached; what is left waits for the next cut's.
                full = len(new_keys) - len(new_keys) % size
                for first in range(0, full, size):
                    parts[p].append(column_batch(new_keys[first:first + size],
                                                 new_values[first:first + size], flat, arrow))
                pending_keys[p], pending_values[p] = new_keys[full:], new_values[full:]
        for p in range(n):
            if pending_keys[p]:
                parts[p].append(column_batch(pending_keys[p], pending_values[p], flat, arrow))
        return parts

    def _dump(self, batch, out) -> None:
        """Write one batch: as `StrPairs` while every record so far was a (str, str) tuple
        (no look at its types again), else `dump_batch`."""
        if self.str_pairs and type(batch) is list:
            pickle.dump(StrPairs(batch), out, protocol=5)
        else:
            dump_batch(batch, out)

    def _part_batches(self, parts: list, p: int):
        """The batches of part p of `_dict_parts`, which is let go once they are written."""
        part, parts[p] = parts[p], None
        if type(part) is list:
            yield from part
        elif part is not None:
            yield part

    def _partitions_of(self, keys, kinds: set | None = None, total: int = 0):
        """The partition of each key: under portable_hash a batch at a time (`hash_partitions`;
        `total`, the keys of the dict these are cut from)."""
        if self.hash_partitioned:
            return hash_partitions(keys, self.n, kinds, total)
        return map(self.part, keys)

    def commit(self, work_dir: str, shuffle_key: str, map_index: int,
               combined: dict | None = None) -> list[int]:
        """Write the output file: each partition's spilled sections, then what is in
        memory (the buckets, or the combine's dict: see `_dict_parts`); return the
        segments' sizes."""
        if combined is not None:
            parts = self._dict_parts(combined)

            def memory_batches(p):
                return self._part_batches(parts, p)
        else:
            def memory_batches(p):
                yield from self._batches(self.buckets[p])
                self.buckets[p] = []
        runs = [(open(path, "rb"), offsets) for path, offsets in self.runs]

        def write_segment(p, out):
            for f, offsets in runs:
                _copy_range(f, offsets[p], offsets[p + 1], out)
            for batch in memory_batches(p):
                self._dump(batch, out)
        try:
            return write_output_stream(work_dir, shuffle_key, map_index, self.n, write_segment)
        finally:
            for f, _ in runs:
                f.close()
            for path, _ in self.runs:
                _unlink(path)
            self.runs = []


class Columns:
    """A batch of (key, value) records as two lists of equal length: how a map-side
    combine's dict goes out (`MapOutputWriter._dict_parts`). Written through marshal
    (`ahead`) when both lists are `flat_records`, as `_Marshalled` batches are, but in marshal's
    version 2, which keeps no table of the objects it wrote: every key is written once
    anyway, and the atoms are immutable, so nothing is lost but the table (357k words
    and their counts 0.19 -> 0.08 s, 16% more bytes). A reader turns it into records
    (`records`) or folds the lists as they are.

    `flat_keys` says the keys are known to be atoms (`MapOutputWriter._dict_parts`
    looked at their types once for the hash): then they are not looked over again per
    batch, one pass less over keys scattered in memory (a 357k-word dict: 0.07 s)."""

    __slots__ = ("keys", "values", "flat_keys")

    def __init__(self, keys: list, values: list, flat_keys: bool = False):
        self.keys = keys
        self.values = values
        self.flat_keys = flat_keys

    def records(self) -> list:
        """The (key, value) records, in order."""
        return list(zip(self.keys, self.values))

    def flat(self) -> bool:
        """Whether both lists are `flat_records`; the values looked at first, the likelier
        not to be (groupByKey's lists, Decimals), so that a batch that is not flat is
        rejected without a pass over its keys."""
        return flat_records(self.values) and (self.flat_keys or flat_records(self.keys))

    def marshalled(self) -> bytes | None:
        """The two lists in marshal's bytes if both are `flat_records`, else None."""
        return marshal.dumps((self.keys, self.values), 2) if self.flat() else None

    def ahead(self):
        """What to pickle for the batch: its marshal bytes, made now while its keys are in
        the CPU's cache (`MapOutputWriter._dict_parts`), or the batch itself, pickled as it
        is when written (its objects may be big): the one place the two are chosen, so
        the batch's own pickle never looks at its types again."""
        data = self.marshalled()
        return self if data is None else _MarshalledColumns(data)

    def __reduce__(self):
        return Columns, (self.keys, self.values)


def column_batch(keys: list, values: list, flat_keys: bool, str_keys: bool):
    """What to pickle for a batch of a combine's dict: `ArrowColumns` when `str_keys` (the
    keys are known to be str, in a combine that takes them: `arrow_pays`) and the values
    fit, else `Columns.ahead()`."""
    if str_keys:
        batch = ArrowColumns.of(keys, values, str_keys=True)
        if batch is not None:
            return batch
    return Columns(keys, values, flat_keys).ahead()


class ArrowColumns:
    """A `Columns` batch of str keys and int values within int64, as one Arrow record
    batch (key: string, value: int64): how a big reduceByKey(add) combine of str keys goes
    out (`arrow_pays`). Its reducer sums such batches in Arrow
    (`minibig.shuffle.spill.ExternalMap.insert_batches`) with no Python object per key,
    where unmarshalling 357k fresh strs, folding them into a dict and listing it again
    for the result cost ~0.2 s a reducer. Pickled as the batch's IPC message (its schema
    is fixed), read back without a copy."""

    __slots__ = ("batch",)

    def __init__(self, batch):
        self.batch = batch

    @staticmethod
    def of(keys: list, values: list, str_keys: bool = False) -> "ArrowColumns | None":
        """The batch of `keys` and `values`, or None unless every key is a str (`str_keys`:
        known already) that has UTF-8 (a lone surrogate has none) and every value an int
        (exact type: not bool, nor a numpy int, which Arrow would take as ints) within int64."""
        if set(map(type, values)) != _INT or not (str_keys or set(map(type, keys)) == _STR):
            return None
        import pyarrow as pa                  # loaded by the first big combine of str keys
        try:
            # The values through array('q') and its buffer: 2.5x faster than pa.array's
            # conversion (357k ints: 7 against 18 ms); past int64 it raises OverflowError.
            ints = array("q", values)
            arrays = [pa.array(keys, pa.string()),
                      pa.Array.from_buffers(pa.int64(), len(ints), [None, pa.py_buffer(ints)])]
        except (OverflowError, UnicodeError, pa.ArrowException):   # 2 GiB of keys: no int32 offsets
            return None
        return ArrowColumns(pa.record_batch(arrays, schema=arrow_schema()))

    def columns(self) -> tuple[list, list]:
        """The keys and the values, as two lists of Python objects."""
        return self.batch.column(0).to_pylist(), self.batch.column(1).to_pylist()

    def records(self) -> list:
        """The (key, value) records, in order."""
        return list(zip(*self.columns()))

    def __len__(self) -> int:
        return self.batch.num_rows

    def __reduce__(self):
        return _arrow_columns, (self.batch.serialize().to_pybytes(),)


@functools.lru_cache(maxsize=1)
def arrow_schema():
    """`ArrowColumns`' schema: key (string), value (int64)."""
    import pyarrow as pa
    return pa.schema([("key", pa.string()), ("value", pa.int64())])


def _arrow_columns(data: bytes) -> ArrowColumns:
    import pyarrow as pa
    return ArrowColumns(pa.ipc.read_record_batch(pa.py_buffer(data), arrow_schema()))


def _marshalled_columns(data: bytes) -> Columns:
    return Columns(*marshal.loads(data))


class _MarshalledColumns:
    """A flat `Columns` batch marshalled ahead of its writing (`MapOutputWriter._dict_parts`),
    which unpickles as the `Columns`."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return _marshalled_columns, (self.data,)


class _Marshalled:
    """A batch of flat records as marshal bytes, which unpickles as the list itself:
    its pickle calls `marshal.loads`, so a segment's reader needs no new format."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return marshal.loads, (self.data,)


class StrPairs:
    """A batch of records each known to be a tuple of two exact str (the writer checked its
    chunks as they came: `MapOutputWriter.str_pairs`), written through marshal; a reader
    that asks for frames gets it as it is, so needs no pass over the records' types
    (`minibig.rdd.shuffled.StrPairGroups`), any other reader its list of records."""

    __slots__ = ("records",)

    def __init__(self, records: list):
        self.records = records

    def __reduce__(self):
        return _str_pairs_batch, (marshal.dumps(self.records),)


def _str_pairs_batch(data: bytes) -> StrPairs:
    return StrPairs(marshal.loads(data))


_TUPLE, _TWO = {tuple}, {2}


def str_pairs(records: list) -> bool:
    """Whether every record is a tuple of two exact str (three C-level passes).

    >>> str_pairs([("a", "b")]), str_pairs([("a", "b", "c")]), str_pairs(["ab"]), str_pairs([("a", 1)])
    (True, False, False, False)
    """
    return (set(map(type, records)) == _TUPLE and set(map(len, records)) == _TWO
            and set(map(type, itertools.chain.from_iterable(records))) == _STR)


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
        dump_into(batch, out)


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
    writer = MapOutputWriter(dep.partitioner, budget, spill_dir, dep.str_pair_batches)
    if dep.aggregator is not None and dep.map_side_combine:
        writer.columnar = columnar_op(dep) is not None
        writer.sums = dep.aggregator.op == "sum"
        combine = ExternalMap(dep.aggregator, budget, spill_dir, spill=writer.spill_dict)
        writer.tracker = combine.tracker        # batch sizes follow the combiners' sizes
        combine.insert_values(records)
        return writer.commit(work_dir, shuffle_key, map_index, combined=combine.map)
    writer.insert(records)
    return writer.commit(work_dir, shuffle_key, map_index)
