"""Actions: the methods that run jobs and bring results to the driver; mixed into `RDD`.

Each action hands the dataset and a function of one partition's iterator to
`Context._run_job`; the function runs on the workers, so only its (small)
result travels back: `count` sends a number per partition, `top` and
`takeOrdered` send at most `num` records per partition, `take` scans as few
partitions as it can. Records collected to the driver (collect,
toLocalIterator, countByValue's counts) stream in frames as a task makes
them (`core.task.Records`), decoded while the task goes on; a reducer's
combined dict that nothing read from yet, and a partition's Counter in countByValue
(countByKey), go as their keys and values in columns (`core.task.collected_records`), no
tuple per record on the worker. Output actions
(`saveAsTextFile`, `saveAsPickleFile`) write through the committer of
`minibig.core.output`.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from minibig.core.output import save_as_text_file
from minibig.core.serialization import copy_of
from minibig.core.task import collected_records, fail_on_stopiteration
from minibig.rdd.saving import save_as_binary_records, save_as_pickle_file
from minibig.shuffle.spill import DictItems


class ActionFunctions:
    """collect, count, take, reduce, fold, aggregate, top, foreach, save...; `self` is an RDD."""

    def _run(self, func: Callable, partitions=None) -> list:
        results = self.ctx._run_job(self, func, partitions)
        # Datasets marked by checkpoint()/localCheckpoint() are written and cut now. Imported
        # here: checkpoint.py defines an RDD subclass, and RDD is built from this mixin.
        from minibig.rdd.checkpoint import after_action
        after_action(self)
        return results

    def collect(self) -> list:
        """All records, in partition order.

        >>> sc.parallelize([1, 2, 3], 2).collect()
        [1, 2, 3]
        """
        return concatenated(self._run(collected_records))

    def count(self) -> int:
        """Number of records.

        >>> sc.parallelize([2, 3, 4]).count()
        3
        """
        return sum(self._run(lambda it: sum(1 for _ in it)))

    def countApprox(self, timeout: int, confidence: float = 0.95) -> int:
        """The number of records; minibig always answers exactly (within any timeout).

        >>> rdd = sc.parallelize(range(1000), 10)
        >>> rdd.countApprox(1000, 1.0)
        1000
        """
        return self.count()

    def countApproxDistinct(self, relativeSD: float = 0.05) -> int:
        """The number of distinct records; exact here (a shuffle), so within any relativeSD.

        >>> n = sc.parallelize(range(1000)).map(str).countApproxDistinct()
        >>> 900 < n < 1100
        True
        >>> n = sc.parallelize([i % 20 for i in range(1000)]).countApproxDistinct()
        >>> 16 < n < 24
        True
        """
        if relativeSD < 0.000017:
            raise ValueError("relativeSD should be greater than 0.000017")
        return self.distinct().count()

    def take(self, num: int) -> list:
        """The first num records, scanning as few partitions as it can.

        Like PySpark, it runs a job on the first partition, then on more
        partitions at a time (up to four times as many as scanned so far).

        >>> sc.parallelize([2, 3, 4, 5, 6]).cache().take(2)
        [2, 3]
        >>> sc.parallelize([2, 3, 4, 5, 6]).take(10)
        [2, 3, 4, 5, 6]
        >>> sc.parallelize(range(100), 100).filter(lambda x: x > 90).take(3)
        [91, 92, 93]
        """
        taken: list = []
        total, scanned = self.getNumPartitions(), 0
        while len(taken) < num and scanned < total:
            batch = 1 if scanned == 0 else min(total - scanned, max(1, scanned * 4 if not taken
                                                                        else scanned * 2))
            wanted = num - len(taken)
            parts = list(range(scanned, min(total, scanned + batch)))
            for chunk in self._run(lambda it: list(itertools.islice(it, wanted)), parts):
                taken.extend(chunk)
            scanned += len(parts)
        return taken[:num]

    def first(self):
        """The first record.

        >>> sc.parallelize([2, 3, 4]).first()
        2
        >>> sc.parallelize([]).first()
        Traceback (most recent call last):
            ...
        ValueError: RDD is empty
        """
        found = self.take(1)
        if not found:
            raise ValueError("RDD is empty")
        return found[0]

    def isEmpty(self) -> bool:
        """True if the dataset has no record.

        >>> sc.parallelize([]).isEmpty()
        True
        >>> sc.parallelize([1]).isEmpty()
        False
        """
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    def reduce(self, f: Callable):
        """Combine all records with an associative, commutative f.

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).reduce(add)
        15
        >>> sc.parallelize((2 for _ in range(10))).map(lambda x: 1).cache().reduce(add)
        10
        >>> sc.parallelize([]).reduce(add)
        Traceback (most recent call last):
            ...
        ValueError: Can not reduce() empty RDD
        """
        empty = object()

        def part(it):
            acc = empty
            for x in it:
                acc = x if acc is empty else f(acc, x)
            return [] if acc is empty else [acc]
        values = list(itertools.chain.from_iterable(self._run(part)))
        if not values:
            raise ValueError("Can not reduce() empty RDD")
        acc, merge = values[0], fail_on_stopiteration(f)
        for x in values[1:]:
            acc = merge(acc, x)
        return acc

    def fold(self, zeroValue, op: Callable):
        """Fold each partition from zeroValue, then the partial results.

        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).fold(0, add)
        15
        """
        return self.aggregate(zeroValue, op, op)

    def aggregate(self, zeroValue, seqOp: Callable, combOp: Callable):
        """Aggregate each partition with seqOp, then combine with combOp.

        >>> seqOp = (lambda x, y: (x[0] + y, x[1] + 1))
        >>> combOp = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sc.parallelize([1, 2, 3, 4]).aggregate((0, 0), seqOp, combOp)
        (10, 4)
        >>> sc.parallelize([]).aggregate((0, 0), seqOp, combOp)
        (0, 0)
        """
        def part(it):
            acc = zeroValue
            for x in it:
                acc = seqOp(acc, x)
            return acc
        partials = self._run(part)    # first: a zero no task can be sent fails here, named
        # The driver merges into a copy: combOp may mutate its first argument, and the
        # caller's zeroValue stays as it was (Spark clones it; PySpark merges into it).
        acc, merge = copy_of(zeroValue), fail_on_stopiteration(combOp)
        for value in partials:
            acc = merge(acc, value)
        return acc

    def treeAggregate(self, zeroValue, seqOp: Callable, combOp: Callable, depth: int = 2):
        """aggregate, combining the partition results in a tree of `depth` levels.

        With many partitions, the intermediate levels run as small shuffles on
        the workers, so the driver merges only a few results.

        >>> add = lambda x, y: x + y
        >>> rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
        >>> rdd.treeAggregate(0, add, add)
        -5
        >>> rdd.treeAggregate(0, add, add, 1)
        -5
        >>> rdd.treeAggregate(0, add, add, 2)
        -5
        >>> rdd.treeAggregate(0, add, add, 5)
        -5
        >>> rdd.treeAggregate(0, add, add, 10)
        -5
        """
        if depth < 1:
            raise ValueError(f"Depth cannot be smaller than 1 but got {depth}.")
        if self.getNumPartitions() == 0:
            return copy_of(zeroValue)

        def part(it):
            acc = zeroValue
            for x in it:
                acc = seqOp(acc, x)
            return [acc]
        partial = self.mapPartitions(part)
        width = float(partial.getNumPartitions())
        fan_in = max(int(math.ceil(width ** (1.0 / depth))), 2)
        # Add a level while it saves more partial results than it costs.
        while width > fan_in + width / fan_in:
            width /= fan_in
            level = int(width)
            partial = (partial.mapPartitionsWithIndex(
                lambda i, it, level=level: ((i % level, x) for x in it))
                .reduceByKey(combOp, level).values())
        return partial.reduce(combOp)

    def treeReduce(self, f: Callable, depth: int = 2):
        """reduce, combining the partition results in a tree of `depth` levels.

        >>> add = lambda x, y: x + y
        >>> rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
        >>> rdd.treeReduce(add)
        -5
        >>> rdd.treeReduce(add, 1)
        -5
        >>> rdd.treeReduce(add, 2)
        -5
        >>> rdd.treeReduce(add, 5)
        -5
        >>> rdd.treeReduce(add, 10)
        -5
        """
        # (value, is_empty): partitions without records contribute an empty marker.
        def merge(a, b):
            if a[1]:
                return b
            if b[1]:
                return a
            return f(a[0], b[0]), False
        value, empty = self.map(lambda x: (x, False)).treeAggregate((None, True), merge, merge,
                                                                   depth)
        if empty:
            raise ValueError("Cannot reduce empty RDD.")
        return value

    def countByValue(self) -> dict:
        """How many times each record occurs.

        >>> sorted(sc.parallelize([1, 2, 1, 2, 2], 2).countByValue().items())
        [(1, 2), (2, 3)]
        """
        total: dict = defaultdict(int)
        # A partition's counts go as the Counter's keys and values (as columns when flat)
        for counts in self._run(lambda it: collected_records(DictItems(Counter(it)))):
            add_counts(total, counts)
        return total

    def top(self, num: int, key: Callable | None = None) -> list:
        """The num largest records, largest first.

        >>> sc.parallelize([10, 4, 2, 12, 3]).top(1)
        [12]
        >>> sc.parallelize([2, 3, 4, 5, 6], 2).top(2)
        [6, 5]
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(3, key=str)
        [4, 3, 2]
        """
        parts = self._run(lambda it: heapq.nlargest(num, it, key=key))
        return heapq.nlargest(num, itertools.chain.from_iterable(parts), key=key)

    def takeOrdered(self, num: int, key: Callable | None = None) -> list:
        """The num smallest records, smallest first.

        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7]).takeOrdered(6)
        [1, 2, 3, 4, 5, 6]
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x)
        [10, 9, 7, 6, 5, 4]
        """
        parts = self._run(lambda it: heapq.nsmallest(num, it, key=key))
        return heapq.nsmallest(num, itertools.chain.from_iterable(parts), key=key)

    def foreach(self, f: Callable) -> None:
        """Apply f to every record, on the workers.

        >>> def f(x): print(x)
        >>> sc.parallelize([1, 2, 3, 4, 5]).foreach(f)
        """
        def part(it):
            for x in it:
                f(x)
            return None
        self._run(part)

    def foreachPartition(self, f: Callable) -> None:
        """Apply f to each partition's iterator, on the workers.

        >>> def f(iterator):
        ...     for x in iterator:
        ...          print(x)
        >>> sc.parallelize([1, 2, 3, 4, 5]).foreachPartition(f)
        """
        def part(it):
            result = f(it)
            try:
                results = iter(result)
            except TypeError:
                return None
            # A generator function does its work only when iterated, as in PySpark.
            for _ in results:
                pass
            return None
        self._run(part)

    def toLocalIterator(self, prefetchPartitions: bool = False):
        """An iterator over all records that holds one partition at a time in the driver.

        Runs one job per partition, when the iteration reaches it. With
        `prefetchPartitions`, as in PySpark, the next partition's job runs (in
        a thread) while the current partition is read: two partitions at a
        time in the driver, and no wait between them.

        >>> rdd = sc.parallelize(range(10))
        >>> [x for x in rdd.toLocalIterator()]
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        >>> list(rdd.toLocalIterator(prefetchPartitions=True)) == rdd.collect()
        True
        """
        splits = list(range(self.getNumPartitions()))
        if prefetchPartitions:
            yield from self._partitions_read_ahead(splits)
            return
        for split in splits:
            yield from self._run(collected_records, [split])[0]

    def _partitions_read_ahead(self, splits: list):
        """The records of `splits` in order, the next one's job started before these are read.

        Leaving the iteration early (close(), or the generator collected) waits for
        the one job running ahead, so no thread outlives the iterator.
        """
        if not splits:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="minibig-prefetch") as pool:
            ahead = pool.submit(self._run, collected_records, [splits[0]])
            for following in splits[1:] + [None]:
                records = ahead.result()[0]
                if following is not None:
                    ahead = pool.submit(self._run, collected_records, [following])
                yield from records

    def saveAsTextFile(self, path: str, compressionCodecClass: str | None = None) -> None:
        """Write str(record) lines (bytes as they are) into part-NNNNN files under `path`.

        Files are written under temporary names and renamed when the job
        commits; `_SUCCESS` marks a complete output. An existing folder is
        refused (FileExistsError), and a failed job leaves no folder behind.
        "org.apache.hadoop.io.compress.GzipCodec" writes part-NNNNN.gz files.

        >>> from tempfile import NamedTemporaryFile
        >>> tempFile = NamedTemporaryFile(delete=True)
        >>> tempFile.close()
        >>> sc.parallelize(range(10)).saveAsTextFile(tempFile.name)
        >>> from fileinput import input
        >>> from glob import glob
        >>> ''.join(sorted(input(glob(tempFile.name + "/part-0000*"))))
        '0\\n1\\n2\\n3\\n4\\n5\\n6\\n7\\n8\\n9\\n'

        Empty lines are tolerated when saving to text files.

        >>> tempFile2 = NamedTemporaryFile(delete=True)
        >>> tempFile2.close()
        >>> sc.parallelize(['', 'foo', '', 'bar', '']).saveAsTextFile(tempFile2.name)
        >>> ''.join(sorted(input(glob(tempFile2.name + "/part-0000*"))))
        '\\n\\n\\nbar\\nfoo\\n'

        Using compressionCodecClass

        >>> tempFile3 = NamedTemporaryFile(delete=True)
        >>> tempFile3.close()
        >>> codec = "org.apache.hadoop.io.compress.GzipCodec"
        >>> sc.parallelize(['foo', 'bar']).saveAsTextFile(tempFile3.name, codec)
        >>> from fileinput import input, hook_compressed
        >>> result = sorted(input(glob(tempFile3.name + "/part*.gz"), openhook=hook_compressed))
        >>> ''.join([r.decode('utf-8') if isinstance(r, bytes) else r for r in result])
        'bar\\nfoo\\n'
        >>> import shutil
        >>> for t in (tempFile, tempFile2, tempFile3): shutil.rmtree(t.name)
        """
        save_as_text_file(self, path, compressionCodecClass)

    def saveAsPickleFile(self, path: str, batchSize: int = 10) -> None:
        """Write the records as pickled batches of `batchSize` into part files under `path`.

        Read them back with `sc.pickleFile(path)`; committed as saveAsTextFile.

        >>> from tempfile import NamedTemporaryFile
        >>> tmpFile = NamedTemporaryFile(delete=True)
        >>> tmpFile.close()
        >>> sc.parallelize([1, 2, 'spark', 'rdd']).saveAsPickleFile(tmpFile.name, 3)
        >>> sorted(sc.pickleFile(tmpFile.name, 5).map(str).collect())
        ['1', '2', 'rdd', 'spark']
        >>> import shutil; shutil.rmtree(tmpFile.name)
        """
        save_as_pickle_file(self, path, batchSize)

    def saveAsBinaryRecords(self, path: str) -> None:
        """Write each record's bytes as they are, back to back, into part files under `path`.

        The writing side of `sc.binaryRecords`; committed as saveAsTextFile.

        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     sc.parallelize([b"abc", b"def"], 2).saveAsBinaryRecords(os.path.join(d, "o"))
        ...     sc.binaryRecords(os.path.join(d, "o"), 3).collect()
        [b'abc', b'def']
        """
        save_as_binary_records(self, path)


def concatenated(parts: list) -> list:
    """The records of the lists `parts` (each a partition's result, fresh and held by
    nothing else) in one list: the first one extended, not every record copied into a
    new list (a million collected pairs in two partitions: half the copy)."""
    if not parts:
        return []
    records = parts[0]
    for part in parts[1:]:
        records += part
    return records


def add_counts(total: dict, counts: list) -> None:
    """`total[k] += v` for each (k, v) of `counts`, a partition's Counter items (each key
    once, each count an int), into countByValue's defaultdict(int), with the same look-ups
    in the same order and the same keys kept: into an empty `total`, one C-level update
    (`0 + v` is `v` for an int); else `get(k, 0) + v`, which skips the defaultdict's
    `__missing__` call for a new key (two partitions' 355k counts each, 96k keys shared:
    ~300 -> ~235 ms)."""
    if not total:
        total.update(counts)
        return
    get = total.get
    for k, v in counts:
        total[k] = get(k, 0) + v
