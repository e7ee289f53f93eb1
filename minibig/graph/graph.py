"""`Graph`: a loaded, partitioned graph, and running a program on it.

    g = Graph.from_edge_file(sc, "datasets/graphs/roget.txt", num_partitions=4)
    g.num_vertices, g.num_edges, g.partitions[0]

A Graph holds the vertex index (original ids <-> dense indices), the
deduplicated edges, and the partitions cut by the partitioner. `sc` is kept
for the cluster runner; until a cluster runner is attached, `run` executes
the supersteps in this process with the same per-partition functions the
workers will call (`local.run_local`).
"""

from __future__ import annotations

import numpy as np

from minibig.graph.load import EdgeList, edges_from_tuples, read_edge_file, read_edge_parquet
from minibig.graph.partition import build_partitions
from minibig.graph.partitioning import HashPartitioner


class Graph:
    """A graph cut into partitions; see the module docstring."""

    def __init__(self, sc, edges: EdgeList, num_partitions: int | None = None, partitioner=None,
                 directed: bool = True):
        self.sc = sc
        self.edges = edges
        self.index = edges.index
        self.directed = directed
        self.num_partitions = num_partitions or _default_parallelism(sc)
        self.partitioner = partitioner or HashPartitioner(self.num_partitions)
        self.partitions = build_partitions(edges, self.num_partitions, self.partitioner)

    def __repr__(self) -> str:
        return (f"Graph({self.num_vertices} vertices, {self.num_edges} edges, "
                f"{self.num_partitions} partitions, {'weighted' if self.weighted else 'unweighted'})")

    @classmethod
    def from_edge_file(cls, sc, path: str, directed: bool = True, num_partitions: int | None = None,
                       partitioner=None) -> "Graph":
        """A graph from a `src dst [weight]` text file (`.gz` too); see `load.py` for the format."""
        return cls(sc, read_edge_file(path, directed), num_partitions, partitioner, directed)

    @classmethod
    def from_parquet(cls, sc, path: str, directed: bool = True, num_partitions: int | None = None,
                     partitioner=None) -> "Graph":
        """A graph from Parquet with columns `src`, `dst` and optionally `weight`."""
        return cls(sc, read_edge_parquet(path, directed), num_partitions, partitioner, directed)

    @classmethod
    def from_edges(cls, sc, edges, directed: bool = True, num_partitions: int | None = None,
                   partitioner=None) -> "Graph":
        """A graph from an iterable of `(src, dst)` or `(src, dst, weight)` tuples."""
        return cls(sc, edges_from_tuples(edges, directed), num_partitions, partitioner, directed)

    @property
    def num_vertices(self) -> int:
        """Number of vertices."""
        return self.edges.num_vertices

    @property
    def num_edges(self) -> int:
        """Number of distinct directed edges (an undirected edge counts twice, a self-loop once)."""
        return self.edges.num_edges

    @property
    def weighted(self) -> bool:
        """Whether the input gave weights."""
        return self.edges.weight is not None

    def vertex_ids(self) -> list:
        """All vertex ids, ascending."""
        return self.index.ids.tolist()

    def dense(self, vertex) -> int:
        """The dense index of one vertex id (`KeyError` if the graph lacks it)."""
        return int(self.index.to_dense([vertex])[0])

    def run(self, program, **options):
        """Run a program to its end; returns a `local.LocalRun` (states, supersteps, last barrier)."""
        from minibig.graph.local import run_local
        return run_local(self.partitions, program, index=self.index, **options)

    def values(self, run, program) -> dict:
        """{vertex id: value} from the final states of a run of `program`."""
        from minibig.graph.superstep import as_runnable
        from minibig.graph.vectorized import VectorProgram
        program = as_runnable(program)
        out = {}
        for state in run.states:
            if isinstance(program, VectorProgram):
                out.update(zip(state.ids.tolist(), np.asarray(program.output(state)).tolist()))
            else:
                out.update(state.output(program))
        return out


def _default_parallelism(sc) -> int:
    return max(1, int(getattr(sc, "defaultParallelism", 1) or 1)) if sc is not None else 1
