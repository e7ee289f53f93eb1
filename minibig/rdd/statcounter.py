"""Running count, mean, variance, min and max (Welford), mergeable across partitions."""

from __future__ import annotations

import math


class StatCounter:
    """Statistics of a stream of numbers, as PySpark's StatCounter.

    >>> s = StatCounter([1, 2, 3])
    >>> s.count(), s.mean(), s.variance(), s.sampleVariance()
    (3, 2.0, 0.6666666666666666, 1.0)
    """

    def __init__(self, values=()):
        self.n = 0
        self.mu = 0.0
        self.m2 = 0.0
        self.maxValue = float("-inf")
        self.minValue = float("inf")
        for v in values:
            self.merge(v)

    def merge(self, value) -> "StatCounter":
        """Add one value."""
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.maxValue = max(self.maxValue, value)
        self.minValue = min(self.minValue, value)
        return self

    def mergeStats(self, other: "StatCounter") -> "StatCounter":
        """Add every value another counter has seen (Chan et al.'s parallel update)."""
        if other is self:
            return self.mergeStats(other.copy())
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
        else:
            delta = other.mu - self.mu
            total = self.n + other.n
            self.mu = (self.mu * self.n + other.mu * other.n) / total
            self.m2 += other.m2 + delta * delta * self.n * other.n / total
            self.n = total
        self.maxValue = max(self.maxValue, other.maxValue)
        self.minValue = min(self.minValue, other.minValue)
        return self

    def copy(self) -> "StatCounter":
        """An independent copy."""
        clone = StatCounter()
        clone.__dict__.update(self.__dict__)
        return clone

    def count(self) -> int:
        """How many values were merged."""
        return self.n

    def mean(self) -> float:
        """Their mean (0.0 when there is none, as in PySpark)."""
        return self.mu

    def sum(self) -> float:
        """Their sum."""
        return self.n * self.mu

    def min(self) -> float:
        """The smallest value, as a float (inf when there is none)."""
        return float(self.minValue)

    def max(self) -> float:
        """The largest value, as a float (-inf when there is none)."""
        return float(self.maxValue)

    def variance(self) -> float:
        """Population variance (divides by N)."""
        return self.m2 / self.n if self.n else float("nan")

    def sampleVariance(self) -> float:
        """Sample variance (divides by N - 1)."""
        return self.m2 / (self.n - 1) if self.n > 1 else float("nan")

    def stdev(self) -> float:
        """Population standard deviation."""
        return math.sqrt(self.variance())

    def sampleStdev(self) -> float:
        """Sample standard deviation."""
        return math.sqrt(self.sampleVariance())

    def asDict(self, sample: bool = False) -> dict:
        """count, mean, sum, min, max, stdev and variance, as PySpark's asDict gives them.

        PySpark's `sample` flag reads backwards, and minibig gives PySpark's
        answers: the sample stdev and variance by default, the population
        ones with `sample=True`.
        """
        return {"count": self.count(), "mean": self.mean(), "sum": self.sum(),
                "min": self.min(), "max": self.max(),
                "stdev": self.stdev() if sample else self.sampleStdev(),
                "variance": self.variance() if sample else self.sampleVariance()}

    def __repr__(self) -> str:
        return (f"(count: {self.count()}, mean: {self.mean()}, stdev: {self.stdev()}, "
                f"max: {self.max()}, min: {self.min()})")
