"""Speedup arithmetic: speedup, parallel efficiency, Karp–Flatt, and an Amdahl fit.

The numbers a distributed-systems course derives from a table of run times
T(p) at p workers, all relative to the smallest worker count measured, p0
(usually 1). With the relative worker count r = p / p0:

- speedup          S(p) = T(p0) / T(p)
- efficiency       E(p) = S(p) / r
- Karp–Flatt       e(p) = (1/S - 1/r) / (1 - 1/r)   (r > 1; undefined at r = 1)
  the experimentally determined serial fraction: if the job obeyed Amdahl's
  law exactly, e(p) would be its serial fraction at every p; an e that grows
  with p points at overhead that grows with the workers (start-up,
  scheduling, shuffle), not at a fixed serial part.
- Amdahl's law     T(p) = s + q / r, so S(p) = 1 / (f + (1 - f) / r) with
  the serial fraction f = s / (s + q). We fit s and q by least squares over
  the median times (a linear problem in s and q), keeping both non-negative,
  and report f and the speedup limit 1/f.

When p0 = 1 these are the textbook definitions; otherwise f is the serial
fraction of a run with p0 workers. A table needs at least two distinct
worker counts for a fit.

Weak scaling (`minibig bench --weak`) grows the input with the workers: r
times the workers get r times the input. Its numbers:

- scaled speedup   S(p) = r T(p0) / T(p): r times the work in T(p)
- weak efficiency  E(p) = T(p0) / T(p)   (1.0: the time stays flat)
- Gustafson's law  S(p) = r - a (r - 1), with `a` the serial fraction of a
  run at p workers (Gustafson's alpha). Linear in a: fitted by least
  squares over the scaled speedups, kept within [0, 1].
- Amdahl's law fitted to the same runs, for contrast: a weak run at r
  workers does the work of r fixed-size runs, so T(p) / r is the time per
  unit of work, and Amdahl's fit of those times predicts S(p) =
  1 / (f + (1 - f) / r), which flattens at 1/f where Gustafson's keeps
  growing. Whichever fits with the smaller residual describes the job.

>>> fit = fit_amdahl([1, 2, 4], [10.0, 6.0, 4.0])
>>> round(fit.serial_fraction, 3), round(fit.predict_speedup(8), 3)
(0.2, 3.333)
>>> round(karp_flatt(speedup=2.0, workers=4), 4)
0.3333
>>> weak = fit_gustafson([1, 2, 4], [1.0, 1.9, 3.7])
>>> round(weak.alpha, 3), round(weak.predict_speedup(8), 2)
(0.1, 7.3)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


def speedup(base_time: float, time: float) -> float:
    """T(p0) / T(p): how many times faster than the baseline run."""
    return base_time / time if time > 0 else math.inf


def efficiency(speedup: float, workers: float) -> float:
    """Speedup per (relative) worker: 1.0 is perfect scaling."""
    return speedup / workers


def karp_flatt(speedup: float, workers: float) -> float | None:
    """The Karp–Flatt metric e = (1/S - 1/p) / (1 - 1/p); None when p <= 1."""
    if workers <= 1 or speedup <= 0:
        return None
    return (1.0 / speedup - 1.0 / workers) / (1.0 - 1.0 / workers)


@dataclass
class AmdahlFit:
    """T(r) = serial_seconds + parallel_seconds / r, fitted by least squares."""

    serial_seconds: float
    parallel_seconds: float
    rms_residual: float

    @property
    def serial_fraction(self) -> float:
        """f = s / (s + q): the share of a baseline run that does not parallelise."""
        total = self.serial_seconds + self.parallel_seconds
        return self.serial_seconds / total if total > 0 else 1.0

    @property
    def max_speedup(self) -> float:
        """Amdahl's limit 1/f for infinitely many workers."""
        f = self.serial_fraction
        return 1.0 / f if f > 0 else math.inf

    def predict_time(self, workers: float) -> float:
        """The fitted run time at `workers` (relative) workers."""
        return self.serial_seconds + self.parallel_seconds / workers

    def predict_speedup(self, workers: float) -> float:
        """The fitted speedup 1 / (f + (1 - f) / r)."""
        f = self.serial_fraction
        return 1.0 / (f + (1.0 - f) / workers)

    def to_dict(self) -> dict:
        """The fit as plain numbers, for JSON."""
        out = asdict(self)
        out["serial_fraction"] = self.serial_fraction
        out["max_speedup"] = None if math.isinf(self.max_speedup) else self.max_speedup
        return out


def _nonnegative_lstsq(design: np.ndarray, times: np.ndarray) -> np.ndarray:
    """min ||design @ x - times|| with x >= 0, for two unknowns.

    The unconstrained solution if it is feasible; otherwise the best of the
    solutions with one unknown pinned at zero (the optimum then lies on that
    boundary, the problem being convex).
    """
    x = np.linalg.lstsq(design, times, rcond=None)[0]
    if (x >= 0).all():
        return x
    candidates = []
    for keep in range(design.shape[1]):
        column = design[:, keep]
        value = max(0.0, float(column @ times) / float(column @ column))
        candidate = np.zeros(design.shape[1])
        candidate[keep] = value
        candidates.append(candidate)
    return min(candidates, key=lambda c: float(np.sum((design @ c - times) ** 2)))


def _relative(workers, values, what: str):
    """(worker counts relative to the smallest, values) as arrays; (None, None) with under two counts."""
    p = np.asarray(workers, dtype=float)
    v = np.asarray(values, dtype=float)
    if p.size != v.size:
        raise ValueError(f"one {what} per worker count")
    if np.unique(p).size < 2:
        return None, None
    return p / p.min(), v


def fit_amdahl(workers, times) -> AmdahlFit | None:
    """Least-squares Amdahl fit of run times at worker counts; None with fewer than two counts.

    Worker counts are taken relative to the smallest one.
    """
    r, t = _relative(workers, times, "time")
    if r is None:
        return None
    design = np.column_stack([np.ones_like(r), 1.0 / r])
    s, q = _nonnegative_lstsq(design, t)
    rms = float(np.sqrt(np.mean((design @ np.array([s, q]) - t) ** 2)))
    return AmdahlFit(float(s), float(q), rms)


@dataclass
class GustafsonFit:
    """Scaled speedup S(r) = r - alpha (r - 1), fitted by least squares."""

    alpha: float
    rms_residual: float

    def predict_speedup(self, workers: float) -> float:
        """The fitted scaled speedup at `workers` (relative) workers."""
        return workers - self.alpha * (workers - 1.0)

    def to_dict(self) -> dict:
        """The fit as plain numbers, for JSON."""
        return asdict(self)


def scaled_speedup(base_time: float, time: float, workers: float) -> float:
    """r T(p0) / T(p): the weak-scaling speedup of r times the work."""
    return workers * base_time / time if time > 0 else math.inf


def fit_gustafson(workers, speedups) -> GustafsonFit | None:
    """Least-squares Gustafson fit of scaled speedups at worker counts; None with fewer than two.

    Worker counts are taken relative to the smallest one; `speedups` are
    `scaled_speedup`s over the smallest count's run.
    """
    r, s = _relative(workers, speedups, "speedup")
    if r is None:
        return None
    # r - S = alpha (r - 1): one unknown, through the origin.
    alpha = float(np.clip(((r - s) @ (r - 1.0)) / ((r - 1.0) @ (r - 1.0)), 0.0, 1.0))
    rms = float(np.sqrt(np.mean((r - alpha * (r - 1.0) - s) ** 2)))
    return GustafsonFit(alpha, rms)


def fit_amdahl_weak(workers, times) -> AmdahlFit | None:
    """Amdahl's law fitted to weak-scaling runs: to the time per unit of work, T(p) / r."""
    p = np.asarray(workers, dtype=float)
    if p.size == 0:
        return None
    return fit_amdahl(p, np.asarray(times, dtype=float) / (p / p.min()))
