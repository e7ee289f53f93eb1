"""What the `--compare` functions of job files share: their worker count and their engines' start.

`minibig bench --compare` calls a job file's `dask_version(argv)` and
`pyspark_version(argv)` in fresh processes, telling them how many workers to
use in `MINIBIG_BENCH_WORKERS`. These helpers start each engine the same way
for every job and mark the end of its start-up (`engine_started`), so that,
as for minibig, only the job itself counts as job time:

    def pyspark_version(argv):
        with spark_context("wordcount") as sc:
            ...

PySpark is imported only when used: it is an optional extra.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from minibig.benchmark.jobapi import engine_started, peer_workers


@contextmanager
def spark_context(app_name: str, py_files: list[str] = ()):
    """A quiet PySpark SparkContext on local[N], stopped at the end; job time starts once it is up.

    `py_files` (e.g. the job file itself) are shipped to Spark's Python
    workers, so functions of the job's module can be used in its RDDs.
    """
    from pyspark import SparkConf, SparkContext     # an optional extra (minibig[compare])
    conf = (SparkConf().setMaster(f"local[{peer_workers()}]").setAppName(app_name)
            .set("spark.ui.enabled", "false"))
    sc = SparkContext(conf=conf, pyFiles=list(py_files))
    sc.setLogLevel("ERROR")
    engine_started()
    try:
        yield sc
    finally:
        sc.stop()


@contextmanager
def process_pool():
    """N started worker processes (for Dask's processes scheduler); job time starts once they are up."""
    workers = peer_workers()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(abs, range(workers)))            # every process has started
        engine_started()
        yield pool
