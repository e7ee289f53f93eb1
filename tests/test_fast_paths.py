"""Fast paths decided by the operator and the data's types give the general path's answer.

`reduceByKey(operator.add)` folds with `minibig.shuffle.spill.fold_sum`,
which picks its loop by the values' types (Counter's C loop for int ones,
`get(k, 0) + v` for ints, a sentinel fold otherwise). Every way of writing
word count takes the same general path: the answer never depends on how
the user's function is written.
"""

from __future__ import annotations

import collections
import decimal
import gc
import operator
import pickle
import random
import threading

import numpy
import pytest

from minibig.core.serialization import loads_without_gc
from minibig.rdd.pairs import ResultIterable
from minibig.shuffle.hashing import UINT64_BATCH, hash_partitions, portable_hash
from minibig.shuffle.partitioners import Aggregator, identity, reducing
from minibig.shuffle.spill import ExternalMap, fold_sum, fold_sum_columns

MISSING = object()


def oracle_fold(pairs) -> dict:
    """reduceByKey(add)'s definition: the first value of a key as it is, then `old + value`."""
    out: dict = {}
    for key, value in pairs:
        old = out.get(key, MISSING)
        out[key] = value if old is MISSING else operator.add(old, value)
    return out


VALUE_KINDS = {
    "ones": lambda rng: 1,
    "ints": lambda rng: rng.randrange(-5, 5),
    "bools": lambda rng: rng.random() < 0.5,
    "floats": lambda rng: rng.choice([-0.0, 0.5, 1.0]),
    "floats_signed_zeros": lambda rng: rng.choice([-0.0, 0.0]),
    "floats_nan_inf": lambda rng: rng.choice([float("nan"), float("inf"), -1e308, 1e308, 0.1]),
    "strs": lambda rng: rng.choice("ab"),
    "lists": lambda rng: [rng.randrange(3)],
    "ints_and_floats": lambda rng: rng.choice([1, 2.5, -0.0]),
    "ones_and_true": lambda rng: rng.choice([1, True]),
    "ones_and_float_ones": lambda rng: rng.choice([1, 1, 1, 1.0]),
    "ones_and_decimal_ones": lambda rng: rng.choice([1, 1, decimal.Decimal(1)]),
    "ones_and_arrays": lambda rng: rng.choice([1, 1, numpy.array([1, 2])]),
}


def _fold_pairs(got: dict, chunk: list) -> None:
    fold_sum(got, chunk)


def _fold_columns(got: dict, chunk: list) -> None:
    fold_sum_columns(got, [k for k, _ in chunk], [v for _, v in chunk])


@pytest.mark.parametrize("fold", [_fold_pairs, _fold_columns])
@pytest.mark.parametrize("kind", sorted(VALUE_KINDS))
def test_fold_sum_equals_the_general_fold_value_for_value_and_type_for_type(kind, fold):
    """Pairs or columns (a reducer's `Columns`); keys repeat within a chunk, so a column
    fold must add each pair to the sum its earlier pairs left."""
    rng = random.Random(kind)
    make = VALUE_KINDS[kind]
    pairs = [(rng.choice("pqrstu"), make(rng)) for _ in range(500)]
    got: dict = {}
    for start in range(0, len(pairs), 64):            # chunk by chunk, as ExternalMap does
        fold(got, pairs[start:start + 64])
    expected = oracle_fold(pairs)
    assert list(got) == list(expected), "same first-seen key order"
    assert [repr(v) for v in got.values()] == [repr(v) for v in expected.values()]
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
    assert [repr(v) for v in got.values()] == [repr(v) for v in expected.values()], "-0.0 stays -0.0"


def test_only_reducing_add_is_tagged_sum():
    assert reducing(operator.add).op == "sum"
    assert reducing(lambda a, b: a + b).op is None
    assert Aggregator(identity, operator.add, operator.add).op is None


def test_external_map_spills_and_merges_sums_as_the_general_path(tmp_path):
    rng = random.Random(3)
    pairs = [(f"w{rng.randrange(3000)}", 1) for _ in range(30000)]
    spilled = ExternalMap(reducing(operator.add), 64 << 10, lambda: str(tmp_path))
    got = dict(spilled.insert_values(pairs).items())
    assert spilled.spills > 0, "the budget is small enough to spill"
    assert got == collections.Counter(k for k, _ in pairs)


def test_external_map_folds_columns_within_its_budget_as_the_general_path(tmp_path):
    """`insert_columns` (a reducer's Columns under reduceByKey(add)) spills past its
    budget and merges back to the pairs' answer; other operators read the pairs."""
    rng = random.Random(4)
    batches = [([f"w{rng.randrange(3000)}" for _ in range(5000)], [rng.choice([1, 2, 3])] * 5000)
               for _ in range(4)]
    pairs = [pair for keys, values in batches for pair in zip(keys, values)]
    for aggregator in (reducing(operator.add), reducing(lambda a, b: a + b)):
        folded = ExternalMap(aggregator, 64 << 10, lambda: str(tmp_path))
        for keys, values in batches:
            folded.insert_columns(keys, values)
        assert folded.spills > 0, "the budget is small enough to spill"
        assert dict(folded.items()) == oracle_fold(pairs)


def _words(sc, lines):
    return sc.parallelize(lines, 4).flatMap(lambda line: line.split())


WAYS = {
    "pairs_add": lambda w: dict(w.map(lambda x: (x, 1)).reduceByKey(operator.add).collect()),
    "pairs_lambda": lambda w: dict(w.map(lambda x: (x, 1)).reduceByKey(lambda a, b: a + b).collect()),
    "pairs_lower": lambda w: dict(w.map(lambda x: (x.lower(), 1)).reduceByKey(operator.add).collect()),
    "count_by_value": lambda w: dict(w.countByValue()),
    "partition_counter": lambda w: dict(w.mapPartitions(lambda it: collections.Counter(it).items())
                                        .reduceByKey(operator.add).collect()),
}


@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_way_of_writing_word_count_matches_a_counter(sc, way):
    rng = random.Random(way)
    vocab = [f"w{i}" for i in range(2000)] + ["ünïcode", "x\u00a0y"]
    lines = [" ".join(rng.choices(vocab, k=rng.randrange(0, 12))) for _ in range(3000)]
    expected = collections.Counter(word for line in lines for word in line.split())
    got = WAYS[way](_words(sc, lines))
    assert got == expected
    assert all(type(v) is int for v in got.values())


def test_reduce_by_key_add_over_mixed_values_matches_the_oracle(sc):
    rng = random.Random(11)
    pairs = [(rng.choice("abcdef"), rng.choice([1, 2, True, 0.5, -0.0])) for _ in range(2000)]
    pairs += [("s", "x"), ("s", "y"), ("l", [1]), ("l", [2])]
    got = dict(sc.parallelize(pairs, 1).reduceByKey(operator.add, 1).collect())
    assert got == oracle_fold(pairs)
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in oracle_fold(pairs).items()}


@pytest.mark.parametrize("op", [operator.add, lambda a, b: a + b], ids=["add", "lambda"])
def test_reduce_by_key_over_tuple_keys_matches_plain_python(sc, op):
    # The map side's combine hands its dict to the batch partitioner (tuple keys: by columns).
    rng = random.Random(5)
    pairs = [((rng.randrange(40), rng.choice("xyz")), rng.randrange(9)) for _ in range(3000)]
    got = dict(sc.parallelize(pairs, 3).reduceByKey(op, 4).collect())
    expected = collections.Counter()
    for key, value in pairs:
        expected[key] += value
    assert got == dict(expected)
    assert sorted(hash_partitions({key: 0 for key in got}, 4)) == sorted(
        portable_hash(key) % 4 for key in got)


KEY_KINDS = {
    "strs": ["a", "", "ünïcode", "x\u00a0y", "日本", "w42"],
    "str_subclasses": [numpy.str_("a"), "a", numpy.str_("ü"), "b"],
    "lone_surrogates": ["a", "\udc80b", "c"],
    "ints": [0, 1, -1, -2, 2 ** 63, -(2 ** 70), 7],
    "bools": [True, False, True],
    "ints_and_bools": [1, True, 0, False],
    "mixed": ["a", 1, None, 2.5, (1, "a"), b"x", frozenset({3})],
    "str_pairs": [("a", "b"), ("ü", ""), ("w1", "w22")],
    "int_str_pairs": [(1, "a"), (-5, "b"), (2 ** 64, "")],
    "nested_tuples": [((1, "a"), None, 2.5), (("b",), True, -0.0), ((), "\udc80", 3)],
    "tuples_of_two_widths": [("a",), ("a", "b"), ()],
    "empty_tuples": [(), ()],
    # Mixed in numpy's uint64, whose products wrap: hashes near 2**61 in every column.
    "wrapping_tuples": [(2 ** 61 - 2, -(2 ** 62), "ü", float("nan"), 1e308, -0.0),
                        (-1, 2 ** 100, "", None, float("-inf"), True)],
}


@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
@pytest.mark.parametrize("n", [1, 2, 7, 16])
def test_hash_partitions_of_a_batch_equal_portable_hash_key_by_key(kind, n):
    keys = KEY_KINDS[kind] * 3
    assert hash_partitions(keys, n) == [portable_hash(k) % n for k in keys]


@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
def test_hash_partitions_given_the_key_types_agree_with_portable_hash(kind):
    """The map-side writer hands over the types it looked at once (for marshal too)."""
    keys = KEY_KINDS[kind] * 3
    assert hash_partitions(keys, 7, set(map(type, keys))) == [portable_hash(k) % 7 for k in keys]


def test_hash_partitions_refuses_a_key_portable_hash_refuses():
    with pytest.raises(TypeError, match="builtins.object"):
        hash_partitions(["a", object()], 2)


def _oracle_cogroup(*datasets) -> dict:
    """{key: tuple of value lists in arrival order}, one list per dataset."""
    groups: dict = {}
    for side, pairs in enumerate(datasets):
        for key, value in pairs:
            groups.setdefault(key, tuple([] for _ in datasets))[side].append(value)
    return groups


def test_insert_sides_groups_values_in_arrival_order_and_merges_spills(tmp_path):
    rng = random.Random(5)
    left = [(f"k{rng.randrange(500)}", i) for i in range(6000)]
    right = [(f"k{rng.randrange(700)}", -i) for i in range(6000)]
    groups = ExternalMap(Aggregator(None, None, lambda a, b: tuple(x + y for x, y in zip(a, b))),
                         16 << 10, lambda: str(tmp_path))
    groups.insert_sides(left, (0,), 2, ResultIterable)
    groups.insert_sides(right, (1,), 2, ResultIterable)
    assert groups.spills > 0, "the budget is small enough to spill"
    got = {k: tuple(map(list, g)) for k, g in groups.items()}
    assert got == _oracle_cogroup(left, right)


def test_insert_sides_feeds_one_dataset_to_several_sides():
    pairs = [("a", 1), ("b", 2), ("a", 3)]
    groups = ExternalMap(Aggregator(None, None, None), None, None)
    groups.insert_sides(pairs, (0, 2), 3, ResultIterable)
    got = dict(groups.items())
    assert got == {"a": ([1, 3], [], [1, 3]), "b": ([2], [], [2])}
    assert all(type(side) is ResultIterable for group in got.values() for side in group)


def test_cogroup_and_joins_match_plain_python(sc):
    rng = random.Random(8)
    left = [(rng.choice(["a", "b", "c", 1, 2, (3, "x")]), rng.randrange(100)) for _ in range(400)]
    right = [(rng.choice(["b", "c", "d", 2, (3, "x")]), rng.randrange(100)) for _ in range(300)]
    x, y = sc.parallelize(left, 3), sc.parallelize(right, 2)
    expected = _oracle_cogroup(left, right)
    got = {k: tuple(map(sorted, g)) for k, g in x.cogroup(y, 4).collect()}
    assert got == {k: tuple(map(sorted, g)) for k, g in expected.items()}
    join = sorted(((k, (v, w)) for k, (vs, ws) in expected.items() for v in vs for w in ws), key=repr)
    assert sorted(x.join(y).collect(), key=repr) == join
    left_outer = sorted(((k, (v, w)) for k, (vs, ws) in expected.items() if vs
                         for v in vs for w in (ws or [None])), key=repr)
    assert sorted(x.leftOuterJoin(y).collect(), key=repr) == left_outer
    self_groups = {k: tuple(map(sorted, g)) for k, g in x.cogroup(x).collect()}
    assert self_groups == {k: (sorted(vs), sorted(vs)) for k, (vs, _) in expected.items() if vs}


def test_cogroup_values_keep_their_order_within_a_partition(sc):
    left = [("k", i) for i in range(50)]
    right = [("k", -i) for i in range(30)]
    (key, (vs, ws)), = sc.parallelize(left, 1).cogroup(sc.parallelize(right, 1), 1).collect()
    assert (key, list(vs), list(ws)) == ("k", list(range(50)), [-i for i in range(30)])


def test_a_mutated_group_does_not_leak_into_another_job(sc):
    pairs = sc.parallelize([("a", 1), ("a", 2), ("b", 3)], 2).groupByKey().cache()

    def mutate(kv):
        kv[1].append(99)
        return kv[0], list(kv[1])
    assert sorted(pairs.map(mutate).collect()) == [("a", [1, 2, 99]), ("b", [3, 99])]
    assert sorted((k, sorted(v)) for k, v in pairs.collect()) == [("a", [1, 2]), ("b", [3])]


@pytest.mark.parametrize("keys", ["strs", "ints", "mixed"])
def test_partition_by_sends_each_key_where_portable_hash_says(sc, keys):
    rng = random.Random(keys)
    pool = {"strs": ["α", "b", "c", "w1", "w22", ""], "ints": [0, -1, 5, 2 ** 40],
            "mixed": ["a", 1, None, (1, "b"), 2.5]}[keys]
    pairs = [(rng.choice(pool), i) for i in range(500)]
    parts = sc.parallelize(pairs, 3).partitionBy(4).glom().collect()
    for index, part in enumerate(parts):
        assert all(portable_hash(k) % 4 == index for k, _ in part)
    assert sorted(map(repr, (p for part in parts for p in part))) == sorted(map(repr, pairs))
    grouped = {k: sorted(v) for k, v in sc.parallelize(pairs, 3).groupByKey(4).collect()}
    assert grouped == {k: sorted(v for kk, v in pairs if kk == k) for k in {k for k, _ in pairs}}


def test_a_record_that_is_not_a_pair_fails_the_shuffle_with_its_type(sc):
    with pytest.raises(TypeError):
        sc.parallelize([("a", 1), 5], 1).partitionBy(2).collect()


@pytest.mark.parametrize("record", [("c", 1, 2), ("c",)])
def test_a_count_of_records_that_are_not_pairs_fails_as_the_general_fold(record):
    """reduceByKey(add)'s counting loop unpacks each record as the general fold does."""
    with pytest.raises(ValueError, match="unpack"):
        fold_sum({}, [("a", 1), ("b", 1), record])


@pytest.mark.parametrize("enabled", [True, False])
def test_loads_without_gc_gives_the_value_and_restores_the_collector(enabled):
    value = [("w%d" % i, (i, [i])) for i in range(1000)]
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        results, start = [], threading.Barrier(4)

        def load():
            start.wait(timeout=10)
            results.append(loads_without_gc(pickle.dumps(value)))
        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert results == [value] * 4
        assert gc.isenabled() is enabled
        with pytest.raises(pickle.UnpicklingError):
            loads_without_gc(b"not a pickle")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


@pytest.mark.parametrize("n", [2, 7, 1024])
def test_a_big_batch_of_tuple_keys_mixes_in_uint64_like_portable_hash(n):
    """From UINT64_BATCH keys the tuples' mix runs in numpy's wrapping uint64."""
    rng = random.Random(n)
    atoms = [a for kind in ("strs", "ints", "mixed", "wrapping_tuples") for a in KEY_KINDS[kind]]
    keys = [(rng.choice(atoms), rng.choice(atoms), rng.choice(atoms))
            for _ in range(UINT64_BATCH + 10)]
    got = hash_partitions(keys, n)
    assert got == [portable_hash(k) % n for k in keys]
    assert set(map(type, got)) == {int}
