"""Actions on datasets of numbers, mixed into `RDD` (PySpark's DoubleRDD functions).

Statistics come from one pass: each partition folds its numbers into a
`StatCounter` (Welford's update) and the driver merges the partition
counters, so `stats()` costs one job however many numbers there are.
`variance` and `stdev` are the population ones (divide by N), as in PySpark;
`sampleVariance` and `sampleStdev` divide by N - 1.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from typing import Callable

from minibig.rdd.statcounter import StatCounter


class BoundedFloat(float):
    """A value from an approximate job, with its confidence and its low and high bounds.

    minibig's approximate actions always wait for every partition (within any
    timeout), so their answers are exact: confidence 1.0, low == high == the value,
    as Spark's evaluators report a finished job.

    >>> BoundedFloat(100.0, 0.95, 95.0, 105.0)
    100.0
    >>> b = BoundedFloat(100.0, 0.95, 95.0, 105.0)
    >>> b.confidence, b.low, b.high
    (0.95, 95.0, 105.0)
    """

    confidence: float
    low: float
    high: float

    def __new__(cls, mean: float, confidence: float, low: float, high: float) -> "BoundedFloat":
        obj = float.__new__(cls, mean)
        obj.confidence = confidence
        obj.low = low
        obj.high = high
        return obj

    def __reduce__(self):
        return BoundedFloat, (float(self), self.confidence, self.low, self.high)


def _exact(value: float) -> BoundedFloat:
    return BoundedFloat(value, 1.0, value, value)


def _comparable(x) -> bool:
    """Not None and not NaN: what histogram counts."""
    return x is not None and not (isinstance(x, float) and math.isnan(x))


class NumericFunctions:
    """sum, mean, max, min, stats, variance, stdev and histogram; `self` is an RDD."""

    def sum(self):
        """Sum of the records (0 for an empty dataset).

        >>> sc.parallelize([1.0, 2.0, 3.0]).sum()
        6.0
        """
        return self.mapPartitions(lambda it: [sum(it)]).fold(0, operator.add)

    def sumApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The sum as a BoundedFloat; minibig waits for every partition, so it is exact.

        >>> rdd = sc.parallelize(range(1000), 10)
        >>> r = sum(range(1000))
        >>> abs(rdd.sumApprox(1000) - r) / r < 0.05
        True
        """
        return _exact(float(self.mapPartitions(lambda it: [float(sum(it))]).fold(0.0, operator.add)))

    def meanApprox(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The mean as a BoundedFloat; minibig waits for every partition, so it is exact.

        >>> rdd = sc.parallelize(range(1000), 10)
        >>> r = sum(range(1000)) / 1000.0
        >>> abs(rdd.meanApprox(1000) - r) / r < 0.05
        True
        """
        return _exact(float(self.map(float).stats().mean()))

    def max(self, key: Callable | None = None):
        """Largest record, or the one with the largest key(record).

        >>> rdd = sc.parallelize([1.0, 5.0, 43.0, 10.0])
        >>> rdd.max()
        43.0
        >>> rdd.max(key=str)
        5.0
        """
        if key is None:
            return self.reduce(max)
        return self.reduce(lambda a, b: max(a, b, key=key))

    def min(self, key: Callable | None = None):
        """Smallest record, or the one with the smallest key(record).

        >>> rdd = sc.parallelize([2.0, 5.0, 43.0, 10.0])
        >>> rdd.min()
        2.0
        >>> rdd.min(key=str)
        10.0
        """
        if key is None:
            return self.reduce(min)
        return self.reduce(lambda a, b: min(a, b, key=key))

    def stats(self) -> StatCounter:
        """Count, mean, variance, max and min in one pass.

        >>> sc.parallelize([1, 2, 3]).stats()
        (count: 3, mean: 2.0, stdev: 0.816496580927726, max: 3.0, min: 1.0)
        """
        return self.mapPartitions(lambda it: [StatCounter(it)]).reduce(StatCounter.mergeStats)

    def mean(self) -> float:
        """Arithmetic mean.

        >>> sc.parallelize([1, 2, 3]).mean()
        2.0
        """
        return self.stats().mean()

    def variance(self) -> float:
        """Population variance (divides by N).

        >>> sc.parallelize([1, 2, 3]).variance()
        0.6666666666666666
        """
        return self.stats().variance()

    def stdev(self) -> float:
        """Population standard deviation (divides by N).

        >>> sc.parallelize([1, 2, 3]).stdev()
        0.816496580927726
        """
        return self.stats().stdev()

    def sampleVariance(self) -> float:
        """Variance with N - 1 in the denominator.

        >>> sc.parallelize([1, 2, 3]).sampleVariance()
        1.0
        """
        return self.stats().sampleVariance()

    def sampleStdev(self) -> float:
        """Standard deviation with N - 1 in the denominator.

        >>> sc.parallelize([1, 2, 3]).sampleStdev()
        1.0
        """
        return self.stats().sampleStdev()

    def histogram(self, buckets) -> tuple:
        """(buckets, counts): how many records fall in each bucket.

        `buckets` is a number of evenly spaced buckets between the minimum and
        the maximum, or the sorted bucket boundaries. Buckets are [a, b)
        except the last, which is [a, b]; None, NaN and records outside the
        boundaries are not counted.

        >>> rdd = sc.parallelize(range(51))
        >>> rdd.histogram(2)
        ([0, 25, 50], [25, 26])
        >>> rdd.histogram([0, 5, 25, 50])
        ([0, 5, 25, 50], [5, 20, 26])
        >>> rdd.histogram([0, 15, 30, 45, 60])  # evenly spaced buckets
        ([0, 15, 30, 45, 60], [15, 15, 15, 6])
        >>> rdd = sc.parallelize(["ab", "ac", "b", "bd", "ef"])
        >>> rdd.histogram(("a", "b", "c"))
        (('a', 'b', 'c'), [2, 2])
        """
        if isinstance(buckets, int):
            return self._even_histogram(buckets)
        if isinstance(buckets, (list, tuple)):
            if len(buckets) < 2:
                raise ValueError("buckets should have more than one value")
            if not all(_comparable(b) for b in buckets):
                raise ValueError("can not have None or NaN in buckets")
            if sorted(buckets) != list(buckets):
                raise ValueError("buckets should be sorted")
            if any(a == b for a, b in zip(buckets, buckets[1:])):
                raise ValueError("buckets should not contain duplicated values")
            return buckets, self._count_in(buckets)
        raise TypeError("buckets should be a list or tuple or number(int or long)")

    def _even_histogram(self, count: int) -> tuple:
        if count < 1:
            raise ValueError("number of buckets must be >= 1")
        values = self.filter(_comparable)
        try:
            low, high = values.map(lambda x: (x, x)).reduce(
                lambda a, b: (min(a[0], b[0]), max(a[1], b[1])))
        except ValueError as exc:
            raise ValueError("can not generate buckets from empty RDD") from exc
        if low == high or count == 1:
            return [low, high], [values.count()]
        try:
            width = (high - low) / count
        except TypeError as exc:
            raise TypeError("Can not generate buckets with non-number in RDD") from exc
        if math.isinf(width):
            raise ValueError("Can not generate buckets with infinite value")
        # Integer boundaries when they divide the range exactly, as PySpark shows them.
        step = int(width)
        if step * count != high - low:
            step = (high - low) / count
        bounds = [low + i * step for i in range(count)] + [high]
        return bounds, self._count_in(bounds)

    def _count_in(self, bounds) -> list[int]:
        last = len(bounds) - 2
        first, final = bounds[0], bounds[-1]

        def count(it):
            counts = [0] * (last + 1)
            for x in it:
                if not _comparable(x) or x < first or x > final:
                    continue
                counts[min(bisect_right(bounds, x) - 1, last)] += 1
            return [counts]
        totals = [0] * (last + 1)
        for counts in self.mapPartitions(count).collect():
            totals = [a + b for a, b in zip(totals, counts)]
        return totals
