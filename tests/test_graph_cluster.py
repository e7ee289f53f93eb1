"""Graph runs on the real cluster (`sc`: a master and two worker processes) against networkx.

The partitions live on the workers between supersteps; these tests check
the answers (the same oracles as the in-process tests), that built-ins
return RDDs of (vertex, value), that superstep counts are right, that the
state really stays on the workers (PROCESS_LOCAL tasks), and that the
inline backend runs the same loop.
"""

import copy
import math

import numpy as np
import pytest

from minibig import Context
from minibig.cluster.taskset import Policy, TaskSet
from minibig.graph import (Graph, VectorProgram, bfs, connected_components, label_propagation, pagerank,
                           sssp, triangle_count)
from minibig.graph import cluster
from minibig.graph.algorithms import PageRank, ShortestPaths
from minibig.graph.graph import output_pairs
from minibig.graph.partition import restore, snapshot
from minibig.graph.examples import (GASComponents, GASPageRank, GASShortestPaths, PregelComponents,
                                    PregelPageRank, PregelShortestPaths)
from minibig.graph.tasks import StepReport, SuperstepCode, in_sending_order

from graph_oracles import (DATASETS, check_components, check_distances, check_label_propagation, check_pagerank,
                           check_triangles, nx_from_edges, nx_from_file, random_edges)

TIGHT = dict(tol=1e-10, max_iter=1000)


@pytest.fixture(scope="module")
def roget(sc):
    path = f"{DATASETS}/roget.txt"
    return Graph.from_edge_file(sc, path), nx_from_file(path)


@pytest.fixture(scope="module")
def wormnet(sc):
    path = f"{DATASETS}/wormnet.txt"
    return Graph.from_edge_file(sc, path, directed=False, num_partitions=3), nx_from_file(path, directed=False)


def test_builtins_return_rdds_that_meet_the_oracles(sc, roget):
    g, G = roget
    ranks = pagerank(g, **TIGHT)
    assert ranks.getNumPartitions() == g.num_partitions
    check_pagerank(ranks.collectAsMap(), G)
    check_components(connected_components(g).collectAsMap(), G)
    check_distances(sssp(g, 1).collectAsMap(), G, 1, weighted=False)
    depths = bfs(g, 1).collectAsMap()
    check_distances(depths, G, 1, weighted=False)
    assert all(isinstance(d, int) or d == math.inf for d in depths.values())


def test_weighted_undirected_file_on_three_partitions(wormnet):
    g, G = wormnet
    check_components(connected_components(g).collectAsMap(), G)
    source = min(G)
    check_distances(sssp(g, source).collectAsMap(), G, source, weighted=True)
    check_triangles(triangle_count(g).collectAsMap(), G)
    check_label_propagation(label_propagation(g, iterations=3).collectAsMap(), G, 3)


@pytest.mark.parametrize("string_ids", [False, True])
def test_seeded_random_graphs_with_dangling_vertices_and_self_loops(sc, string_ids):
    edges = random_edges(seed=7, n=300, m=1200, string_ids=string_ids, weighted=True, dangling=25)
    g, G = Graph.from_edges(sc, edges, num_partitions=4), nx_from_edges(edges)
    source = "v0" if string_ids else 0
    check_pagerank(pagerank(g, **TIGHT).collectAsMap(), G)
    check_pagerank(pagerank(g, weight=True, **TIGHT).collectAsMap(), G, weight="weight")
    check_components(connected_components(g).collectAsMap(), G)
    check_distances(sssp(g, source).collectAsMap(), G, source, weighted=True)
    check_distances(bfs(g, source).collectAsMap(), G, source, weighted=False)


def test_graph_from_an_rdd_of_edges(sc):
    edges = random_edges(seed=3, n=80, m=300)
    g = Graph.from_edges(sc, sc.parallelize(edges, 3))
    check_components(connected_components(g).collectAsMap(), nx_from_edges(edges))


def test_pregel_and_gas_examples_on_the_cluster(sc, roget):
    g, G = roget
    program = PregelPageRank(**TIGHT)
    check_pagerank(g.values(g.run(program), program), G)
    path = f"{DATASETS}/karate.txt"        # PowerGraph's PageRank has no dangling mass: an undirected graph
    karate, K = Graph.from_edge_file(sc, path, directed=False), nx_from_file(path, directed=False)
    program = GASPageRank(karate.num_vertices, tol=1e-13)
    check_pagerank({v: r for v, (r, _) in karate.values(karate.run(program), program).items()}, K)
    for program in (PregelComponents(), GASComponents()):
        check_components(g.values(g.run(program), program), G)
    for program in (PregelShortestPaths(1), GASShortestPaths(1)):
        check_distances(g.values(g.run(program), program), G, 1, weighted=False)


def test_sssp_along_a_path_takes_n_supersteps_with_state_kept_on_the_workers(sc):
    n = 200
    g = Graph.from_edges(sc, [(i, i + 1) for i in range(n - 1)])
    program = ShortestPaths(0, weighted=False)
    run = g.run(program, checkpoint_every=50)
    assert run.supersteps == n and run.barrier.reason == "converged" and run.rollbacks == 0
    assert g.values(run, program) == {i: float(i) for i in range(n)}
    assert sc.lastJob.share("PROCESS_LOCAL") == 1.0         # the output tasks ran where the state is


@pytest.mark.parametrize("limit", [-1, 600])
def test_big_outboxes_go_through_shuffle_files_and_small_ones_inline(sc, roget, monkeypatch, limit):
    """-1: every outbox is "big" (held, flushed, then written directly); 600 bytes: SSSP's
    frontier grows past it and shrinks again, so the run switches paths both ways."""
    g, G = roget
    modes = []
    monkeypatch.setattr(cluster, "INLINE_LIMIT", limit)
    monkeypatch.setattr(cluster, "usable", lambda sc, partitions: False)    # superstep by superstep
    flush, superstep = cluster._Run.flush, cluster._Run.superstep
    monkeypatch.setattr(cluster._Run, "flush", lambda self, s: modes.append("flush") or flush(self, s))
    monkeypatch.setattr(cluster._Run, "superstep",
                        lambda self, *a: modes.append("files" if self.big else "inline") or superstep(self, *a))
    check_distances(sssp(g, 1).collectAsMap(), G, 1, weighted=False)
    assert {"inline", "flush", "files"} <= set(modes)
    if limit > 0:
        assert modes.index("inline", modes.index("files")) > 0     # back to inline once quiet
    for program in (PregelShortestPaths(1), ShortestPaths(g.dense(1), weighted=False)):
        check_distances(g.values(g.run(program, checkpoint_every=2), program), G, 1, weighted=False)
    check_pagerank(pagerank(g, **TIGHT).collectAsMap(), G)


class Exploding(VectorProgram):
    """Raises in superstep 2, on the partition holding vertex 0."""

    def init(self, part):
        part.values = part.vertices.astype(float)

    def compute(self, part, ctx):
        if ctx.superstep == 2 and 0 in part.vertices:
            raise ZeroDivisionError("superstep 2 says no")
        ctx.send_along_out_edges(part.values[part.out_src_local])


def test_an_error_in_a_vertex_program_comes_back_in_its_own_type(sc):
    g = Graph.from_edges(sc, [(0, 1), (1, 0), (2, 3)])
    with pytest.raises(ZeroDivisionError, match="superstep 2 says no") as info:
        g.run(Exploding())
    assert "vertex program failed" in "\n".join(getattr(info.value, "__notes__", []))
    assert dict(connected_components(g).collect()) == {0: 0, 1: 0, 2: 2, 3: 2}   # the cluster is fine


def test_inline_backend_runs_the_same_loop():
    with Context(master="inline", workers=2, progress=False) as inline:
        path = f"{DATASETS}/karate.txt"
        g, G = Graph.from_edge_file(inline, path, directed=False), nx_from_file(path, directed=False)
        check_pagerank(pagerank(g, checkpoint_every=3, **TIGHT).collectAsMap(), G)
        check_distances(sssp(g, 1).collectAsMap(), G, 1, weighted=False)


def test_graph_stages_ask_the_master_for_no_backup_copies(sc, monkeypatch):
    """A superstep's state lives on one worker: a speculative copy elsewhere could only fail."""
    asked = []
    run_code = sc._dag.run_code
    monkeypatch.setattr(sc._dag, "run_code", lambda *a, **k: asked.append(k.get("speculate", True))
                        or run_code(*a, **k))
    g = Graph.from_edges(sc, [(i, i + 1) for i in range(9)], num_partitions=2)
    check_distances(sssp(g, 0).collectAsMap(), nx_from_edges([(i, i + 1) for i in range(9)]), 0,
                    weighted=False)
    graph_stages = asked[:-1]                              # the last one: the RDD's collect
    assert graph_stages and not any(graph_stages)
    # The master's side: a task set that asked for none never names a straggler.
    ts = TaskSet("d/1.0", "d", 1, 1, "graph", b"", {p: b"" for p in range(4)}, {}, [], None, [], [],
                 {}, 4, speculation=False)
    policy = Policy(speculation_min_seconds=0.1)
    for _ in range(4):
        ts.take_task("w1", "h1", 0.0, policy, {"w1", "w2"}, {"h1", "h2"})
    for p in range(1, 4):
        ts.succeed(p, 0, 1.0)
    assert ts.stragglers(10.0, policy) == []
    ts.speculation = True
    assert ts.stragglers(10.0, policy) == [0]


def test_a_superstep_task_header_carries_its_counts_for_the_web_ui():
    """The master records `result_fields` in its task events: superstep, messages, active vertices."""
    code = SuperstepCode("d/graph0g0/", ShortestPaths(0), 7, {}, None, None, 2)
    fields = code.result_fields(StepReport(1, {}, active=3, messages_sent=5, sizes=[0, 40]))
    assert fields == {"sizes": [0, 40], "superstep": 7, "messages_sent": 5, "active_vertices": 3}
    assert all(type(fields[k]) is int for k in ("superstep", "messages_sent", "active_vertices"))


def test_the_batch_a_partition_sent_itself_keeps_its_place_in_sending_order():
    """Pregel's mutations (and a reproducible float sum) need the inbox in sending-partition order."""
    received = [(0, "from 0", ["m0"]), (1, None, ["m1"]), (3, "from 3", [])]
    assert in_sending_order(received, 2, "own") == (["from 0", "own", "from 3"], ["m0", "m1"])
    assert in_sending_order(received, 3, "own") == (["from 0", "from 3", "own"], ["m0", "m1"])
    assert in_sending_order(received, 2, None) == (["from 0", "from 3"], ["m0", "m1"])


class ShortestPathsEndingEarly(ShortestPaths):
    """Declares superstep 1 its last, wrongly: the run must go on and still meet the oracle."""

    def last_superstep(self):
        return 1


def test_a_last_superstep_known_in_advance_returns_the_outputs_with_its_reports(sc, roget, monkeypatch):
    """PageRank's `max_iter` and a run's `max_supersteps` say when it ends: the last superstep's
    tasks return the outputs and no output task follows (nor a load task before the first, on a
    graph the workers loaded); the answers are the local engine's."""
    g, G = roget
    monkeypatch.setattr(cluster, "usable", lambda sc, partitions: False)    # superstep by superstep
    stages = []
    run_code = sc._dag.run_code
    monkeypatch.setattr(sc._dag, "run_code", lambda code, parts, description, **k:
                        stages.append(type(code).__name__) or run_code(code, parts, description, **k))
    program = PageRank(g.num_vertices, max_iter=15, tol=0.0)
    run = g.run(program, checkpoint_every=4)
    assert run.barrier.reason == "master" and run.barrier.superstep == 15
    assert stages.count("SuperstepCode") == 16 and "OutputCode" not in stages
    assert "LoadCode" not in stages            # superstep 0's tasks took the loaded partitions
    local = g.values(g.run(program, engine="local"), program)
    assert g.values(run, program) == pytest.approx(local, rel=1e-12, abs=0)
    for program in (PregelShortestPaths(1), ShortestPaths(g.dense(1), weighted=False)):
        stages.clear()
        run = g.run(program, max_supersteps=4)
        assert run.barrier.reason == "max_supersteps" and "OutputCode" not in stages
        assert g.values(run, program) == g.values(g.run(program, engine="local", max_supersteps=4), program)
    stages.clear()
    late = ShortestPathsEndingEarly(g.dense(1), weighted=False)
    check_distances(g.values(g.run(late), late), G, 1, weighted=False)
    assert stages[-1] == "OutputCode" and stages.count("SuperstepCode") > 3
    assert stages.index("FlushCode") == stages.index("SuperstepCode") + 2   # superstep 1's held outbox


def test_pairs_name_each_vertex_once_partition_by_partition(sc, roget):
    """A built-in's RDD partition q is graph partition q's `(vertex, value)` pairs, made from its
    output arrays where the RDD is computed (no tuple per vertex on the driver), plain ints and
    floats as `Graph.pairs` gives them."""
    g, G = roget
    program = ShortestPaths(g.dense(1), weighted=False)
    run = g.run(program)
    pairs = g.pairs(run, program)
    assert sorted(v for v, _ in pairs) == sorted(G.nodes)
    check_distances(dict(pairs), G, 1, weighted=False)
    parts = sssp(g, 1).glom().collect()
    assert [sorted(part) for part in parts] == [sorted(output_pairs(output)) for output in run.outputs]
    assert sorted(sum(parts, [])) == sorted(pairs)
    assert all(type(v) is int and type(d) is float for part in parts for v, d in part)


def test_an_unweighted_graphs_weights_are_the_same_read_only_ones_however_it_was_made(sc, tmp_path):
    """An unweighted graph's out- and in-weights are one read-only 1.0 per edge whether the
    workers loaded it, the driver cut it (from_edges) or read its file: the same flags
    everywhere, kept through a pickle (a fetch from the workers, a checkpoint), which carries
    no float64 per edge for them; the answers agree."""
    edges = random_edges(5, 80, 400)
    path = tmp_path / "edges.txt"
    path.write_text("".join(f"{u} {v}\n" for u, v in edges))
    loaded = Graph.from_edge_file(sc, str(path), num_partitions=2)
    cut = Graph.from_edges(sc, edges, num_partitions=2)
    read = Graph.from_edge_file(None, str(path), num_partitions=2)

    def unit(part):
        for weights, m in ((part.out_weight, len(part.out_dst)), (part.in_weight, len(part.in_src))):
            assert len(weights) == m and not weights.flags.writeable and (weights == 1.0).all()
    for g in (loaded, cut, read):
        assert not g.weighted
        for part in g.partitions:
            unit(part)
            back, _ = restore(snapshot(part))
            unit(back)
            twin = copy.copy(part)              # the same partition with its ones as m float64s
            twin.weighted, twin.out_weight = True, np.ones(len(part.out_dst))
            twin.in_edges = [(part.in_indptr, part.in_src, np.ones(len(part.in_src)))]
            assert len(snapshot(twin)) - len(snapshot(part)) >= 8 * (len(part.out_dst) + len(part.in_src))
    G = nx_from_edges(edges)
    for g in (loaded, cut):
        check_pagerank(pagerank(g, **TIGHT).collectAsMap(), G)
        check_distances(sssp(g, edges[0][0]).collectAsMap(), G, edges[0][0], weighted=False)
