"""Narrow and shuffling transformations of single datasets, against plain Python.

Every test runs real jobs on the 2-worker cluster of the `sc` fixture. The
data mixes ints, None and non-ASCII text; partition counts up to 6 over
lists of up to 40 records give many empty partitions.
"""

import collections
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=20, deadline=None)

text = st.text(alphabet=st.characters(codec="utf-8", blacklist_categories=("Cs",)), max_size=4)
atoms = st.one_of(st.integers(-30, 30), text, st.none())
lists = st.lists(atoms, max_size=40)
ints = st.lists(st.integers(-1000, 1000), max_size=40)
slices = st.integers(1, 6)


def slices_of(data, n):
    """How parallelize cuts `data` into n slices."""
    return [data[i * len(data) // n:(i + 1) * len(data) // n] for i in range(n)]


def multiset(items):
    return collections.Counter(map(repr, items))


@SETTINGS
@given(data=lists, n=slices)
def test_map_filter_flat_map_pipeline(sc, data, n):
    got = (sc.parallelize(data, n)
             .map(lambda x: (x, repr(x)))
             .filter(lambda p: p[0] is not None)
             .flatMap(lambda p: [p[1], len(p[1])])
             .collect())
    assert got == [y for x in data if x is not None for y in (repr(x), len(repr(x)))]


@SETTINGS
@given(data=lists, n=slices)
def test_glom_and_partition_indices_follow_the_slices(sc, data, n):
    rdd = sc.parallelize(data, n)
    assert rdd.getNumPartitions() == n
    assert rdd.glom().collect() == slices_of(data, n)
    tagged = rdd.mapPartitionsWithIndex(lambda i, it: [(i, len(list(it)))]).collect()
    assert tagged == [(i, len(s)) for i, s in enumerate(slices_of(data, n))]
    assert rdd.mapPartitions(lambda it: [sum(1 for _ in it)]).collect() == [
        len(s) for s in slices_of(data, n)]


@SETTINGS
@given(data=lists, n=slices)
def test_key_by_keys_values(sc, data, n):
    rdd = sc.parallelize(data, n).keyBy(repr)
    assert rdd.collect() == [(repr(x), x) for x in data]
    assert rdd.keys().collect() == [repr(x) for x in data]
    assert rdd.values().collect() == data


@SETTINGS
@given(a=lists, b=lists, n=slices, m=slices)
def test_union(sc, a, b, n, m):
    rdd = sc.parallelize(a, n).union(sc.parallelize(b, m))
    assert rdd.getNumPartitions() == n + m
    assert rdd.collect() == a + b
    assert (sc.parallelize(a, n) + sc.parallelize(b, m)).collect() == a + b


@SETTINGS
@given(data=lists, n=slices, k=st.one_of(st.none(), st.integers(1, 5)))
def test_distinct(sc, data, n, k):
    rdd = sc.parallelize(data, n).distinct(k)
    assert rdd.getNumPartitions() == (n if k is None else k)
    got = rdd.collect()
    assert len(got) == len(set(data))
    assert set(got) == set(data)


def test_distinct_of_unhashable_records_raises_type_error(sc):
    with pytest.raises(TypeError):
        sc.parallelize([[1], [2], [1]], 2).distinct().collect()


@SETTINGS
@given(data=lists, n=slices, k=st.integers(1, 8))
def test_coalesce_keeps_order_without_a_shuffle(sc, data, n, k):
    rdd = sc.parallelize(data, n).coalesce(k)
    assert rdd.getNumPartitions() == min(n, k)
    assert rdd.collect() == data
    assert sum(rdd.glom().collect(), []) == data


@SETTINGS
@given(data=lists, n=slices, k=st.integers(1, 8))
def test_repartition_and_coalesce_with_shuffle(sc, data, n, k):
    for rdd in (sc.parallelize(data, n).repartition(k),
                sc.parallelize(data, n).coalesce(k, shuffle=True)):
        assert rdd.getNumPartitions() == k
        assert multiset(rdd.collect()) == multiset(data)
        assert rdd.partitioner is None


def test_repartition_spreads_records_evenly(sc):
    sizes = [len(p) for p in sc.parallelize(range(1000), 3).repartition(4).glom().collect()]
    assert sum(sizes) == 1000 and min(sizes) > 200


def test_non_positive_partition_counts_are_refused(sc):
    with pytest.raises(ValueError):
        sc.parallelize([1, 2]).coalesce(0)
    with pytest.raises(ValueError):
        sc.parallelize([1, 2]).repartition(0)


@SETTINGS
@given(data=ints, n=slices, k=st.one_of(st.none(), st.integers(1, 4)))
def test_group_by(sc, data, n, k):
    got = sc.parallelize(data, n).groupBy(lambda x: x % 7, k).collect()
    expected = collections.defaultdict(list)
    for x in data:
        expected[x % 7].append(x)
    assert {key: sorted(v) for key, v in got} == {key: sorted(v) for key, v in expected.items()}
    assert len(got) == len(expected)


@SETTINGS
@given(data=ints, n=slices, k=st.integers(1, 5), ascending=st.booleans())
def test_sort_by_is_a_total_order(sc, data, n, k, ascending):
    rdd = sc.parallelize(data, n).sortBy(lambda x: (x % 10, x), ascending, k)
    expected = sorted(data, key=lambda x: (x % 10, x), reverse=not ascending)
    assert rdd.collect() == expected
    if data:
        assert rdd.getNumPartitions() == k
    parts = [p for p in rdd.glom().collect() if p]
    assert sum(parts, []) == expected


@SETTINGS
@given(a=lists, b=lists, n=slices, m=slices)
def test_intersection_and_subtract(sc, a, b, n, m):
    x, y = sc.parallelize(a, n), sc.parallelize(b, m)
    both = x.intersection(y)
    assert both.getNumPartitions() == n + m
    assert sorted(map(repr, both.collect())) == sorted(map(repr, set(a) & set(b)))
    assert multiset(x.subtract(y).collect()) == multiset([v for v in a if v not in set(b)])


@SETTINGS
@given(a=lists, b=ints, n=slices, m=slices)
def test_cartesian(sc, a, b, n, m):
    rdd = sc.parallelize(a, n).cartesian(sc.parallelize(b, m))
    assert rdd.getNumPartitions() == n * m
    assert multiset(rdd.collect()) == multiset(list(itertools.product(a, b)))
    assert rdd.count() == len(a) * len(b)


def test_cartesian_of_a_dataset_with_itself(sc):
    rdd = sc.parallelize([1, 2, 3], 2)
    assert sorted(rdd.cartesian(rdd).collect()) == sorted(itertools.product([1, 2, 3], repeat=2))


@SETTINGS
@given(data=lists, n=slices)
def test_zip_of_two_maps_of_one_dataset(sc, data, n):
    rdd = sc.parallelize(data, n)
    assert rdd.map(repr).zip(rdd).collect() == [(repr(x), x) for x in data]


def test_zip_refuses_unequal_partitions(sc):
    with pytest.raises(ValueError):
        sc.parallelize(range(4), 2).zip(sc.parallelize(range(4), 3))
    with pytest.raises(ValueError, match="same number of elements"):
        sc.parallelize(range(4), 2).zip(sc.parallelize(range(5), 2)).collect()


@SETTINGS
@given(data=lists, n=slices)
def test_zip_with_index_and_unique_id(sc, data, n):
    rdd = sc.parallelize(data, n)
    assert rdd.zipWithIndex().collect() == [(x, i) for i, x in enumerate(data)]
    expected = [(x, k * n + i) for i, part in enumerate(slices_of(data, n))
                for k, x in enumerate(part)]
    ids = rdd.zipWithUniqueId().collect()
    assert sorted(ids, key=lambda p: p[1]) == sorted(expected, key=lambda p: p[1])
    assert len({i for _, i in ids}) == len(data)


def test_zip_with_index_orders_across_partitions_after_a_filter(sc):
    rdd = sc.parallelize(range(100), 7).filter(lambda x: x % 3 == 0)
    assert rdd.zipWithIndex().collect() == [(x, i) for i, x in enumerate(range(0, 100, 3))]


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@SETTINGS
@given(data=ints, n=slices, fraction=st.floats(0, 1), seed=st.integers(0, 2**40))
def test_sample_without_replacement_is_a_reproducible_subsequence(sc, data, n, fraction, seed):
    rdd = sc.parallelize(data, n).sample(False, fraction, seed)
    first = rdd.collect()
    assert rdd.collect() == first
    assert sc.parallelize(data, n).sample(False, fraction, seed).collect() == first
    assert is_subsequence(first, data)


@SETTINGS
@given(data=ints, n=slices, fraction=st.floats(0, 3), seed=st.integers(0, 2**40))
def test_sample_with_replacement_is_reproducible(sc, data, n, fraction, seed):
    rdd = sc.parallelize(data, n).sample(True, fraction, seed)
    first = rdd.collect()
    assert rdd.collect() == first
    assert set(first) <= set(data)


def test_sample_fractions_are_respected_on_average(sc):
    rdd = sc.parallelize(range(20000), 4)
    assert 1700 < rdd.sample(False, 0.1, 1).count() < 2300
    assert 5400 < rdd.sample(True, 0.3, 2).count() < 6600
    assert rdd.sample(False, 0.0, 3).count() == 0
    assert rdd.sample(False, 1.0, 3).count() == 20000
    with pytest.raises(ValueError):
        rdd.sample(False, -0.1)


def test_sample_without_seed_is_fixed_per_dataset(sc):
    rdd = sc.parallelize(range(1000), 3).sample(False, 0.5)
    assert rdd.collect() == rdd.collect()


@SETTINGS
@given(data=ints, n=slices, weights=st.lists(st.floats(0.1, 5), min_size=1, max_size=4),
       seed=st.integers(0, 2**40))
def test_random_split_partitions_the_records(sc, data, n, weights, seed):
    parts = [p.collect() for p in sc.parallelize(data, n).randomSplit(weights, seed)]
    assert len(parts) == len(weights)
    assert sorted(sum(parts, [])) == sorted(data)
    for part in parts:
        assert is_subsequence(part, data)


def test_random_split_refuses_bad_weights(sc):
    with pytest.raises(ValueError):
        sc.parallelize([1]).randomSplit([1, -1])
    with pytest.raises(ValueError):
        sc.parallelize([1]).randomSplit([0, 0])


def test_pipe_through_a_command_on_the_workers(sc):
    data = ["a", "ünïcode 東京", "", 3, "line\n"]
    assert sc.parallelize(data, 3).pipe("cat").collect() == ["a", "ünïcode 東京", "", "3", "line"]
    greeting = sc.parallelize(["x"], 1).pipe("sh -c 'echo $GREETING'", env={"GREETING": "hi"})
    assert greeting.collect() == ["hi"]
    assert sc.parallelize([], 2).pipe("cat").collect() == []
    assert sc.parallelize([1], 1).pipe("false").collect() == []
    with pytest.raises(RuntimeError, match="exited with error code 1"):
        sc.parallelize([1], 1).pipe("false", checkCode=True).collect()
