"""Context: the driver's entry point, as SparkContext is in PySpark.

Which cluster a Context uses, in order of precedence:

1. `master=` given: "inline" (tasks in this process), or a master's URL;
2. `MINIBIG_MASTER` in the environment (set by `minibig submit`);
3. otherwise an embedded cluster of `workers` processes (default: the
   machine's cores, or `MINIBIG_WORKERS`), stopped with the Context.

A master URL that is not tcp://HOST:PORT, or a worker count that is not a
whole number from 1 to what this machine can run, is refused at once with
an InvalidArgumentError (a ValueError), before any process starts.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import itertools
import logging
import operator
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections import Counter

from minibig.cluster import forking
from minibig.cluster.client import ClusterBackend
from minibig.cluster.local import LocalCluster, check_worker_count, worker_count
from minibig.cluster.runtime import check_master_url
from minibig.core import serialization
from minibig.core.accumulators import Accumulator, AccumulatorParam, default_param
from minibig.core.broadcast import Broadcast
from minibig.core.callsite import user_call_site
from minibig.core.paths import absolute_local_path, file_uri
from minibig.core.cleaner import ContextCleaner
from minibig.conf import Conf
from minibig.errors import InvalidArgumentError, UserError, format_interrupt
from minibig.core.progress import Progress
from minibig.rdd.base import ParallelCollectionRDD, UnionRDD
from minibig.rdd.binary import binary_files, binary_records
from minibig.rdd.pickled import pickle_file
from minibig.rdd.shipping import zip_modules
from minibig.rdd.spark_shim import engine, engine_context
from minibig.rdd.textfile import (TextFileRDD, WholeTextFileRDD, expand_paths, plan_splits,
                                  plan_whole_files)
from minibig.rdd.zipped import PartitionerAwareUnionRDD
from minibig.core.dag import DAGScheduler


def _show_user_errors_briefly() -> None:
    """Make an uncaught UserError (bad path, unreachable master) one line, not a traceback,
    and a Ctrl-C during an action the user's frames only: the line the job was at, not the
    scheduler's and pyzmq's poll under it."""
    previous = sys.excepthook
    if getattr(previous, "_minibig", False):
        return

    def hook(kind, value, tb):
        if issubclass(kind, UserError):
            print(f"minibig: error: {value}", file=sys.stderr)
        elif issubclass(kind, KeyboardInterrupt) and previous is sys.__excepthook__:
            sys.stderr.write(format_interrupt(value))
        else:
            previous(kind, value, tb)
    hook._minibig = True
    sys.excepthook = hook


def _partition_indexes(rdd, partitions) -> list[int]:
    """`partitions` (all of rdd's when None) as a list of ints, each one of rdd's: Spark
    refuses another (IllegalArgumentException); a negative one would pick a partition from
    the end, and one past the last failed inside the scheduler."""
    count = rdd.getNumPartitions()
    if partitions is None:
        return list(range(count))
    wanted = [operator.index(p) for p in partitions]
    for p in wanted:
        if not 0 <= p < count:
            raise InvalidArgumentError(f"Attempting to access a non-existent partition: {p}. "
                                       f"Total number of partitions: {count}")
    return wanted


def _answer_each(wanted: list, by_partition: dict) -> list:
    """The result of each partition in `wanted`, a partition listed again answered with a
    copy of its result (as Spark, which runs it again: the caller may mutate one answer)."""
    answered = set()
    answers = []
    for p in wanted:
        answers.append(serialization.copy_of(by_partition[p]) if p in answered else by_partition[p])
        answered.add(p)
    return answers


def _warn_of_replaced_input(summary) -> None:
    """Say when a job read input that is not UTF-8 (textFile replaced it with U+FFFD)."""
    replaced = summary.counters.get("replaced_characters", 0) if summary is not None else 0
    if replaced:
        logging.getLogger("minibig").warning(
            "%s read input that is not UTF-8: %d undecodable byte sequences became U+FFFD "
            "(sc.lastJob.counters['replaced_characters']); sc.binaryRecords reads "
            "bytes as they are", summary.description, replaced)


def _chosen_master(master: str | None) -> str | None:
    """"inline", a checked master URL (from `master` or $MINIBIG_MASTER), or None: embedded."""
    source = "master"
    if not master and os.environ.get("MINIBIG_MASTER"):
        master, source = os.environ["MINIBIG_MASTER"], "MINIBIG_MASTER"
    if not master or master == "inline":
        return master or None
    return check_master_url(master, source)


class Context:
    """A connection to a cluster, and the factory of datasets.

    >>> with Context(master="inline") as local:
    ...     local.parallelize(range(5), 2).map(lambda x: x * x).collect()
    [0, 1, 4, 9, 16]
    """

    def __new__(cls, *args, **kwargs):
        # `minibig submit --engine spark` runs the same job file on PySpark: a SparkContext shim.
        if engine() != "minibig":
            _show_user_errors_briefly()
            return engine_context(*args, minibig_api=cls, **kwargs)
        return super().__new__(cls)

    def __init__(self, master: str | None = None, workers: int | None = None,
                 appName: str = "minibig", conf: Conf | None = None, **settings):
        _show_user_errors_briefly()
        self.conf = conf or Conf.from_env(**settings)
        self.appName = appName
        self._rdd_ids = itertools.count()
        self._shuffle_ids = itertools.count()
        self._py_file_ids: list[str] = []
        self._driver_py_files: str | None = None     # folder of the zips this driver imports
        self._py_files_lock = threading.Lock()       # addPyFile from several threads
        self._broadcast_ids = itertools.count()
        self._broadcasts: dict = {}
        self._accumulator_ids = itertools.count()
        self._accumulators: dict = {}
        self._job_counters: dict[int, str] = {}      # accumulator id -> lastJob.counters name
        self._merged_partitions: set = set()
        self._cluster = None
        self._stopped = False
        master = _chosen_master(master)
        if workers is not None and master is not None:
            workers = check_worker_count(workers, "workers")
        if master:
            forking.discard_prewarmed()      # started by `from minibig import Context`, unused
        if master == "inline":
            # Imported for inline Contexts only: it loads the worker's task machinery
            # (~50 ms, psutil included) that a driver of a cluster never runs itself.
            from minibig.cluster.inline import InlineBackend
            self._backend = InlineBackend(self.conf, workers)
        elif master:
            self._backend = ClusterBackend(master, self.conf, appName)
        else:
            self._backend = self._start_embedded(workers)
        self.master = master or self._cluster.url
        self._driver_id = self._backend.driver_id
        self._dag = DAGScheduler(self, self._backend, self.conf, Progress(self.conf.progress))
        self._cleaner = ContextCleaner(self) if self.conf.cleaner else None
        for path in filter(None, os.environ.get("MINIBIG_PY_FILES", "").split(os.pathsep)):
            self.addPyFile(path)
        atexit.register(self.stop)

    def _start_embedded(self, workers: int | None):
        count = worker_count(workers)
        self._cluster = LocalCluster(count, self.conf)
        try:
            backend = ClusterBackend(self._cluster.url, self.conf, self.appName,
                                     alive=self._cluster.alive,
                                     workers_alive=self._cluster.workers_alive,
                                     revive_workers=self._cluster.revive_workers)
            backend.wait_for_workers(count, self.conf.startup_timeout)
        except BaseException:
            self._cluster.kill()
            raise
        return backend

    # -- ids ------------------------------------------------------------------
    def _new_rdd_id(self) -> int:
        return next(self._rdd_ids)

    def _new_shuffle_id(self) -> int:
        return next(self._shuffle_ids)

    # -- properties -----------------------------------------------------------
    @property
    def defaultParallelism(self) -> int:
        """Total task slots of the cluster (one per worker unless a worker offers more)."""
        return self._backend.default_parallelism

    @property
    def defaultMinPartitions(self) -> int:
        """Default minimum number of partitions of textFile: min(defaultParallelism, 2)."""
        return min(self.defaultParallelism, 2)

    @property
    def lastJob(self):
        """Summary of the last action: stages, tasks, seconds, tasks per locality level,
        result frames by codec (`frame_codecs`).

        >>> _ = sc.parallelize(range(4), 2).count()
        >>> sc.lastJob.tasks, sc.lastJob.stages
        (2, 1)
        """
        return self._dag.last_job

    # -- checkpointing ----------------------------------------------------------
    def setCheckpointDir(self, dirName: str) -> None:
        """Set the folder (a path or a file: URI) under which checkpoint() writes datasets (as
        in PySpark, a new folder inside it for this context; it must be visible to every worker).

        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> sc.setCheckpointDir("file://" + folder)
        >>> os.path.dirname(sc.getCheckpointDir()) == "file:" + folder
        True
        """
        folder = absolute_local_path(dirName)
        path = os.path.join(folder, str(uuid.uuid4()))
        os.makedirs(path)
        self._checkpoint_dir = path

    def getCheckpointDir(self) -> str | None:
        """The folder checkpoint() writes under, as PySpark gives it (a file: URI), or None
        when setCheckpointDir was not called."""
        path = getattr(self, "_checkpoint_dir", None)
        return None if path is None else file_uri(path)

    @property
    def uiWebUrl(self) -> str | None:
        """The URL of the embedded cluster's web UI (as PySpark's), or None.

        `Context(event_log=DIR)` (or MINIBIG_EVENT_LOG) also makes the embedded
        master write each job's events into DIR, for `minibig history DIR`.

        >>> sc.uiWebUrl.startswith("http://127.0.0.1:")
        True
        """
        return getattr(self._cluster, "ui_url", None)

    # -- creating datasets ------------------------------------------------------
    def parallelize(self, c, numSlices: int | None = None):
        """Distribute a local collection into numSlices partitions.

        >>> sc.parallelize([1, 2, 3, 4, 5], 3).glom().collect()
        [[1], [2, 3], [4, 5]]
        """
        n = self.defaultParallelism if numSlices is None else int(numSlices)
        if n < 1:   # Spark refuses it too (PySpark: ZeroDivisionError or an empty dataset)
            raise ValueError(f"Number of slices ({numSlices}) must be positive.")
        data = c if isinstance(c, (range, list, tuple)) else list(c)
        size = len(data)
        slices = [data[i * size // n:(i + 1) * size // n] for i in range(n)]
        return ParallelCollectionRDD(self, slices)

    def range(self, start: int, end: int | None = None, step: int = 1, numSlices: int | None = None):
        """Integers from start to end (exclusive), as Python's range.

        >>> sc.range(5).collect()
        [0, 1, 2, 3, 4]
        >>> sc.range(2, 4).collect()
        [2, 3]
        """
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def emptyRDD(self):
        """A dataset with no partition.

        >>> sc.emptyRDD().count()
        0
        """
        return ParallelCollectionRDD(self, [])

    def textFile(self, name: str, minPartitions: int | None = None, use_unicode: bool = True):
        """The lines of a file, a directory, a glob, or a comma-separated list of them.

        Plain files are cut into byte ranges at line boundaries; `.gz`, `.bz2`
        and `.xz` files are read whole, one partition each. Lines are `str`, or
        UTF-8 `bytes` with use_unicode=False; bytes that are not UTF-8 become
        U+FFFD, counted in `lastJob.counters["replaced_characters"]`.
        """
        files = expand_paths(name)
        wanted = self.defaultMinPartitions if minPartitions is None else minPartitions
        return TextFileRDD(self, plan_splits(files, wanted, self.conf.split_size), name,
                           use_unicode)

    def wholeTextFiles(self, path: str, minPartitions: int | None = None,
                       use_unicode: bool = True):
        """(path, content) pairs, one per file of a directory, glob or list of them.

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory(prefix="wholeTextFiles") as d:
        ...     with open(os.path.join(d, "1.txt"), "w") as f:
        ...         _ = f.write("123")
        ...     with open(os.path.join(d, "2.txt"), "w") as f:
        ...         _ = f.write("xyz")
        ...     collected = sorted(sc.wholeTextFiles(d).collect())
        >>> collected
        [('.../1.txt', '123'), ('.../2.txt', 'xyz')]
        """
        wanted = self.defaultMinPartitions if minPartitions is None else minPartitions
        # As Spark's (CombineFileInputFormat), a folder's subfolders are skipped, not refused.
        files = expand_paths(path, subfolders="skip")
        return WholeTextFileRDD(self, plan_whole_files(files, wanted), path, use_unicode)

    def pickleFile(self, name: str, minPartitions: int | None = None):
        """The records saved by RDD.saveAsPickleFile (one partition per part file)."""
        return pickle_file(self, name)

    def binaryRecords(self, path: str, recordLength: int, minPartitions: int | None = None):
        """Every recordLength bytes of the files as one `bytes` record (fixed-length records).

        Files are cut into splits at record boundaries; see `minibig.rdd.binary`.
        """
        return binary_records(self, path, recordLength, minPartitions)

    def binaryFiles(self, path: str, minPartitions: int | None = None):
        """(path, bytes) pairs, one per file of a directory, glob or list of them: its bytes
        as they are on disk (a .gz file is not decompressed); see `minibig.rdd.binary`."""
        return binary_files(self, path, minPartitions)

    def union(self, rdds: list):
        """The records of several datasets.

        >>> sc.union([sc.parallelize([1]), sc.parallelize([2, 3])]).collect()
        [1, 2, 3]
        >>> a = sc.parallelize([(1, "a")]).partitionBy(2)
        >>> sc.union([a, a.mapValues(str.upper)]).partitioner == a.partitioner
        True
        """
        rdds = list(rdds)
        partitioners = {r.partitioner for r in rdds}
        if len(rdds) > 1 and len(partitioners) == 1 and None not in partitioners:
            return PartitionerAwareUnionRDD(self, rdds)
        return UnionRDD(self, rdds)

    # -- shared variables ----------------------------------------------------------
    def broadcast(self, value) -> Broadcast:
        """Ship a read-only value once to each worker; read it with `.value`."""
        bid = f"{self._driver_id}-b{next(self._broadcast_ids)}"
        self._backend.add_file(bid, serialization.dumps(value), broadcast=True)
        handle = Broadcast(bid, value, self)
        self._broadcasts[bid] = handle
        return handle

    def accumulator(self, value, accum_param: AccumulatorParam | None = None) -> Accumulator:
        """A variable tasks add to; its `value` is read here, in the driver."""
        aid = next(self._accumulator_ids)
        acc = Accumulator(aid, value, accum_param or default_param(value))
        self._accumulators[aid] = acc
        return acc

    def _job_counter(self, name: str) -> Accumulator:
        """An engine accumulator whose task updates also add up in `lastJob.counters[name]`."""
        acc = self.accumulator(0)
        self._job_counters[acc.aid] = name
        return acc

    def _merge_accumulators(self, stage_id: int, partition: int, updates: dict) -> Counter:
        """Add a task's accumulator updates, once per stage partition; its job counters."""
        counters: Counter = Counter()
        if not updates or (stage_id, partition) in self._merged_partitions:
            return counters
        self._merged_partitions.add((stage_id, partition))
        for aid, value in updates.items():
            acc = self._accumulators.get(aid)
            if acc is not None:
                acc.value = acc.accum_param.addInPlace(acc.value, value)
            if aid in self._job_counters and value:
                counters[self._job_counters[aid]] += value
        return counters

    # -- running ------------------------------------------------------------------
    def runJob(self, rdd, partitionFunc, partitions=None, allowLocal: bool = False) -> list:
        """Run partitionFunc on the given partitions; flatten what it returns.

        >>> myRDD = sc.parallelize(range(6), 3)
        >>> sc.runJob(myRDD, lambda part: [x * x for x in part])
        [0, 1, 4, 9, 16, 25]
        >>> sc.runJob(myRDD, lambda part: [x * x for x in part], [0, 2], True)
        [0, 1, 16, 25]
        """
        results = self._run_job(rdd, lambda it: list(partitionFunc(it)), partitions)
        return list(itertools.chain.from_iterable(results))

    def _run_job(self, rdd, func, partitions=None) -> list:
        """One result per partition, in the order of `partitions`."""
        self._check_running()
        if self._cleaner is not None:
            self._cleaner.clean()
        wanted = _partition_indexes(rdd, partitions)
        distinct = list(dict.fromkeys(wanted))     # a partition asked for twice runs once
        try:
            results = self._dag.run_job(rdd, func, distinct, f"job at {user_call_site()}")
        finally:
            _warn_of_replaced_input(self._dag.last_job)
        if len(distinct) == len(wanted):
            return results
        return _answer_each(wanted, dict(zip(distinct, results)))

    def _check_running(self) -> None:
        if self._stopped:
            raise ValueError("Cannot run a job: this Context has been stopped")

    # -- shipping code -----------------------------------------------------------
    def addPyFile(self, path: str) -> None:
        """Make a .py file, a package folder, a folder of modules or a .zip importable on
        the workers and, as in PySpark, in this driver too (from the same zip).

        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with open(os.path.join(folder, "shipped_answer.py"), "w") as f:
        ...     _ = f.write("ANSWER = 42\\n")
        >>> sc.addPyFile(os.path.join(folder, "shipped_answer.py"))
        >>> import shipped_answer
        >>> sc.parallelize([0]).map(lambda _: shipped_answer.ANSWER).collect()
        [42]
        """
        path = os.path.abspath(path)
        if path.endswith((".zip", ".egg")):
            with open(path, "rb") as f:
                data = f.read()
        else:
            data = zip_modules(path)
        file_id = hashlib.sha1(data).hexdigest()[:16]
        with self._py_files_lock:
            if file_id not in self._py_file_ids:
                self._backend.add_file(file_id, data)
                self._py_file_ids.append(file_id)
                self._import_in_driver(file_id, data)

    def _import_in_driver(self, file_id: str, data: bytes) -> None:
        """Put the shipped zip second on sys.path, where PySpark puts an added file, so the
        driver imports the snapshot the workers import (removed again by stop())."""
        if self._driver_py_files is None:
            self._driver_py_files = tempfile.mkdtemp(prefix="minibig-driver-pyfiles-")
        zipped = os.path.join(self._driver_py_files, f"{file_id}.zip")
        with open(zipped, "wb") as out:
            out.write(data)
        sys.path.insert(1, zipped)
        importlib.invalidate_caches()

    def _forget_driver_py_files(self) -> None:
        with self._py_files_lock:
            folder, self._driver_py_files = self._driver_py_files, None
        if folder is not None:
            sys.path[:] = [p for p in sys.path if os.path.dirname(str(p)) != folder]
            shutil.rmtree(folder, ignore_errors=True)

    # -- lifecycle ---------------------------------------------------------------
    def stop(self) -> None:
        """Release the cluster; an embedded one is shut down, leaving no process."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            self._backend.stop()
        finally:
            self._forget_driver_py_files()
            if self._cluster is not None:
                self._cluster.stop()

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Context master={self.master} parallelism={self.defaultParallelism}>"
