"""The same job on PySpark: `Context(...)` as a thin shim over a SparkContext.

`minibig submit --engine spark[=URL] job.py` sets `MINIBIG_ENGINE=spark`
(and `MINIBIG_SPARK_MASTER`, the Spark master to use) before it runs the job;
then every `Context(...)` in the job returns a `SparkEngineContext` instead
(the hook is `Context.__new__` in `rdd/context.py`). The shim starts a
SparkContext and forwards the Context API to it, unchanged:

    parallelize, range, emptyRDD, textFile, wholeTextFiles, pickleFile,
    binaryRecords, union, broadcast, accumulator, runJob, addPyFile, stop,
    defaultParallelism, defaultMinPartitions, appName, master, `with`

The datasets are PySpark's own RDDs, broadcasts and accumulators: the job's
transformations and actions run on Spark and nothing of minibig's engine is
involved. The Spark master is, in order: `MINIBIG_SPARK_MASTER` (what submit
was given, e.g. spark://HOST:7077), else `local[N]` with N the Context's
`workers=` or the machine's cores. Spark's own settings stay Spark's:
`spark-defaults.conf`, or `PYSPARK_SUBMIT_ARGS="--conf k=v pyspark-shell"`.
The rest of SparkContext's API is forwarded too, for a job on its way to Spark.

Two things PySpark's own launchers do, done here: on a local master the
executors run the driver's interpreter (`PYSPARK_PYTHON`, unless set), and
`minibig submit` restarts itself with `PYTHONHASHSEED=0` unless the seed is
set, because PySpark partitions by Python's hash() and the driver
(`lookup`, `partitionBy`) must hash strings as the executors do.

What only minibig has raises `MinibigOnlyError` (a UserError, so `minibig
submit` prints one line, and a NotImplementedError), naming the feature:
`sc.lastJob`, `Context(master="inline")` or a minibig master URL, minibig's
settings (`Context(worker_memory=...)`, a `Conf`). RDD methods that only
minibig has (`saveAsBinaryRecords`) fail in PySpark with its AttributeError.

pyspark is imported only when a SparkEngineContext starts: it is an optional
extra (`pip install minibig[compare]`, and Java 17+).

>>> SparkEngineContext(master="inline")
Traceback (most recent call last):
...
minibig.rdd.spark_shim.MinibigOnlyError: Context(master='inline') is minibig-only, and this job runs on Spark (--engine spark): Spark's master is local[N] or the URL of --engine spark=URL
"""

from __future__ import annotations

import os
import sys
import tempfile

from minibig.errors import InvalidArgumentError, UserError
from minibig.rdd.shipping import zip_modules

#: Which engine a Context runs on: "minibig" (default) or "spark". Set by `minibig submit --engine`.
ENGINE_ENV = "MINIBIG_ENGINE"
#: The Spark master URL a shimmed Context uses (set by `minibig submit --engine spark[=URL]`).
SPARK_MASTER_ENV = "MINIBIG_SPARK_MASTER"
ENGINES = ("minibig", "spark")

# Context names that only minibig has, and what to use on Spark instead.
MINIBIG_ONLY = {
    "lastJob": "see Spark's web UI or sc.statusTracker()",
    "conf": "Spark's settings are sc.getConf()",
}
SPARK_MASTER_HINT = "Spark's master is local[N] or the URL of --engine spark=URL"
SPARK_SETTINGS_HINT = "give Spark its own (spark-defaults.conf, PYSPARK_SUBMIT_ARGS)"


class MinibigOnlyError(UserError, NotImplementedError):
    """A job asked the Spark engine for something only minibig's engine has."""

    def __init__(self, feature: str, instead: str | None = None):
        super().__init__(f"{feature} is minibig-only, and this job runs on Spark (--engine spark)"
                         + (f": {instead}" if instead else ""))


def engine() -> str:
    """The engine `Context()` runs on now: $MINIBIG_ENGINE, "minibig" by default."""
    name = os.environ.get(ENGINE_ENV) or "minibig"
    if name not in ENGINES:
        raise InvalidArgumentError(f"{ENGINE_ENV}={name!r}: expected one of {', '.join(ENGINES)}")
    return name


def spark_master(workers: int | None = None) -> str:
    """$MINIBIG_SPARK_MASTER, else local[N]: N = `workers` or the machine's cores."""
    return os.environ.get(SPARK_MASTER_ENV) or f"local[{workers or os.cpu_count() or 1}]"


def _refuse_minibig_options(master, conf, settings) -> None:
    """Context arguments that configure minibig's own engine have no meaning on Spark."""
    if master:
        raise MinibigOnlyError(f"Context(master={master!r})", SPARK_MASTER_HINT)
    if conf is not None or settings:
        names = ", ".join(sorted(settings)) or "conf"
        raise MinibigOnlyError(f"Context({names}=...)", SPARK_SETTINGS_HINT)


class SparkEngineContext:
    """minibig's Context API forwarded to a PySpark SparkContext; datasets are PySpark RDDs."""

    # minibig Context names that SparkContext has with the same meaning: forwarded as they are.
    _FORWARDED = frozenset({
        "parallelize", "range", "emptyRDD", "textFile", "wholeTextFiles", "pickleFile",
        "binaryRecords", "union", "broadcast", "accumulator", "runJob",
        "defaultParallelism", "defaultMinPartitions", "appName", "master",
    })

    def __init__(self, master: str | None = None, workers: int | None = None,
                 appName: str = "minibig", conf=None, **settings):
        _refuse_minibig_options(master, conf, settings)
        from pyspark import SparkConf, SparkContext   # optional and heavy (a JVM): only on --engine spark
        master = spark_master(workers)
        if master.startswith("local"):
            # PySpark's default is whatever `python3` is on PATH; local executors should run
            # the driver's own interpreter (its version and packages), as minibig's workers do.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        spark_conf = SparkConf().setMaster(master).setAppName(appName)
        self._sc = SparkContext(conf=spark_conf)
        self._shipped = tempfile.TemporaryDirectory(prefix="minibig-spark-")
        try:
            # As on minibig, the job's folder (and --py-files) import on the executors.
            for path in filter(None, os.environ.get("MINIBIG_PY_FILES", "").split(os.pathsep)):
                self.addPyFile(path)
        except BaseException:
            self.stop()
            raise

    @property
    def sparkContext(self):
        """The PySpark SparkContext behind this Context."""
        return self._sc

    def addPyFile(self, path: str) -> None:
        """Ship a .py, .zip or .egg file as Spark does, or a folder of modules zipped (minibig's rule)."""
        path = os.path.abspath(path)
        if os.path.isdir(path):
            zipped = os.path.join(self._shipped.name, f"{len(os.listdir(self._shipped.name))}-"
                                                      f"{os.path.basename(path) or 'root'}.zip")
            with open(zipped, "wb") as f:
                f.write(zip_modules(path))
            path = zipped
        self._sc.addPyFile(path)

    def stop(self) -> None:
        """Stop the SparkContext (and its JVM's executors); safe to call twice."""
        try:
            self._sc.stop()
        finally:
            self._shipped.cleanup()

    def __enter__(self) -> "SparkEngineContext":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __getattr__(self, name: str):
        # Only called for names not found on the shim itself.
        if name.startswith("_"):
            raise AttributeError(name)
        if name in MINIBIG_ONLY:
            raise MinibigOnlyError(f"sc.{name}", MINIBIG_ONLY[name])
        minibig_api = self.__dict__.get("_minibig_api")
        if name not in self._FORWARDED and minibig_api is not None and hasattr(minibig_api, name):
            raise MinibigOnlyError(f"sc.{name}")
        # The rest of SparkContext's API is there too, for a job on its way to Spark.
        return getattr(self._sc, name)

    def __repr__(self) -> str:
        return f"<Context engine=spark master={self._sc.master} parallelism={self._sc.defaultParallelism}>"


def engine_context(*args, minibig_api: type | None = None, **kwargs) -> SparkEngineContext:
    """What `Context(*args, **kwargs)` returns when the engine is not minibig's.

    `minibig_api` is minibig's Context class: a name it has and the shim does not
    forward is refused as minibig-only (passed in, so this module need not import
    the Context, which imports it).
    """
    context = SparkEngineContext(*args, **kwargs)
    context._minibig_api = minibig_api
    return context
