"""Errors of graph runs on a cluster."""

from __future__ import annotations

from minibig.errors import MinibigError


class GraphStateLostError(MinibigError):
    """A superstep task found no resident partition on its worker (the worker that held it
    died, and the task ran elsewhere): the driver rolls the run back to its last checkpoint."""


class GraphRunError(MinibigError):
    """A graph run gave up: its partitions kept getting lost (more rollbacks than allowed)."""


class NegativeWeightError(ValueError):
    """An edge weight shortest paths cannot use: below 0, or NaN. `vertex` is the edge's source
    (original id), `weight` its weight; from an edge file, a note names the file's first such line."""

    def __init__(self, vertex, weight: float):
        super().__init__(f"shortest paths need non-negative edge weights: an edge from vertex {vertex!r} "
                         f"weighs {weight}")
        self.vertex, self.weight = vertex, weight

    def __reduce__(self):
        return NegativeWeightError, (self.vertex, self.weight)
