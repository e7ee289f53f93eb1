"""The columnar path of reduceByKey gives exactly the row path's answer.

The oracle folds like the engine does: each map partition (a contiguous
slice of the parallelized list) left to right, then each key's partial
results in map order — so float sums must be equal bit for bit, types
(int, float, bool) must survive, and integer sums past int64 must stay exact
Python ints. Every map task holds at least `MIN_GROUPS` keys (each of the 4
slices has every key once) so that the combined dicts reach the columnar
path's checks and, where the types allow, travel as Arrow frames; the
workers load the kernels first, since a fresh worker keeps dicts smaller
than `MIN_GROUPS_COLD` on the pickled path.
"""

from __future__ import annotations

import math
import operator
import tempfile

import numpy as np
import pytest

from minibig.shuffle.partitioners import reducing
from minibig.shuffle import arrowpath
from minibig.shuffle.arrowpath import combine_columnar, to_frame
from minibig.shuffle.partitioners import MIN_GROUPS

SLICES = 4


def _with_kernels(records):
    """A map task's records, once its worker has loaded the kernels: its combine then
    takes the columnar path from MIN_GROUPS keys (`columnar_size_pays`), on any worker
    the scheduler picks (a shared cluster may have one excluded after failed tests)."""
    import minibig.shuffle.kernels  # noqa: F401
    return records


def columnar_pairs(sc, pairs: list):
    """`pairs` in SLICES map partitions, each combined where the kernels are loaded."""
    return sc.parallelize(pairs, SLICES).mapPartitions(_with_kernels)


def engine_order_fold(pairs: list, func, slices: int = SLICES) -> dict:
    """reduceByKey's answer, folded in the engine's order."""
    n = len(pairs)
    partials = []
    for i in range(slices):
        acc: dict = {}
        for key, value in pairs[i * n // slices:(i + 1) * n // slices]:
            acc[key] = func(acc[key], value) if key in acc else value
        partials.append(acc)
    result: dict = {}
    for acc in partials:
        for key, value in acc.items():
            result[key] = func(result[key], value) if key in result else value
    return result


def _same(got: dict, expected: dict) -> bool:
    def canon(v):
        return (type(v), repr(v))             # -0.0 vs 0.0, 1 vs True, nan
    return {k: canon(v) for k, v in got.items()} == {k: canon(v) for k, v in expected.items()}


def _check(sc, pairs: list, func) -> None:
    got = dict(columnar_pairs(sc, pairs).reduceByKey(func, 3).collect())
    assert _same(got, engine_order_fold(pairs, func))


KEYS = MIN_GROUPS + 500


def test_float_sums_are_the_same_left_to_right_sums(sc):
    rng = np.random.default_rng(5)
    scale = 10.0 ** rng.integers(-8, 9, size=4 * KEYS)
    pairs = [(i % KEYS, float(v)) for i, v in enumerate(rng.standard_normal(4 * KEYS) * scale)]
    pairs[7] = (7, -0.0)
    _check(sc, pairs, operator.add)


def test_integer_sums_past_int64_stay_exact(sc):
    pairs = [(i % KEYS, 2**62 + i) for i in range(4 * KEYS)]
    got = dict(columnar_pairs(sc, pairs).reduceByKey(operator.add, 3).collect())
    assert got == engine_order_fold(pairs, operator.add)
    assert max(got.values()) > 2**63


def test_string_keys_min_and_max(sc):
    pairs = [(f"k{i % KEYS}é", (i * 7919) % 1000 - 500) for i in range(4 * KEYS)]
    _check(sc, pairs, min)
    _check(sc, pairs, max)


@pytest.mark.parametrize("make", [
    lambda i: True if i % 2 else False,                  # bools stay bools
    lambda i: i if i % 3 else float(i),                  # ints and floats mixed
    lambda i: float("nan") if i % 5 == 0 else float(i),  # min over NaN depends on order
    lambda i: np.int64(i),                               # numpy scalars keep their type
])
def test_values_that_must_keep_python_semantics(sc, make):
    pairs = [(i % KEYS, make(i)) for i in range(4 * KEYS)]
    for func in (operator.add, min):
        got = dict(columnar_pairs(sc, pairs).reduceByKey(func, 3).collect())
        expected = engine_order_fold(pairs, func)
        assert _same(got, expected) or all(
            (isinstance(v, float) and math.isnan(v) and math.isnan(expected[k])) or
            (type(v), v) == (type(expected[k]), expected[k]) for k, v in got.items())


def test_the_reducer_hands_over_to_the_row_path_past_its_budget():
    agg = reducing(operator.add)
    frames = [to_frame(np.arange(i, i + 5000, dtype=np.int64), np.ones(5000, dtype=np.int64))
              for i in range(0, 20000, 2500)]
    batches = [frames[0], [(0, 10), ("x", 1)], *frames[1:]]
    with tempfile.TemporaryDirectory() as folder:
        got = dict(combine_columnar(iter(batches), "sum", agg, 64 << 10, lambda: folder))
    expected: dict = {}
    for batch in batches:
        pairs = arrowpath.frame_records(batch) if isinstance(batch, bytes) else batch
        for key, value in pairs:
            expected[key] = expected.get(key, 0) + value
    assert got == expected


def test_frames_of_another_value_type_go_to_the_row_path():
    agg = reducing(operator.add)
    ints = to_frame(np.arange(3, dtype=np.int64), np.array([1, 2, 3], dtype=np.int64))
    floats = to_frame(np.arange(3, dtype=np.int64), np.array([0.5, 0.5, 0.5]))
    got = dict(combine_columnar(iter([ints, floats]), "sum", agg, None, None))
    assert got == {0: 1.5, 1: 2.5, 2: 3.5} and all(type(v) is float for v in got.values())
