"""The one error a streaming job raises for bad input or a failing user function.

It names the operator (its plan name, e.g. ``window-4``) and the record, and
chains the original exception (``raise ... from exc``) so its type and
traceback stay visible.
"""

from __future__ import annotations

_RECORD_PREVIEW = 200


class StreamError(Exception):
    """A record an operator could not handle: ``operator`` and ``record`` say which."""

    def __init__(self, operator: str, record, problem: str):
        self.operator = operator
        self.record = record
        self.problem = problem
        super().__init__(f"{operator}: {problem} (record {_preview(record)})")

    def __reduce__(self):
        return (StreamError, (self.operator, self.record, self.problem))


def _preview(record) -> str:
    text = repr(record)
    return text if len(text) <= _RECORD_PREVIEW else text[:_RECORD_PREVIEW] + "..."
