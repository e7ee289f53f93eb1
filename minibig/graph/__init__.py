"""Graph processing: Pregel and gather-apply-scatter vertex programs over partitioned graphs.

    from minibig.graph import Graph, pagerank, connected_components, sssp
    g = Graph.from_edge_file(sc, "datasets/graphs/roget.txt")
    ranks = pagerank(g, damping=0.85, max_iter=100, tol=1e-6)

Modules, one job each:

    ids.py           original vertex ids <-> dense global indices
    load.py          edge (and vertex) files (pyarrow CSV), Parquet, Matrix Market, tuples -> EdgeList
    distload.py      an edge file loaded by the workers (byte ranges, routed edges)
    partitioning.py  vertex id -> partition (portable hash, pluggable)
    partition.py     Partition: one partition's CSR arrays; snapshot/restore
    messages.py      numpy message batches: combine on the sender, route by owner
    aggregators.py   sum/min/max/custom aggregators
    vectorized.py    VectorProgram: one numpy/numba call per partition per superstep
    pregel.py        VertexProgram: per-vertex Python compute, combiners, mutations
    gas.py           GASProgram: gather-apply-scatter on the Pregel engine
    barrier.py       SuperstepResult and the master's decision after a superstep
    superstep.py     prepare/run_superstep: what a worker task calls
    local.py         all partitions in one process (tests, the reference engine)
    algorithms.py    built-in vectorised programs; builtins.py runs them on a Graph
    examples.py      PageRank, CC and SSSP as Pregel and GAS programs
    kernels.py       numba kernels (imported only when a program needs them)
"""

from minibig.graph.aggregators import Aggregator, Max, Min, Sum
from minibig.graph.builtins import (bfs, connected_components, label_propagation, local_clustering_coefficient,
                                    pagerank, personalized_pagerank, sssp, triangle_count)
from minibig.graph.gas import GASProgram
from minibig.graph.graph import Graph
from minibig.graph.partitioning import HashPartitioner
from minibig.graph.pregel import VertexProgram
from minibig.graph.vectorized import VectorProgram

__all__ = ["Graph", "pagerank", "personalized_pagerank", "connected_components", "sssp", "bfs",
           "label_propagation", "triangle_count", "local_clustering_coefficient", "VertexProgram",
           "VectorProgram", "GASProgram", "Aggregator", "Sum", "Min", "Max", "HashPartitioner"]
