"""`Graph`: a loaded, partitioned graph, and running a program on it.

    g = Graph.from_edge_file(sc, "datasets/graphs/roget.txt", num_partitions=4)
    g.num_vertices, g.num_edges, g.partitions[0]

A Graph holds the vertex index (original ids <-> dense indices), the
deduplicated edges, and the partitions cut by the partitioner (on the
driver). `run` executes the supersteps on the workers of `sc`
(`cluster.run_cluster`: each worker keeps its partitions between
supersteps); with `sc=None`, or `engine="local"`, it runs them in this
process with the same per-partition functions (`local.run_local`), and the
built-ins then return dicts instead of RDDs.
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
        """A graph from `(src, dst)` or `(src, dst, weight)` tuples: an iterable, or an RDD of them."""
        if hasattr(edges, "collect") and hasattr(edges, "getNumPartitions"):
            edges = edges.collect()               # the driver cuts the partitions
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

    def run(self, program, engine: str | None = None, **options):
        """Run a program to its end, on the cluster of `sc` (a `cluster.ClusterRun`) or, with
        `engine="local"` or no `sc`, in this process (a `local.LocalRun`).

        Options: `max_supersteps`, `combine_on_sender`, `checkpoint_every`
        (supersteps between checkpoints; 0 or None: none); `shuffle_seed` (local only).
        """
        if (engine or ("cluster" if self.sc is not None else "local")) == "local":
            from minibig.graph.local import run_local
            return run_local(self.partitions, program, index=self.index, **options)
        from minibig.graph.cluster import run_cluster
        return run_cluster(self, program, **options)

    def values(self, run, program) -> dict:
        """{vertex id: value} from the final states of a run of `program`."""
        from minibig.graph.superstep import as_runnable
        from minibig.graph.vectorized import VectorProgram
        program = as_runnable(program)
        out = {}
        for ids, outputs in getattr(run, "outputs", ()):       # a cluster run
            out.update(zip(ids, outputs))
        for state in getattr(run, "states", ()):
            if isinstance(program, VectorProgram):
                out.update(zip(state.ids.tolist(), np.asarray(program.output(state)).tolist()))
            else:
                out.update(state.output(program))
        return out


def _default_parallelism(sc) -> int:
    return max(1, int(getattr(sc, "defaultParallelism", 1) or 1)) if sc is not None else 1
