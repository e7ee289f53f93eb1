"""Combining and sorting within a memory budget: sorted runs on disk, merged back.

Two structures hold a task's shuffle data in memory and spill it when the
budget is reached (estimated by `minibig.shuffle.sizing`):

`ExternalMap` (Spark's ExternalAppendOnlyMap) folds (key, value) records into
one combiner per key, in a dict. Keys may be of any hashable type, mixed and
unorderable, so a spilled run is sorted by `local_hash(key)` — a number —
and equal keys are found by equality among the few keys of one hash. When
the dict's estimated size reaches the budget its entries are written, sorted
by hash, as a run of pickled batches and the dict starts empty. Once
anything spilled, the rest spills too at the end, and `items()` merges the
runs with `heapq.merge` on the hash (ties go to the earlier run, so a key's
values keep their arrival order), folding the combiners of equal keys with
`merge_combiners`. More than `FAN_IN` runs are first merged into fewer runs,
so the merge never holds more than `FAN_IN` batches.

`ExternalSorter` sorts records by a key function (sortByKey keys are
orderable by definition): a buffer sorted and written as a run when full,
the runs merged with `heapq.merge`, which is stable, so the output equals a
stable sort of the input.

State of each: the in-memory dict or list, `runs` (paths of spilled runs, in
spill order), and a `SizeTracker`. What cannot spill fails with
`MemoryBudgetError`: a record, or the merged group of one key, whose
estimated size exceeds the budget. Runs live in the task's spill folder
(`<work_dir>/spill/<task>/`), which the task removes when it ends, whatever
the outcome; a finished merge deletes its runs at once.

Batches are small enough that FAN_IN of them fit in half the budget; each is
pickled and written to the run file (one batch's bytes at a time, never a run's).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import marshal
import os
import pickle
import sys
import threading
import uuid
from collections import _count_elements   # Counter's C counting loop, works on any dict
import operator
from operator import itemgetter


from minibig.errors import MemoryBudgetError
from minibig.shuffle.hashing import local_hash
from minibig.shuffle.partitioners import identity
from minibig.shuffle.sizing import SizeTracker, estimate

FAN_IN = 16                   # runs merged at once
UNLIMITED = 1 << 62
# Bytes per entry a spill needs on top of the entries themselves: the list of
# keys, their hashes and the sort order (three 8-byte slots).
SPILL_OVERHEAD = 24
_ONE = 1                      # CPython's one int 1 (small ints are cached): a cheap first test
# Bytes of `ArrowColumns` a reducer keeps for `ArrowItems` at most, whatever its budget:
# their keys are put in one Arrow string array, whose int32 offsets end at 2 GiB.
ARROW_HELD_LIMIT = 1 << 30
# Bytes a row held for the Arrow sum may take while `ArrowItems` sums, besides the held
# batches and a copy of them (their keys combined, the dictionary): Arrow's hash table of
# the keys, which grows by doubling, and the indices (1.6M distinct 11-char keys in
# 37 MB of batches: 230 MB of Arrow and 16 MB of numpy at the peak).
ARROW_SUM_BYTES = 128
# Pairs an `ArrowItems` makes Python objects of at a time when it is iterated.
ARROW_SLICE = 1 << 16
_first = itemgetter(0)


def fold_sum(d: dict, chunk: list) -> None:
    """Fold (key, value) pairs into `d` as reduceByKey(operator.add) does.

    The same as `d[k] = v if k is new else d[k] + v` for every pair, in the
    cheapest loop the chunk's values allow, decided by their types only: all
    the int 1 (a count): Counter's C loop; anything else that very loop (no
    zero to start a sum from: a first pass over the values to choose one, and
    the check in the loop it saves, cost the same as the loop itself: 46
    against 31 ms for 156k (str, float) pairs into 29k keys).

    Counts are found in one pass that unpacks each record as the general fold
    does (a record that is no pair fails there with the same error) and keeps
    the keys whose value is CPython's one int 1 object: `is` it, the value is
    an exact int (True, 1.0, numpy.int64(1) or an int subclass are other objects);
    an int 1 that is another object (none of CPython's own paths makes one)
    only sends the chunk to the general loop. Then the keys are counted as a
    list: 2.69M word counts 463 -> 430 ms, against a list of the values marshalled
    and compared with `[1] * n`'s bytes and the keys taken by itemgetter.
    """
    first = chunk[0] if chunk else None
    if type(first) is tuple and len(first) == 2 and first[1] is _ONE:   # may be counts
        keys = [key for key, value in chunk if value is _ONE]
        if len(keys) == len(chunk):
            _count_elements(d, keys)
            return
    _merge_into(d, chunk, operator.add)


def fold_sum_columns(d: dict, keys: list, values: list) -> None:
    """`fold_sum` of the pairs `zip(keys, values)` (a `Columns` batch: how a map-side
    combine's dict reaches its reducer), with no tuple per pair: counts with Counter's
    C loop, anything else with `fold_sum`'s loop."""
    if values and values[0] is _ONE and _all_int_ones(values):
        _count_elements(d, keys)
    else:
        _merge_into(d, zip(keys, values), operator.add)


def _all_int_ones(values: list) -> bool:
    """Whether every value is the int 1 (not True, 1.0, Decimal(1) or a subclass).
    marshal writes each exact type its own way and refuses other objects, so its bytes
    equal those of `[1] * n` only then; at half the cost of a pass over the values'
    types (a chunk of 1024 word counts: 35 against 75 ns a value)."""
    try:
        return marshal.dumps(values, 2) == _marshalled_ones(len(values))
    except ValueError:                            # an object marshal cannot write
        return False


@functools.lru_cache(maxsize=8)
def _marshalled_ones(n: int) -> bytes:
    return marshal.dumps([1] * n, 2)


def _merge_into(d: dict, pairs, merge) -> None:
    """Fold (key, combiner) pairs: a new key's combiner as it is, then `merge(old, it)`
    (reduceByKey(add)'s definition with `operator.add`: 5% slower than `old + value`
    written out, 156k (str, float) pairs into 29k keys 27.1 -> 28.4 ms, one loop less).

    A key is new when `get` finds None and `in` does not find it (a None found is then
    merged with, as the definition does): get's default argument cost more than the second
    look-up for the new keys alone (156k (str, float) pairs into 29k keys: 24 -> 21 ms).
    """
    get = d.get
    for key, comb in pairs:
        old = get(key)
        if old is None and key not in d:
            d[key] = comb
        else:
            d[key] = merge(old, comb)


def put_new(d: dict, keys: list, values: list) -> bool:
    """Put the pairs in `d` as they are, and say True, when no key is in `d` yet and none
    repeats: what every fold of combiners does with new keys, in C passes instead of a
    Python loop (a reducer's 357k word counts from two map tasks, the first all new:
    225-254 -> 173 ms with a user's merge, 193-207 -> 170-178 ms for `fold_sum_columns`).
    Otherwise `d` is left as it was: the first key found in it ends the look, so a
    chunk of known keys costs little more than one look-up.

    >>> d = {"a": 1}
    >>> put_new(d, ["b", "c"], [2, 3]), put_new(d, ["d", "a"], [4, 5]), put_new(d, [1, 1.0], [6, 7])
    (True, False, False)
    >>> d
    {'a': 1, 'b': 2, 'c': 3}
    """
    if not d.keys().isdisjoint(keys):
        return False
    new = dict(zip(keys, values))
    if len(new) != len(keys):
        return False
    d.update(new)
    return True


def _update(d: dict, keys: list, values: list) -> None:
    d.update(zip(keys, values))


def effective_budget(budget: int | None) -> int:
    """A task's budget in bytes; 0 or None means no limit."""
    return int(budget) if budget else UNLIMITED


def batch_records(mean_size: float, budget: int) -> int:
    """Records per pickled batch: FAN_IN batches fill at most half the budget."""
    per_batch = budget // (2 * FAN_IN)
    return int(max(16, min(65536, per_batch // max(16.0, mean_size))))


def new_run_path(folder: str, kind: str) -> str:
    """A fresh file name for a spilled run in `folder`."""
    return os.path.join(folder, f"{kind}-{uuid.uuid4().hex[:12]}.run")


# Bytes written into each spill folder, read once by the task that owns it (its
# "spill bytes"): counted as runs are written, since a merge deletes them at once.
_spilled: dict[str, int] = {}
_spilled_lock = threading.Lock()


def count_spilled(folder: str, size: int) -> None:
    """Note `size` bytes written into the spill folder `folder`."""
    with _spilled_lock:
        _spilled[folder] = _spilled.get(folder, 0) + size


def take_spilled(folder: str) -> int:
    """The bytes written into `folder` since the last call (0 if none)."""
    with _spilled_lock:
        return _spilled.pop(folder, 0)


def pickled(obj, fallback=None) -> bytes:
    """`obj` pickled for the engine's own spill and shuffle files, blocks and results:
    plain pickle, and where plain pickle cannot, `fallback(obj)` (cloudpickle's dumps
    when None; the engine core passes `serialization.dumps`, which keeps code whole).

    A task holds classes that came to it by value (a dataclass or namedtuple of the
    job's own `__main__`): plain pickle names them by a module it cannot find there.
    `pickle.loads` reads either, and cloudpickle gives a class it sees again in this
    process its first copy, so equal keys stay equal.
    """
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:
        if fallback is None:
            import cloudpickle    # only here: a process that never needs it does not load it
            fallback = cloudpickle.dumps
        return fallback(obj)


def dump_into(obj, out) -> None:
    """Write `obj` `pickled` into the file `out`."""
    out.write(pickled(obj))


@contextlib.contextmanager
def open_run(folder: str, kind: str):
    """(path, file) of a new run in `folder`, its bytes counted when it is closed."""
    path = new_run_path(folder, kind)
    with open(path, "wb") as f:
        try:
            yield path, f
        finally:
            count_spilled(folder, f.tell())


def read_run(path: str, delete: bool = True):
    """The batches of a run file, one after another; the file is deleted at the end."""
    try:
        with open(path, "rb") as f:
            while True:
                try:
                    yield pickle.load(f)
                except EOFError:
                    return
    finally:
        if delete:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class ExternalMap:
    """{key: combiner} that spills hash-sorted runs to disk past its budget.

    `spill` replaces the default spill (hash-sorted run) with a callable that
    takes the dict and empties it: the map side of a shuffle writes spilled
    combiners straight into its partitioned output instead. The fold is
    specialised by the aggregator's operator (`Aggregator.op`), never by the
    functions' code: reduceByKey(add)'s values and combiners fold with
    `fold_sum`, distinct's with `dict.update`, groupByKey's values append to
    their key's list inline; everything else with createCombiner /
    mergeValue / mergeCombiners.
    """

    def __init__(self, aggregator, budget: int | None, spill_dir, spill=None,
                 entry_limit: int | None = None):
        self.create = aggregator.create_combiner
        self.merge_value = aggregator.merge_value
        self.merge_combiners = aggregator.merge_combiners
        self.op = aggregator.op
        self.budget = effective_budget(budget)
        # The most one key's combiner may take: the budget, unless the map is given only
        # part of its task's budget (a hash join's fallback), whose whole a group may fill.
        self.entry_limit = effective_budget(entry_limit or budget)
        self.spill_dir = spill_dir
        self.map: dict = {}
        self.runs: list[str] = []
        self.spills = 0
        self.tracker = SizeTracker(self.budget)
        # Not `spill or self._spill_run`: a bound method kept on self is a reference
        # cycle, and the dict would then wait for the cyclic GC to be freed.
        self._spill = spill
        self.arrow: list = []         # ArrowColumns kept for the Arrow sum
        self.arrow_bytes = 0
        self.arrow_rows = 0
        self.arrow_bound = 0          # the sum of every |value| kept, or more

    # -- filling ------------------------------------------------------------------
    def insert_values(self, records) -> "ExternalMap":
        """Fold raw (key, value) records with createCombiner / mergeValue."""
        self._fold(records, self.create, self.merge_value)
        return self

    def insert_combiners(self, pairs) -> "ExternalMap":
        """Fold (key, combiner) pairs with mergeCombiners."""
        self._fold(pairs, None, self.merge_combiners)
        return self

    def insert_columns(self, keys: list, values: list) -> "ExternalMap":
        """Fold (key, combiner) pairs given as two lists (a `Columns` batch) with
        mergeCombiners; reduceByKey(add)'s with `fold_sum_columns`, distinct's with
        `dict.update` (a known key keeps its first object, as `_fold` keeps it), no tuple
        per pair; a chunk of new keys as it is (`_fold_columns`)."""
        fold = _update if self.op == "distinct" else self._fold_columns
        start = 0
        while start < len(keys):
            end = start + self.tracker.chunk
            chunk_keys = keys[start:end]
            fold(self.map, chunk_keys, values[start:end])
            self._after_chunk(chunk_keys[-1], len(chunk_keys))
            start = end
        return self

    def insert_batches(self, batches) -> "ExternalMap":
        """Merge a reducer's batches of (key, combiner) pairs as `read_batches(...,
        frames=True)` gives them: a `Columns` as its two lists (`insert_columns`), an
        Arrow frame (bytes) as its records (numpy imported only when one comes), any
        other batch as its pairs. reduceByKey(add)'s `ArrowColumns` (str keys, int sums)
        are kept as they are while nothing else came, then summed in Arrow (`items`),
        a `Columns` after them taken in Arrow too when its types fit; anything else turns
        them into pairs first, in order."""
        from minibig.shuffle.writer import ArrowColumns, Columns    # the writer imports this module
        for batch in batches:
            kind = type(batch)
            if (kind is ArrowColumns or self.arrow and kind is Columns) and self._take_arrow(batch):
                continue
            if self.arrow:
                self._arrow_to_rows()
            if kind is Columns:
                self.insert_columns(batch.keys, batch.values)
            elif kind is ArrowColumns:
                self.insert_columns(*batch.columns())
            elif kind is bytes:
                from minibig.shuffle.arrowpath import frame_records
                self.insert_combiners(frame_records(batch))
            else:
                self.insert_combiners(batch)
        return self

    def _take_arrow(self, batch) -> bool:
        """Keep a batch for the Arrow sum (`ArrowColumns`, or a `Columns` whose types fit)
        if it may: a reduceByKey(add) with nothing folded as pairs yet, whose sums cannot
        leave int64 (the sum of every |value| taken stays below 2**63), within the budget
        with what the sum will need (twice the batches and ARROW_SUM_BYTES a row: so at
        most half of it held) and ARROW_HELD_LIMIT (past either, what it holds goes to the
        dict, which spills)."""
        if self.op != "sum" or self.map or self.runs:
            return False
        from minibig.shuffle.writer import ArrowColumns
        if type(batch) is not ArrowColumns:
            batch = ArrowColumns.of(batch.keys, batch.values)
            if batch is None:
                return False
        if not len(batch):
            return True
        import pyarrow.compute as pc
        low, high = pc.min_max(batch.batch.column(1)).values()
        bound = self.arrow_bound + max(-low.as_py(), high.as_py()) * len(batch)
        if bound >= 1 << 63:
            return False
        self.arrow_bound = bound
        self.arrow.append(batch)
        self.arrow_bytes += batch.batch.nbytes
        self.arrow_rows += len(batch)
        if (2 * self.arrow_bytes + ARROW_SUM_BYTES * self.arrow_rows > self.budget
                or self.arrow_bytes > ARROW_HELD_LIMIT):
            self._arrow_to_rows()
        return True

    def _arrow_to_rows(self) -> None:
        """Fold the batches kept for the Arrow sum as pairs, in the order they came."""
        held, self.arrow = self.arrow, []
        self.arrow_bytes = self.arrow_rows = self.arrow_bound = 0
        for batch in held:
            self.insert_columns(*batch.columns())

    def insert_sides(self, records, sides: tuple, width: int, list_type=list) -> "ExternalMap":
        """A cogroup's fold: append the value of each (key, value) record to the lists
        `group[s]`, s in `sides`, of its key's group: a tuple of `width` lists of
        `list_type`, made when the key is new. Spilled groups are merged by the
        aggregator's merge_combiners; values keep their arrival order."""
        d, it, tracker = self.map, iter(records), self.tracker
        get = d.get
        only = sides[0] if len(sides) == 1 else None
        while True:
            chunk = list(itertools.islice(it, tracker.chunk))
            if not chunk:
                return self
            if only is not None and width == 2:          # a join: no loop to build the group
                for key, value in chunk:
                    group = get(key)
                    if group is None:
                        group = d[key] = (list_type(), list_type())
                    group[only].append(value)
            else:
                for key, value in chunk:
                    group = get(key)
                    if group is None:
                        group = d[key] = tuple([list_type() for _ in range(width)])
                    for side in sides:
                        group[side].append(value)
            self._after_chunk(chunk[-1][0], len(chunk))

    def _fold(self, records, create, merge) -> None:
        d, it, tracker = self.map, iter(records), self.tracker
        get = d.get
        while True:
            chunk = list(itertools.islice(it, tracker.chunk))
            if not chunk:
                return
            if self.op == "sum":              # reduceByKey(add): values and combiners alike
                fold_sum(d, chunk)
            elif self.op == "distinct":       # every value None; a known key keeps its first object
                d.update(chunk)
            elif self.op == "group" and create is not None:   # groupByKey's values, inline
                for key, value in chunk:
                    group = get(key)
                    if group is None:
                        d[key] = create(value)
                    else:
                        group.append(value)
            elif create is None or create is identity:   # reduceByKey(f): a value is its combiner
                _merge_into(d, chunk, merge)
            # A key is new when get finds None and `in` does not find it (see _merge_into).
            else:
                for key, value in chunk:
                    old = get(key)
                    if old is None and key not in d:
                        d[key] = create(value)
                    else:
                        d[key] = merge(old, value)
            self._after_chunk(chunk[-1][0], len(chunk))

    def _fold_columns(self, d: dict, keys: list, combiners: list) -> None:
        """A chunk of (key, combiner) columns folded: as it is when every key is new
        (`put_new`: a reducer's first map output, whose keys come from one dict), else
        reduceByKey(add)'s with `fold_sum_columns`, any other with mergeCombiners."""
        if put_new(d, keys, combiners):
            return
        if self.op == "sum":
            fold_sum_columns(d, keys, combiners)
        else:
            _merge_into(d, zip(keys, combiners), self.merge_combiners)

    def _after_chunk(self, key, count: int) -> None:
        """Sample the size of the last key's entry; spill when past the budget."""
        tracker = self.tracker
        entry = estimate(key) + estimate(self.map[key])
        if entry > self.entry_limit:
            raise MemoryBudgetError("the group", key, entry, self.entry_limit)
        tracker.sample(entry)
        size = self.estimated_size()
        if size >= self.budget:
            self.spill()
            tracker.next_chunk(0, 0)
        else:
            tracker.next_chunk(size, count)

    def estimated_size(self) -> int:
        """Bytes the dict holds, with what spilling it would need."""
        d = self.map
        return sys.getsizeof(d) + int(len(d) * (self.tracker.mean + SPILL_OVERHEAD))

    # -- spilling -----------------------------------------------------------------
    def spill(self) -> None:
        """Write the in-memory entries out and start again with an empty dict."""
        if self.map:
            (self._spill or self._spill_run)(self.map)
            self.spills += 1
        self.map.clear()                          # in place: the fold loop holds the dict
        self.tracker.reset()

    def _spill_run(self, d: dict) -> None:
        import numpy as np                        # only a spill needs it: the worker starts without
        keys = list(d)
        hashes = np.fromiter(map(local_hash, keys), dtype=np.int64, count=len(keys))
        order = np.argsort(hashes, kind="stable")
        step = batch_records(self.tracker.mean, self.budget)
        with open_run(self.spill_dir(), "map") as (path, f):
            for start in range(0, len(keys), step):
                rows = order[start:start + step]
                batch_keys = [keys[i] for i in rows.tolist()]
                dump_into((hashes[rows].tolist(), batch_keys, [d.pop(k) for k in batch_keys]), f)
        self.runs.append(path)

    # -- reading ------------------------------------------------------------------
    def items(self):
        """Every (key, combiner): straight from the dict (`DictItems`), summed in Arrow
        (`ArrowItems`), or merged from the runs."""
        if self.arrow:
            return ArrowItems([held.batch for held in self.arrow])
        if not self.runs:
            return DictItems(self.map)
        self.spill()
        while len(self.runs) > FAN_IN:                # merge the oldest runs into one
            head, self.runs = self.runs[:FAN_IN], self.runs[FAN_IN:]
            self.runs.insert(0, self._write_merged(head))
        runs, self.runs = self.runs, []
        return (kc for _, kc in self._merge(runs))

    def _write_merged(self, runs: list) -> str:
        step = batch_records(self.tracker.mean, self.budget)
        with open_run(self.spill_dir(), "merged") as (path, f):
            merged = self._merge(runs)
            while True:
                batch = list(itertools.islice(merged, step))
                if not batch:
                    break
                dump_into(([h for h, _ in batch], [kc[0] for _, kc in batch],
                           [kc[1] for _, kc in batch]), f)
        return path

    def _merge(self, runs: list):
        """(hash, (key, combiner)) of the runs merged, each key once, in hash order.

        A merged combiner is measured (`estimate`) when its shallow size is
        over entry_limit / 1024 — a group that grows big by its number of items,
        which is how a hot key's group grows — and on every 64th merge
        otherwise: measuring each one would cost more than the merge.
        """
        streams = [_run_entries(path) for path in runs]
        merge, limit = self.merge_combiners, self.entry_limit
        shallow_limit = limit >> 10
        merges = 0
        current, keys, combs = None, [], []
        for h, key, comb in heapq.merge(*streams, key=_first):
            if h != current:
                for pair in zip(keys, combs):
                    yield current, pair
                current, keys, combs = h, [key], [comb]
                continue
            for i, seen in enumerate(keys):
                if seen is key or seen == key:
                    combs[i] = merged = merge(combs[i], comb)
                    merges += 1
                    if sys.getsizeof(merged) > shallow_limit or not merges & 63:
                        size = estimate(merged)
                        if size > limit:
                            raise MemoryBudgetError("the group", key, size, limit)
                    break
            else:
                keys.append(key)
                combs.append(comb)
        for pair in zip(keys, combs):
            yield current, pair


class DictItems:
    """An iterator over a dict's (key, value) items that keeps the dict: what a combine
    that never spilled gives (`ExternalMap.items`), so that a collect may send the dict
    as two columns (`minibig.core.task.collected_records`), no tuple per item. `iter()` of it
    is the dict's own C iterator, which `next()` of it advances too, so a reader that
    loops over it pays nothing per item."""

    __slots__ = ("dict", "_items")

    def __init__(self, d: dict):
        self.dict = d
        self._items = iter(d.items())

    def __iter__(self):
        return self._items

    def __next__(self):
        return next(self._items)

    def untouched(self) -> bool:
        """Whether no item has been taken yet."""
        return operator.length_hint(self._items) == len(self.dict)

    def __reduce__(self):
        return self._items.__reduce__()       # what is left, as the dict's iterator pickles


class ArrowItems:
    """The (key, sum) pairs of reduceByKey(add)'s `ArrowColumns` record batches, in the
    order the keys first came (the order of the dict they would have been folded into):
    Arrow's dictionary encoding numbers the keys so, and numpy adds each value into its
    key's sum (exact: `ExternalMap._take_arrow` keeps the sums within int64). Arrow's
    own hash aggregation is 30% faster but gives the keys in another order. Iterating
    gives the pairs (Python str and int); a collect that nothing has read from yet sends
    `columns` slices instead (`minibig.core.task.collected_records`), no tuple per pair.

    The sum of 357k keys of two map tasks into 307k: 0.06 s, against 0.25 s to unmarshal
    them, fold them into a dict and list it again for the result."""

    __slots__ = ("keys", "values", "_items")

    def __init__(self, batches: list):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        table = pa.Table.from_batches(batches)
        encoded = pc.dictionary_encode(table.column("key").combine_chunks())
        self.keys = encoded.dictionary
        sums = np.zeros(len(self.keys), dtype=np.int64)
        np.add.at(sums, encoded.indices.to_numpy(), table.column("value").combine_chunks().to_numpy())
        self.values = pa.array(sums)
        self._items = None

    def __len__(self) -> int:
        return len(self.keys)

    def columns(self, start: int, end: int) -> tuple[list, list]:
        """The keys and the sums of the pairs [start, end), as two fresh lists."""
        return (self.keys.slice(start, end - start).to_pylist(),
                self.values.slice(start, end - start).to_pylist())

    def __iter__(self):
        # A slice of ARROW_SLICE pairs at a time: the Python objects of every pair at once
        # (~100 bytes a pair against Arrow's ~20) would be several times the budget that
        # bounded the batches; a reducer's output read by a next stage (mapValues, a join)
        # holds one slice (1M pairs: 0.19 -> 0.16 s to iterate, the slices in cache).
        if self._items is None:
            count = len(self)
            self._items = itertools.chain.from_iterable(
                zip(*self.columns(start, min(start + ARROW_SLICE, count)))
                for start in range(0, count, ARROW_SLICE))
        return self._items

    def __next__(self):
        return next(iter(self))

    def untouched(self) -> bool:
        """Whether no pair has been asked for yet."""
        return self._items is None

    def __reduce__(self):
        return iter, (list(self),)


def _run_entries(path: str):
    for hashes, keys, combs in read_run(path):
        yield from zip(hashes, keys, combs)


class ExternalSorter:
    """Sorts records by `key` (reversed if asked), spilling sorted runs past its budget."""

    def __init__(self, key, reverse: bool, budget: int | None, spill_dir):
        self.key, self.reverse = key, reverse
        self.budget = effective_budget(budget)
        self.spill_dir = spill_dir
        self.buffer: list = []
        self.runs: list[str] = []
        self.spills = 0
        self.tracker = SizeTracker(self.budget)

    def sort(self, records):
        """An iterator over `records` in order."""
        buffer, it, tracker = self.buffer, iter(records), self.tracker
        while True:
            chunk = list(itertools.islice(it, tracker.chunk))
            if not chunk:
                break
            buffer.extend(chunk)
            size = estimate(chunk[-1])
            if size > self.budget:
                raise MemoryBudgetError("a record", _key_of(chunk[-1]), size, self.budget)
            tracker.sample(size)
            total = sys.getsizeof(buffer) + int(len(buffer) * (tracker.mean + SPILL_OVERHEAD))
            if total >= self.budget:
                self._spill()
                buffer = self.buffer
                tracker.next_chunk(0, 0)
            else:
                tracker.next_chunk(total, len(chunk))
        if not self.runs:
            buffer.sort(key=self.key, reverse=self.reverse)
            self.buffer = []
            return iter(buffer)
        self._spill()
        while len(self.runs) > FAN_IN:
            head, self.runs = self.runs[:FAN_IN], self.runs[FAN_IN:]
            self.runs.insert(0, self._write_run(self._merge(head)))
        runs, self.runs = self.runs, []
        return self._merge(runs)

    def _spill(self) -> None:
        buffer, self.buffer = self.buffer, []
        if not buffer:
            return
        buffer.sort(key=self.key, reverse=self.reverse)
        self.runs.append(self._write_run(iter(buffer), buffer))
        self.spills += 1
        self.tracker.reset()

    def _write_run(self, records, owned: list | None = None) -> str:
        step = batch_records(self.tracker.mean, self.budget)
        with open_run(self.spill_dir(), "sort") as (path, f):
            while True:
                batch = list(itertools.islice(records, step))
                if not batch:
                    break
                dump_into(batch, f)
        if owned is not None:
            owned.clear()
        return path

    def _merge(self, runs: list):
        streams = [itertools.chain.from_iterable(read_run(path)) for path in runs]
        return heapq.merge(*streams, key=self.key, reverse=self.reverse)


def _key_of(record):
    return record[0] if isinstance(record, tuple) and len(record) == 2 else record
