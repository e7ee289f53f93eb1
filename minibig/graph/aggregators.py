"""Aggregators: values every vertex contributes to in a superstep, seen by all in the next.

Each partition folds its vertices' contributions into one partial; the master
reduces the partials of all partitions (`reduce_partials`) and hands the
result to `master_compute` and to every vertex of the next superstep. The
reduction must be commutative and associative, and deterministic: in a
session every task reduces the partials itself, in partition order
(`session.py`), and all of them must reach the same value.

>>> reduce_partials({"n": Sum(), "lo": Min()}, [{"n": 2, "lo": 5}, {"n": 3}, {}])
{'n': 5, 'lo': 5}
"""

from __future__ import annotations

import operator


class Aggregator:
    """A commutative, associative, deterministic `reduce(a, b)` with the value seen when nobody
    contributed (it may run on every task of a run: see the module docstring)."""

    def __init__(self, reduce, zero=None, name: str | None = None):
        self.reduce = reduce
        self.zero = zero
        self.name = name or getattr(reduce, "__name__", "custom")

    def __repr__(self) -> str:
        return f"Aggregator({self.name}, zero={self.zero!r})"


def Sum(zero=0) -> Aggregator:
    """Sum of the contributions (0 when none)."""
    return Aggregator(operator.add, zero, "sum")


def Min(zero=None) -> Aggregator:
    """Smallest contribution (None when none)."""
    return Aggregator(min, zero, "min")


def Max(zero=None) -> Aggregator:
    """Largest contribution (None when none)."""
    return Aggregator(max, zero, "max")


def fold(aggregator: Aggregator, partials: dict, name: str, value) -> None:
    """Add one contribution to a partition's partials."""
    partials[name] = aggregator.reduce(partials[name], value) if name in partials else value


def reduce_partials(aggregators: dict, partials: list[dict]) -> dict:
    """Every aggregator's value over the partials of all partitions (its zero when none)."""
    result = {}
    for name, aggregator in aggregators.items():
        present = [p[name] for p in partials if name in p]
        value = aggregator.zero
        if present:
            value = present[0]
            for other in present[1:]:
                value = aggregator.reduce(value, other)
        result[name] = value
    unknown = {name for p in partials for name in p} - set(aggregators)
    if unknown:
        raise KeyError(f"aggregate() to undeclared aggregator(s) {sorted(unknown)}; "
                       "declare them in the program's `aggregators`")
    return result
