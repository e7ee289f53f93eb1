"""Flink's rolling field aggregations: ``KeyedStream.sum/min/max/min_by/max_by``.

Each is a rolling reduce (``operators.RollingReduceOperator``) whose fold is a
``FieldAggregation``, so its running values are keyed state, checkpointed and
restored as ``reduce``'s. The semantics are those of Flink's DataStream API
(``ComparableAggregator``, ``SumAggregator``; PyFlink's ``_accumulate``):

- ``sum(f)``, ``min(f)``, ``max(f)``: the running value is the key's *first*
  record with only field ``f`` replaced by the sum, least or greatest value
  so far; the other fields stay the first record's.
- ``min_by(f)``, ``max_by(f)``: the running value is the whole record holding
  the least (greatest) ``f`` so far; on a tie the first such record stays,
  or the latest with ``first=False`` (Java's ``minBy(field, first)``).

A field is a position (``int``, of a tuple, a list or a namedtuple) or a name
(``str``: a dict's key, a namedtuple's or an object's attribute). A record
that is a plain value (a number) is its own field 0, as in Flink. The fold
never changes a record it was given: it edits the operator's own copy (the
state starts from a copy, ``copies.detached``) or builds a new tuple.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, MutableMapping
from numbers import Integral

from minibig.streaming.copies import detached

KINDS = ("sum", "min", "max", "min_by", "max_by")


def check_field(method: str, field) -> None:
    """Refuse a field that is neither a position (int >= 0) nor a name (str), when the plan is built."""
    if isinstance(field, str):
        return
    if isinstance(field, bool) or not isinstance(field, Integral):
        raise TypeError(f"{method} needs a field position (int) or name (str), got {field!r}")
    if field < 0:
        raise ValueError(f"{method} needs a field position >= 0, got {field!r}")


def field_value(record, field):
    """``record``'s ``field``: by position, by key, by attribute, or the record itself (field 0)."""
    if isinstance(field, str):
        return record[field] if isinstance(record, Mapping) else getattr(record, field)
    if isinstance(record, (tuple, list)):
        return record[field]
    if field != 0:
        raise TypeError(f"field {field} selected on a {type(record).__name__}: a record that is a single "
                        "value has only field 0 (the value itself)")
    return record


def with_field(record, field, value):
    """``record`` with ``field`` set to ``value``: ``record`` itself edited when it is a mutable
    copy the operator owns, a new tuple for a tuple, ``value`` for a single-value record."""
    if type(record) is tuple and type(field) is int:      # the common case, one slice
        return record[:field] + (value,) + record[field + 1:]
    if isinstance(record, tuple):
        if isinstance(field, str):
            return record._replace(**{field: value})       # a namedtuple; any other tuple has no names
        fields = list(record)
        fields[field] = value
        return type(record)._make(fields) if hasattr(record, "_make") else tuple(fields)
    if isinstance(field, str):
        if isinstance(record, MutableMapping):
            record[field] = value
        elif dataclasses.is_dataclass(record):
            record = dataclasses.replace(record, **{field: value})     # frozen ones too
        else:
            setattr(record, field, value)
        return record
    if isinstance(record, list):
        record[field] = value
        return record
    field_value(record, field)                              # only field 0 of a single value
    return value


class FieldAggregation:
    """The fold of one rolling field aggregation (see the module docstring)."""

    __slots__ = ("kind", "field", "first")

    def __init__(self, kind: str, field, first: bool = True):
        if kind not in KINDS:
            raise ValueError(f"unknown aggregation {kind!r}")
        self.kind = kind
        self.field = field
        self.first = first

    def __call__(self, running, record):
        field = self.field
        if type(field) is int and type(running) is tuple and type(record) is tuple:
            current, new = running[field], record[field]            # field_value's, inlined
        else:
            current, new = field_value(running, field), field_value(record, field)
        kind = self.kind
        if kind == "sum":
            return with_field(running, field, current + new)
        if kind == "min" or kind == "max":
            better = new < current if kind == "min" else new > current
            return with_field(running, field, new) if better else running
        better = new < current if kind == "min_by" else new > current
        if better or (not self.first and new == current):
            return detached(record)         # the state must not share what the user still holds
        return running

    def __repr__(self):
        return f"{self.kind}({self.field!r})"
