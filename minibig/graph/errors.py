"""Errors of graph runs on a cluster."""

from __future__ import annotations

from minibig.errors import MinibigError


class GraphStateLostError(MinibigError):
    """A superstep task found no resident partition on its worker (the worker that held it
    died, and the task ran elsewhere): the driver rolls the run back to its last checkpoint."""


class GraphRunError(MinibigError):
    """A graph run gave up: its partitions kept getting lost (more rollbacks than allowed)."""
