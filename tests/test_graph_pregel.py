"""Per-vertex Pregel and GAS programs: semantics (messages, halting, combiners, aggregators, mutations) and oracles."""

import math

import numpy as np
import pytest

from minibig.graph import Graph, Max, Sum, VectorProgram, VertexProgram, connected_components
from minibig.graph.barrier import master_step
from minibig.graph.messages import Messages, deliver, edge_plan, send_along_plan
from minibig.graph.examples import (GASComponents, GASPageRank, GASShortestPaths, PregelComponents, PregelPageRank,
                                    PregelShortestPaths)
from minibig.graph.partition import restore, snapshot
from minibig.graph.superstep import prepare, run_superstep

from graph_oracles import (DATASETS, check_components, check_distances, check_pagerank, edges_of, nx_from_edges,
                           nx_from_file, random_edges)


def run_values(g, program, **options):
    run = g.run(program, **options)
    return g.values(run, program), run


@pytest.fixture(scope="module")
def roget():
    path = f"{DATASETS}/roget.txt"
    return Graph.from_edge_file(None, path, num_partitions=3), nx_from_file(path)


@pytest.fixture(scope="module")
def karate():
    path = f"{DATASETS}/karate.txt"
    return Graph.from_edge_file(None, path, directed=False, num_partitions=2), nx_from_file(path, directed=False)


@pytest.mark.parametrize("options", [{}, dict(combine_on_sender=False, shuffle_seed=5), dict(checkpoint_every=4)])
def test_pregel_pagerank_components_and_paths_meet_the_oracles(roget, options):
    g, G = roget
    ranks, _ = run_values(g, PregelPageRank(tol=1e-10, max_iter=1000), **options)
    check_pagerank(ranks, G)
    labels, _ = run_values(g, PregelComponents(), **options)
    check_components(labels, G)
    dist, _ = run_values(g, PregelShortestPaths(1), **options)
    check_distances(dist, G, 1, weighted=False)


def test_pregel_programs_on_random_string_id_graph():
    edges = random_edges(seed=11, n=120, m=400, string_ids=True, weighted=True, dangling=10)
    g, G = Graph.from_edges(None, edges, num_partitions=3), nx_from_edges(edges)
    check_pagerank(run_values(g, PregelPageRank(tol=1e-10, max_iter=1000))[0], G)
    check_components(run_values(g, PregelComponents())[0], G)
    check_distances(run_values(g, PregelShortestPaths("v0"))[0], G, "v0", weighted=True)


def test_gas_programs_meet_the_oracles(karate, roget):
    g, G = karate
    ranks, _ = run_values(g, GASPageRank(g.num_vertices, tol=1e-13))
    check_pagerank({v: r for v, (r, _) in ranks.items()}, G)
    check_components(run_values(g, GASComponents())[0], G)
    g, G = roget
    check_components(run_values(g, GASComponents(), shuffle_seed=2)[0], G)
    check_distances(run_values(g, GASShortestPaths(1))[0], G, 1, weighted=False)


def test_pregel_sssp_along_a_path_takes_n_supersteps():
    n = 30
    g = Graph.from_edges(None, [(i, i + 1) for i in range(n - 1)], num_partitions=4)
    dist, run = run_values(g, PregelShortestPaths(0))
    assert run.supersteps == n and run.barrier.reason == "converged"
    assert dist == {i: float(i) for i in range(n)}


class Echo(VertexProgram):
    """Vertex 0 messages vertex 2 at superstep 1 only; everyone halts at once. Records what it saw."""

    def initial_value(self, vertex):
        return []

    def compute(self, ctx, vertex, messages):
        ctx.value = ctx.value + [(ctx.superstep, sorted(messages))]
        if vertex == 0 and ctx.superstep == 0:
            ctx.send(2, "wake up")
        if vertex == 0 and ctx.superstep == 0:
            ctx.send(2, "again")
        ctx.vote_to_halt()


def test_a_message_wakes_a_halted_vertex_and_is_seen_only_the_next_superstep():
    g = Graph.from_edges(None, [(0, 1), (1, 2)], num_partitions=2)
    values, run = run_values(g, Echo())
    assert values[2] == [(0, []), (1, ["again", "wake up"])]
    assert values[1] == [(0, [])]
    assert run.supersteps == 2 and run.barrier.reason == "converged"


class CountDown(VertexProgram):
    """Aggregators: a sum and a max seen by every vertex in the next superstep; master stops at 3."""

    aggregators = {"total": Sum(), "top": Max()}

    def initial_value(self, vertex):
        return None

    def compute(self, ctx, vertex, messages):
        ctx.value = (ctx.aggregated("total"), ctx.aggregated("top"))
        ctx.aggregate("total", 1)
        ctx.aggregate("top", vertex * (ctx.superstep + 1))

    def master_compute(self, superstep, aggregates):
        return superstep == 3


def test_aggregators_reach_every_vertex_next_superstep_and_master_stops_the_run():
    g = Graph.from_edges(None, [(1, 2), (3, 4)], num_partitions=3)
    values, run = run_values(g, CountDown())
    assert run.supersteps == 4 and run.barrier.reason == "master"
    assert set(values.values()) == {(4, 4 * 3)}
    assert run.barrier.aggregates["total"] == 4


class SumCombiner(VertexProgram):
    calls = 0

    def combine(self, a, b):
        return a + b

    def initial_value(self, vertex):
        return 0

    def compute(self, ctx, vertex, messages):
        if ctx.superstep == 0:
            for _ in range(3):
                ctx.send_to_neighbours(vertex)
        else:
            assert len(messages) <= 1                 # combined on the sender and on the receiver
            ctx.value = sum(messages)
        ctx.vote_to_halt()


def test_combiner_reduces_messages_on_the_sender():
    g = Graph.from_edges(None, [(1, 3), (2, 3), (4, 3)], num_partitions=2)
    run = g.run(SumCombiner())
    assert g.values(run, SumCombiner())[3] == 3 * (1 + 2 + 4)
    off = g.run(SumCombiner(), combine_on_sender=False)
    assert g.values(off, SumCombiner())[3] == 3 * (1 + 2 + 4)


class Mutator(VertexProgram):
    """Superstep 0 on vertex 1 requests mutations in an order that Pregel's rules reorder."""

    def initial_value(self, vertex):
        return "initial"

    def compute(self, ctx, vertex, messages):
        if ctx.superstep == 0 and vertex == 1:
            ctx.add_edge(7, 8, 2.5)                  # creates vertex 7 (edge addition from a missing source)
            ctx.add_vertex(9, "added")
            ctx.add_vertex(9, "second")              # the first addition decides
            ctx.add_vertex(2, "ignored")             # exists: unchanged
            ctx.remove_vertex(3)                     # with its out-edge 3 -> 1
            ctx.remove_edge(1, 2)
            ctx.add_edge(1, 2, 5.0)                  # removal first, then addition: the edge survives
        if ctx.superstep == 1:
            ctx.value = sorted(ctx.out_edges)
        ctx.vote_to_halt() if ctx.superstep >= 1 else None


def test_mutations_are_applied_between_supersteps_in_pregels_order():
    g = Graph.from_edges(None, [(1, 2), (2, 1), (3, 1)], num_partitions=3)
    values, run = run_values(g, Mutator())
    assert 3 not in values
    assert values[1] == [(2, 5.0)]
    assert values[7] == [(8, 2.5)]
    assert values[9] == []                            # added active, so it computed at superstep 1
    assert values[2] == [(1, 1.0)]
    assert 8 not in values                            # an edge's target is not created by the edge
    assert run.barrier.aggregates["__num_vertices__"] == 4


class MessageToNowhere(VertexProgram):
    def initial_value(self, vertex):
        return "created" if vertex == 42 else "loaded"

    def compute(self, ctx, vertex, messages):
        if ctx.superstep == 0 and vertex == 1:
            ctx.send(42, "hi")
        if messages:
            ctx.value = ctx.value + ":" + messages[0]
        ctx.vote_to_halt()


def test_a_message_to_a_missing_vertex_creates_it():
    g = Graph.from_edges(None, [(1, 2)], num_partitions=2)
    values, _ = run_values(g, MessageToNowhere())
    assert values[42] == "created:hi" and values[1] == "loaded"


def test_undeclared_aggregator_is_a_clear_error():
    class Bad(VertexProgram):
        def compute(self, ctx, vertex, messages):
            ctx.aggregate("nope", 1)
    g = Graph.from_edges(None, [(1, 2)])
    with pytest.raises(KeyError, match="nope"):
        g.run(Bad())


class MeanDegree(VectorProgram):
    """A user's vectorised program: aggregate, then read the aggregate next superstep."""

    aggregators = {"edges": Sum(0)}

    def init(self, part):
        part.values = np.zeros(len(part))

    def compute(self, part, ctx):
        if ctx.superstep == 0:
            ctx.aggregate("edges", int(part.out_degree.sum()))
        else:
            part.values[:] = ctx.aggregates["edges"] / part.num_vertices
            part.active[:] = False


def test_a_user_vectorised_program_with_an_aggregator():
    g = Graph.from_edge_file(None, f"{DATASETS}/roget.txt", num_partitions=4)
    values, run = run_values(g, MeanDegree())
    assert set(values.values()) == {g.num_edges / g.num_vertices} and run.supersteps == 2


def drive(program, states, inboxes, aggregates, superstep, stop_at=None):
    """The driver loop by hand, as the cluster runs it; returns the loop's state where it stopped."""
    while True:
        results = [run_superstep(s, program, inboxes[i], superstep, aggregates) for i, s in enumerate(states)]
        inboxes = [[] for _ in states]
        for r in results:
            for p, batch in r.outbox.items():
                inboxes[p].append(batch)
        barrier = master_step(program, superstep, results)
        aggregates = barrier.aggregates
        if barrier.halt or superstep == stop_at:
            return states, inboxes, aggregates, superstep + 1, barrier.halt
        superstep += 1


@pytest.mark.parametrize("program", [PregelComponents(), PregelShortestPaths(1)], ids=["cc", "sssp"])
def test_a_run_resumed_from_snapshots_gives_the_same_answer(roget, program):
    g, G = roget
    states = [prepare(p, program, g.index) for p in g.partitions]
    states, inboxes, aggregates, next_step, halted = drive(program, states, [[] for _ in states], {}, 0, stop_at=2)
    assert not halted
    saved = [snapshot(s, inbox) for s, inbox in zip(states, inboxes)]
    finished = drive(program, states, inboxes, aggregates, next_step)[0]
    restored = [restore(blob) for blob in saved]
    resumed = drive(program, [s for s, _ in restored], [i for _, i in restored], aggregates, next_step)[0]
    answer = [s.output(program) for s in finished]
    assert answer == [s.output(program) for s in resumed]
    merged = {v: x for part in answer for v, x in part.items()}
    if isinstance(program, PregelComponents):
        check_components(merged, G)
    else:
        check_distances(merged, G, 1, weighted=False)


def test_vectorised_partition_snapshot_round_trip(roget):
    g, _ = roget
    part = g.partitions[1].fresh()
    part.values, part.active = np.arange(len(part), dtype=float), np.ones(len(part), bool)
    part.cache["junk"] = object()
    state, inbox = restore(snapshot(part, ["inbox"]))
    assert inbox == ["inbox"] and state.cache == {}
    assert np.array_equal(state.values, part.values) and np.array_equal(state.out_dst, part.out_dst)


@pytest.mark.parametrize("combiner", ["sum", "min", "max"])
@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_combined_batches_are_delivered_as_the_general_path_delivers_them(combiner, dtype):
    """Batches combined on their senders (one message per vertex each) are scattered in place;
    the answer is the one the concatenate-and-reduce path gives (a plain-numpy reference)."""
    g = Graph.from_edges(None, [(i, (i * 7) % 40) for i in range(40)], num_partitions=2)
    part = g.partitions[1]
    rng = np.random.default_rng(3)
    batches = []
    for _ in range(3):                                 # three senders, overlapping destinations
        dst = rng.choice(part.vertices, size=len(part) // 2, replace=False)
        batches.append(Messages(dst, rng.integers(-50, 50, len(dst)).astype(dtype)))
    batches.append(Messages(np.zeros(0, np.int64), np.zeros(0, dtype)))
    fast = deliver(part, batches, combiner, dtype, distinct=True)
    general = deliver(part, batches, combiner, dtype)
    assert fast.values.dtype == general.values.dtype
    assert fast.count.tolist() == general.count.tolist()
    assert fast.values.tolist() == general.values.tolist()
    reduce = {"sum": lambda a, b: a + b, "min": min, "max": max}[combiner]
    reference = {}
    for batch in batches:
        for d, v in zip(part.local[batch.dst].tolist(), batch.values.tolist()):
            reference[d] = reduce(reference[d], v) if d in reference else v
    assert {i: fast.values[i] for i in range(len(part)) if fast.count[i]} == reference
    empty = deliver(part, [], combiner, dtype, distinct=True)
    assert empty.count.sum() == 0
    assert empty.values.tolist() == deliver(part, [], combiner, dtype).values.tolist()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")   # NaN through ufunc.at
@pytest.mark.parametrize("combiner", ["sum", "min", "max"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_first_batch_assigned_in_place_keeps_the_general_paths_zeros_and_nans(combiner, dtype):
    """The first combined batch is assigned onto the identity, not added (`_deliver_combined`):
    -0.0, NaN and the dtype come out as the concatenate-and-reduce path gives them."""
    g = Graph.from_edges(None, [(i, i + 1) for i in range(20)], num_partitions=2)
    part = g.partitions[1]
    dst = part.vertices[:4]
    for batches in ([Messages(dst, np.array([-0.0, np.nan, 2.5, -1.0], dtype))],
                    [Messages(dst, np.array([-0.0, np.nan, 2.5, -1.0], dtype)),
                     Messages(dst[:2], np.array([-0.0, 1.0], dtype))]):
        fast, general = (deliver(part, batches, combiner, dtype, distinct=True),
                         deliver(part, batches, combiner, dtype))
        assert fast.values.dtype == general.values.dtype == dtype
        assert np.array_equal(fast.values, general.values, equal_nan=True)
        assert np.signbit(fast.values).tolist() == np.signbit(general.values).tolist()
        assert fast.count.tolist() == general.count.tolist()


def test_combined_delivery_of_tuple_sums_and_of_a_misrouted_message():
    g = Graph.from_edges(None, [(i, i + 1) for i in range(10)], num_partitions=2)
    part = g.partitions[0]
    dst = part.vertices[:3]
    batches = [Messages(dst, np.ones((3, 2))), Messages(dst[:2], np.full((2, 2), 2.0))]
    assert deliver(part, batches, "sum", distinct=True).values[:3].tolist() == [[3, 3], [3, 3], [1, 1]]
    with pytest.raises(ValueError, match="scalar messages"):
        deliver(part, batches, "min", distinct=True)
    stranger = g.partitions[1].vertices[:1]
    with pytest.raises(ValueError, match=f"message for vertex {int(stranger[0])}, owned by partition 1"):
        deliver(part, [Messages(stranger, np.ones(1))], "sum", distinct=True)


@pytest.mark.parametrize("parts", [1, 3, 11])
def test_an_edge_plan_is_its_partitions_targets_by_owner_then_id(parts):
    """Against plain Python: the distinct targets of a partition's out- and in-edges ordered by
    (owner, id), each edge's slot the position of its target there, the bounds each owner's."""
    g = Graph.from_edges(None, random_edges(parts, 90, 400), num_partitions=parts)
    for part in g.partitions:
        for direction, targets_of_edges in (("out", part.out_dst), ("in", part.in_src)):
            plan = edge_plan(part, direction)
            owner = part.owner.tolist()
            expected = sorted(set(targets_of_edges.tolist()), key=lambda t: (owner[t], t))
            assert plan.targets.tolist() == expected
            assert plan.slot.dtype == np.int64
            assert [expected[s] for s in plan.slot.tolist()] == targets_of_edges.tolist()
            assert plan.bounds.tolist() == [sum(owner[t] < q for t in expected) for q in range(parts + 1)]
            assert [piece.tolist() for piece in plan.pieces] == [
                [t for t in expected if owner[t] == q] for q in range(parts)]
            # cached on the partition, shared by every run on it: targets and bounds frozen
            # (the slots stay writable: frozen, they slowed PageRank 2x; nothing writes them)
            assert not (plan.targets.flags.writeable or plan.bounds.flags.writeable)


@pytest.mark.parametrize("combiner", ["sum", "min", "max"])
def test_unmasked_combined_sends_use_the_plans_pieces(combiner):
    """Along every edge with a combiner, each partition's batch has every target there: its
    destinations are the plan's piece itself (the same object every superstep, which a
    session sends once and `deliver` maps once: read-only), not a copy; a mask still selects
    targets."""
    g = Graph.from_edges(None, [(i, (i * 7 + 3) % 60) for i in range(60)], num_partitions=3)
    part = g.partitions[0]
    plan = edge_plan(part, "out")
    values = np.arange(len(part.out_dst), dtype=np.float64)
    outbox = send_along_plan(plan, values, None, combiner)
    assert sorted(outbox) == [p for p in range(3) if len(plan.pieces[p])]
    reduce = {"sum": np.add, "min": np.minimum, "max": np.maximum}[combiner]
    for p, batch in outbox.items():
        assert batch.dst is plan.pieces[p] and not batch.dst.flags.writeable
        expected = {}
        for target, value in zip(part.out_dst.tolist(), values.tolist()):
            expected[target] = reduce(expected[target], value) if target in expected else value
        assert dict(zip(batch.dst.tolist(), batch.values.tolist())) == {
            t: v for t, v in expected.items() if t in set(batch.dst.tolist())}
    mask = values % 2 == 0
    masked = send_along_plan(plan, values, mask, combiner)
    assert sum(len(batch) for batch in masked.values()) == len(np.unique(part.out_dst[mask]))
