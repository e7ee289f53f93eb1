"""Behaviours PySpark's own unit tests (python/pyspark/tests/) check, on minibig.

Running PySpark's test_rdd, test_statcounter, test_serializers, test_context
and their neighbours against minibig (a harness swapping SparkContext for a
2-worker Context) found the differences these tests pin down. Each test uses
its own data and compares with plain Python or numpy, or with what PySpark
documents; none of PySpark's test code is kept here.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import threading

import numpy
import pytest

from minibig import Context
from minibig.rdd.statcounter import StatCounter


@pytest.fixture(scope="module")
def sc():
    """One 2-worker cluster for the whole module."""
    with Context(workers=2, appName="pyspark-behaviour") as ctx:
        yield ctx


# -- StatCounter --------------------------------------------------------------------------

def test_a_stat_counter_made_of_none_is_empty():
    """StatCounter(None), as PySpark's: nothing merged, mean 0, variances nan, min inf, max -inf."""
    for nothing in (None, [], ()):
        stats = StatCounter(nothing)
        assert stats.count() == 0 and stats.mean() == 0.0 and stats.sum() == 0.0
        assert math.isnan(stats.variance()) and math.isnan(stats.sampleVariance())
        assert stats.min() == math.inf and stats.max() == -math.inf


def test_stats_of_numpy_vectors_are_taken_per_element(sc):
    """stats() of equal-shaped arrays: mean, min, max, sum and deviations per element (numpy's)."""
    rows = numpy.array([[4.0, -1.0, 7.5], [0.5, 2.0, 7.5], [9.0, -3.0, 7.5], [2.5, 8.0, 7.5],
                        [6.0, 0.0, 7.5]])
    stats = sc.parallelize(list(rows), 3).stats()
    assert stats.count() == len(rows)
    numpy.testing.assert_allclose(stats.mean(), rows.mean(axis=0))
    numpy.testing.assert_array_equal(stats.min(), rows.min(axis=0))
    numpy.testing.assert_array_equal(stats.max(), rows.max(axis=0))
    numpy.testing.assert_allclose(stats.sum(), rows.sum(axis=0))
    numpy.testing.assert_allclose(stats.variance(), rows.var(axis=0), atol=1e-12)
    numpy.testing.assert_allclose(stats.sampleStdev(), rows.std(axis=0, ddof=1), atol=1e-12)
    # asDict's `sample` reads backwards in PySpark: the default gives the sample deviation.
    numpy.testing.assert_allclose(stats.asDict()["stdev"], rows.std(axis=0, ddof=1), atol=1e-12)
    numpy.testing.assert_allclose(stats.asDict(sample=True)["variance"], rows.var(axis=0),
                                  atol=1e-12)


def test_numbers_keep_float_min_and_max(sc):
    """The per-element path is taken for arrays only: numbers still give float min and max."""
    stats = sc.parallelize([3, 1, 2], 2).stats()
    assert (stats.min(), stats.max()) == (1.0, 3.0)
    assert type(stats.min()) is float and type(stats.max()) is float


def test_merging_array_stats_leaves_the_merged_counter_as_it_was():
    """A counter that took another's arrays (mergeStats into an empty one) never changes them."""
    source = StatCounter([numpy.array([1.0, 2.0]), numpy.array([3.0, 6.0])])
    before = (source.mean().copy(), source.variance().copy(), source.max().copy())
    target = StatCounter()
    target.mergeStats(source)
    target.merge(numpy.array([10.0, -4.0]))
    target.mergeStats(StatCounter([numpy.array([0.0, 0.0])]))
    numpy.testing.assert_array_equal(source.mean(), before[0])
    numpy.testing.assert_array_equal(source.variance(), before[1])
    numpy.testing.assert_array_equal(source.max(), before[2])
    all_rows = numpy.array([[1.0, 2.0], [3.0, 6.0], [10.0, -4.0], [0.0, 0.0]])
    numpy.testing.assert_allclose(target.mean(), all_rows.mean(axis=0))
    numpy.testing.assert_allclose(target.variance(), all_rows.var(axis=0))


# -- addPyFile ---------------------------------------------------------------------------

def _write_module(folder, name, text):
    path = folder / f"{name}.py"
    path.write_text(text)
    return str(path)


def test_an_added_py_file_imports_in_the_driver_as_on_the_workers(sc, tmp_path):
    """addPyFile makes the module importable here too (PySpark puts it on the driver's sys.path)."""
    name = f"t1_shipped_{tmp_path.name.replace('-', '_')}"
    path = _write_module(tmp_path, name, "def shout(word):\n    return word.upper() + '!'\n")
    with pytest.raises(ImportError):
        importlib.import_module(name)
    try:
        sc.addPyFile(path)
        module = importlib.import_module(name)
        assert module.shout("hey") == "HEY!"
        # A function of the shipped module, pickled by reference, runs on the workers.
        assert sc.parallelize(["a", "b"], 2).map(module.shout).collect() == ["A!", "B!"]
    finally:
        sys.modules.pop(name, None)


def test_stop_takes_the_drivers_copy_of_added_files_off_sys_path(tmp_path):
    """What addPyFile put on the driver's sys.path leaves it, and the disk, with the Context."""
    name = f"t1_inline_{tmp_path.name.replace('-', '_')}"
    path = _write_module(tmp_path, name, "VALUE = 7\n")
    before = list(sys.path)
    try:
        with Context(master="inline", progress=False) as ctx:
            ctx.addPyFile(path)
            added = [p for p in sys.path if p not in before]
            assert len(added) == 1 and os.path.isfile(added[0])
            assert importlib.import_module(name).VALUE == 7
        assert sys.path == before and not os.path.exists(added[0])
    finally:
        sys.modules.pop(name, None)


def test_py_files_added_from_several_threads_all_import_and_all_leave(tmp_path):
    """Threads adding files at once: each imports once, and stop() leaves no copy behind."""
    names = [f"t1_threaded_{i}_{tmp_path.name.replace('-', '_')}" for i in range(8)]
    paths = [_write_module(tmp_path, name, f"INDEX = {i}\n") for i, name in enumerate(names)]
    before = list(sys.path)
    start = threading.Barrier(len(paths))

    def add(ctx, path):
        start.wait(timeout=30)
        ctx.addPyFile(path)
        ctx.addPyFile(path)                       # the same file twice: shipped once

    try:
        with Context(master="inline", progress=False) as ctx:
            threads = [threading.Thread(target=add, args=(ctx, p)) for p in paths]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            added = [p for p in sys.path if p not in before]
            assert len(added) == len(names) == len(ctx._py_file_ids)
            assert len({os.path.dirname(p) for p in added}) == 1
            assert [importlib.import_module(n).INDEX for n in names] == list(range(len(names)))
        assert sys.path == before
        assert not os.path.exists(os.path.dirname(added[0]))
    finally:
        for name in names:
            sys.modules.pop(name, None)
