"""Actions, against plain Python: what comes back to the driver, and its errors."""

import bisect
import collections
import functools
import math
import operator
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=20, deadline=None)

text = st.text(alphabet=st.characters(codec="utf-8", blacklist_categories=("Cs",)), max_size=4)
atoms = st.one_of(st.integers(-30, 30), text, st.none())
lists = st.lists(atoms, max_size=40)
ints = st.lists(st.integers(-1000, 1000), max_size=40)
floats = st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40)
slices = st.integers(1, 6)


@SETTINGS
@given(data=lists, n=slices, num=st.integers(0, 45))
def test_collect_count_take_first_is_empty(sc, data, n, num):
    rdd = sc.parallelize(data, n)
    assert rdd.collect() == data
    assert rdd.count() == len(data)
    assert rdd.take(num) == data[:num]
    assert rdd.isEmpty() == (not data)
    assert list(rdd.toLocalIterator()) == data
    if data:
        assert rdd.first() == data[0]
    else:
        with pytest.raises(ValueError, match="RDD is empty"):
            rdd.first()


def test_take_scans_only_the_partitions_it_needs(sc):
    seen = sc.accumulator(0)

    def touch(x):
        seen.add(1)
        return x
    assert sc.parallelize(range(1000), 10).map(touch).take(5) == [0, 1, 2, 3, 4]
    assert seen.value <= 100, "only the first partition should be computed"


@SETTINGS
@given(data=ints, n=slices, num=st.integers(0, 45))
def test_top_and_take_ordered(sc, data, n, num):
    rdd = sc.parallelize(data, n)
    assert rdd.takeOrdered(num) == sorted(data)[:num]
    assert rdd.top(num) == sorted(data, reverse=True)[:num]
    key = lambda x: (x % 7, -x)  # noqa: E731  (ties broken inside the key: one answer)
    assert rdd.takeOrdered(num, key=key) == sorted(data, key=key)[:num]
    assert rdd.top(num, key=key) == sorted(data, key=key, reverse=True)[:num]


@SETTINGS
@given(data=ints, n=slices)
def test_reduce_fold_aggregate(sc, data, n):
    rdd = sc.parallelize(data, n)
    if data:
        assert rdd.reduce(operator.add) == sum(data)
        assert rdd.max() == max(data) and rdd.min() == min(data)
        assert rdd.max(key=lambda x: -x) == min(data)
        assert rdd.min(key=str) == min(data, key=str)
    else:
        with pytest.raises(ValueError):
            rdd.reduce(operator.add)
        with pytest.raises(ValueError):
            rdd.max()
    assert rdd.fold(0, operator.add) == sum(data)
    assert rdd.aggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1),
                         lambda a, b: (a[0] + b[0], a[1] + b[1])) == (sum(data), len(data))
    assert rdd.sum() == sum(data)


@SETTINGS
@given(data=ints, n=st.integers(1, 30), depth=st.integers(1, 4))
def test_tree_reduce_and_tree_aggregate(sc, data, n, depth):
    rdd = sc.parallelize(data, n)
    assert rdd.treeAggregate(0, operator.add, operator.add, depth) == sum(data)
    if data:
        assert rdd.treeReduce(operator.add, depth) == sum(data)
    else:
        with pytest.raises(ValueError):
            rdd.treeReduce(operator.add, depth)
    with pytest.raises(ValueError):
        rdd.treeAggregate(0, operator.add, operator.add, 0)


def test_fold_starts_each_partition_from_the_zero_value(sc):
    # PySpark's documented semantics: the zero value is used once per partition and once more.
    assert sc.parallelize([1, 2, 3], 3).fold(10, operator.add) == 46


@SETTINGS
@given(data=floats, n=slices)
def test_statistics_use_population_definitions(sc, data, n):
    rdd = sc.parallelize(data, n)
    if not data:
        assert rdd.sum() == 0
        assert rdd.stats().count() == 0
        assert math.isnan(rdd.variance())
        return
    stats = rdd.stats()
    assert stats.count() == len(data)
    assert stats.mean() == pytest.approx(statistics.fmean(data), rel=1e-9, abs=1e-6)
    assert rdd.mean() == pytest.approx(statistics.fmean(data), rel=1e-9, abs=1e-6)
    assert rdd.variance() == pytest.approx(statistics.pvariance(data), rel=1e-6, abs=1e-3)
    assert rdd.stdev() == pytest.approx(statistics.pstdev(data), rel=1e-6, abs=1e-3)
    if len(data) > 1:
        assert rdd.sampleVariance() == pytest.approx(statistics.variance(data), rel=1e-6,
                                                     abs=1e-3)
        assert rdd.sampleStdev() == pytest.approx(statistics.stdev(data), rel=1e-6, abs=1e-3)
    assert stats.max() == max(data) and stats.min() == min(data)
    assert rdd.sum() == pytest.approx(math.fsum(data), rel=1e-9, abs=1e-6)


def test_stats_of_ints_report_floats_as_pyspark(sc):
    stats = sc.parallelize([1, 2, 3]).stats()
    assert (stats.max(), stats.min(), stats.sum()) == (3.0, 1.0, 6.0)
    assert type(stats.max()) is float
    assert stats.asDict()["variance"] == pytest.approx(1.0)      # PySpark's: the sample one
    assert stats.asDict(sample=True)["variance"] == pytest.approx(2 / 3)


def oracle_histogram(data, bounds):
    counts = [0] * (len(bounds) - 1)
    for x in data:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            continue
        if bounds[0] <= x <= bounds[-1]:
            counts[min(bisect.bisect_right(bounds, x) - 1, len(counts) - 1)] += 1
    return counts


@SETTINGS
@given(data=st.lists(st.one_of(st.integers(-50, 50), st.none(), st.just(float("nan"))),
                     max_size=40), n=slices, buckets=st.integers(1, 6))
def test_histogram_with_even_buckets(sc, data, n, buckets):
    rdd = sc.parallelize(data, n)
    numbers = [x for x in data if x is not None and x == x]
    if not numbers:
        with pytest.raises(ValueError):
            rdd.histogram(buckets)
        return
    bounds, counts = rdd.histogram(buckets)
    assert bounds[0] == min(numbers) and bounds[-1] == max(numbers)
    assert counts == oracle_histogram(data, bounds)
    assert sum(counts) == len(numbers)


@SETTINGS
@given(data=ints, n=slices, bounds=st.lists(st.integers(-1200, 1200), min_size=2, max_size=6,
                                            unique=True).map(sorted))
def test_histogram_with_given_buckets(sc, data, n, bounds):
    assert sc.parallelize(data, n).histogram(bounds) == (bounds, oracle_histogram(data, bounds))


def test_histogram_refuses_bad_buckets(sc):
    rdd = sc.parallelize([1, 2, 3])
    for bad in ([1], [3, 1], [1, 1, 2], [1, None], 0):
        with pytest.raises(ValueError):
            rdd.histogram(bad)
    with pytest.raises(TypeError):
        sc.parallelize(["a", "b"]).histogram(2)


@SETTINGS
@given(data=lists, n=slices)
def test_count_by_value(sc, data, n):
    assert sc.parallelize(data, n).countByValue() == collections.Counter(data)


def _typed(pairs) -> list:
    return [(type(k), repr(k), type(v), v) for k, v in pairs]


@pytest.mark.parametrize("tuples", [False, True])
def test_count_by_value_and_key_of_many_mixed_keys_go_as_columns(sc, tuples):
    """Each partition's counts, past a frame's worth, go as the Counter's keys and values
    (COLUMNS frames) when they are flat atoms, as records when not (atoms and tuples
    mixed); the driver's counts are plain Python's, key types (2 and 2.0 and True are one
    key, the first seen) and order included."""
    from minibig.core.task import COLUMNS, FIRST_FRAME_RECORDS
    kinds = [lambda i: f"w{i}", lambda i: i, lambda i: float(i % 50), lambda i: i % 7 == 0,
             lambda i: None, lambda i: b"b%d" % (i % 90)]
    if tuples:
        kinds.append(lambda i: ("t", i % 40))
    data = [kinds[i % len(kinds)](i % (3 * FIRST_FRAME_RECORDS * len(kinds)))
            for i in range(20 * FIRST_FRAME_RECORDS)]
    got = sc.parallelize(data, 3).countByValue()
    assert _typed(got.items()) == _typed(collections.Counter(data).items())
    seen = sc.lastJob.frame_codecs              # the frames the driver decoded, by codec
    assert seen and (COLUMNS in seen) == (not tuples)
    pairs = [(key, i) for i, key in enumerate(data)]
    assert _typed(sc.parallelize(pairs, 2).countByKey().items()) == _typed(
        collections.Counter(data).items())


def test_count_by_value_of_unhashable_records_raises_type_error(sc):
    with pytest.raises(TypeError):
        sc.parallelize([[1], [2]], 2).countByValue()


@SETTINGS
@given(data=ints, n=slices)
def test_foreach_and_foreach_partition_run_on_the_workers(sc, data, n):
    total, parts = sc.accumulator(0), sc.accumulator(0)
    rdd = sc.parallelize(data, n)
    rdd.foreach(lambda x: total.add(x))
    assert total.value == sum(data)

    def per_partition(it):        # a generator function: runs only when consumed
        parts.add(1)
        yield from it
    rdd.foreachPartition(per_partition)
    assert parts.value == n


@SETTINGS
@given(data=st.lists(st.integers(), max_size=40, unique=True), n=slices,
       num=st.integers(0, 50), seed=st.integers(0, 2**40))
def test_take_sample(sc, data, n, num, seed):
    rdd = sc.parallelize(data, n)
    without = rdd.takeSample(False, num, seed)
    assert len(without) == min(num, len(data))
    assert len(set(without)) == len(without) and set(without) <= set(data)
    assert rdd.takeSample(False, num, seed) == without
    with_replacement = rdd.takeSample(True, num, seed)
    assert len(with_replacement) == (num if data else 0)
    assert set(with_replacement) <= set(data)
    assert rdd.takeSample(True, num, seed) == with_replacement


def test_take_sample_refuses_a_negative_size(sc):
    with pytest.raises(ValueError):
        sc.parallelize([1, 2]).takeSample(False, -1)


def test_take_sample_draws_evenly(sc):
    rdd = sc.parallelize(range(10), 3)
    counts = collections.Counter(x for seed in range(300) for x in rdd.takeSample(False, 3, seed))
    assert sum(counts.values()) == 900 and min(counts.values()) > 50


def test_id_name_debug_string(sc):
    rdd = sc.parallelize([1, 2], 2).setName("numbers")
    child = rdd.map(lambda x: (x, 1)).reduceByKey(operator.add)
    assert rdd.name() == "numbers" and child.name() is None
    assert isinstance(rdd.id(), int) and rdd.id() != child.id() and rdd.id == rdd.id()
    text = child.toDebugString().decode()
    assert "numbers" in text and "ShuffledRDD" in text
    assert rdd.context is sc and rdd.getNumPartitions() == 2


def test_a_users_exception_keeps_its_type(sc):
    with pytest.raises(ZeroDivisionError):
        sc.parallelize([1, 0], 2).map(lambda x: 1 / x).collect()
    with pytest.raises(KeyError):
        sc.parallelize(["k"], 1).map(lambda k: {}[k]).count()


def test_reduce_is_functools_reduce_for_associative_functions(sc):
    data = list(range(1, 30))
    assert sc.parallelize(data, 4).reduce(operator.mul) == functools.reduce(operator.mul, data)


@SETTINGS
@given(data=lists, n=slices)
def test_count_approx_answers_exactly(sc, data, n):
    rdd = sc.parallelize(data, n)
    assert rdd.countApprox(100) == len(data)
    assert rdd.countApproxDistinct() == len(set(data))
