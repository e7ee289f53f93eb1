"""Keys hash the same in every process, whatever PYTHONHASHSEED says."""

import json
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from minibig.shuffle.hashing import portable_hash

from support import env

KEYS = ["", "word", "ünïcode", "東京", b"raw", 0, 1, -1, 2**70, 3.5, -0.0, None, True,
        ("tuple", 1), ("nested", ("t", 2.0)), frozenset({"a", "b"})]

PROBE = ("import json, sys\n"
         "from minibig.shuffle.hashing import portable_hash\n"
         "keys = [{keys}]\n"
         "print(json.dumps([portable_hash(k) for k in keys]))\n")


def _hashes_in_child(seed: str) -> list:
    code = PROBE.format(keys=", ".join(map(repr, KEYS)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env(PYTHONHASHSEED=seed), timeout=60, check=True).stdout
    return json.loads(out)


def test_same_hash_in_processes_with_different_hash_seeds():
    here = [portable_hash(k) for k in KEYS]
    assert _hashes_in_child("1") == here
    assert _hashes_in_child("4242") == here


@given(st.text())
@settings(max_examples=200)
def test_string_hash_is_crc32_of_utf8(text):
    import zlib
    assert portable_hash(text) == zlib.crc32(text.encode("utf-8", "surrogatepass"))


@given(st.integers() | st.floats(allow_nan=False))
@settings(max_examples=200)
def test_equal_numbers_hash_equal(number):
    assert portable_hash(number) >= 0
    if isinstance(number, float) and number.is_integer():
        assert portable_hash(number) == portable_hash(int(number))


def test_equal_tuples_hash_equal_and_differ_by_order():
    assert portable_hash((1, "a")) == portable_hash((1, "a"))
    assert portable_hash((1, "a")) != portable_hash(("a", 1))


def test_reduce_by_key_on_two_workers_puts_each_key_in_one_partition(sc):
    keys = [f"k{i}" for i in range(200)] + ["ünïcode", "東京"]
    parts = (sc.parallelize([(k, 1) for k in keys * 3], 4)
               .reduceByKey(lambda a, b: a + b, 3).glom().collect())
    seen = [k for part in parts for k, _ in part]
    assert sorted(seen) == sorted(keys)
    for index, part in enumerate(parts):
        assert all(portable_hash(k) % 3 == index and v == 3 for k, v in part)


def test_nan_hashes_the_same_in_every_process():
    assert portable_hash(float("nan")) == portable_hash(float("-nan")) == 0


# -- keys that are not plain str/number/tuple -----------------------------------------

RICH_PROBE = '''
import collections, dataclasses, datetime, decimal, enum, fractions, json
from minibig.shuffle.hashing import portable_hash
class Color(enum.Enum):
    RED = "red"
class Level(enum.IntEnum):
    LOW = 1
@dataclasses.dataclass(frozen=True)
class Point:
    name: str
    x: int
Pair = collections.namedtuple("Pair", "a b")
utc = datetime.timezone.utc
keys = [Color.RED, Level.LOW, Point("p", 1), Pair("x", "y"), datetime.date(2024, 1, 2),
        datetime.datetime(2024, 1, 2, 3, tzinfo=utc), datetime.time(1, 2),
        datetime.timedelta(days=1), decimal.Decimal("1.5"), fractions.Fraction(1, 3), 1 + 2j,
        (Color.RED, Point("q", 2))]
print(json.dumps([portable_hash(k) for k in keys]))
'''


def test_enum_dataclass_and_datetime_keys_hash_the_same_under_any_hash_seed():
    def run(seed):
        out = subprocess.run([sys.executable, "-c", RICH_PROBE], capture_output=True, text=True,
                             env=env(PYTHONHASHSEED=seed), timeout=60, check=True).stdout
        return json.loads(out)
    assert run("1") == run("2") == run("77")


def test_keys_that_compare_equal_hash_equal():
    import datetime
    import decimal
    import enum
    from collections import namedtuple

    class Level(enum.IntEnum):
        LOW = 1

    class Mode(str, enum.Enum):             # str mixin: str() is "Mode.READ", equality is "r"
        READ = "r"
    Pair = namedtuple("Pair", "a b")
    east = datetime.timezone(datetime.timedelta(hours=2))
    equal_pairs = [(Level.LOW, 1), (Mode.READ, "r"), (Pair("x", 1), ("x", 1)),
                   (decimal.Decimal(2), 2), (2.0, 2),
                   (datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.timezone.utc),
                    datetime.datetime(2024, 1, 1, 14, tzinfo=east))]
    for a, b in equal_pairs:
        assert a == b and portable_hash(a) == portable_hash(b), (a, b)


def test_dataclass_hash_follows_its_compared_fields():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Tagged:
        value: int
        note: str = dataclasses.field(default="", compare=False)
    assert portable_hash(Tagged(1, "a")) == portable_hash(Tagged(1, "b"))
    assert portable_hash(Tagged(1)) != portable_hash(Tagged(2))


def test_keys_without_a_portable_hash_are_refused_naming_the_type():
    import dataclasses
    import pytest

    class Plain:
        pass

    class OwnHash:
        def __hash__(self):
            return hash("salted")

    @dataclasses.dataclass
    class Mutable:
        x: int
    for key, name in ((Plain(), "Plain"), (OwnHash(), "OwnHash"), (("ok", Plain()), "Plain")):
        with pytest.raises(TypeError, match=f"{name}'.*partitionFunc"):
            portable_hash(key)
    with pytest.raises(TypeError, match="unhashable key type .*Mutable"):
        portable_hash(Mutable(1))
    with pytest.raises(TypeError, match="unhashable"):
        portable_hash([1, 2])
