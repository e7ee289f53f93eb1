"""PySpark's own RDD and SparkContext doctests, run against a real minibig cluster.

DESIGN.md promises that where PySpark's docstring shows an example, the same
example gives the same answer here. This module checks that with PySpark's
own examples, read at run time from the installed package
(`doctest.DocTestFinder` over its rdd, context, statcounter, accumulators and
broadcast modules); none of PySpark's text is kept in this repository.

Each docstring is one test, run as PySpark's own `_test()` runs it (the
module's globals, ELLIPSIS, a checkpoint directory), with `sc` a minibig
Context on two workers. The runner ports each example the way a user ports a
job, by its imports and its context line, and nothing else: the names minibig
provides (PORTED) replace PySpark's in the globals and in `from pyspark...
import` lines, and a SparkSession's `spark.sparkContext` is `sc`.

A Py4JJavaError in PySpark is any error raised beyond the Python driver: a
Java exception on the driver, or a task's exception relayed by the JVM.
minibig has no JVM: it raises the driver's error in PySpark's Python type
(ValueError) or minibig.errors' types, and a task's exception in its own
type (DESIGN.md). Each example expecting a Py4JJavaError is listed in
JVM_ERRORS with the one error minibig raises there, which it must raise: no
other error (a missing API's AttributeError, an unrelated RuntimeError)
passes, and one a later PySpark adds fails until it is listed.

What minibig does not offer is listed, one reason per name: NOT_CLAIMED
(whole docstrings) and NOT_COMPARED (one example whose output names one of
Spark's own classes; the docstring's other examples still run). Everything
else must pass. A docstring documenting a method minibig lacks and not
listed fails rather than passing by accident (an example that swallows the
AttributeError).
"""

import copy
import doctest
import importlib
import re

import pytest

pyspark = pytest.importorskip(
    "pyspark", reason="PySpark's doctests need pyspark: pip install -e '.[compare]'")

import minibig  # noqa: E402  (after the skip: the module needs pyspark)
from minibig import Context  # noqa: E402
from minibig.rdd.numeric import BoundedFloat  # noqa: E402
from minibig.rdd.statcounter import StatCounter  # noqa: E402
from minibig.shuffle.hashing import portable_hash  # noqa: E402


def _module(*names):
    """The first of `names` that imports: PySpark 4 moved rdd and context to pyspark.core."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(names[-1])


MODULES = [
    _module("pyspark.core.rdd", "pyspark.rdd"),
    _module("pyspark.core.context", "pyspark.context"),
    _module("pyspark.core.broadcast", "pyspark.broadcast"),
    importlib.import_module("pyspark.accumulators"),
    importlib.import_module("pyspark.statcounter"),
]

# PySpark's names and minibig's objects of the same meaning. PipelinedRDD is PySpark's
# class for a chain of narrow transformations; minibig pipelines them in one RDD class.
PORTED = {name: getattr(minibig, name) for name in minibig.__all__} | {
    "SparkContext": Context, "PipelinedRDD": minibig.RDD, "BoundedFloat": BoundedFloat,
    "StatCounter": StatCounter, "portable_hash": portable_hash,
}

NOT_CLAIMED = {
    "SparkContext": "the constructor starts Spark itself, one SparkContext per JVM; "
                    "minibig's is Context(...), several may coexist",
    "SparkContext.getOrCreate": "a JVM-wide singleton context; minibig makes one with Context(...)",
    "SparkContext.addArchive": "SparkFiles (archives unpacked in executors' work dirs); "
                               "minibig ships Python code (addPyFile), not data files",
    "SparkContext.addFile": "SparkFiles (files copied to executors' work dirs); minibig ships "
                            "Python code (addPyFile), not data files",
    "SparkContext.setJobGroup": "job groups and their cancellation",
    "SparkContext.addJobTag": "job tags and their cancellation",
    "SparkContext.removeJobTag": "job tags and their cancellation",
    "SparkContext.getJobTags": "job tags and their cancellation",
    "SparkContext.clearJobTags": "job tags and their cancellation",
    "SparkContext.applicationId": "a Spark application id (local-..., YARN's)",
    "SparkContext.startTime": "Spark application metadata",
    "SparkContext.version": "Spark's version",
    "SparkContext.setLogLevel": "sets log4j's level: Java logging",
    "SparkContext.getSystemProperty": "reads a Java system property",
    "SparkContext.hadoopFile": "Hadoop InputFormats (Java classes)",
    "SparkContext.hadoopRDD": "Hadoop InputFormats (Java classes)",
    "SparkContext.newAPIHadoopFile": "Hadoop InputFormats (Java classes)",
    "SparkContext.newAPIHadoopRDD": "Hadoop InputFormats (Java classes)",
    "SparkContext.sequenceFile": "Hadoop SequenceFiles (Writables, Java classes)",
    "RDD.saveAsHadoopDataset": "Hadoop OutputFormats (Java classes)",
    "RDD.saveAsHadoopFile": "Hadoop OutputFormats (Java classes)",
    "RDD.saveAsNewAPIHadoopDataset": "Hadoop OutputFormats (Java classes)",
    "RDD.saveAsNewAPIHadoopFile": "Hadoop OutputFormats (Java classes)",
    "RDD.saveAsSequenceFile": "Hadoop SequenceFiles (Writables, Java classes)",
    "RDDBarrier.mapPartitions": "barrier execution mode (gang-scheduled stages)",
    "RDDBarrier.mapPartitionsWithIndex": "barrier execution mode (gang-scheduled stages)",
    "Broadcast.dump": "PySpark's pickling of a broadcast to a file for the JVM; minibig ships "
                      "broadcasts itself",
    "Broadcast.load": "PySpark's unpickling of a broadcast from the JVM's file",
    "Broadcast.load_from_path": "PySpark's unpickling of a broadcast from the JVM's file",
    "StatCounter.asDict": "its expected output is Python 2's ({'count': 4L, ...}): it fails on "
                          "PySpark too; test_stats_as_dict_as_pyspark compares the same call "
                          "with PySpark's StatCounter",
}

NOT_COMPARED = {
    ("RDD.context", "rdd.context"):
        "the repr names PySpark's class (<SparkContext ...>); minibig's is <Context ...>",
    ("RDD.toDebugString", "rdd.toDebugString()"):
        "names Spark's JVM wrapper PythonRDD; minibig's lineage has no JVM layer",
    ("SparkContext.emptyRDD", "sc.emptyRDD()"):
        "the repr names Spark's Scala class EmptyRDD; minibig's is a ParallelCollectionRDD "
        "with no partition",
}

# What minibig raises where PySpark's example expects a Py4JJavaError (the module's docstring).
JVM_ERRORS = {
    ("Accumulator", "rdd.map(lambda x: a.value).collect() # doctest: +IGNORE_EXCEPTION_DETAIL"):
        "RuntimeError: Accumulator.value cannot be accessed inside tasks\n...",   # ...: the notes
    ("Accumulator", "rdd.foreach(h) # doctest: +IGNORE_EXCEPTION_DETAIL"):
        "RuntimeError: Accumulator.value cannot be set inside tasks\n...",
    ("RDD.persist", "_ = rdd2.persist(StorageLevel.MEMORY_ONLY_2)"):
        "ValueError: Cannot change the storage level of ...\n",
}
JVM_ERROR = re.compile(r"(py4j\.protocol\.)?Py4JJavaError\b")
PYSPARK_IMPORT = re.compile(r"^from pyspark(\.[\w.]+)? import ([\w, ]+)$", re.MULTILINE)


def _gather():
    """{short name: (DocTest, module)} of every docstring with examples."""
    found = {}
    finder = doctest.DocTestFinder()
    for module in MODULES:
        for test in finder.find(module):
            if test.examples:
                found[test.name[len(module.__name__) + 1:] or test.name] = (test, module)
    return found


DOCTESTS = _gather()


def _documented(name):
    """minibig's object that docstring `name` documents, or None when minibig has none."""
    head, *rest = name.split(".")
    obj = PORTED.get(head)
    for attr in rest:
        obj = getattr(obj, attr, None)
    return obj


def _port(source):
    """An example's source with PySpark's imports of ported names turned into minibig's."""
    def imports(match):
        names = [n.strip() for n in match.group(2).split(",")]
        if all(n in minibig.__all__ for n in names):
            return f"from minibig import {', '.join(names)}"
        return match.group(0)
    return PYSPARK_IMPORT.sub(imports, source.replace("spark.sparkContext", "sc"))


def _expect_minibigs_error(name, example):
    """An example expecting a Py4JJavaError expects JVM_ERRORS' error instead, in full."""
    key = (name, example.source.strip())
    if example.exc_msg is None or not JVM_ERROR.match(example.exc_msg):
        return
    assert key in JVM_ERRORS, f"{key}: PySpark expects a Py4JJavaError; list minibig's error in JVM_ERRORS"
    example.exc_msg = JVM_ERRORS[key]
    example.options[doctest.IGNORE_EXCEPTION_DETAIL] = False


@pytest.fixture(scope="module")
def spark_sc(tmp_path_factory):
    """A minibig Context as PySpark's doctests expect `sc`: 2 workers and a checkpoint dir."""
    with Context(workers=2, appName="pyspark-doctests") as ctx:
        ctx.setCheckpointDir(str(tmp_path_factory.mktemp("checkpoints")))
        yield ctx


def _params():
    for name in sorted(DOCTESTS):
        marks = [pytest.mark.skip(reason=NOT_CLAIMED[name])] if name in NOT_CLAIMED else []
        yield pytest.param(name, id=name, marks=marks)


@pytest.mark.parametrize("name", list(_params()))
def test_pyspark_doctest(spark_sc, name):
    """Every example of PySpark's docstring `name` gives PySpark's answer on minibig."""
    assert _documented(name) is not None, (
        f"minibig has no {name}: implement it, or list it in NOT_CLAIMED with a reason")
    test, module = DOCTESTS[name]
    examples = []
    for example in test.examples:
        example = copy.copy(example)
        example.options = dict(example.options)
        if (name, example.source.strip()) in NOT_COMPARED:
            example.options[doctest.SKIP] = True
        _expect_minibigs_error(name, example)
        example.source = _port(example.source)
        examples.append(example)
    globs = dict(vars(module)) | PORTED | {"sc": spark_sc}
    ported = doctest.DocTest(examples, globs, test.name, test.filename, test.lineno,
                             test.docstring)
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(ported, out=report.append)
    assert result.failed == 0, "".join(report)
    assert result.attempted > 0


def test_the_lists_name_pysparks_examples():
    """NOT_CLAIMED and NOT_COMPARED name docstrings and examples that exist (no stale entry)."""
    assert set(NOT_CLAIMED) <= set(DOCTESTS)
    # Listed although minibig has the name: its examples cannot be compared as they stand.
    # Any other name minibig comes to have must leave the list and run.
    assert sorted(n for n in NOT_CLAIMED if _documented(n) is not None) == [
        "SparkContext", "StatCounter.asDict"]
    for name, source in NOT_COMPARED:
        assert source in [e.source.strip() for e in DOCTESTS[name][0].examples], (name, source)


def test_an_expected_jvm_error_is_minibigs_listed_error_and_no_other():
    """JVM_ERRORS names PySpark's examples; a Py4JJavaError example compares minibig's error in full."""
    listed = {(name, e.source.strip()) for name, (test, _) in DOCTESTS.items() for e in test.examples
              if e.exc_msg and JVM_ERROR.match(e.exc_msg)}
    assert listed == set(JVM_ERRORS)
    test, _ = DOCTESTS["Accumulator"]
    example = copy.copy(next(e for e in test.examples if e.source.startswith("rdd.foreach(h)")))
    example.options = dict(example.options)
    _expect_minibigs_error("Accumulator", example)
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS
    assert checker.check_output(example.exc_msg, "RuntimeError: Accumulator.value cannot be set inside "
                                                 "tasks\nminibig: task failed in ResultStage 3\n", flags)
    for other in ("RuntimeError: dictionary changed size during iteration\n",
                  "AttributeError: 'Context' has no 'setJobGroup'\n"):
        assert not checker.check_output(example.exc_msg, other, flags)
    assert example.options[doctest.IGNORE_EXCEPTION_DETAIL] is False


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0, 4.0], [5, 5, 8], [-1.5]])
def test_stats_as_dict_as_pyspark(spark_sc, values):
    """stats().asDict(), with and without `sample`, as PySpark's StatCounter (pure Python) has it."""
    from pyspark.statcounter import StatCounter as PySparkStatCounter

    ours = spark_sc.parallelize(values, 2).stats()
    theirs = PySparkStatCounter(values)
    for sample in (False, True):
        got, want = ours.asDict(sample), theirs.asDict(sample)
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], nan_ok=True), (key, sample)


def test_only_the_imports_of_ported_names_change():
    """`from pyspark import X` becomes minibig's X only where minibig has X; the rest stays."""
    assert _port("from pyspark import StorageLevel\n") == "from minibig import StorageLevel\n"
    assert _port("from pyspark.accumulators import AccumulatorParam") == (
        "from minibig import AccumulatorParam")
    assert _port("from pyspark import SparkFiles\n") == "from pyspark import SparkFiles\n"
    assert _port("b = spark.sparkContext.broadcast(1)") == "b = sc.broadcast(1)"
