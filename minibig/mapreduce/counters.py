"""Counters: Hadoop's `{group: {counter: amount}}` tallies, on the engine's accumulators.

A job calls `self.increment_counter(group, counter, amount)` in any task;
the task keeps its increments in a plain nested dict and, when it finishes,
adds that dict to its step's accumulator. The driver merges each partition's
dict once per stage, so a retried, speculative or recomputed task is never
counted twice. As in mrjob, amounts must be integers, and commas in group or
counter names become semicolons.

>>> param = CounterParam()
>>> total = param.zero({})
>>> total = param.addInPlace(total, {"words": {"short": 2}})
>>> param.addInPlace(total, {"words": {"short": 1, "long": 4}, "lines": {"empty": 1}})
{'words': {'short': 3, 'long': 4}, 'lines': {'empty': 1}}
"""

from __future__ import annotations

from minibig.core.accumulators import AccumulatorParam


class CounterParam(AccumulatorParam):
    """Accumulates nested `{group: {counter: amount}}` dicts by adding amounts."""

    def zero(self, value) -> dict:
        """No counters yet."""
        return {}

    def addInPlace(self, value1: dict, value2: dict) -> dict:
        """Add every amount of `value2` into `value1`; return `value1`."""
        for group, counters in value2.items():
            mine = value1.setdefault(group, {})
            for name, amount in counters.items():
                mine[name] = mine.get(name, 0) + amount
        return value1


def increment(counters: dict, group, counter, amount=1) -> None:
    """Add `amount` to one counter of a task's nested dict, with mrjob's checks."""
    if not isinstance(amount, int):
        raise TypeError(f"amount must be an integer, not {amount!r}")
    group = (group if isinstance(group, str) else str(group)).replace(",", ";")
    counter = (counter if isinstance(counter, str) else str(counter)).replace(",", ";")
    mine = counters.setdefault(group, {})
    mine[counter] = mine.get(counter, 0) + amount


def format_counters(counters: dict, step: int | None = None) -> str:
    """Counters as mrjob logs them: a count, then groups and counters, sorted.

    >>> print(format_counters({"g": {"b": 2, "a": 1}}, step=1))
    Counters for step 1: 2
    \tg
    \t\ta=1
    \t\tb=2
    """
    total = sum(len(c) for c in counters.values())
    lines = [f"Counters{'' if step is None else f' for step {step}'}: {total}"]
    for group in sorted(counters):
        lines.append(f"\t{group}")
        lines.extend(f"\t\t{name}={amount}" for name, amount in sorted(counters[group].items()))
    return "\n".join(lines)
