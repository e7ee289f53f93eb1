"""reduceByKey(operator.add)'s folds against the definition, for values of any type.

`minibig.shuffle.spill.fold_sum` (a chunk of pairs) and `fold_sum_columns` (a
reducer's `Columns`) count in C only when every value is the int 1, and
otherwise fold with the definition's loop itself; a reducer folds a map
task's `Columns` as its two lists (`ExternalMap.insert_columns`), and an Arrow
frame that comes after them as its pairs. Every answer here is compared with
plain Python, value for value and type for type.
"""

from __future__ import annotations

import decimal
import operator
import random
import re

import numpy
import pytest

from minibig.core.dependency import Aggregator
from minibig.shuffle.partitioners import reducing
from minibig.shuffle.spill import ExternalMap, fold_sum, fold_sum_columns

MISSING = object()


def oracle_fold(pairs) -> dict:
    """The definition: a key's first value as it is, then `old + value`, in order."""
    out: dict = {}
    for key, value in pairs:
        old = out.get(key, MISSING)
        out[key] = value if old is MISSING else old + value
    return out


def typed(d: dict) -> list:
    return [(type(k), repr(k), type(v), repr(v)) for k, v in d.items()]


# Values whose sum differs, in value or type, from a sum started at 0 or -0.0, or that
# look like counts without being the int 1.
KINDS = {
    "numpy_floats": lambda rng: numpy.float64(rng.choice([0.5, -0.0, 2.0])),
    "numpy_ints": lambda rng: numpy.int64(rng.randrange(-3, 3)),
    "ones_then_numpy_ones": lambda rng: rng.choice([1, 1, 1, numpy.int64(1)]),
    "decimals": lambda rng: decimal.Decimal(rng.choice(["0.1", "-0", "2"])),
    "bools": lambda rng: rng.random() < 0.5,
    "ones_and_floats": lambda rng: rng.choice([1, 1, 0.5, -0.0]),
    "ones_and_bools": lambda rng: rng.choice([1, 1, 1, True, False]),
    "ints_and_floats": lambda rng: rng.choice([2, -0.0, 1.5]),
    "floats": lambda rng: rng.choice([-0.0, 0.1, 1e308, float("inf")]),
    "ones": lambda rng: 1,
}


def _pairs(kind: str) -> list:
    rng = random.Random(kind)
    make = KINDS[kind]
    # The first value of every chunk is the int 1 in half the chunks: the count test
    # must then look at every value before it counts.
    return [(rng.choice([1, 1.0, True, "a", "b", ("t", 1)]), 1 if i % 128 == 0 else make(rng))
            for i in range(1000)]


def _by_chunks(pairs: list, fold) -> dict:
    got: dict = {}
    for start in range(0, len(pairs), 64):
        fold(got, pairs[start:start + 64])
    return got


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fold_sum_of_pairs_is_the_definition(kind):
    pairs = _pairs(kind)
    assert typed(_by_chunks(pairs, fold_sum)) == typed(oracle_fold(pairs))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fold_sum_of_columns_is_the_definition(kind):
    pairs = _pairs(kind)

    def fold(d, chunk):
        fold_sum_columns(d, [k for k, _ in chunk], [v for _, v in chunk])
    assert typed(_by_chunks(pairs, fold)) == typed(oracle_fold(pairs))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_reducers_columns_fold_as_the_definition(kind):
    pairs = _pairs(kind)
    folded = ExternalMap(reducing(operator.add), None, None)
    for start in range(0, len(pairs), 300):                # one Columns batch per map task
        batch = pairs[start:start + 300]
        folded.insert_columns([k for k, _ in batch], [v for _, v in batch])
    assert typed(dict(folded.items())) == typed(oracle_fold(pairs))


def test_an_empty_chunk_folds_nothing():
    got = {"a": 1}
    fold_sum(got, [])
    fold_sum_columns(got, [], [])
    assert got == {"a": 1}


@pytest.mark.parametrize("record", [["a", 1], ("a", 1, 2), ("a",)])
def test_records_that_are_not_tuple_pairs_fold_or_fail_as_the_definition(record):
    chunk = [("a", 1.5), record, ("a", 2.5)]
    try:
        expected = oracle_fold(chunk)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).split("(")[0]):
            fold_sum({}, chunk)
    else:
        assert typed(_by_chunks(chunk, fold_sum)) == typed(expected)


class Tally:
    """A value that adds to anything, None included (its __radd__ takes None)."""

    def __init__(self, n: int):
        self.n = n

    def __add__(self, other):
        return Tally(self.n + (other.n if isinstance(other, Tally) else 1))

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"Tally({self.n})"


@pytest.mark.parametrize("fold", [fold_sum, lambda d, chunk: fold_sum_columns(
    d, [k for k, _ in chunk], [v for _, v in chunk])], ids=["pairs", "columns"])
def test_a_none_kept_is_added_to_as_the_definition_adds_to_it(fold):
    # A None found in the dict is a key's value, not a new key: None + Tally(1) is
    # Tally(1).__radd__(None), and None + 1 fails as it does in plain Python.
    pairs = [("a", None), ("a", Tally(1)), ("b", Tally(2)), ("b", None), ("d", None)]
    assert typed(_by_chunks(pairs, fold)) == typed(oracle_fold(pairs))
    with pytest.raises(TypeError, match="unsupported operand"):
        fold({}, [("c", None), ("c", 1)])


def test_a_none_combiner_kept_is_merged_as_any_other():
    # reduceByKey(f) and combineByKey's general folds: a None in the dict is a combiner.
    def merge(a, b):
        return ("merged", a, b)
    pairs = [("a", None), ("a", 2), ("b", 3)]
    by_reduce = ExternalMap(reducing(merge), None, None).insert_values(pairs).map
    assert by_reduce == {"a": ("merged", None, 2), "b": 3}
    combine = Aggregator(lambda v: None if v == 0 else v, merge, merge)
    by_combine = ExternalMap(combine, None, None).insert_values([("a", 0), ("a", 5)]).map
    assert by_combine == {"a": ("merged", None, 5)}


def test_distinct_columns_keep_the_first_key_object():
    """distinct's reducer folds a map task's Columns with dict.update: a key met again
    (1.0 after 1, True after 1) keeps its first object, as the record fold does."""
    from minibig.core.dependency import Aggregator
    from minibig.shuffle.partitioners import identity

    def first(a, _):
        return a
    agg = Aggregator(identity, first, first, "distinct")
    keys = [1, "a", 1.0, True, ("t", 1), "a", 2.0, 2]
    by_columns = ExternalMap(agg, None, None).insert_columns(keys, [None] * len(keys))
    by_records = ExternalMap(agg, None, None).insert_combiners(zip(keys, [None] * len(keys)))
    expected: dict = {}
    for key in keys:
        expected.setdefault(key, None)
    assert typed(dict(by_columns.items())) == typed(dict(by_records.items())) == typed(expected)


# -- a reducer that meets Columns first, then an Arrow frame ------------------------------


def _parts_with_kernels(part):
    """A map task's records, once its worker has loaded the kernels (so its combine takes
    the columnar path from MIN_GROUPS keys, whichever worker runs it)."""
    import minibig.shuffle.kernels  # noqa: F401
    return part


def _engine_order_fold(partitions: list) -> dict:
    """reduceByKey(add) folded in the engine's order: each map partition left to right,
    then the partial sums in map order (a reducer reads its segments in map order)."""
    result: dict = {}
    for part in partitions:
        for key, value in oracle_fold(part).items():
            old = result.get(key, MISSING)
            result[key] = value if old is MISSING else old + value
    return result


def test_a_frame_after_columns_folds_in_map_order(sc):
    """Map task 0 holds a few keys (its dict goes out as Columns), map task 1 more than
    the columnar path's minimum (an Arrow frame, the kernels being loaded): the reducer
    starts on the row path and folds the frame's pairs after the Columns, so float sums
    are the same left-to-right sums, bit for bit."""
    from minibig.shuffle.partitioners import MIN_GROUPS
    rng = random.Random(7)
    small = [(k, rng.choice([0.1, -0.0, 1e16])) for k in range(40)]
    big = [(k, rng.choice([0.2, 3.0, -1e16])) for k in range(MIN_GROUPS + 500)]
    rdd = sc.parallelize([small, big], 2).flatMap(_parts_with_kernels)
    got = dict(rdd.reduceByKey(operator.add, 1).collect())
    assert sorted(typed(got)) == sorted(typed(_engine_order_fold([small, big])))


class One(int):
    """An int subclass equal to 1: not a count (its sum keeps no subclass, but a key met
    once keeps it as it is)."""


@pytest.mark.parametrize("other", [One(1), True, 1.0, numpy.int64(1), decimal.Decimal(1)],
                         ids=["int_subclass", "true", "float", "numpy", "decimal"])
@pytest.mark.parametrize("where", [1, 63])
def test_a_value_equal_to_one_that_is_not_the_int_one_is_not_counted(other, where):
    # fold_sum counts a chunk only when every value is CPython's int 1 object: any other
    # value equal to 1, anywhere in the chunk, sends it to the definition's loop.
    pairs = [(f"k{i % 5}", 1) for i in range(64)]
    pairs[where] = (pairs[where][0], other)
    pairs.append(("once", other))
    assert typed(_by_chunks(pairs, fold_sum)) == typed(oracle_fold(pairs))


def test_pairs_that_are_not_tuples_unpack_as_the_definition_unpacks_them():
    # The first record a tuple (k, 1), then lists, a str of two characters and a
    # two-key dict: unpacked as `for key, value in chunk` unpacks them.
    chunk = [("a", 1), ["b", 1], "c1", {"d": 0, 1: 0}, ("a", 1)]
    assert typed(_by_chunks(chunk, fold_sum)) == typed(oracle_fold(chunk))
    chunk = [("a", 1), ["b", 1], ("a", 1)]
    assert typed(_by_chunks(chunk, fold_sum)) == typed(oracle_fold(chunk))


@pytest.mark.parametrize("record", [("x", 1, 2), ("x",), 7, None])
def test_a_record_that_is_no_pair_after_counts_fails_as_the_definition(record):
    chunk = [("a", 1), ("b", 1), record, ("a", 1)]
    with pytest.raises(Exception) as expected:
        oracle_fold(chunk)
    with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
        fold_sum({}, chunk)
