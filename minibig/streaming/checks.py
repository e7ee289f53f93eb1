"""Checks of what a user passes to the stream API, made when the plan is built.

Flink refuses a negative lateness or an offset outside the window when the
job is written (``IllegalArgumentException``), not once records flow; here
too. A wrong argument would otherwise fail mid-stream on a worker, or worse
pass: a NaN delay, lateness or offset compares false with everything, so
windows never fire and records vanish without an error.
"""

from __future__ import annotations

import math
from numbers import Integral, Real


def _number(name: str, value) -> None:
    # value != value is NaN's test for any Real: math.isnan would turn an int too large for a
    # float (a lateness of 10**400, "never") into an OverflowError
    if isinstance(value, bool) or not isinstance(value, Real) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}")


def positive(name: str, value) -> None:
    """``value`` is a number above 0 (a bool is not a number here)."""
    _number(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def non_negative(name: str, value) -> None:
    """``value`` is a number at or above 0 (``inf`` included: never)."""
    _number(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def finite(name: str, value) -> None:
    """``value`` is a finite number."""
    _number(name, value)
    if not -math.inf < value < math.inf:        # compared, not converted: a huge int is finite
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def count(name: str, value) -> int:
    """``value`` is an integer of at least 1 (a numpy integer too), returned as an int."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def function(name: str, value) -> None:
    """``value`` can be called (PyFlink refuses anything else with a TypeError too)."""
    if not callable(value):
        raise TypeError(f"{name} needs a function, got {value!r}")
