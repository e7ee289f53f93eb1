"""A hash of keys that is the same in every process and on every run.

Python's `hash()` of `str` and `bytes` is salted per process
(PYTHONHASHSEED), so two workers would send one key to two reducers. The
partitioners use `portable_hash` instead: CRC-32 of the UTF-8 bytes for
strings, Python's own (unsalted) hash for numbers (0 for NaN), and a deterministic mix for
tuples and frozensets, as PySpark's `portable_hash` does for tuples.

>>> portable_hash("spark") == portable_hash("spark")
True
>>> portable_hash(None), portable_hash(7), portable_hash((1, "a")) == portable_hash((1, "a"))
(0, 7, True)
"""

from __future__ import annotations

from zlib import crc32

_MASK = (1 << 63) - 1


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
        value = 0x345678
        for item in key:
            value = ((value ^ portable_hash(item)) * 1000003) & _MASK
        return value ^ len(key)
    if isinstance(key, frozenset):
        value = 0
        for item in key:
            value ^= portable_hash(item)
        return value
    for base in (str, bytes, int, float):             # subclasses of the plain kinds
        if isinstance(key, base):
            return portable_hash(base(key))
    # Other objects: their own __hash__, which embedded workers make stable by
    # running with a fixed PYTHONHASHSEED.
    return hash(key) & _MASK
