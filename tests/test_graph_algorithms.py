"""The vectorised built-ins give networkx's answers on real and random graphs, however messages travel."""

import math
import pickle

import networkx as nx
import numpy as np
import pytest

from minibig.graph import (Graph, bfs, connected_components, label_propagation, local_clustering_coefficient,
                           pagerank, personalized_pagerank, sssp, triangle_count)
from minibig.graph.algorithms import ConnectedComponents, PageRank, ShortestPaths
from minibig.graph.barrier import master_step
from minibig.graph.local import LocalRun
from minibig.graph.messages import Messages
from minibig.graph.superstep import prepare, run_superstep

from graph_oracles import (DATASETS, SHIPPED_GRAPHS, check_components, check_distances, check_label_propagation,
                           check_lcc, check_pagerank, check_triangles, edges_of, nx_from_edges, nx_from_file,
                           random_edges)

TIGHT = dict(tol=1e-10, max_iter=1000)


def shipped(name, partitions=3):
    undirected = SHIPPED_GRAPHS[name]
    path = f"{DATASETS}/{name}.txt"
    return (Graph.from_edge_file(None, path, directed=not undirected, num_partitions=partitions),
            nx_from_file(path, directed=not undirected))


def bundled(name):
    G = {"karate": nx.karate_club_graph, "lesmis": nx.les_miserables_graph,
         "davis": nx.davis_southern_women_graph, "florentine": nx.florentine_families_graph}[name]()
    return Graph.from_edges(None, edges_of(G, weighted=True), directed=False, num_partitions=2), G


RANDOM = {
    "directed": dict(seed=1, n=300, m=1500),
    "dangling": dict(seed=2, n=300, m=900, dangling=40),
    "string ids": dict(seed=3, n=200, m=800, string_ids=True, dangling=10),
    "weighted": dict(seed=4, n=250, m=1200, weighted=True),
}


def random_graph(kind, directed=True, partitions=4):
    edges = random_edges(**RANDOM[kind])
    return Graph.from_edges(None, edges, directed=directed, num_partitions=partitions), nx_from_edges(edges, directed)


@pytest.mark.parametrize("name", sorted(SHIPPED_GRAPHS))
def test_pagerank_on_shipped_graphs(name):
    g, G = shipped(name)
    check_pagerank(pagerank(g, **TIGHT), G)


@pytest.mark.parametrize("name", ["karate", "lesmis", "davis", "florentine"])
def test_pagerank_components_and_paths_on_networkx_bundled_graphs(name):
    g, G = bundled(name)
    check_pagerank(pagerank(g, **TIGHT), G)
    check_pagerank(pagerank(g, weight=True, **TIGHT), G, weight="weight")
    check_components(connected_components(g), G)
    source = min(G)
    check_distances(bfs(g, source), G, source, weighted=False)


@pytest.mark.parametrize("kind", sorted(RANDOM))
@pytest.mark.parametrize("directed", [True, False])
def test_random_graphs(kind, directed):
    g, G = random_graph(kind, directed)
    check_pagerank(pagerank(g, **TIGHT), G)
    check_components(connected_components(g), G)
    source = min(G)
    check_distances(sssp(g, source), G, source, weighted=kind == "weighted")
    check_distances(bfs(g, source), G, source, weighted=False)


def test_weighted_pagerank_only_when_asked():
    g, G = random_graph("weighted")
    check_pagerank(pagerank(g, weight=True, **TIGHT), G, weight="weight")
    check_pagerank(pagerank(g, **TIGHT), G)


@pytest.mark.parametrize("kind", ["directed", "dangling"])
def test_personalised_pagerank(kind):
    g, G = random_graph(kind)
    personal = {0: 1.0, 5: 3.0, 17: 0.5}
    check_pagerank(personalized_pagerank(g, personal, **TIGHT), G, personalization=personal)


class SpreadBy(PageRank):
    """PageRank spreading each vertex's value over its out-edges the way it is told (gather or
    np.repeat), whatever the degrees would pick."""

    def __init__(self, n, gather, **options):
        super().__init__(n, **options)
        self.gather = gather

    def init(self, part):
        super().init(part)
        part.scratch["pr_gather"] = self.gather


def _initialised(part, program):
    """A run's state of `part` after `program.init`."""
    state = prepare(part, program)
    program.init(state)
    return state


@pytest.mark.parametrize("weighted", [False, True])
def test_pagerank_spreads_by_gather_or_repeat_to_the_same_bits(weighted):
    """Sparse vertices spread by a gather, dense ones by np.repeat (the faster for each): the
    same ranks to the bit either way, networkx's, weighted or not, with dangling vertices."""
    for n, m, gather in [(300, 900, True), (60, 2000, False)]:     # 3 and 33 edges a vertex
        edges = random_edges(seed=n, n=n, m=m, weighted=True, dangling=5)
        g, G = Graph.from_edges(None, edges, num_partitions=2), nx_from_edges(edges, True)
        assert [_initialised(p, PageRank(g.num_vertices)).scratch["pr_gather"] for p in g.partitions] == [gather] * 2
        runs = [g.values(g.run(program, engine="local"), program)
                for program in (SpreadBy(g.num_vertices, way, weighted=weighted, **TIGHT) for way in (True, False))]
        assert runs[0] == runs[1]
        check_pagerank(runs[0], G, **({"weight": "weight"} if weighted else {}))


def test_uniform_pagerank_keeps_no_personal_vector_and_a_restored_partition_goes_on():
    """Uniform PageRank adds 1/N as a scalar: no n-length personalisation vector per run (its
    key stays, None, marking the derived state as made); a partition restored from a pickle
    (no scratch) makes it again and computes the same ranks as one that was never pickled."""
    g, _ = random_graph("directed", partitions=2)
    program = PageRank(g.num_vertices)
    part = g.partitions[0]
    kept = prepare(part, program)
    run_superstep(kept, program, [], 0, {})
    assert "pr_p" in kept.scratch and kept.scratch["pr_p"] is None
    personal = _initialised(part, PageRank(g.num_vertices, personal=(np.array([0]), np.ones(1))))
    assert personal.scratch["pr_p"].shape == (len(part),)
    restored = pickle.loads(pickle.dumps(kept))
    assert restored.scratch == {}
    inbox = [Messages(part.vertices, np.full(len(part), 0.25))]
    for state in (kept, restored):
        run_superstep(state, program, inbox, 1, {"dangling": 0.125})
    assert "pr_p" in restored.scratch and restored.values.tolist() == kept.values.tolist()


def test_each_run_of_a_partition_has_its_own_scratch_buffers():
    """Two runs of one graph may run at once on one worker: the topology's caches are shared,
    the per-superstep buffers are not, and neither travels in a pickle."""
    g, _ = random_graph("directed", partitions=1)
    part = g.partitions[0]
    first, second = prepare(part, PageRank(g.num_vertices)), prepare(part, PageRank(g.num_vertices))
    for state in (first, second):
        run_superstep(state, PageRank(g.num_vertices), [], 0, {})
    assert first.cache is second.cache is part.cache
    assert first.scratch["pr_per_edge"] is not second.scratch["pr_per_edge"] and not part.scratch
    assert pickle.loads(pickle.dumps(first)).scratch == {}


def _in_lockstep(partitions, programs) -> list[list]:
    """Each program's final partition states, its runs over the same partitions advanced one
    superstep each in turn (as two runs of one graph on one worker's slots may)."""
    states = [[prepare(part, program) for part in partitions] for program in programs]
    inboxes = [[[] for _ in partitions] for _ in programs]
    aggregates, halted = [{} for _ in programs], [False for _ in programs]
    superstep = 0
    while not all(halted):
        for r, program in enumerate(programs):
            if halted[r]:
                continue
            results = [run_superstep(state, program, inboxes[r][i], superstep, aggregates[r])
                       for i, state in enumerate(states[r])]
            inboxes[r] = [[] for _ in partitions]
            for result in results:
                for p, batch in result.outbox.items():
                    inboxes[r][p].append(batch)
            barrier = master_step(program, superstep, results, None)
            aggregates[r], halted[r] = barrier.aggregates, barrier.halt
        superstep += 1
    return states


def test_two_pageranks_of_one_graph_at_once_keep_their_own_settings():
    """Runs of one graph share the partitions' caches: a weighted, an unweighted and a
    personalised PageRank stepped in turn each give networkx's answer for its own settings."""
    edges = random_edges(seed=7, n=200, m=900, weighted=True, dangling=10)
    g, G = Graph.from_edges(None, edges, num_partitions=2), nx_from_edges(edges, True)
    first = next(iter(G))
    programs = [PageRank(g.num_vertices, weighted=True, **TIGHT), PageRank(g.num_vertices, **TIGHT),
                PageRank(g.num_vertices, personal=(g.index.to_dense([first]), np.ones(1)), **TIGHT)]
    runs = _in_lockstep(g.partitions, programs)
    check_pagerank(g.values(LocalRun(runs[0], 0, None), programs[0]), G, weight="weight")
    check_pagerank(g.values(LocalRun(runs[1], 0, None), programs[1]), G)
    check_pagerank(g.values(LocalRun(runs[2], 0, None), programs[2]), G, personalization={first: 1})


def test_pagerank_stops_at_n_tol_like_networkx():
    g, G = shipped("roget")
    run = g.run(PageRank(g.num_vertices, tol=1e-6))
    ours = run.supersteps - 1                         # superstep 0 only sends the initial ranks
    # networkx's iteration count at tol=1e-6: the smallest max_iter that converges
    for max_iter in range(1, 200):
        try:
            nx.pagerank(G, tol=1e-6, max_iter=max_iter, weight=None)
            break
        except nx.PowerIterationFailedConvergence:
            continue
    assert ours == max_iter and run.barrier.reason == "master"


def test_sssp_on_weighted_shipped_graph_and_unreachable_is_inf():
    g, G = shipped("lesmis")
    check_distances(sssp(g, 0), G, 0, weighted=True)
    g = Graph.from_edges(None, [(1, 2, 1.0), (3, 1, 5.0)], num_partitions=2)
    assert sssp(g, 1) == {1: 0.0, 2: 1.0, 3: math.inf}
    assert bfs(g, 1) == {1: 0, 2: 1, 3: math.inf}


def test_sssp_along_a_path_of_n_vertices_takes_n_supersteps():
    n = 50
    g = Graph.from_edges(None, [(i, i + 1) for i in range(n - 1)], num_partitions=3)
    run = g.run(ShortestPaths(g.dense(0), weighted=False))
    assert run.supersteps == n and run.barrier.reason == "converged"
    assert g.values(run, ShortestPaths(0)) == {i: float(i) for i in range(n)}


def test_sssp_refuses_negative_weights():
    g = Graph.from_edges(None, [(1, 2, -1.0)])
    with pytest.raises(ValueError, match="non-negative"):
        sssp(g, 1)


@pytest.mark.parametrize("options", [dict(combine_on_sender=False), dict(shuffle_seed=7),
                                     dict(combine_on_sender=False, shuffle_seed=8), dict(checkpoint_every=3)])
def test_same_answers_with_combiner_off_shuffled_messages_and_checkpoints(options):
    g, G = random_graph("dangling", partitions=3)
    check_pagerank(pagerank(g, **TIGHT, **options), G)
    check_components(connected_components(g, **options), G)
    check_distances(sssp(g, 0, **options), G, 0, weighted=False)
    check_label_propagation(label_propagation(g, iterations=5, **options), G, 5)


@pytest.mark.parametrize("partitions", [1, 2, 5])
def test_answers_do_not_depend_on_the_number_of_partitions(partitions):
    g, G = shipped("roget", partitions)
    check_components(connected_components(g), G)
    check_pagerank(pagerank(g, **TIGHT), G)


def test_a_custom_partitioner_is_used_for_every_vertex():
    g, G = shipped("karate", 1)
    edges = edges_of(G)
    g = Graph.from_edges(None, edges, directed=False, num_partitions=2, partitioner=lambda v: int(v >= 10))
    assert g.partitions[0].ids.tolist() == list(range(10))
    check_components(connected_components(g), G)


@pytest.mark.parametrize("name", ["karate", "lesmis", "roget"])
def test_label_propagation_matches_the_reference(name):
    g, G = shipped(name)
    check_label_propagation(label_propagation(g, iterations=10), G, 10)


@pytest.mark.parametrize("directed", [True, False])
def test_label_propagation_on_random_graphs_with_self_loops_and_string_ids(directed):
    g, G = random_graph("string ids", directed)
    check_label_propagation(label_propagation(g, iterations=6), G, 6)


@pytest.mark.parametrize("name", ["karate", "lesmis", "roget"])
def test_triangles_and_clustering_on_shipped_graphs(name):
    g, G = shipped(name)
    check_triangles(triangle_count(g), G)
    check_lcc(local_clustering_coefficient(g), G)


@pytest.mark.parametrize("name", ["davis", "florentine"])
def test_triangles_and_clustering_on_bundled_graphs(name):
    g, G = bundled(name)
    check_triangles(triangle_count(g), G)
    check_lcc(local_clustering_coefficient(g), G)


@pytest.mark.parametrize("directed", [True, False])
def test_triangles_and_clustering_on_random_graphs(directed):
    g, G = random_graph("string ids", directed)
    check_triangles(triangle_count(g, shuffle_seed=3), G)
    check_lcc(local_clustering_coefficient(g, combine_on_sender=False), G)


def test_components_label_is_the_smallest_original_id_for_strings():
    g = Graph.from_edges(None, [("b", "a"), ("zz", "c"), ("x", "x")], num_partitions=2)
    assert connected_components(g) == {"a": "a", "b": "a", "c": "c", "zz": "c", "x": "x"}
    assert g.run(ConnectedComponents()).barrier.reason == "converged"
