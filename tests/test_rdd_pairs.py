"""Operations on (key, value) datasets, against plain-Python oracles.

Keys are skewed (a few keys hold most pairs), include None, tuples and
non-ASCII strings; values include unhashable lists. Joins see duplicate keys
on both sides.
"""

import collections
import copy
import itertools
import operator
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibig.shuffle.hashing import portable_hash

SETTINGS = settings(max_examples=20, deadline=None)

keys = st.one_of(st.sampled_from(["hot", "é", "東京", None, 0, (1, "a")]),   # skew: few keys
                 st.integers(-5, 5))
values = st.one_of(st.integers(-100, 100), st.lists(st.integers(0, 3), max_size=2))
pairs = st.lists(st.tuples(keys, values), max_size=40)
int_pairs = st.lists(st.tuples(st.integers(0, 12), st.integers(-100, 100)), max_size=40)
slices = st.integers(1, 6)
reduce_partitions = st.one_of(st.none(), st.integers(1, 5))


def grouped(data):
    out = collections.defaultdict(list)
    for k, v in data:
        out[k].append(v)
    return dict(out)


def canonical(records):
    """An order-free, type-safe view of a list of records."""
    return sorted(map(repr, records))


@SETTINGS
@given(data=int_pairs, n=slices, k=reduce_partitions)
def test_reduce_fold_aggregate_combine_by_key(sc, data, n, k):
    rdd = sc.parallelize(data, n)
    sums = {key: sum(vs) for key, vs in grouped(data).items()}
    assert dict(rdd.reduceByKey(operator.add, k).collect()) == sums
    assert dict(rdd.foldByKey(0, operator.add, k).collect()) == sums
    assert dict(rdd.aggregateByKey((0, 0), lambda a, v: (a[0] + v, a[1] + 1),
                                   lambda a, b: (a[0] + b[0], a[1] + b[1]), k).collect()) == {
        key: (sum(vs), len(vs)) for key, vs in grouped(data).items()}
    combined = rdd.combineByKey(lambda v: [v], lambda a, v: a + [v], lambda a, b: a + b, k)
    assert {key: sorted(v) for key, v in combined.collect()} == {
        key: sorted(vs) for key, vs in grouped(data).items()}
    assert rdd.reduceByKeyLocally(operator.add) == sums
    for result in (rdd.reduceByKey(operator.add, k), combined):
        assert result.getNumPartitions() == (n if k is None else k)


def test_reduce_by_key_locally_folds_partitions_in_order_as_plain_python(sc):
    """Each partition's values folded in order, then the partitions' results merged in
    partition order with the function: a non-commutative function (concatenation) pins
    the order; a dict's columns and a Decimal's records (not flat) both come back."""
    from decimal import Decimal
    rng = random.Random(4)
    data = [(rng.choice(["a", "b", ("t", 1), 7]), str(i)) for i in range(3000)]
    rdd = sc.parallelize(data, 3)
    want: dict = {}
    for part in rdd.glom().collect():
        local: dict = {}
        for key, value in part:
            local[key] = local[key] + value if key in local else value
        for key, value in local.items():
            want[key] = want[key] + value if key in want else value
    got = rdd.reduceByKeyLocally(operator.add)
    assert got == want and list(got) == list(want)
    decimals = sc.parallelize([(i % 5, Decimal(i)) for i in range(100)], 2)
    assert decimals.reduceByKeyLocally(operator.add) == {
        k: sum(Decimal(i) for i in range(100) if i % 5 == k) for k in range(5)}
    assert sc.parallelize([], 2).reduceByKeyLocally(operator.add) == {}


def test_reduce_by_key_locally_within_a_small_budget_spills_and_agrees():
    """A partition's combine past its task's budget spills; its merged records come back
    (as records, not a dict) with the same answer."""
    from minibig import Context
    data = [(i % 40_000, i) for i in range(120_000)]
    want: dict = collections.defaultdict(int)
    for key, value in data:
        want[key] += value
    with Context(master="inline", worker_memory=1 << 20, progress=False) as ctx:
        assert ctx.parallelize(data, 2).reduceByKeyLocally(operator.add) == want


def test_fold_by_key_copies_a_mutable_zero_value(sc):
    rdd = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2)
    got = dict(rdd.foldByKey([], lambda acc, v: acc + [v] if isinstance(v, int) else acc + v)
               .collect())
    assert sorted(got["a"]) == [1, 3] and got["b"] == [2]


@SETTINGS
@given(data=pairs, n=slices, k=reduce_partitions)
def test_group_by_key_with_skew_none_and_unhashable_values(sc, data, n, k):
    got = sc.parallelize(data, n).groupByKey(k).mapValues(list).collect()
    assert len(got) == len({k for k, _ in data})
    expected = grouped(data)
    for key, vs in got:
        assert canonical(vs) == canonical(expected[key])


@SETTINGS
@given(data=pairs, n=slices)
def test_map_values_flat_map_values_keys_values(sc, data, n):
    rdd = sc.parallelize(data, n)
    assert rdd.mapValues(repr).collect() == [(k, repr(v)) for k, v in data]
    assert rdd.flatMapValues(lambda v: v if isinstance(v, list) else [v, v]).collect() == [
        (k, x) for k, v in data for x in (v if isinstance(v, list) else [v, v])]
    assert rdd.keys().collect() == [k for k, _ in data]
    assert rdd.values().collect() == [v for _, v in data]


def oracle_join(a, b, how):
    ga, gb = grouped(a), grouped(b)
    out = []
    for key in set(ga) | set(gb):
        left, right = ga.get(key, []), gb.get(key, [])
        if how in ("left", "full") and not right:
            right = [None]
        if how in ("right", "full") and not left:
            left = [None]
        out.extend((key, pair) for pair in itertools.product(left, right))
    return out


@SETTINGS
@given(a=pairs, b=pairs, n=slices, m=slices, k=reduce_partitions)
def test_joins_with_duplicates_on_both_sides(sc, a, b, n, m, k):
    x, y = sc.parallelize(a, n), sc.parallelize(b, m)
    for how, joined in (("inner", x.join(y, k)), ("left", x.leftOuterJoin(y, k)),
                        ("right", x.rightOuterJoin(y, k)), ("full", x.fullOuterJoin(y, k))):
        assert canonical(joined.collect()) == canonical(oracle_join(a, b, how)), how
        assert joined.getNumPartitions() == (n + m if k is None else k)


@SETTINGS
@given(a=pairs, b=pairs, c=pairs, n=slices)
def test_cogroup_and_group_with(sc, a, b, c, n):
    x, y, z = (sc.parallelize(d, n) for d in (a, b, c))
    got = {key: tuple(map(list, groups)) for key, groups in x.groupWith(y, z).collect()}
    ga, gb, gc = grouped(a), grouped(b), grouped(c)
    assert set(got) == set(ga) | set(gb) | set(gc)
    for key, (va, vb, vc) in got.items():
        assert (va, vb, vc) == (ga.get(key, []), gb.get(key, []), gc.get(key, []))
    two = dict(x.cogroup(y).collect())
    assert set(two) == set(ga) | set(gb)
    assert all(list(vs[0]) == ga.get(key, []) for key, vs in two.items())


def test_self_join(sc):
    rdd = sc.parallelize([("a", 1), ("a", 2), ("b", 3)], 2)
    assert sorted(rdd.join(rdd).collect()) == [
        ("a", (1, 1)), ("a", (1, 2)), ("a", (2, 1)), ("a", (2, 2)), ("b", (3, 3))]


@SETTINGS
@given(a=pairs, b=pairs, n=slices, m=slices)
def test_subtract_by_key(sc, a, b, n, m):
    got = sc.parallelize(a, n).subtractByKey(sc.parallelize(b, m)).collect()
    gone = {k for k, _ in b}
    assert canonical(got) == canonical([(k, v) for k, v in a if k not in gone])


@SETTINGS
@given(data=pairs, n=slices)
def test_count_by_key_collect_as_map_lookup(sc, data, n):
    rdd = sc.parallelize(data, n)
    assert rdd.countByKey() == collections.Counter(k for k, _ in data)
    assert rdd.collectAsMap() == dict(data)
    for key in {k for k, _ in data} | {"absent"}:
        assert canonical(rdd.lookup(key)) == canonical(grouped(data).get(key, []))
        assert canonical(rdd.partitionBy(3).lookup(key)) == canonical(grouped(data).get(key, []))


@SETTINGS
@given(data=int_pairs, n=slices, k=st.integers(1, 5), ascending=st.booleans())
def test_sort_by_key_total_order_and_exact_partition_count(sc, data, n, k, ascending):
    rdd = sc.parallelize(data, n).sortByKey(ascending, k)
    got = rdd.collect()
    assert [key for key, _ in got] == sorted((key for key, _ in data), reverse=not ascending)
    assert sorted(got) == sorted(data)
    if data:
        assert rdd.getNumPartitions() == k
        parts = [[key for key, _ in p] for p in rdd.glom().collect()]
        assert sum(parts, []) == [key for key, _ in got]


def test_sort_by_key_with_keyfunc_on_non_ascii(sc):
    words = ["Été", "apple", "Zebra", "東京", "banana", "éclair", "Apple"]
    got = sc.parallelize([(w, i) for i, w in enumerate(words)], 3).sortByKey(
        True, 3, keyfunc=lambda k: k.lower()).keys().collect()
    assert got == sorted(words, key=str.lower)


def test_sort_by_key_of_an_empty_dataset(sc):
    assert sc.parallelize([], 3).sortByKey().collect() == []


def test_sort_by_key_with_one_hot_key_is_balanced_elsewhere(sc):
    data = [(0, i) for i in range(900)] + [(i, i) for i in range(1, 101)]
    rdd = sc.parallelize(data, 4).sortByKey(True, 4)
    assert rdd.getNumPartitions() == 4
    assert [k for k, _ in rdd.collect()] == sorted(k for k, _ in data)


@SETTINGS
@given(data=int_pairs, n=slices, k=st.integers(1, 4), ascending=st.booleans())
def test_repartition_and_sort_within_partitions(sc, data, n, k, ascending):
    rdd = sc.parallelize(data, n).repartitionAndSortWithinPartitions(
        k, lambda key: key * 7, ascending)
    parts = rdd.glom().collect()
    assert len(parts) == k
    for index, part in enumerate(parts):
        assert all((key * 7) % k == index for key, _ in part)
        assert [key for key, _ in part] == sorted((key for key, _ in part), reverse=not ascending)
    assert sorted(sum(parts, [])) == sorted(data)


@SETTINGS
@given(data=pairs, n=slices, k=st.integers(1, 5))
def test_partition_by_with_a_user_function(sc, data, n, k):
    def by_length(key):
        return len(repr(key))
    parts = sc.parallelize(data, n).partitionBy(k, by_length).glom().collect()
    assert len(parts) == k
    for index, part in enumerate(parts):
        assert all(by_length(key) % k == index for key, _ in part)
    assert canonical(sum(parts, [])) == canonical(data)


def test_partition_by_default_hash_is_portable(sc):
    data = [(key, 1) for key in ["hot", "é", "東京", None, 0, (1, "a"), 2.5, b"x"]]
    for index, part in enumerate(sc.parallelize(data, 2).partitionBy(3).glom().collect()):
        assert all(portable_hash(key) % 3 == index for key, _ in part)


@SETTINGS
@given(n=slices, seed=st.integers(0, 2**40),
       fractions=st.fixed_dictionaries({"a": st.floats(0, 1), "é": st.floats(0, 1)}))
def test_sample_by_key_is_a_reproducible_stratified_subset(sc, n, seed, fractions):
    data = [(k, i) for i in range(60) for k in ("a", "é")]
    rdd = sc.parallelize(data, n)
    first = rdd.sampleByKey(False, fractions, seed).collect()
    assert rdd.sampleByKey(False, fractions, seed).collect() == first
    assert set(first) <= set(data)
    with_replacement = rdd.sampleByKey(True, fractions, seed).collect()
    assert set(with_replacement) <= set(data)


def test_sample_by_key_fractions(sc):
    data = [(k, i) for i in range(5000) for k in ("a", "b")]
    got = collections.Counter(k for k, _ in sc.parallelize(data, 4)
                              .sampleByKey(False, {"a": 0.5, "b": 0.1}, 5).collect())
    assert 2200 < got["a"] < 2800 and 350 < got["b"] < 650


def test_values_are_not_shared_between_keys_after_a_shuffle(sc):
    rng = random.Random(3)
    data = [(rng.choice("abc"), [i]) for i in range(200)]
    got = dict(sc.parallelize(data, 4).reduceByKey(lambda a, b: a + b).collect())
    expected = collections.defaultdict(list)
    for k, v in copy.deepcopy(data):
        expected[k] += v
    assert {k: sorted(v) for k, v in got.items()} == expected


def test_pairs_of_the_wrong_shape_fail_with_the_users_error(sc):
    with pytest.raises((TypeError, ValueError)):
        sc.parallelize([1, 2, 3], 2).reduceByKey(operator.add).collect()
