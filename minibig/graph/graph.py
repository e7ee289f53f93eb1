"""`Graph`: a loaded, partitioned graph, and running a program on it.

    g = Graph.from_edge_file(sc, "datasets/graphs/roget.txt", num_partitions=4)
    g.num_vertices, g.num_edges, g.partitions[0]

A Graph read from an edge file with a cluster is loaded by the workers
(`distload.py`): they keep the partitions, and the driver only their
counts (the vertex index and the partitions are fetched if asked for).
Otherwise (no `sc`, Parquet, tuples, an RDD) the driver holds the vertex
index, the deduplicated edges and the partitions cut by the partitioner,
and ships them to the workers at each run. `run` executes the supersteps on the workers of `sc`
(`cluster.run_cluster`: each worker keeps its partitions between
supersteps); with `sc=None`, or `engine="local"`, it runs them in this
process with the same per-partition functions (`local.run_local`), and the
built-ins then return dicts instead of RDDs.
"""

from __future__ import annotations

import numpy as np

from minibig.graph.cluster import run_cluster
from minibig.graph.distload import WorkerGraph
from minibig.graph.ids import plain_list
from minibig.graph.load import (EdgeFormat, EdgeList, edges_from_tuples, first_negative_weight, read_edge_file,
                                read_edge_parquet, read_matrix_market)
from minibig.graph.local import run_local
from minibig.graph.partition import build_partitions
from minibig.graph.partitioning import HashPartitioner
from minibig.graph.superstep import as_runnable
from minibig.graph.vectorized import VectorProgram


class Graph:
    """A graph cut into partitions; see the module docstring."""

    def __init__(self, sc, edges: EdgeList | None, num_partitions: int | None = None, partitioner=None,
                 directed: bool = True, on_workers: WorkerGraph | None = None):
        self.sc = sc
        self.directed = directed
        self.on_workers = on_workers
        self.source: tuple | None = None         # (path, EdgeFormat) of the edge file it was read from
        if on_workers is not None:               # the workers loaded it: nothing is on the driver
            self.edges, self._index, self._partitions = None, None, None
            self.num_partitions, self.partitioner = on_workers.num_partitions, on_workers.partitioner
            return
        self.edges = edges
        self._index = edges.index
        self.num_partitions = num_partitions or _default_parallelism(sc)
        self.partitioner = partitioner or HashPartitioner(self.num_partitions)
        self._partitions = build_partitions(edges, self.num_partitions, self.partitioner)

    def __repr__(self) -> str:
        return (f"Graph({self.num_vertices} vertices, {self.num_edges} edges, "
                f"{self.num_partitions} partitions, {'weighted' if self.weighted else 'unweighted'})")

    @classmethod
    def from_edge_file(cls, sc, path: str, directed: bool = True, num_partitions: int | None = None,
                       partitioner=None, vertices: str | None = None, comments: str = "#",
                       extra_columns: bool = False) -> "Graph":
        """A graph from a `src dst [weight]` text file (`.gz` too); see `load.py` for the format.

        `vertices`: a vertex file (Graphalytics' `.v`: one id per line) whose ids are in the graph
        with or without an edge. `comments`: the prefix of a comment line (KONECT's files: "%").
        `extra_columns`: lines may carry fields after the weight (KONECT's timestamp), skipped.
        With a cluster (`sc`), the workers read the files, each its byte range, and keep the
        partitions (`distload.py`): the paths must be readable where the workers run.
        """
        fmt = EdgeFormat(comments, extra_columns)
        if sc is None:
            g = cls(sc, read_edge_file(path, directed, fmt, vertices), num_partitions, partitioner, directed)
        else:
            num_partitions = num_partitions or _default_parallelism(sc)
            partitioner = partitioner or HashPartitioner(num_partitions)
            g = cls(sc, None, directed=directed,
                    on_workers=WorkerGraph(sc, path, directed, num_partitions, partitioner, fmt, vertices))
        g.source = (path, fmt)
        return g

    @classmethod
    def from_parquet(cls, sc, path: str, directed: bool = True, num_partitions: int | None = None,
                     partitioner=None) -> "Graph":
        """A graph from Parquet with columns `src`, `dst` and optionally `weight`."""
        return cls(sc, read_edge_parquet(path, directed), num_partitions, partitioner, directed)

    @classmethod
    def from_matrix_market(cls, sc, path: str, num_partitions: int | None = None, partitioner=None) -> "Graph":
        """A graph from a Matrix Market file (`.mtx`: SuiteSparse's collection), as networkx
        builds one from the matrix: vertices 0..n-1, an edge per entry, the entry its weight;
        read on the driver (`load.read_matrix_market`)."""
        return cls(sc, read_matrix_market(path), num_partitions, partitioner)

    @classmethod
    def from_edges(cls, sc, edges, directed: bool = True, num_partitions: int | None = None,
                   partitioner=None, vertices=()) -> "Graph":
        """A graph from `(src, dst)` or `(src, dst, weight)` tuples: an iterable, or an RDD of them;
        `vertices`: ids that are in the graph whether or not an edge names them (isolated vertices)."""
        if hasattr(edges, "collect") and hasattr(edges, "getNumPartitions"):
            edges = edges.collect()               # the driver cuts the partitions
        return cls(sc, edges_from_tuples(edges, directed, vertices), num_partitions, partitioner, directed)

    @property
    def num_vertices(self) -> int:
        """Number of vertices."""
        return self.on_workers.num_vertices if self.on_workers else self.edges.num_vertices

    @property
    def num_edges(self) -> int:
        """Number of distinct directed edges (an undirected edge counts twice, a self-loop once)."""
        return self.on_workers.num_edges if self.on_workers else self.edges.num_edges

    @property
    def weighted(self) -> bool:
        """Whether the input gave weights."""
        return self.on_workers.weighted if self.on_workers else self.edges.weight is not None

    @property
    def index(self):
        """The `VertexIndex` (original ids <-> dense indices); fetched from a worker when the
        workers loaded the graph."""
        if self._index is None:
            self._index = self.on_workers.index()
        return self._index

    @property
    def partitions(self) -> list:
        """The `Partition`s; fetched from the workers when they loaded the graph (a local run)."""
        if self._partitions is None:
            self._partitions = self.on_workers.partitions()
        return self._partitions

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
        (supersteps between checkpoints; 0 or None: none); `session` (cluster only, default True:
        the run as one long task per partition where they fit the slots, `session.py`);
        `shuffle_seed` (local only).
        """
        if (engine or ("cluster" if self.sc is not None else "local")) == "local":
            return run_local(self.partitions, program, index=self.index, **options)
        return run_cluster(self, program, **options)

    def values(self, run, program) -> dict:
        """{vertex id: value} from the final states of a run of `program`."""
        return dict(self.pairs(run, program))

    def pairs(self, run, program) -> list:
        """[(vertex id, value)] from the final states of a run of `program`, partition by
        partition (no dict: a partition's vertices are its own)."""
        program = as_runnable(program)
        out = []
        for output in getattr(run, "outputs", ()):             # a cluster run: arrays or lists
            out.extend(output_pairs(output))
        for state in getattr(run, "states", ()):
            if isinstance(program, VectorProgram):
                out.extend(zip(state.ids.tolist(), np.asarray(program.output(state)).tolist()))
            else:
                out.extend(state.output(program).items())
        return out


def name_the_line(g: Graph, exc: Exception) -> None:
    """Add to `exc` (a weight a program cannot use) a note naming the first line of `g`'s edge
    file with a negative or NaN weight, when `g` was read from a file this process can read."""
    if g.source is None:
        return
    path, fmt = g.source
    try:
        found = first_negative_weight(path, fmt)
    except (OSError, ValueError):            # not readable here (a remote worker's path), or changed
        return
    if found is not None:
        exc.add_note(f"{path}, line {found[0]}: weight {found[1]!r} (the file's first negative or NaN weight)")


def output_pairs(output: tuple) -> zip:
    """The `(vertex id, value)` pairs of one partition's `(ids, outputs)` (`tasks.partition_output`)."""
    ids, outputs = output
    return zip(plain_list(ids), plain_list(outputs))


def _default_parallelism(sc) -> int:
    return max(1, int(getattr(sc, "defaultParallelism", 1) or 1)) if sc is not None else 1
