"""Counters each operator instance keeps, and the job's totals.

Every instance owns a ``collections.Counter`` (plain, picklable, mergeable);
the runtime sums them per operator. Names in use:

- ``records_in``: records an operator received (window, stateful and sink operators);
- ``records_out``: results a window operator emitted (each firing and re-firing);
- ``late_records``: records every one of whose windows refused them (they went
  to the late side output);
- ``late_window_refusals``: each (record, window) refusal, including a
  sliding window's record that was late for some windows only;
- ``windows_fired``: window firings, re-firings included.
"""

from __future__ import annotations

from collections import Counter


class JobMetrics:
    """Counters of a finished (or running) job, per operator name and in total."""

    def __init__(self, by_operator: dict[str, Counter]):
        self.by_operator = by_operator

    @classmethod
    def from_instances(cls, instances) -> "JobMetrics":
        """Sum ``(operator_name, counters)`` pairs of parallel instances per operator."""
        by_operator: dict[str, Counter] = {}
        for name, counters in instances:
            by_operator.setdefault(name, Counter()).update(counters)
        return cls(by_operator)

    def total(self, counter: str) -> int:
        """``counter`` summed over every operator."""
        return sum(c[counter] for c in self.by_operator.values())

    def __getitem__(self, counter: str) -> int:
        return self.total(counter)

    def __repr__(self):
        return f"JobMetrics({ {k: dict(v) for k, v in self.by_operator.items()} })"
