"""Random samples of a dataset, reproducible with a seed; mixed into `RDD`.

Each partition draws from its own `random.Random(seed ^ split)`, so a sample
depends only on the seed and the partition's records: the same seed gives the
same sample in every action, on any worker, after any retry. Without a seed,
one is drawn in the driver when the transformation is created, so every
action on that dataset still sees the same sample.

Sampling without replacement keeps each record with probability `fraction`
(Bernoulli); with replacement, each record appears a Poisson(`fraction`)
number of times. `takeSample` oversamples by a margin chosen so that one pass
almost always returns enough records, and tries again with a new seed when
it does not.
"""

from __future__ import annotations

import math
import random
import sys

# Draws discarded after seeding: seeds of neighbouring partitions differ in few
# bits, and this separates their streams.
_WARM_UP = 10


def _partition_rng(seed: int, split: int) -> random.Random:
    rng = random.Random(seed ^ split)
    for _ in range(_WARM_UP):
        rng.random()
    return rng


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson(mean) draw: Knuth's product of uniforms, in log space for large means."""
    if mean <= 0:
        return 0
    if mean < 20.0:
        limit, product, k = math.exp(-mean), rng.random(), 0
        while product > limit:
            k += 1
            product *= rng.random()
        return k
    total, k = rng.expovariate(mean), 0
    while total < 1.0:
        k += 1
        total += rng.expovariate(mean)
    return k


def _new_seed() -> int:
    return random.randrange(sys.maxsize)


def _sampler(withReplacement: bool, fraction_of, seed: int):
    """f(split, records) keeping each record as often as its draw says."""
    def pick(split, it):
        rng = _partition_rng(seed, split)
        for record in it:
            fraction = fraction_of(record)
            if withReplacement:
                for _ in range(_poisson(rng, fraction)):
                    yield record
            elif rng.random() < fraction:
                yield record
    return pick


def fraction_for_sample_size(num: int, total: int, withReplacement: bool) -> float:
    """A sampling fraction that yields at least `num` of `total` records with high probability.

    With replacement, the count is Poisson: add enough standard deviations
    (num is small: 9, else 5) to the mean. Without, the count is binomial: the
    fraction q with P[count < num] below 1e-4 by a Chernoff bound.
    """
    if withReplacement:
        spread = 9 if num < 12 else 5
        return max(num + spread * math.sqrt(num), 1e-10) / total
    fraction = num / total
    gamma = -math.log(1e-4) / total
    return min(1.0, max(1e-10, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction)))


class SamplingFunctions:
    """sample, takeSample, randomSplit and sampleByKey; `self` is an RDD."""

    def sample(self, withReplacement: bool, fraction: float, seed: int | None = None):
        """A random sample: Bernoulli, or Poisson with replacement; reproducible with a seed.

        `fraction` is each record's chance of being kept, or with replacement
        the expected number of times it is picked.

        >>> rdd = sc.parallelize(range(100), 4)
        >>> 6 <= rdd.sample(False, 0.1, 81).count() <= 14
        True
        """
        if not fraction >= 0:
            raise ValueError(f"Fraction must be nonnegative, got {fraction}")
        seed = _new_seed() if seed is None else seed
        return self.mapPartitionsWithIndex(_sampler(withReplacement, lambda _: fraction, seed), True)

    def sampleByKey(self, withReplacement: bool, fractions: dict, seed: int | None = None):
        """A sample of (key, value) pairs with a fraction per key (stratified sampling).

        >>> fractions = {"a": 0.2, "b": 0.1}
        >>> rdd = sc.parallelize(fractions.keys()).cartesian(sc.parallelize(range(0, 1000)))
        >>> sample = dict(rdd.sampleByKey(False, fractions, 2).groupByKey().collect())
        >>> 100 < len(sample["a"]) < 300 and 50 < len(sample["b"]) < 150
        True
        >>> max(sample["a"]) <= 999 and min(sample["a"]) >= 0
        True
        >>> max(sample["b"]) <= 999 and min(sample["b"]) >= 0
        True
        """
        for key, fraction in fractions.items():
            if not fraction >= 0:
                raise ValueError(f"Negative fraction value {fraction} for key {key!r}")
        seed = _new_seed() if seed is None else seed
        fractions = dict(fractions)
        return self.mapPartitionsWithIndex(
            _sampler(withReplacement, lambda kv: fractions[kv[0]], seed), True)

    def randomSplit(self, weights: list, seed: int | None = None) -> list:
        """Split into datasets with sizes in proportion to `weights` (normalised).

        Every record lands in exactly one of them: they draw the same random
        number per record and keep disjoint ranges of it.

        >>> rdd = sc.parallelize(range(500), 1)
        >>> rdd1, rdd2 = rdd.randomSplit([2, 3], 17)
        >>> len(rdd1.collect() + rdd2.collect())
        500
        >>> 150 < rdd1.count() < 250
        True
        >>> 250 < rdd2.count() < 350
        True
        """
        if not all(w >= 0 for w in weights):
            raise ValueError("Weights must be nonnegative")
        total = float(sum(weights))
        if not total > 0:
            raise ValueError("Sum of weights must be positive")
        seed = _new_seed() if seed is None else seed
        edges = [0.0]
        for w in weights:
            edges.append(edges[-1] + w / total)
        edges[-1] = 1.0                      # no record lost to rounding at the top

        def between(low, high):
            def keep(split, it):
                rng = _partition_rng(seed, split)
                return (x for x in it if low <= rng.random() < high)
            return keep
        return [self.mapPartitionsWithIndex(between(lo, hi), True)
                for lo, hi in zip(edges, edges[1:])]

    def takeSample(self, withReplacement: bool, num: int, seed: int | None = None) -> list:
        """A list of `num` random records (fewer only when sampling without replacement).

        >>> rdd = sc.parallelize(range(0, 10))
        >>> len(rdd.takeSample(True, 20, 1))
        20
        >>> len(rdd.takeSample(False, 5, 2))
        5
        >>> len(rdd.takeSample(False, 15, 3))
        10
        >>> import sys
        >>> sc.range(0, 10).takeSample(False, sys.maxsize)
        Traceback (most recent call last):
            ...
        ValueError: Sample size cannot be greater than ...
        """
        # As PySpark: refused before any job, whatever the dataset holds.
        max_sample = sys.maxsize - int(10 * math.sqrt(sys.maxsize))
        if num < 0:
            raise ValueError("Sample size cannot be negative.")
        if num > max_sample:
            raise ValueError(f"Sample size cannot be greater than {max_sample}.")
        if num == 0 or self.getNumPartitions() == 0:
            return []
        total = self.count()
        if total == 0:
            return []
        rng = random.Random(seed)
        if not withReplacement and num >= total:
            everything = self.collect()
            rng.shuffle(everything)
            return everything
        fraction = fraction_for_sample_size(num, total, withReplacement)
        picked = self.sample(withReplacement, fraction, rng.randrange(sys.maxsize)).collect()
        while len(picked) < num:
            # Rare (the fraction is chosen so that it almost never happens): draw again.
            picked = self.sample(withReplacement, fraction, rng.randrange(sys.maxsize)).collect()
        rng.shuffle(picked)
        return picked[:num]
