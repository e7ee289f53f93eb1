"""A hash of keys that is the same in every process and on every run.

Python's `hash()` of `str`, `bytes`, `datetime` and of every object whose
`__hash__` reaches one of those (an Enum member, a frozen dataclass, a user
class hashing its name) is salted per process (PYTHONHASHSEED), so two
workers would send one key to two reducers and reduceByKey would return
several rows for it. The partitioners use `portable_hash` instead; it never
calls a salted hash:

    str, bytes          CRC-32 of the UTF-8 bytes / of the bytes
    numbers             Python's numeric hash, which is not salted and equal
                        for equal numbers of any type (1 == 1.0 == Decimal(1));
                        every NaN hashes to 0
    None                0
    tuple, namedtuple   a deterministic mix of the items (PySpark's), so a
                        namedtuple hashes as the plain tuple it equals
    frozenset           the xor of the items' hashes
    subclasses of str, bytes, int, float (IntEnum, StrEnum, numpy.str_,
                        numpy.float64) hash as the plain value they equal
    Enum member         the mix of its class's qualified name and its name
                        (a Flag's value: a composite flag has no single name)
    dataclass           the mix of its class's qualified name and the tuple of
                        the fields its generated __eq__ compares
    date, datetime, time, timedelta
                        the integer they stand for (an aware datetime as UTC)
    numpy scalars       as the Python scalar `.item()` gives

Anything else is refused with a TypeError that names the type: an object
hashed by identity never meets an equal key from another record, and a
user's `__hash__` cannot be trusted, since it usually hashes a str and so
is salted. Such a key should be turned into one of the kinds above, or
the shuffle given a `partitionFunc` of the user's own.

>>> portable_hash("spark") == portable_hash("spark")
True
>>> portable_hash(None), portable_hash(7), portable_hash((1, "a")) == portable_hash((1, "a"))
(0, 7, True)
>>> import enum
>>> Color = enum.Enum("Color", "RED GREEN")
>>> portable_hash(Color.RED) == portable_hash(Color.RED) != portable_hash(Color.GREEN)
True
>>> portable_hash(object())
Traceback (most recent call last):
...
TypeError: portable_hash: a key of type 'builtins.object' has no process-independent hash ...
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import numbers
import sys
from itertools import repeat
from operator import and_, itemgetter, mod, mul, xor
from zlib import crc32

_MASK = (1 << 63) - 1
UINT64_BATCH = 8192          # tuple keys mixed in numpy from this many (see hash_partitions)
# ... once numpy is loaded; before, only from this many: numpy's import (~0.13 s in a
# fresh worker) costs more than its mix saves on fewer (cuts of 4096: ~0.35 us a key).
UINT64_BATCH_COLD = 500_000
LOW_BITS_WIDTH = 4             # tuple keys this wide at most mixed unmasked (see hash_partitions)
_MICROSECOND = datetime.timedelta(microseconds=1)


def portable_hash(key) -> int:
    """A non-negative hash of `key` that does not depend on the process."""
    kind = type(key)
    if kind is str:
        return crc32(key.encode("utf-8", "surrogatepass"))
    if kind is int or kind is bool:
        return hash(key) & _MASK
    if key is None:
        return 0
    if kind is bytes or kind is bytearray or kind is memoryview:
        return crc32(key)
    if kind is float:
        # hash(nan) is the object's id since Python 3.10: not portable; all NaNs hash to 0.
        return 0 if key != key else hash(key) & _MASK
    if isinstance(key, tuple):
        return _mix_items(key)
    if isinstance(key, frozenset):
        value = 0
        for item in key:
            value ^= portable_hash(item)
        return value
    return _other_hash(key)


def hash_partitions(keys, n: int, kinds: set | None = None, total: int = 0) -> list:
    """`[portable_hash(k) % n for k in keys]`, in C-level passes when the keys are all
    `str` or all `int` (a third of the per-record cost of calling the partitioner),
    or tuples of one width (mixed a column at a time; in numpy from UINT64_BATCH
    keys, `_numpy_mix_pays`: 160k pairs of str 0.30 -> 0.13 s): the partitioning of a batch of records.
    `kinds`, the set of the keys' types, when the caller has it already; `total`, the
    keys of the whole batch when these are a cut of it (numpy then pays for itself
    from the batch's size: 160k pairs in cuts of 4096, 61 against 117 ms).

    >>> hash_partitions(["a", "b", 3], 7) == [portable_hash(k) % 7 for k in ["a", "b", 3]]
    True
    """
    if not isinstance(keys, list):
        keys = list(keys)                 # a combine's dict: its keys, indexable
    if kinds is None:
        # All str (a subclass hashes as the plain str it equals): hashed and checked in
        # one pass, since str.encode refuses any other type; no pass over the types.
        hashes = _str_hashes(keys)
        if hashes is not None:
            return list(map(mod, hashes, repeat(n)))
        kinds = set(map(type, keys))
    if kinds == {tuple} and len(set(map(len, keys))) == 1:
        width = len(keys[0])
        columns = [list(map(itemgetter(i), keys)) for i in range(width)]
        if _numpy_mix_pays(max(len(keys), total)):
            return (_mixed_columns_uint64(columns, width, len(keys)) % n).tolist()
        if n == 2:
            # A hash's parity. The mix's multiplier is odd and its masks keep bit 0, so the
            # parity is that of 0x345678 (even) ^ every item's hash ^ the width: one xor a
            # column, no product (158k (str, str) keys: 128 -> 89-97 ms, 113-119 into four;
            # numpy's mix, once loaded, 72).
            value = repeat(width, len(keys))
            for column in columns:
                value = map(xor, value, _hashes(column, set(map(type, column))))
            return list(map(and_, value, repeat(1)))
        if n & (n - 1) == 0 and n <= _MASK + 1 and width <= LOW_BITS_WIDTH:
            # n a power of two: a hash % n is its low bits, which the mix's masks (bits 63
            # and up) never change, nor carry into: mixed without them, two passes fewer for
            # pairs (158k (str, str) keys in two: 131 -> 99 ms).
            mixed = _mixed_columns(columns, width, len(keys), masked=False)
            return list(map(and_, mixed, repeat(n - 1)))
        hashes = _mixed_columns(columns, width, len(keys))
    else:
        hashes = _hashes(keys, kinds)
    return list(map(mod, hashes, repeat(n)))


def split_by_partition(keys, values, partitions: list, n: int) -> tuple[list, list]:
    """Each partition's keys and their values, two lists per partition, in the given
    order (`partitions[i]` is key i's): one pass, no tuple per entry (a 180k-key
    split in two: 17 ms, against 39 for sorting the positions by partition).

    >>> split_by_partition(["a", "b", "c"], [1, 2, 3], [1, 0, 1], 2)
    ([['b'], ['a', 'c']], [[2], [1, 3]])
    """
    by_key: list[list] = [[] for _ in range(n)]
    by_value: list[list] = [[] for _ in range(n)]
    add_key, add_value = [b.append for b in by_key], [b.append for b in by_value]
    for key, value, p in zip(keys, values, partitions):
        add_key[p](key)
        add_value[p](value)
    return by_key, by_value


def _numpy_mix_pays(batch: int) -> bool:
    """Whether a batch of this many tuple keys is mixed in numpy: from UINT64_BATCH keys
    where numpy is loaded already, from UINT64_BATCH_COLD where it would be imported."""
    return batch >= (UINT64_BATCH if "numpy" in sys.modules else UINT64_BATCH_COLD)


def _hashes(keys, kinds: set):
    """portable_hash of each key: C-level passes for all-str and all-int keys."""
    if kinds == {str}:
        hashes = _str_hashes(keys)
        if hashes is not None:
            return hashes
    elif kinds == {int}:
        return map(and_, map(hash, keys), repeat(_MASK))
    return map(portable_hash, keys)


def _str_hashes(keys) -> list | None:
    """portable_hash of each key if all are str without a lone surrogate, else None."""
    try:
        # str.encode's default is UTF-8: the bytes portable_hash takes, but strict (a lone
        # surrogate raises; the caller then hashes key by key, with surrogatepass).
        return list(map(crc32, map(str.encode, keys)))
    except (TypeError, UnicodeEncodeError):
        return None


def _mixed_columns(columns: list, width: int, count: int, masked: bool = True):
    """`_mix_items` of `count` tuples of one width given as columns: the same mix, a column
    at a time; not `masked`, its low 63 bits alone are the mix's (each column's product
    then grows by 20 bits)."""
    value = repeat(0x345678, count)
    for column in columns:
        hashes = _hashes(column, set(map(type, column)))
        value = map(mul, map(xor, value, hashes), repeat(1000003))
        if masked:
            value = map(and_, value, repeat(_MASK))
    return map(xor, value, repeat(width))


def _mixed_columns_uint64(columns: list, width: int, count: int):
    """`_mixed_columns` in numpy's uint64, as an array. The mix keeps the low 63 bits of
    each product, and a product's low 64 bits are the same whether it wraps at 64 bits
    or is exact, so the result is the Python ints' mix, whose big ints cost 3x the rest
    of the batch's hashing."""
    import numpy as np          # for big batches only: a small job would pay its import
    value = np.full(count, 0x345678, dtype=np.uint64)
    for column in columns:
        value ^= np.fromiter(_hashes(column, set(map(type, column))), dtype=np.uint64, count=count)
        value *= np.uint64(1000003)
        value &= np.uint64(_MASK)
    value ^= np.uint64(width)
    return value


def _mix_items(items) -> int:
    value = 0x345678
    for item in items:
        value = ((value ^ portable_hash(item)) * 1000003) & _MASK
    return value ^ len(items)


def _type_hash(kind: type) -> int:
    return crc32(f"{kind.__module__}.{kind.__qualname__}".encode("utf-8", "surrogatepass"))


def _other_hash(key) -> int:
    """The hash of a key that is not a plain str, number, bytes, tuple or frozenset."""
    # Subclasses of the plain kinds equal their plain value (IntEnum.A == 1), so they
    # hash as it; read the value through the base's own methods, not an overridden __str__.
    if isinstance(key, str):
        return crc32(str.encode(key, "utf-8", "surrogatepass"))
    if isinstance(key, (bytes, bytearray)):
        return crc32(key)
    if isinstance(key, int):
        return int.__hash__(key) & _MASK
    if isinstance(key, float):
        return 0 if key != key else float.__hash__(key) & _MASK
    if isinstance(key, enum.Enum):
        member = key._value_ if isinstance(key, enum.Flag) else key._name_
        return _mix_items((_type_hash(type(key)), member))
    if (dataclasses.is_dataclass(key) and not isinstance(key, type)
            and key.__dataclass_params__.eq):
        _require_hashable(key)
        fields = tuple(getattr(key, f.name) for f in dataclasses.fields(key) if f.compare)
        return _mix_items((_type_hash(type(key)), fields))
    if isinstance(key, (datetime.date, datetime.time, datetime.timedelta)):
        return _time_hash(key)
    if isinstance(key, numbers.Number):
        # Decimal, Fraction, complex, numpy integers: the numeric hash is not salted.
        return 0 if key != key else hash(key) & _MASK
    if type(key).__module__ == "numpy" and hasattr(key, "item"):
        return portable_hash(key.item())          # numpy.bool_, numpy.datetime64, ...
    _require_hashable(key)
    raise TypeError(
        f"portable_hash: a key of type {_type_name(key)!r} has no process-independent hash "
        "(its hash is its identity, or a __hash__ that may depend on PYTHONHASHSEED); "
        "use a str, number, tuple, Enum or dataclass key, or pass partitionFunc=")


def _time_hash(key) -> int:
    """Dates and times as the integer they stand for; aware ones in UTC, as they compare."""
    if isinstance(key, datetime.datetime):
        offset = key.utcoffset()
        naive = key.replace(tzinfo=None) - (offset or datetime.timedelta())
        return _mix_items((offset is not None, (naive - datetime.datetime.min) // _MICROSECOND))
    if isinstance(key, datetime.date):
        return _mix_items(("date", key.toordinal()))
    if isinstance(key, datetime.timedelta):
        return _mix_items(("timedelta", key // _MICROSECOND))
    offset = key.utcoffset()
    micros = ((key.hour * 60 + key.minute) * 60 + key.second) * 1_000_000 + key.microsecond
    if offset is not None:
        micros -= offset // _MICROSECOND
    return _mix_items(("time", offset is not None, micros))


def _require_hashable(key) -> None:
    if type(key).__hash__ is None:
        raise TypeError(f"portable_hash: unhashable key type {_type_name(key)!r}: a key must be "
                        "hashable (a tuple rather than a list, a frozen dataclass, ...)")


def _type_name(key) -> str:
    kind = type(key)
    return f"{kind.__module__}.{kind.__qualname__}"


def local_hash(key) -> int:
    """`portable_hash`, or Python's own hash for keys it refuses: for orders that never
    leave one process (a task sorting its spilled runs), where a salted hash is fine.

    >>> local_hash("a") == portable_hash("a"), local_hash(local_hash) >= 0
    (True, True)
    """
    try:
        return portable_hash(key)
    except TypeError:
        return hash(key) & _MASK
