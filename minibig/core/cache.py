"""A worker's store of persisted partitions (Spark's BlockManager, in small).

Blocks are whole partitions, keyed "<driver>/rdd<id>_<split>". A memory
block is kept as its level says: *serialized* (the default of every level
but MEMORY_AND_DISK_DESER, as in PySpark, whose MEMORY_ONLY is serialized
in Python) it is the pickled bytes of the records (protocol 5), unpickled
afresh by each task that reads it; *deserialized* it is the list of records
itself. Serialized, a task that mutates the records it reads (`l.append(9)`
on a cached list) changes only its own copy, so what a later action reads
never depends on what an earlier task did. Two forms keep that promise
without pickles, since unpickling on every read costs up to several times
the read (see the commit that made blocks serialized):

* a block whose records are all immutable (numbers, strings, bytes, None,
  dates, and tuples and frozensets of them: `all_immutable`) is kept as the
  list itself, since no task can change it and a task only ever gets an
  iterator over it;
* a block whose only mutable parts are plain lists of immutable items, one
  per record (`groupByKey`'s `(key, values)`, a record that is such a list:
  `CopiedLists`) keeps those items as tuples and makes every list afresh,
  in C, for each read: a task gets new lists, sharing only immutable objects.
  PageRank's cached links (Debian graph: 28k groups of 156k str a partition)
  read in 12 ms against 30 ms unpickled; its 20 iterations, in one process
  on the same links, took 5.4-6.8 s of CPU against 9.0-10.7 s unpickling.
  Plain str items (and keys) are kept one object per value (`shared_strs`):
  a shuffle gave one per occurrence, and the iterations touch 5x fewer objects.

Deserialized, every task on the worker shares the same objects, as Scala
Spark's deserialized levels do: faster to read, and the user's promise not
to mutate them. Memory blocks are counted (the bytes' length, or an
estimate of the records' size) against the worker's memory budget, which
running shuffles share (`minibig.core.memory.MemoryPool`); disk blocks are
pickled files in the worker's folder. Policy when a block does not fit in
memory:

    MEMORY_ONLY        evict least-recently-used memory blocks of other
                       datasets; if it still does not fit, do not keep it
                       (it is recomputed from lineage when needed again)
    MEMORY_AND_DISK    write it to disk instead
    DISK_ONLY          always on disk

An evicted block goes to disk if its own level says MEMORY_AND_DISK, and is
dropped otherwise.

A block that is lost (its worker died, or it was evicted) is simply
recomputed by the next task that needs it: lineage is the fault tolerance.
"""

from __future__ import annotations

import copyreg
import datetime
import decimal
import io
import itertools
import operator
import os
import pickle
import sys
import threading
from collections import OrderedDict
from operator import attrgetter, itemgetter

from minibig.core import serialization
from minibig.shuffle.spill import pickled

SIZE_SAMPLE = 64
BATCH = 1024                  # records per pickle in a serialized block
# A key's share of `CopiedLists.positions`, its int included: just past a resize, a 24-byte
# entry for each of two usable slots, a 4-byte index for each of three, and a 32-byte int:
# 92 bytes (str keys: 16-byte entries, 76). Measured with tracemalloc (test_join_positions).
POSITION_BYTES = 96
_first = itemgetter(0)
_second = itemgetter(1)
_attributes = attrgetter("__dict__")
_STR = {str}


def estimate_size(records: list) -> int:
    """Rough in-memory size of a list of records, from a sample."""
    if not records:
        return 64
    step = max(1, len(records) // SIZE_SAMPLE)
    return int(_mean_size(records[::step]) * len(records)) + sys.getsizeof(records)


def _mean_size(sample: list) -> float:
    return sum(_deep_size(r) for r in sample) / len(sample)


def _deep_size(obj, depth: int = 0) -> int:
    size = sys.getsizeof(obj)
    if depth < 2 and isinstance(obj, (tuple, list)):
        size += sum(_deep_size(x, depth + 1) for x in obj[:8]) * max(1, len(obj) // 8 or 1)
    return size


_ATOMIC = frozenset({int, float, str, bytes, bool, type(None), complex, datetime.date,
                     datetime.datetime, datetime.time, datetime.timedelta, decimal.Decimal})


def all_immutable(records) -> bool:
    """True when no record of the iterable `records` can be changed in place: atoms, and
    tuples and frozensets of them.

    >>> all_immutable([1, "a", (2.0, (None, b"x"))]), all_immutable([(1, [2])])
    (True, False)
    """
    atomic = _ATOMIC
    stack = list(records)
    if set(map(type, stack)) <= atomic:       # atoms only, checked in C
        return True
    while stack:
        record = stack.pop()
        kind = type(record)
        if kind in atomic:
            continue
        if kind is tuple or kind is frozenset:
            stack.extend(record)
            continue
        return False
    return True


# What a class's dict holds when its class statement defines nothing but a docstring (and
# __slots__), or what Python adds: 3.13's __firstlineno__ and __static_attributes__, and
# __slotnames__, the names of its slots that copyreg caches there once pickle has asked.
_NOTHING_OF_ITS_OWN = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
                                 "__slots__", "__firstlineno__", "__static_attributes__",
                                 "__slotnames__"})


def rebuilt_by_its_type(kind: type) -> bool:
    """Whether `kind(items)` makes what unpickling a `kind` holding `items` makes: list,
    or a subclass whose classes up to list define nothing of their own (nor slots) and
    whose only classes past list are list and object, made by `type`, with no reducer in
    copyreg. Pickle makes such an instance with list.__new__, fills it with list.extend
    and sets its __dict__ (empty, or `CopiedLists.of` refuses the block); a class that
    defines anything (__reduce__, extend, __init__...) or a mixin past list (its
    __reduce_ex__) may change that, so none is accepted."""
    if kind is list:
        return True
    if not issubclass(kind, list) or type(kind) is not type or kind in copyreg.dispatch_table:
        return False
    mro = kind.__mro__
    at = mro.index(list)
    return mro[at:] == (list, object) and all(
        vars(cls).keys() <= _NOTHING_OF_ITS_OWN and not vars(cls).get("__slots__")
        and not vars(cls).get("__slotnames__") for cls in mro[:at])


class CopiedLists:
    """A block of lists of immutable items, or of (immutable key, such a list) pairs, all
    its lists of one type: the keys and each list's items kept as tuples, every read
    making the lists afresh in C (`kind(items)`), so no task can change what another
    reads, and nothing immutable is copied."""

    __slots__ = ("keys", "items", "kind", "_positions")

    def __init__(self, keys: list | None, items: list, kind: type):
        self.keys, self.items, self.kind = keys, items, kind
        self._positions: dict | None = None

    def positions(self) -> dict | None:
        """{key: its position in `keys`} of a block of pairs whose keys all differ, made at
        the first call and kept with the block (a join probes the same cached block every
        iteration: `minibig.rdd.cogroup._probe`); None for a block of lists, or when two
        keys are equal. Two tasks may make it at once: each keeps an equal dict."""
        if self._positions is None and self.keys is not None:
            positions = dict(zip(self.keys, range(len(self.keys))))
            self._positions = positions if len(positions) == len(self.keys) else {}
        return self._positions or None

    @classmethod
    def of(cls, records: list) -> "CopiedLists | None":
        """`records` in this form, or None when they are not all of one of its shapes."""
        if not records:
            return None
        if type(records[0]) is tuple:
            if set(map(type, records)) != {tuple} or set(map(len, records)) != {2}:
                return None
            keys = list(map(_first, records))
            if not all_immutable(keys):
                return None
            lists = list(map(_second, records))
        else:
            keys, lists = None, records
        kinds = set(map(type, lists))
        kind = kinds.pop()
        if kinds or not rebuilt_by_its_type(kind):
            return None
        # A list subclass's instance may carry attributes, which kind(items) would lose.
        if kind.__dictoffset__ and any(map(_attributes, lists)):
            return None
        if set(map(type, itertools.chain.from_iterable(lists))) == _STR:
            return cls(*shared_strs(keys, lists), kind)
        if not all_immutable(itertools.chain.from_iterable(lists)):
            return None
        return cls(keys, list(map(tuple, lists)), kind)

    def estimated_size(self) -> int:
        """`estimate_size` of the records a read gives, from a sample of them."""
        count = len(self.items)
        if not count:
            return 64
        step = max(1, count // SIZE_SAMPLE)
        lists = list(map(self.kind, self.items[::step]))
        sample = lists if self.keys is None else list(zip(self.keys[::step], lists))
        return int(_mean_size(sample) * count) + sys.getsizeof(self.items)

    def __iter__(self):
        lists = map(self.kind, self.items)
        return lists if self.keys is None else CopiedPairs(self, lists)


class CopiedPairs(zip):
    """A read of a `CopiedLists` block of (key, list) pairs: zip's own C loop over the
    keys and the lists made afresh, and the block (`block`), for a reader that wants the
    lists of some keys only: a join's probe makes none for a key the other side lacks
    (`minibig.rdd.cogroup._probe`: PageRank's pages without in-links, 41% of the
    Debian graph's, once the first iteration dropped them)."""

    __slots__ = ("block",)

    def __new__(cls, block: CopiedLists, lists):
        read = super().__new__(cls, block.keys, lists)
        read.block = block
        return read

    def untouched(self) -> bool:
        """Whether no pair has been read yet (zip's own iterator over the keys says)."""
        return operator.length_hint(super().__reduce__()[1][0]) == len(self.block.keys)

    def __reduce__(self):
        """Pickled (a task's records may hold their iterator) as the plain zip it reads as."""
        return zip, super().__reduce__()[1]


def shared_strs(keys: list | None, lists) -> tuple[list | None, list]:
    """The keys, and the lists as tuples, every str in them one object per value: the
    lists' items, all plain str, and the keys if they are too (1, 1.0 and True are equal,
    not the same). A groupByKey's values come from its shuffle with an object for each
    occurrence (PageRank's links: 156k neighbours of 29k pages a partition); shared, a
    read's lists, and the dict look-ups they feed (by identity first), touch five times
    fewer objects: the job's iterations -10-14% CPU."""
    shared: dict = {}
    same = shared.setdefault
    if keys is not None and set(map(type, keys)) == _STR:
        keys = list(map(same, keys, keys))
    return keys, [tuple(map(same, items, items)) for items in lists]


def dumps_records(records: list) -> bytes:
    """The pickled bytes of a block: pickled lists of BATCH records one after the other
    (`pickled`: plain pickle, cloudpickle for what it cannot pickle).

    Batches let a reader unpickle as it goes: the records of one batch are
    freed before the next is made, so the garbage collector, which scans
    every live object, is not run again and again over the whole partition
    (that made one pickle of 500,000 small lists 2-3x slower to load).
    """
    out = io.BytesIO()
    for start in range(0, len(records), BATCH):
        out.write(pickled(records[start:start + BATCH], serialization.dumps))
    return out.getvalue()


def loads_records(data: bytes):
    """The records of `dumps_records` bytes, unpickled one batch at a time.

    >>> list(loads_records(dumps_records(list(range(BATCH + 2))))) == list(range(BATCH + 2))
    True
    """
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        yield from pickle.load(stream)


class BlockStore:
    """Persisted partitions on one worker, in memory and on disk."""

    def __init__(self, folder: str, pool):
        self.folder = os.path.join(folder, "blocks")
        self.pool = pool                      # the worker's MemoryPool
        # key -> (pickled bytes, the records list, or CopiedLists; size; to disk)
        self.memory: OrderedDict[str, tuple[bytes | list | CopiedLists, int, bool]] = OrderedDict()
        self.on_disk: set[str] = set()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key: str):
        """An iterable over the records of a block, or None: every mutable object in it
        made afresh for this read, unless the block is deserialized."""
        with self.lock:
            if key in self.memory:
                self.memory.move_to_end(key)
                stored = self.memory[key][0]
                if not isinstance(stored, bytes):
                    return stored
            elif key not in self.on_disk:
                return None
            else:
                stored = None
        if stored is None:
            with open(self._path(key), "rb") as f:
                stored = f.read()
        return loads_records(stored)              # outside the lock: other tasks read meanwhile

    def put(self, key: str, records: "list | CopiedLists", level, task=None) -> bool:
        """Keep a block that `task` computed as `level` says; True if it was kept. `records`
        may come as a `CopiedLists` block already, for a serialized memory level (a task
        that built its groups in that form: `minibig.rdd.shuffled.DistinctCombinedRDD`),
        kept as it is in memory, or pickled as its records where it goes to disk."""
        if level.useMemory:
            if type(records) is CopiedLists:
                stored, size = records, records.estimated_size()
            else:
                stored = records if level.deserialized or all_immutable(records) else (
                    CopiedLists.of(records) or dumps_records(records))
                size = sys.getsizeof(stored) if isinstance(stored, bytes) else estimate_size(records)
            if type(stored) is CopiedLists and stored.keys is not None:
                size += POSITION_BYTES * len(stored.keys)     # its positions, once a join asks
            with self.lock:
                evicted = self._make_room(size, key.rsplit("_", 1)[0], self.pool.storage_limit(task))
                if evicted is not None:
                    self.memory[key] = (stored, size, level.useDisk)
                    self._add_used(size)
            # Outside the lock: a task reading a victim meanwhile finds no block and
            # recomputes it, as for any evicted block.
            for victim, victim_records in evicted or ():
                self._write(victim, victim_records)
            if evicted is not None:
                return True
        if level.useDisk:
            self._write(key, records)
            return True
        return False

    def _make_room(self, size: int, dataset: str, limit: int):
        """Evict blocks until `size` more bytes fit under `limit`: the evicted blocks that
        go to disk, as [(key, records)]; None (and nothing evicted) if it cannot fit."""
        others = [(k, v[1]) for k, v in self.memory.items() if not k.startswith(dataset + "_")]
        if self.used - sum(s for _, s in others) + size > limit:
            return None                     # never evict a sibling partition for this one
        to_disk = []
        for victim, _ in others:
            if self.used + size <= limit:
                break
            records, victim_size, keep_on_disk = self.memory.pop(victim)
            self._add_used(-victim_size)
            if keep_on_disk:
                to_disk.append((victim, records))
        return to_disk

    def _add_used(self, delta: int) -> None:
        self.used += delta
        self.pool.add_storage(delta)

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, key.replace("/", "_"))

    def _write(self, key: str, records) -> None:
        """Write a block's file: its pickled bytes as they are, or the records pickled."""
        os.makedirs(self.folder, exist_ok=True)
        tmp = self._path(key) + ".tmp"
        if not isinstance(records, bytes):
            records = dumps_records(records if isinstance(records, list) else list(records))
        with open(tmp, "wb") as f:
            f.write(records)
        os.replace(tmp, self._path(key))
        with self.lock:
            self.on_disk.add(key)

    def drop(self, prefix: str) -> None:
        """Forget every block whose key starts with `prefix` (one dataset, or a driver)."""
        with self.lock:
            for key in [k for k in self.memory if k.startswith(prefix)]:
                self._add_used(-self.memory.pop(key)[1])
            gone = [k for k in self.on_disk if k.startswith(prefix)]
            self.on_disk.difference_update(gone)
        for key in gone:
            try:
                os.unlink(self._path(key))
            except FileNotFoundError:
                pass

    def keys(self) -> list[str]:
        """Every block's key: in memory (least recently used first), then on disk."""
        with self.lock:
            return list(self.memory) + sorted(self.on_disk)
