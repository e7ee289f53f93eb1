"""The internal data path: how pairs travel from mapper to combiner to reducer.

In Hadoop Streaming (and mrjob) every pair between two phases is written as
a line by INTERNAL_PROTOCOL and read back by the next phase, so what a
combiner or reducer sees is exactly what the protocol can express: with
JSON, tuples arrive as lists and dict keys as strings. Keys are grouped,
partitioned and sorted as *encoded* bytes: two keys are the same key when
their encodings are equal, and a reducer sees its keys in the byte order of
their encodings.

minibig keeps that observable behaviour without encoding every record:

`JSONPath` (INTERNAL_PROTOCOL is exactly JSONProtocol, the default)
    A pair whose key is a `str` and whose value is a str, int, float, bool
    or None survives a JSON round trip unchanged, so it travels as the
    Python objects themselves; the map side groups such pairs in a dict by
    their key: one dict lookup per pair, a type check per value (skipped
    when a mapper emits the same constant object again) and one per new
    key (see `JSONPath.group`). Any other key is
    replaced by its JSON text (bytes, which can never equal a `str` key), and
    any other value by its JSON round trip, at the moment it is produced, so
    grouping, partitioning and what the user's code receives match mrjob.
    The reduce side orders what it receives by the keys' JSON texts.

`LinePath` (any other internal protocol, e.g. PickleProtocol or a custom one)
    Exactly Hadoop Streaming's contract: each pair is written as a line, the
    line's key field (up to the first tab) groups, partitions and sorts it,
    and each phase reads the lines back with the protocol.

Both give the same interface to the tasks:

    group(pairs, groups)        map side: add pairs to {identity: [stored values]}
    flat(pairs)                 map side: the pairs as `GroupColumns`, one value per identity
    keyed(ids, stored, pos)     map side: (key, iterator of values) for the combiner
    reducer_input(records, sort_values, pos, budget, spill_dir)
                                reduce side: (key, iterator of values) per key for
                                the reducer, from the shuffle records as received
                                (`column_records`), keys in the order of their
                                encoding, and with SORT_VALUES each key's values too
    roundtrip(key, value)       a pair as the next step's mapper will see it

The reduce side is Hadoop's: what every map task sent is sorted by the
encoded key (by the encoded key, then the encoded value, with SORT_VALUES)
in the engine's `ExternalSorter`, which spills sorted runs past the task's
memory budget and merges them back, stably; equal keys are then adjacent and
each key's values stream to the reducer in the order they arrived. So a
partition, or one key's values, may be bigger than the budget.

Between the two sides a map task sends its groups as columns, not as a
record per key: `column_records` cuts them by reducer into records
`(reducer, bytes)`, each a few thousand keys with their values packed by
marshal, and `unpacked` turns what a reducer receives back into
`(identity, values)` records.

>>> path = JSONPath()
>>> groups = {}
>>> path.group([("a", 1), ("a", (2, 3)), ((1, "x"), 4), ([1, "x"], 5), (7, None)], groups)
(7, None)
>>> records = column_records(columns_of(groups), 1)
>>> from minibig.mapreduce.tasks import Position
>>> [(key, list(values)) for key, values in path.reducer_input(records, False, Position())]
[('a', [1, [2, 3]]), (7, [None]), ([1, 'x'], [4, 5])]
"""

from __future__ import annotations

import json
import marshal
import pickle
from collections import _count_elements   # Counter's C counting loop, works on any dict
from itertools import chain, compress, groupby, islice, repeat, starmap
from json.encoder import encode_basestring_ascii
from operator import itemgetter, mul

from minibig.mapreduce.protocols import JSONProtocol, json_text
from minibig.shuffle.hashing import hash_partitions, split_by_partition
from minibig.shuffle.sizing import estimate
from minibig.shuffle.spill import ExternalSorter

#: Types a JSON round trip gives back unchanged (bool and float included).
PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
_first = itemgetter(0)
_second = itemgetter(1)
_third = itemgetter(2)


def path_for(protocol):
    """The data path for an internal protocol instance."""
    if type(protocol) is JSONProtocol:
        return JSONPath()
    return LinePath(protocol)


def record_values(record) -> tuple | list:
    """The values an `(identity, values)` record carries (see `unpacked`): a list,
    or a tuple (one value, or a counted key's `(value,) * n`), or for a counted key
    with many values a `Repeated`.
    """
    return record[1]


#: Counted values sent as a `Repeated` from this many on, as a tuple below.
REPEATED_FROM = 64


class Repeated:
    """A counted key's values in a shuffle record: `count` times one value.

    Iterates as `(value,) * count` would, and pickles as the pair, not as
    `count` references: word count's frequent words without a combiner.

    >>> import pickle
    >>> list(Repeated(1, 3)), pickle.loads(pickle.dumps(Repeated("a", 2))) == Repeated("a", 2)
    ([1, 1, 1], True)
    """

    __slots__ = ("value", "count")

    def __init__(self, value, count: int):
        self.value, self.count = value, count

    def __iter__(self):
        return repeat(self.value, self.count)

    def __eq__(self, other):
        # The value's type too: 1, 1.0 and True are three JSON values.
        return (type(other) is Repeated and self.count == other.count
                and type(self.value) is type(other.value) and self.value == other.value)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Repeated({self.value!r}, {self.count})"

    def __reduce__(self):
        return Repeated, (self.value, self.count)


def _one_per_value(record):
    return zip(repeat(record[0]), record[1])


def sorted_groups(records, order, one_per_value: bool, budget=None, spill_dir=None):
    """(identity, iterator of stored values) per key of `records`, sorted by `order`.

    The records are sorted at once, within `budget` (the engine's
    `ExternalSorter`: sorted runs spilled into `spill_dir()`, merged back
    stably); the groups are then read from the sorted stream one by one.
    `one_per_value` splits the records into one per value first, for an
    `order` that looks at the value too.
    """
    if one_per_value:
        records = chain.from_iterable(map(_one_per_value, records))
    ordered = ExternalSorter(order, False, budget, spill_dir).sort(records)
    if one_per_value:
        return ((identity, map(_second, group)) for identity, group in groupby(ordered, _first))
    return ((identity, chain.from_iterable(map(_second, group)))
            for identity, group in groupby(ordered, _first))


def _sort_texts(identities: list):
    """The JSON texts of identities (a str key, or a key's JSON text as bytes), in C
    when they are all str."""
    if set(map(type, identities)) <= {str}:
        return map(encode_basestring_ascii, identities)
    return map(JSONPath.sort_key, identities)


def _decorated_columns(identities: list, values) -> list:
    """[(JSON text of the key, identity, values)] for identities and their values."""
    return list(zip(_sort_texts(identities), identities, values))


def _decorated_block(record) -> list:
    """[(JSON text of the key, identity, values)] for the keys of one shuffle record
    (`column_records`), straight from its columns: no `(identity, values)` tuple first."""
    return _decorated_columns(*_block_columns(record))


def text_sorted(records, budget=None, spill_dir=None):
    """The keys of the shuffle records a reducer received (`column_records`), decorated
    as (JSON text of the key, identity, values) and sorted on the text, stably.

    Each block is decorated in one C pass when its keys are str, and sorted
    with a C key function by the engine's `ExternalSorter` (sorted runs
    spilled into `spill_dir()` past `budget`, merged back). Identities are
    equal exactly when their texts are, so equal identities end up adjacent,
    in the order they arrived.
    """
    decorated = chain.from_iterable(map(_decorated_block, records))
    return ExternalSorter(_first, False, budget, spill_dir).sort(decorated)


def split_groups(groups, threshold: int):
    """(identities, values) of the groups with at least `threshold` values (for the
    combiner's `keyed`), and the `GroupColumns` of the others, sent as they are.

    `groups` is a dict {identity: [values]} or a `CountedGroups`; it is emptied
    (its values are let go once the combiner has run over them).
    """
    if isinstance(groups, CountedGroups):
        return groups.split(threshold)
    enough = list(map(threshold.__le__, map(len, groups.values())))
    few = list(map((False).__eq__, enough))
    rest = GroupColumns(LISTS, None, list(compress(groups, few)), list(compress(groups.values(), few)))
    combined = list(compress(groups, enough)), list(compress(groups.values(), enough))
    groups.clear()
    return (*combined, rest)


def columns_of(groups) -> "GroupColumns":
    """The `GroupColumns` of a batch of groups (a dict or a `CountedGroups`), uncombined;
    the batch is emptied (its groups are in the columns)."""
    if isinstance(groups, CountedGroups):
        return groups.split(1 << 62)[2]
    columns = GroupColumns(LISTS, None, list(groups), list(groups.values()))
    groups.clear()
    return columns


# What `GroupColumns.payload[i]` holds for `identities[i]`.
LISTS = 0        # its stored values, a list
COUNTS = 1       # how many times `value` it has
SINGLES = 2      # its one stored value (an identity may come again)

#: Most keys in one shuffle record (fewer when their values are big: `column_records`).
RECORD_KEYS = 4096


class GroupColumns(tuple):
    """Groups as columns: (kind, value, identities, payload); see LISTS, COUNTS, SINGLES.

    A map task's groups go out this way, not as a tuple per key: the columns
    are cut by reducer in one pass (`split_by_partition`) and packed by
    marshal (`column_records`).
    """

    __slots__ = ()

    def __new__(cls, kind: int, value, identities: list, payload: list):
        return tuple.__new__(cls, (kind, value, identities, payload))


def column_records(columns: GroupColumns, reducers: int, limit: int = 1 << 20):
    """Shuffle records `(reducer, bytes)` for `columns` (a generator): the partition
    of each identity under `portable_hash` (as `partitionBy(reducers)` would send
    an `(identity, values)` record), at most RECORD_KEYS identities per record,
    and fewer when their values would make a record bigger than `limit` bytes
    (only a record of one key is bigger: the number of keys per record comes
    from a sample of the batch's keys, and shrinks, with the block packed
    again, whenever a packed block turns out over `limit`).

    The record's key is the reducer's index, which `partitionBy(reducers)`
    sends to that reducer (`portable_hash(p) == p`). Its bytes are marshal's
    (version 2: no table of the objects written, as the engine's `Columns`
    batches). That is exact for what the paths store: JSONPath the exact
    types JSON gives back, CountedGroups plain ones, LinePath `bytes` lines.
    It is not for any object: marshal writes whatever has the buffer
    interface (a `bytes` subclass, a bytearray, a memoryview, numpy scalars
    and arrays) as plain `bytes`, silently; only a block holding an object
    marshal refuses (ValueError: a `str` subclass, say) is pickled instead.

    The columns' lists are emptied as their records are made, so that what a
    record holds is let go once it is packed: the shuffle writer, which holds
    the records until its budget, measures what they take.
    """
    kind, value, identities, payload = columns
    del columns
    if not identities:
        return
    spread = max(1, len(identities) // 8)       # keys sampled across the batch, not its first
    sampled = identities[::spread]
    per_key = (estimate(sampled) + estimate(payload[::spread])) / len(sampled)
    step = int(max(1, min(RECORD_KEYS, limit // max(per_key, 1))))
    parts = _by_reducer(identities, payload, reducers)
    nones = [None] * step
    for p, ids, load in parts:
        start = 0
        while start < len(ids):
            end = min(start + step, len(ids))
            data = _pack((kind, value, ids[start:end], load[start:end]))
            if len(data) > limit and end - start > 1:
                # Keys bigger than the sample's: this block again, and the next ones,
                # in as many keys as would have fit by the packed size.
                step = max(1, (end - start) * limit // len(data))
                continue
            ids[start:end] = load[start:end] = nones[:end - start]
            start = end
            yield p, data


def _by_reducer(identities: list, payload: list, reducers: int) -> list:
    """[(reducer, its identities, their payload)] for each reducer that has any, in
    their order. With more than one reducer, `identities` and `payload` are emptied."""
    if reducers == 1:
        return [(0, identities, payload)]
    by_key, by_value = split_by_partition(identities, payload, hash_partitions(identities, reducers),
                                          reducers)
    identities.clear()
    payload.clear()
    return [(p, ids, load) for p, (ids, load) in enumerate(zip(by_key, by_value)) if ids]


def _pack(columns: tuple) -> bytes:
    try:
        return marshal.dumps(columns, 2)
    except ValueError:                          # an object marshal cannot write exactly
        return pickle.dumps(columns, 5)


def _unpack(data: bytes) -> tuple:
    # A pickle starts with PROTO (0x80); marshal's first byte is a type code, never 0x80.
    return pickle.loads(data) if data[:1] == b"\x80" else marshal.loads(data)


def _block_columns(record) -> tuple:
    """(identities, an iterable of their values) of one shuffle record (see `record_values`)."""
    kind, value, identities, payload = _unpack(record[1])
    if kind == COUNTS:
        payload = shared_values(value, payload)
    elif kind == SINGLES:
        payload = zip(payload)
    return identities, payload


def _records_of(record) -> list:
    return list(zip(*_block_columns(record)))


def unpacked(records):
    """The `(identity, values)` records (see `record_values`) of the shuffle records
    a reducer received (`column_records`), in order."""
    return chain.from_iterable(map(_records_of, records))


def shared_values(value, sizes: list):
    """`(value,) * n` for each n of `sizes` (a `Repeated` from `REPEATED_FROM` on),
    one object per distinct n.

    Keys share few distinct counts, and neither object can change: sharing
    one costs no allocation per key, and a spilled run pickles it once (then
    a memo reference). Values reach the user's code only as iterators.
    """
    shared = {n: (value,) * n if n < REPEATED_FROM else Repeated(value, n) for n in set(sizes)}
    return map(shared.__getitem__, sizes)


_NOTHING = object()


class CountedGroups:
    """Groups of `str` keys whose values are all one object: {key: how many}.

    A mapper like word count's emits the same value (the int 1) for every
    pair; counting each key's pairs (Counter's C loop) holds the same groups
    as lists of that value would, without a Python step per pair. Decided by
    the data alone: a chunk of pairs is counted when every pair is a 2-tuple
    whose key is a `str` and whose value is the very object every value of
    the chunks before was, of a type a JSON round trip keeps (`PLAIN_TYPES`).
    The first chunk that is not so turns the counts into lists (`as_lists`)
    and the general path goes on from there: values keep the order the
    mapper made them in.

    >>> groups = CountedGroups()
    >>> groups.add([("a", 1), ("b", 1), ("a", 1)]), groups.add([("a", 2)])
    (True, False)
    >>> groups.counts, groups.as_lists()
    ({'a': 2, 'b': 1}, {'a': [1, 1], 'b': [1]})
    """

    def __init__(self):
        self.counts: dict = {}
        self.value = _NOTHING

    def __len__(self) -> int:
        return len(self.counts)

    def add(self, chunk: list) -> bool:
        """Count `chunk`'s pairs if they qualify (see the class); False, untouched, if not."""
        if not chunk:
            return True
        if set(map(type, chunk)) != {tuple}:
            return False
        value = self.value
        if value is _NOTHING:
            if len(chunk[0]) != 2:
                return False
            value = chunk[0][1]
        if type(value) not in PLAIN_TYPES:
            return False
        # One pass unpacks each pair, checks its value and takes its key (three
        # C passes cost 0.08-0.27 s more in a map task of 1.66M pairs, alternated
        # in one process); the tuples are only read, so the general path can still
        # take the chunk.
        try:
            keys = [key for key, other in chunk if other is value]
        except ValueError:                        # a tuple of another length
            return False
        if len(keys) != len(chunk) or set(map(type, keys)) != {str}:
            return False
        _count_elements(self.counts, keys)
        self.value = value
        return True

    def as_lists(self) -> dict:
        """The same groups as {key: [values]}."""
        counts = self.counts
        return dict(zip(counts, map(mul, repeat([self.value]), counts.values())))

    def split(self, threshold: int):
        """`split_groups` for counted groups: a key's values are `value` `count` times.

        Ends the batch: the keys to combine leave `counts` (popped, so the
        others' `GroupColumns` are what is left, in order), then `counts` is emptied.
        """
        counts, value = self.counts, self.value
        if threshold <= 1:
            enough, combined = list(counts), list(counts.values())
            counts.clear()
            return enough, map(repeat, repeat(value), combined), GroupColumns(COUNTS, value, [], [])
        enough = list(compress(counts, map(threshold.__le__, counts.values())))
        combined = list(map(counts.pop, enough))
        rest = GroupColumns(COUNTS, value, list(counts), list(counts.values()))
        counts.clear()
        return enough, map(repeat, repeat(value), combined), rest


class JSONPath:
    """Python objects between phases, with JSON round trips only where they change something."""

    @staticmethod
    def new_groups() -> CountedGroups:
        """An empty batch of groups for `group` to fill: counted while the pairs allow it."""
        return CountedGroups()

    def group(self, pairs, groups: dict) -> tuple | None:
        """Add (key, value) pairs to `groups` (the map side's hot loop); the last pair
        taken, as the mapper made it, or None if there was none.

        Each pair is stored as it is taken from `pairs` (a non-plain value as its
        JSON round trip), before the next is asked for: a mapper may change
        an object it yielded once it goes on. While every key seen is a
        `str`, a key that finds its group needs no check: only a `str` (or a
        subclass, which encodes the same) equals a `str`. So keys are checked
        once per new group; the first key of any other type (or an unhashable
        one) switches to checking every pair. Values are checked one by one,
        except a value that is the very object checked just before (mappers
        often emit one constant, like 1).
        """
        pairs = iter(pairs)
        get = groups.get
        plain = PLAIN_TYPES
        add_other = self.add_other
        checked = None                            # the last value found plain
        key = value = _NOTHING
        for key, value in pairs:
            if value is checked or type(value) in plain:
                checked = value                   # `yield word, 1`: one object, checked once
                try:
                    stored = get(key)
                except TypeError:                 # unhashable: a list or dict key
                    add_other(groups, key, value)
                    break
                if stored is not None:
                    stored.append(value)
                    continue
                if type(key) is str:
                    groups[key] = [value]
                    continue
            add_other(groups, key, value)
            if not isinstance(key, str):
                break
        else:
            return None if key is _NOTHING else (key, value)
        for key, value in pairs:
            if type(key) is str and type(value) in plain:
                stored = get(key)
                if stored is None:
                    groups[key] = [value]
                else:
                    stored.append(value)
            else:
                add_other(groups, key, value)
        return key, value

    def add_other(self, groups: dict, key, value) -> None:
        """Add a pair whose key is not a str or whose value is not plain."""
        key, value = self.stored_pair(key, value)
        stored = groups.get(key)
        if stored is None:
            groups[key] = [value]
        else:
            stored.append(value)

    def flat(self, pairs) -> GroupColumns:
        """The pairs as `GroupColumns` (SINGLES): each identity with its stored value, ungrouped.

        Taken in batches that grow from one pair, each checked in bulk (the
        usual (str, number) tuples are split in C). From the first batch that
        holds anything else, each pair is stored as it is taken (`stored_pair`),
        before the combiner makes the next: it may change an object it yielded.
        """
        pairs = iter(pairs)
        out, size = [], 1
        while True:
            batch = list(islice(pairs, size))
            if not batch:
                break
            try:
                plain = (set(map(len, batch)) <= {2} and set(map(type, map(_first, batch))) <= {str}
                         and PLAIN_TYPES.issuperset(map(type, map(_second, batch))))
            except TypeError:
                plain = False
            if not plain:
                stored_pair = self.stored_pair
                out += [stored_pair(key, value) for key, value in chain(batch, pairs)]
                break
            out += batch
            size = min(2 * size, RECORD_KEYS)
        return GroupColumns(SINGLES, None, list(map(_first, out)), list(map(_second, out)))

    @staticmethod
    def stored_pair(key, value) -> tuple:
        """(identity, value) of a pair: a str key as is, any other key as its JSON text."""
        if isinstance(key, str):
            key = str(key)                        # a str subclass encodes as its str
        else:
            key = json_text(key).encode("ascii")
        if type(value) not in PLAIN_TYPES:
            value = json.loads(json_text(value))
        return key, value

    @staticmethod
    def sort_key(identity) -> str:
        """The key's JSON text: reducers see keys in this order."""
        if type(identity) is str:
            return encode_basestring_ascii(identity)
        return identity.decode("ascii")

    @classmethod
    def record_order(cls, record) -> str:
        """A shuffle record's place on the reduce side: its key's JSON text."""
        return cls.sort_key(record[0])

    @classmethod
    def value_order(cls, record) -> str:
        """A one-value record's place with SORT_VALUES: its key's, then its value's JSON text.

        One string, the two joined by NUL (which JSON text never holds raw, so
        it orders as the pair would): a sort holds one key per record at once.
        """
        return cls.sort_key(record[0]) + "\0" + json_text(record[1])

    @staticmethod
    def key_of(identity):
        """The key a combiner or reducer receives for an identity."""
        return identity if type(identity) is str else json.loads(identity)

    def keyed(self, identities: list, stored, position):
        """(key, values iterator) for each identity and its stored values, iterated in C.

        `position` can tell which key was current if the user's code fails.
        """
        counter = position.track_keys(identities, self.key_of)
        counted = map(_second, zip(counter, identities))
        keys = counted if set(map(type, identities)) <= {str} else map(self.key_of, counted)
        return zip(keys, map(iter, stored))

    def keyed_groups(self, groups, position):
        """(key, values iterator) for each (identity, values) group of `sorted_groups`, as the
        reducer sees them."""
        key_of = self.key_of
        for identity, values in groups:
            key = key_of(identity)
            position.reached(key)
            yield key, values

    def reducer_input(self, records, sort_values: bool, position, budget=None, spill_dir=None):
        """(key, values iterator) per key for the reducer, keys in the order of their JSON text,
        from the shuffle records the reducer received (`column_records`).

        Sorted by the engine's `ExternalSorter` (spilling past the budget) and
        streamed a key at a time, each key's values in the order they arrived
        (`text_sorted`), or with SORT_VALUES in the order of their JSON texts.
        """
        if sort_values:
            return self.keyed_groups(sorted_groups(unpacked(records), self.value_order, True,
                                                   budget, spill_dir), position)
        return self.streamed_keys(text_sorted(records, budget, spill_dir), position)

    @staticmethod
    def streamed_keys(ordered, position):
        """(key, values iterator) per key of `text_sorted` records: one generator step per key.

        Most keys come in one record (one map task sent them): its values
        are handed over as they are, without a chain over the group.
        """
        position.keys = None                      # keys stream: `key` names the current one
        loads = json.loads
        for identity, run in groupby(ordered, _second):
            key = identity if type(identity) is str else loads(identity)
            position.at_key = True                # what `reached` does, without a call
            position.key = key
            first = next(run)[2]
            second = next(run, None)
            if second is None:
                yield key, iter(first)
            else:
                yield key, chain(first, second[2], chain.from_iterable(map(_third, run)))

    @staticmethod
    def roundtrip(key, value) -> tuple:
        """(key, value) after a JSON round trip (for the next step's mapper)."""
        if type(key) not in PLAIN_TYPES:
            key = json.loads(json_text(key))
        if type(value) not in PLAIN_TYPES:
            value = json.loads(json_text(value))
        return key, value


class LinePath:
    """Encoded lines between phases, grouped by their key field: Hadoop Streaming's contract."""

    def __init__(self, protocol):
        self.read = protocol.read
        self.write = protocol.write

    @staticmethod
    def new_groups() -> dict:
        """An empty batch of groups for `group` to fill: {key field: [lines]}."""
        return {}

    def line(self, key, value) -> bytes:
        """One pair as a line of bytes."""
        line = self.write(key, value)
        if type(line) is not bytes:
            line = line.encode("utf-8") if isinstance(line, str) else bytes(line)
        return line

    def group(self, pairs, groups: dict) -> tuple | None:
        """Write each pair as a line as it is taken, and group the lines by their key
        field; the last (key field, line), or None if there was none."""
        get = groups.get
        identity = line = _NOTHING
        for identity, line in self._flat(pairs):
            stored = get(identity)
            if stored is None:
                groups[identity] = [line]
            else:
                stored.append(line)
        return None if identity is _NOTHING else (identity, line)

    def flat(self, pairs) -> GroupColumns:
        """The pairs as `GroupColumns` (SINGLES): each line with its key field, ungrouped."""
        out = list(self._flat(pairs))
        return GroupColumns(SINGLES, None, list(map(_first, out)), list(map(_second, out)))

    def _flat(self, pairs):
        as_line = self.line
        for key, value in pairs:
            line = as_line(key, value)
            tab = line.find(b"\t")
            yield (line if tab < 0 else line[:tab]), line

    @staticmethod
    def grouped(records, sort_values: bool, budget=None, spill_dir=None):
        """Reduce side: (key field, lines) per key, key fields in byte order (Hadoop
        sorts keys as bytes); with SORT_VALUES each key's lines in byte order too."""
        # (key field, line) tuples compare as the key field, then the line.
        order = None if sort_values else _first
        return sorted_groups(records, order, sort_values, budget, spill_dir)

    def decode(self, identity, stored: list):
        """(key, values iterator), each line read back with the protocol."""
        read = self.read
        key = read(stored[0])[0]
        return key, (read(line)[1] for line in stored)

    def keyed(self, identities: list, stored, position):
        """(key, values iterator) for each key field and its stored lines."""
        read = self.read
        stored = list(stored)
        first_lines = dict(zip(identities, map(_first, stored)))
        counter = position.track_keys(identities, lambda identity: read(first_lines[identity])[0])
        decode = self.decode
        return starmap(decode, zip(map(_second, zip(counter, identities)), stored))

    def reducer_input(self, records, sort_values: bool, position, budget=None, spill_dir=None):
        """`keyed_groups(grouped(...))`: (key, values iterator) per key for the reducer, from
        the shuffle records it received (`column_records`)."""
        return self.keyed_groups(self.grouped(unpacked(records), sort_values, budget, spill_dir),
                                 position)

    def keyed_groups(self, groups, position):
        """(key, values iterator) for each of `grouped`'s groups, each line read back."""
        read = self.read
        for _, lines in groups:
            first = next(lines)
            key = read(first)[0]
            position.reached(key)
            yield key, (read(line)[1] for line in chain((first,), lines))

    def roundtrip(self, key, value) -> tuple:
        """(key, value) written and read back with the protocol."""
        return tuple(self.read(self.line(key, value)))
