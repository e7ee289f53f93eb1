"""Edge files, Parquet and tuples load into the same deduplicated, dense-indexed edges as networkx sees."""

import gc
import gzip
import os
import pickle
import time
import types
import weakref

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from minibig import Context
from minibig.graph import Graph, pagerank
from minibig.graph.buffers import pooled, pooled_indices, pooled_like
from minibig.graph.ids import packed_ids, plain_list
from minibig.graph import distload, partitioning, session
from minibig.graph.partitioning import HashPartitioner
from minibig.shuffle.hashing import portable_hash
from minibig.graph.load import (_SPREAD, _blocks, collapse_duplicates, doubtful, edges_from_tuples, read_edge_file,
                                read_edge_parquet)

import faults
from graph_oracles import DATASETS, SHIPPED_GRAPHS, check_pagerank, nx_from_edges, nx_from_file


@pytest.fixture(autouse=True)
def _sessions_tried_afresh():
    """Each test's load may take the one stage: a session that an earlier test's loaded host
    kept from starting in time would otherwise send every load of the shared context to the
    two stages for RETRY_SESSIONS_AFTER seconds (what the tests that name the stages check
    is the load, not that host's timing)."""
    session._STARTED.clear()


def edge_dict(edges):
    """{(src, dst): weight} under original ids."""
    ids = edges.index.ids
    weights = edges.weights_or_ones()
    return {(ids[s].item() if hasattr(ids[s], "item") else ids[s],
             ids[d].item() if hasattr(ids[d], "item") else ids[d]): w
            for s, d, w in zip(edges.src, edges.dst, weights)}


def write(tmp_path, text, name="g.txt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", sorted(SHIPPED_GRAPHS))
def test_shipped_graphs_load_as_networkx_reads_them(name):
    path = f"{DATASETS}/{name}.txt"
    undirected = SHIPPED_GRAPHS[name]
    edges = read_edge_file(path, directed=not undirected)
    G = nx_from_file(path, directed=not undirected).to_directed()
    assert sorted(edges.index.ids.tolist()) == sorted(G.nodes)
    assert edge_dict(edges) == {(u, v): d["weight"] for u, v, d in G.edges(data=True)}


def test_duplicates_collapse_and_the_last_weight_wins(tmp_path):
    edges = read_edge_file(write(tmp_path, "1 2 5\n2 3 1\n1 2 7\n"))
    assert edge_dict(edges) == {(1, 2): 7.0, (2, 3): 1.0}


def test_undirected_reads_each_line_both_ways_and_keeps_self_loops_once(tmp_path):
    edges = read_edge_file(write(tmp_path, "1 2 1\n2 1 4\n3 3 2\n"), directed=False)
    assert edge_dict(edges) == {(1, 2): 4.0, (2, 1): 4.0, (3, 3): 2.0}


def test_comments_blank_lines_tabs_and_runs_of_spaces(tmp_path):
    text = "# header\n\n1\t2\n  # indented comment\n3    4   0.5\n\t5 6  \n# tail\n"
    edges = read_edge_file(write(tmp_path, text))
    assert edge_dict(edges) == {(1, 2): 1.0, (3, 4): 0.5, (5, 6): 1.0}


def test_gzip_file(tmp_path):
    path = tmp_path / "g.txt.gz"
    with gzip.open(path, "wt") as f:
        f.write("# c\na b\nb c\n")
    edges = read_edge_file(str(path))
    assert edge_dict(edges) == {("a", "b"): 1.0, ("b", "c"): 1.0}


def test_ids_are_int_only_when_every_id_is_an_integer(tmp_path):
    assert read_edge_file(write(tmp_path, "1 2\n-3 4\n")).index.ids.dtype == np.int64
    mixed = read_edge_file(write(tmp_path, "1 2\nx 1\n", "m.txt"))
    assert mixed.index.ids.tolist() == ["1", "2", "x"]
    assert read_edge_file(write(tmp_path, "1.5 2\n", "f.txt")).index.ids.tolist() == ["1.5", "2"]


@pytest.mark.parametrize("text, line, what", [
    ("1 2\n3\n4 5\n", 2, "expected 'src dst"),
    ("# c\n1 2\n1 2 3 4\n", 3, "expected 'src dst"),
    ("1 2 1\n1 3 heavy\n", 2, "not a number"),
])
def test_a_malformed_line_is_an_error_naming_file_and_line(tmp_path, text, line, what):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=rf"g\.txt, line {line}: .*{what}"):
        read_edge_file(path)


def test_parquet_and_tuples_give_the_same_edges_as_text(tmp_path):
    rows = [("a", "b", 2.0), ("b", "c", 1.0), ("a", "b", 3.0)]
    pq.write_table(pa.table({"src": [r[0] for r in rows], "dst": [r[1] for r in rows],
                             "weight": [r[2] for r in rows]}), tmp_path / "e.parquet")
    text = read_edge_file(write(tmp_path, "".join(f"{a} {b} {w}\n" for a, b, w in rows)))
    assert edge_dict(read_edge_parquet(str(tmp_path / "e.parquet"))) == edge_dict(text)
    assert edge_dict(edges_from_tuples(rows)) == edge_dict(text)


def test_tuples_must_not_mix_int_and_str_ids():
    with pytest.raises(TypeError, match="all integers or all strings"):
        edges_from_tuples([(1, "a")])


def test_graph_counts_and_lookup():
    g = Graph.from_edge_file(None, f"{DATASETS}/karate.txt", directed=False, num_partitions=3)
    assert (g.num_vertices, g.num_edges, g.weighted) == (34, 156, False)
    assert g.dense(33) == 33 and g.vertex_ids()[:3] == [0, 1, 2]
    with pytest.raises(KeyError, match="99"):
        g.dense(99)


# -- the workers load the file -----------------------------------------------------------------

PARTITION_ARRAYS = ("vertices", "ids", "out_indptr", "out_dst", "out_weight", "in_indptr", "in_src",
                    "in_weight", "owner", "local")


def messy_edge_text(seed: int, lines: int = 400) -> str:
    """Edges in every layout the reader accepts, duplicates with changing weights, self-loops."""
    rng = np.random.default_rng(seed)
    out = ["# a header comment", ""]
    for i in range(lines):
        u, v, w = rng.integers(-20, 40), rng.integers(-20, 40), round(float(rng.random()), 3)
        if i % 50 == 0 and i < lines // 2:          # far-apart ids: the first half's ranges hash them
            v = 10**15 + i
        layout = i * 4 // lines                  # each quarter (roughly a byte range) its own layout
        out.append([f"{u}\t{v}\t{w}", f"{u} {v}", f"  {u}   {v}  {w} ", f"{u} {u} {w}"][layout])
        if i % 97 == 0:
            out += ["# a comment in the middle", ""]
    return "\n".join(out) + "\n"


def assert_same_partitions(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (a.index, a.num_partitions, a.num_vertices, a.weighted) == \
            (b.index, b.num_partitions, b.num_vertices, b.weighted)
        for name in PARTITION_ARRAYS:
            assert getattr(a, name).tolist() == getattr(b, name).tolist(), name


@pytest.mark.parametrize("parts, directed", [(1, True), (3, False), (7, True), (10, False)])
def test_the_workers_cut_a_file_as_the_driver_does(sc, tmp_path, parts, directed):
    """Byte ranges split lines of every layout; the last line's weight wins across ranges."""
    path = write(tmp_path, messy_edge_text(parts))
    g = Graph.from_edge_file(sc, path, directed=directed, num_partitions=parts)
    assert g.edges is None and g._partitions is None           # nothing of the graph on the driver
    reference = Graph.from_edge_file(None, path, directed=directed, num_partitions=parts)
    assert (g.num_vertices, g.num_edges, g.weighted) == \
        (reference.num_vertices, reference.num_edges, reference.weighted)
    assert_same_partitions(g.partitions, reference.partitions)
    assert g.index.ids.tolist() == reference.index.ids.tolist()


@pytest.mark.parametrize("directed", [True, False])
def test_str_ids_repeated_across_byte_ranges_get_one_dense_index_everywhere(sc, tmp_path, directed):
    """Every range numbers its str ids by one dictionary encoding and the build merges them:
    the same partitions as the driver's cut, and networkx's edge count."""
    rng = np.random.default_rng(11)
    names = [f"pkg-{i}" if i % 3 else f"\u00e9t\u00e9{i}" for i in range(300)]
    lines = [f"{names[rng.integers(300)]} {names[rng.integers(300)]}" for _ in range(3000)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    g = Graph.from_edge_file(sc, path, directed=directed, num_partitions=5)
    reference = Graph.from_edge_file(None, path, directed=directed, num_partitions=5)
    assert g.index.ids.tolist() == reference.index.ids.tolist() == sorted(set(" ".join(lines).split()))
    assert_same_partitions(g.partitions, reference.partitions)
    G = nx_from_edges([line.split() for line in lines], directed=directed)
    assert g.num_edges == G.to_directed().number_of_edges()
    # the outputs name each partition's vertices with the load's own Arrow ids, in place
    ranks = pagerank(g, tol=1e-10, max_iter=1000)
    assert [[v for v, _ in part] for part in ranks.glom().collect()] == [p.ids.tolist() for p in g.partitions]
    check_pagerank(ranks.collectAsMap(), G)


def one_stage_inputs(tmp_path) -> list:
    """Files for a two-partition load: str ids (non-ASCII, repeated across the two byte ranges,
    weighted, a header comment), int ids far apart and negative, ids one of the splitters cuts
    at (every id the same length, so the splitter is an id), and a second range of comments."""
    rng = np.random.default_rng(13)
    names = [f"pkg-{i}" if i % 3 else f"\u00e9t\u00e9{i}" for i in range(400)]
    str_text = "# header\n" + "".join(f"{names[rng.integers(400)]} {names[rng.integers(400)]} {i % 5}\n"
                                       for i in range(3000))
    int_text = "".join(f"{rng.integers(-50, 50) * 10**12} {rng.integers(0, 300)}\n" for _ in range(3000))
    fixed = "".join(f"v{rng.integers(100):02d} v{rng.integers(100):02d}\n" for _ in range(500))
    tail = "".join(f"a{i} b{i % 7}\n" for i in range(50)) + "#" * 2000 + "\n"
    return [write(tmp_path, text, name) for name, text in
            [("s.txt", str_text), ("i.txt", int_text), ("f.txt", fixed), ("t.txt", tail)]]


@pytest.mark.parametrize("directed", [True, False])
def test_two_partitions_load_in_one_stage_as_the_driver_cuts_them(sc, tmp_path, directed):
    """The tasks swap their pieces and share the id sort (`distload.ExchangeCode`): the same
    index and partitions as the driver's cut, no stage of their own, and a run on them meets
    networkx."""
    for path in one_stage_inputs(tmp_path):
        g = Graph.from_edge_file(sc, path, directed=directed, num_partitions=2)
        assert list(g.on_workers.timings) == ["read and build"], path
        reference = Graph.from_edge_file(None, path, directed=directed, num_partitions=2)
        assert (g.num_vertices, g.num_edges, g.weighted) == \
            (reference.num_vertices, reference.num_edges, reference.weighted)
        assert g.index.ids.tolist() == reference.index.ids.tolist()
        assert_same_partitions(g.partitions, reference.partitions)
    check_pagerank(pagerank(g, tol=1e-10, max_iter=1000).collectAsMap(),
                   nx_from_edges([line.split() for line in open(path) if not line.startswith("#")],
                                 directed=directed))


def test_a_one_stage_load_says_where_its_time_went(sc, tmp_path):
    """`phases`: the slowest task's seconds per step of the one-stage load, each within the
    load's own time; a load by the stages has none."""
    path = write(tmp_path, "".join(f"v{i} v{i * 7 % 300}\n" for i in range(300)))
    g = Graph.from_edge_file(sc, path, num_partitions=2)
    phases = g.on_workers.phases
    assert list(phases) == ["parse", "pieces", "index", "build"]
    assert all(0 <= seconds <= g.on_workers.timings["read and build"] for seconds in phases.values())
    packed = tmp_path / "g.txt.gz"                   # one byte range: the stages load it
    packed.write_bytes(gzip.compress(open(path, "rb").read()))
    staged = Graph.from_edge_file(sc, str(packed), num_partitions=2).on_workers
    assert (list(staged.timings), staged.phases) == (["read", "build"], {})


def test_an_empty_file_loads_in_one_stage_too(sc, tmp_path):
    for text in ("", "# only a comment\n\n"):
        g = Graph.from_edge_file(sc, write(tmp_path, text), num_partitions=2)
        assert (g.num_vertices, g.num_edges, list(g.on_workers.timings)) == (0, 0, ["read and build"])


def test_what_one_stage_cannot_load_the_stages_load_with_their_errors(sc, tmp_path):
    """Ranges of two kinds (int, then str), a partitioner failing on int ids, a malformed
    line: every task says so, the driver drops what was built and the stages load the file
    as before (an exchange, then the stages' timings), with the same partitions and errors."""
    mixed = write(tmp_path, "".join(f"{i} {i * 7 % 300}\n" for i in range(300)) + "x 12\n", "m.txt")
    for partitioner in (None, by_length):
        g = Graph.from_edge_file(sc, mixed, num_partitions=2, partitioner=partitioner)
        assert list(g.on_workers.timings) == ["exchange", "read", "route", "build"]
        reference = Graph.from_edge_file(None, mixed, num_partitions=2, partitioner=partitioner)
        assert g.index.ids.tolist() == reference.index.ids.tolist()
        assert_same_partitions(g.partitions, reference.partitions)
    lines = [f"{i} {i + 1}" for i in range(500)]
    lines[420] = "420 421 heavy"
    with pytest.raises(ValueError, match=r"g\.txt, line 421: weight 'heavy' is not a number"):
        Graph.from_edge_file(sc, write(tmp_path, "\n".join(lines) + "\n"), num_partitions=2)
    with pytest.raises(ValueError, match=r"partitioner put vertex 'a' in partition 2, outside \[0, 2\)"):
        Graph.from_edge_file(sc, write(tmp_path, "a b\nc d\n" * 50), num_partitions=2, partitioner=lambda v: 2)


def test_two_loads_at_once_share_the_slots(sc, tmp_path, monkeypatch):
    """Two threads load at once: each load is one stage when the slots are free, the stages
    when the other's session holds them (never a wait for START_TIMEOUT, here ten minutes;
    the other's session may take them after `usable` said yes, and this one is refused at
    once: an exchange, then the stages), and both graphs are the driver's cut."""
    monkeypatch.setattr(session, "START_TIMEOUT", 600.0)
    paths = one_stage_inputs(tmp_path)[:2]
    loads = [faults.run_in_thread(lambda p=p: Graph.from_edge_file(sc, p, num_partitions=2)) for p in paths]
    for load, path in zip(loads, paths):
        g = load(120, f"the load of {path}")
        assert list(g.on_workers.timings) in (["read and build"], ["read", "build"], ["exchange", "read", "build"])
        assert_same_partitions(g.partitions, Graph.from_edge_file(None, path, num_partitions=2).partitions)


class OneOwnerTooMany(HashPartitioner):
    """A vectorised partitioner answering one owner more than it was asked for: the read takes
    it, and every task's build fails."""

    def partitions_of(self, ids):
        return np.append(super().partitions_of(ids), 0)


def test_an_error_after_the_read_ends_the_one_stage_load_with_its_type(sc, tmp_path):
    """The tasks fail once they swapped their pieces: the driver raises the first error it
    hears, with its type and the task's traceback, ends the session (no task waits for a
    peer that failed), and the slots are free for the next load."""
    path = write(tmp_path, "".join(f"{i} {i * 7 % 300}\n" for i in range(300)))
    with pytest.raises(ValueError, match="broadcast") as caught:
        Graph.from_edge_file(sc, path, num_partitions=2, partitioner=OneOwnerTooMany(2))
    assert "graph load failed in partition" in "".join(caught.value.__notes__)
    assert session.usable(sc, 2)
    assert list(Graph.from_edge_file(sc, path, num_partitions=2).on_workers.timings) == ["read and build"]


class SlowToStart(HashPartitioner):
    """HashPartitioner whose unpickling, on a worker with its task's code, announces itself and
    waits for `release` (tests/faults.py): a task slow to start, as on a cold worker that
    imports the graph modules first."""

    def __init__(self, num_partitions, folder, release):
        super().__init__(num_partitions)
        self.folder, self.release = folder, release

    def __reduce__(self):
        return slow_to_start, (self.num_partitions, self.folder, self.release)


def slow_to_start(num_partitions, folder, release):
    faults.announce_and_wait(folder, "start", release)
    return SlowToStart(num_partitions, folder, release)


def test_tasks_that_all_start_late_still_load_in_one_stage(sc, tmp_path, monkeypatch):
    """Every task of the load starts later than START_TIMEOUT (cold workers: seconds on a busy
    machine), the two together: START_TIMEOUT counts from the first hello, so the load is one
    stage and sessions stay usable. (Before: the stages loaded the file, and the driver took
    the cluster for one with no slot: no session for any run after.)"""
    monkeypatch.setattr(session, "START_TIMEOUT", 1.0)
    monkeypatch.setattr(session, "_STARTED", session.weakref.WeakKeyDictionary())
    folder, release = str(tmp_path / "marks"), str(tmp_path / "go")
    os.mkdir(folder)
    path = write(tmp_path, "".join(f"{i} {i * 7 % 300}\n" for i in range(300)))
    began = time.monotonic()
    load = faults.run_in_thread(lambda: Graph.from_edge_file(sc, path, num_partitions=2,
                                                             partitioner=SlowToStart(2, folder, release)))
    try:
        faults.wait_for_marker(folder, "start", count=2)                   # both tasks held
        faults.wait_until(lambda: time.monotonic() - began > 2 * session.START_TIMEOUT,
                          "the tasks being late by START_TIMEOUT")
    finally:
        faults.touch(release)
    g = load(120, "the load")
    assert list(g.on_workers.timings) == ["read and build"]
    assert session.usable(sc, 2)
    assert_same_partitions(g.partitions, Graph.from_edge_file(None, path, num_partitions=2).partitions)


def test_a_one_stage_load_task_drops_its_range_arrays_once_its_pieces_are_sent(monkeypatch):
    """`ExchangeCode`'s task keeps its own piece, not the range's routed arrays (`pieces_of`'s:
    as much again as the pieces), through the id sort and the build. In process: a driver that
    says `go`, one peer whose piece is there, and a look when the task waits for round 1."""
    path = f"{DATASETS}/roget.txt"
    spec = distload.Spec("k/", path, distload._byte_ranges(path, 2), False, 2, HashPartitioner(2))
    theirs = distload.parse_range(spec, 1)
    theirs = (theirs.report(), distload.pieces_of(spec, theirs, True)(0))
    held, freed = [], []

    def pieces_of(*args):
        piece = distload.pieces_of.__wrapped__(*args)
        held.append(weakref.ref(dict(zip(piece.__code__.co_freevars, piece.__closure__))["src"].cell_contents))
        return piece
    pieces_of.__wrapped__ = distload.pieces_of
    monkeypatch.setattr(distload, "pieces_of", pieces_of)

    class Peers:
        out, address = {1: None}, "peer"

        def connect(self, addresses):
            pass

        def send(self, superstep, outbox, mutations):
            assert list(outbox) == [1]

        def inbox(self, superstep, driver):
            if superstep == 0:
                return [(1, theirs, None)], {}
            gc.collect()
            freed.append(held[0]() is None)
            return None                                     # the driver spoke: an abort

    driver = types.SimpleNamespace(send=lambda blob: None, poll=lambda timeout=0: True,
                                   recv=lambda: pickle.dumps({"kind": "go", "peers": {}}))
    ctx = types.SimpleNamespace(partition=0, attempt=0, worker_id="w")
    distload.ExchangeCode(spec, 10.0).serve(ctx, driver, Peers())
    assert freed == [True]


def test_the_workers_read_str_ids_when_any_range_has_one_and_gz_whole(sc, tmp_path):
    text = ("".join(f"{i:03d} {i + 1:03d}\n" for i in range(300))
            + "x 007\n#comment line\n7 x\n")                  # "007" stays "007"; "#comment" is no id
    for path in (write(tmp_path, text), str(tmp_path / "g.txt.gz")):
        if path.endswith(".gz"):
            with gzip.open(path, "wt") as f:
                f.write(text)
        g = Graph.from_edge_file(sc, path, num_partitions=4)
        reference = Graph.from_edge_file(None, path, num_partitions=4)
        assert g.index.ids.tolist() == reference.index.ids.tolist()
        assert {"007", "7", "x"} <= set(g.index.ids.tolist()) and "#comment" not in g.index.ids.tolist()
        assert_same_partitions(g.partitions, reference.partitions)
        # the int ranges routed their ids as ints in the read stage: routed again as str
        assert list(g.on_workers.timings) == (["read", "build"] if path.endswith(".gz") else
                                              ["read", "route", "build"])


def test_ranges_that_agree_on_the_id_kind_are_routed_as_they_are_read(sc, tmp_path):
    """Int ids everywhere, or str ids with an empty range: two stages, no route of its own."""
    for text in ("".join(f"{i} {i + 1}\n" for i in range(300)),
                 "".join(f"v{i} v{i + 1}\n" for i in range(300)) + "#" * 3000 + "\n"):
        path = write(tmp_path, text)
        g = Graph.from_edge_file(sc, path, num_partitions=4)
        assert list(g.on_workers.timings) == ["read", "build"]
        assert_same_partitions(g.partitions, Graph.from_edge_file(None, path, num_partitions=4).partitions)


def by_length(vertex) -> int:
    """A partitioner for str ids only: an int raises TypeError."""
    return len(vertex) % 2


def test_a_partitioner_for_str_ids_routes_int_looking_ranges_in_the_graphs_kind(sc, tmp_path):
    """The first ranges' ids all look like ints, so the read stage calls the partitioner with
    ints; it raises, and those ranges are routed again as str, with the driver's cut."""
    path = write(tmp_path, "".join(f"{i} {i * 7 % 300}\n" for i in range(300)) + "x 12\n")
    g = Graph.from_edge_file(sc, path, num_partitions=3, partitioner=by_length)
    assert list(g.on_workers.timings) == ["read", "route", "build"]
    reference = Graph.from_edge_file(None, path, num_partitions=3, partitioner=by_length)
    assert_same_partitions(g.partitions, reference.partitions)
    with pytest.raises(TypeError):                     # an int graph: the partitioner's own error
        Graph.from_edge_file(sc, write(tmp_path, "1 2\n3 4\n"), num_partitions=2, partitioner=by_length)


def test_a_malformed_line_in_a_later_byte_range_names_its_line_in_the_file(sc, tmp_path):
    lines = [f"{i} {i + 1}" for i in range(500)]
    lines[420] = "420 421 heavy"
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"g\.txt, line 421: weight 'heavy' is not a number"):
        Graph.from_edge_file(sc, path, num_partitions=4)


def test_a_graph_nobody_holds_leaves_nothing_on_the_workers():
    with Context(master="inline", workers=2, progress=False) as inline:
        g = Graph.from_edge_file(inline, f"{DATASETS}/karate.txt", directed=False)
        assert (g.num_vertices, g.num_edges) == (34, 156)
        assert any("/edges" in key for key in inline._backend.resident.keys())
        del g
        gc.collect()
        assert not any("/edges" in key for key in inline._backend.resident.keys())


def test_the_workers_cut_by_a_custom_partitioner_and_name_a_vertex_it_misplaces(sc, tmp_path):
    path = write(tmp_path, "".join(f"{i} {(i * 7) % 20}\n" for i in range(20)))
    g = Graph.from_edge_file(sc, path, num_partitions=2, partitioner=lambda v: int(v >= 10))
    assert g.partitions[0].ids.tolist() == list(range(10))
    assert_same_partitions(g.partitions, Graph.from_edge_file(None, path, num_partitions=2,
                                                              partitioner=lambda v: int(v >= 10)).partitions)
    with pytest.raises(ValueError, match=r"partitioner put vertex 19 in partition 2, outside \[0, 2\)"):
        Graph.from_edge_file(sc, path, num_partitions=2, partitioner=lambda v: 2 if v == 19 else 0)


def test_an_empty_file_is_an_empty_graph(sc, tmp_path):
    for text in ("", "# only a comment\n\n"):
        path = write(tmp_path, text)
        for context in (None, sc):
            g = Graph.from_edge_file(context, path, num_partitions=3)
            assert (g.num_vertices, g.num_edges) == (0, 0)


def test_str_ids_travel_as_one_arrow_array_and_come_back_as_python_values():
    ids = np.array(["b", "\u00e9t\u00e9", "", "x y"], dtype=object)
    travelled = pickle.loads(pickle.dumps(packed_ids(ids), protocol=5))
    assert isinstance(travelled, pa.Array)
    assert plain_list(travelled) == ["b", "\u00e9t\u00e9", "", "x y"]
    ints = np.array([3, -1], dtype=np.int64)
    assert packed_ids(ints) is ints
    assert [type(v) for v in plain_list(ints)] == [int, int] and plain_list([2.5]) == [2.5]


def test_a_one_partition_graph_of_several_blocks_reads_as_the_driver_does(sc, tmp_path):
    """A one-partition graph of a few megabytes is parsed in a block per core (`load._blocks`):
    the driver's graph still, str ids with weights and int ids, and a malformed line in a
    later block still names its line."""
    rng = np.random.default_rng(8)
    count = 2 * _SPREAD // 20                                   # lines: a few megabytes
    names = [f"package-{i}" if i % 5 else f"\u00e9t\u00e9-{i}" for i in range(5000)]
    ends = rng.integers(5000, size=(count, 2))
    str_text = "".join(f"{names[a]} {names[b]} {i % 9}\n" for i, (a, b) in enumerate(ends))
    int_text = "".join(f"{a * 7919} {b}\n" for a, b in ends)
    for name, text in [("s.txt", str_text), ("i.txt", int_text)]:
        path = write(tmp_path, text, name)
        size = len(text.encode())
        assert pa.cpu_count() == 1 or _blocks(pa.py_buffer(b"-" * size), spread=True)["block_size"] < size
        g = Graph.from_edge_file(sc, path, num_partitions=1)
        reference = Graph.from_edge_file(None, path, num_partitions=1)
        assert (g.num_vertices, g.num_edges, g.weighted) == \
            (reference.num_vertices, reference.num_edges, reference.weighted)
        assert g.index.ids.tolist() == reference.index.ids.tolist()
        assert_same_partitions(g.partitions, reference.partitions)
    with pytest.raises(ValueError, match=rf"b\.txt, line {count + 1}: weight 'heavy' is not a number"):
        Graph.from_edge_file(sc, write(tmp_path, str_text + "a b heavy\n", "b.txt"), num_partitions=1)


def test_a_one_partition_graph_is_read_and_built_in_one_task(sc, tmp_path):
    """No routing: one task reads and builds, with the driver's cut, for str (weighted,
    repeated, non-ASCII), int and gzipped input; its errors are the two-stage load's."""
    rng = np.random.default_rng(5)
    names = [f"p{i}" if i % 4 else f"\u00e9t\u00e9-{i}" for i in range(200)]
    str_text = "# c\n" + "".join(f"{names[rng.integers(200)]} {names[rng.integers(200)]} {i % 7}\n"
                                  for i in range(2000))
    gz = tmp_path / "s.txt.gz"
    with gzip.open(gz, "wt") as f:
        f.write(str_text)
    for path, directed in [(write(tmp_path, str_text, "s.txt"), True), (str(gz), False),
                           (write(tmp_path, messy_edge_text(3), "m.txt"), False)]:
        g = Graph.from_edge_file(sc, path, directed=directed, num_partitions=1)
        assert list(g.on_workers.timings) == ["read and build"]
        reference = Graph.from_edge_file(None, path, directed=directed, num_partitions=1)
        assert (g.num_vertices, g.num_edges, g.weighted) == \
            (reference.num_vertices, reference.num_edges, reference.weighted)
        assert g.index.ids.tolist() == reference.index.ids.tolist()
        assert_same_partitions(g.partitions, reference.partitions)
    with pytest.raises(ValueError, match=r"g\.txt, line 3: weight 'heavy' is not a number"):
        Graph.from_edge_file(sc, write(tmp_path, "a b\nb c 1\nc d heavy\n"), num_partitions=1)
    with pytest.raises(ValueError, match=r"partitioner put vertex 'a' in partition 1, outside \[0, 1\)"):
        Graph.from_edge_file(sc, write(tmp_path, "a b\n"), num_partitions=1, partitioner=lambda v: 1)
    g = Graph.from_edge_file(sc, write(tmp_path, "# nothing\n"), num_partitions=1)
    assert (g.num_vertices, g.num_edges) == (0, 0)


@pytest.mark.parametrize("n", [1, 50, 1 << 31, (1 << 31) + 1])
def test_duplicate_edges_collapse_to_the_last_line_on_both_key_layouts(n):
    """Keys put src in the high 32 bits while ids fit in 31, else multiply by n: either way
    one edge per (src, dst) in (src, dst) order, the last line's weight, int64 ids."""
    rng = np.random.default_rng(n % 97)
    src, dst = n - 1 - rng.integers(0, min(n, 6), 300), rng.integers(0, min(n, 6), 300)
    weight = rng.random(300)
    last = {}
    for s, d, w in zip(src.tolist(), dst.tolist(), weight.tolist()):
        last[s, d] = w
    expected = sorted(last)
    for w in (None, weight):
        got_src, got_dst, got_weight = collapse_duplicates(src, dst, w, n)
        assert got_src.dtype == got_dst.dtype == np.int64
        assert list(zip(got_src.tolist(), got_dst.tolist())) == expected
        if w is not None:
            assert got_weight.tolist() == [last[edge] for edge in expected]


def test_pooled_arrays_are_writable_arrays_of_their_own():
    """Arrays in Arrow's pool (`buffers.pooled`, a load's and a run's big temporaries): writable,
    of their dtype and shape, never sharing memory while alive, and pickled as plain arrays."""
    a, b = pooled(200_000, np.int64), pooled_like(np.zeros((3, 5), np.float32))
    assert (a.dtype, a.shape, b.dtype, b.shape) == (np.int64, (200_000,), np.float32, (3, 5))
    a[:] = 7
    b[:] = 1.5
    c = pooled(200_000, np.int64)
    c[:] = -1
    assert not np.shares_memory(a, c) and (a == 7).all() and (b == 1.5).all()
    back = pickle.loads(pickle.dumps(a, protocol=5))
    assert back.dtype == np.int64 and back.flags.writeable and (back == 7).all()
    assert len(pooled(0, np.float64)) == 0


def test_doubtful_ids_are_those_arrows_kernels_find():
    """The byte-level check against its definition: an empty id, one starting with '#', one
    holding a regex \\s character (tab, newline, form feed, carriage return, space; not \\v,
    not a non-ASCII space)."""
    def by_kernels(values):
        return bool(len(values)) and (pc.any(pc.equal(values, "")).as_py()
                                      or pc.any(pc.starts_with(values, "#")).as_py()
                                      or pc.any(pc.match_substring_regex(values, r"\s")).as_py())
    samples = ["a", "", "#a", "a#", "\u00e9", "a\tb", "a\nb", "a\fb", "a\rb", "a b", "a\vb",
               "\u00a0", "\u2003x", "x\u3000", "#", "\u00e9#"]
    for text in samples:
        for values in (pa.array(["ok", text, "fine"]), pa.array(["ok", text, "fine"]).slice(1, 2),
                       pa.chunked_array([["ok"], [text]]), pa.array([text], pa.large_string())):
            assert doubtful(values) == by_kernels(values), (text, values)
    assert doubtful(pa.array([], pa.string())) is False


@pytest.mark.parametrize("parts", [None, 1, 2])
def test_an_id_that_is_not_utf8_is_the_csv_readers_error_however_it_is_read(sc, tmp_path, parts):
    """The fast reader leaves UTF-8 unchecked (`doubtful` checks the distinct ids): bytes
    that are not UTF-8, in a later byte range too, still end the load with Arrow's error,
    on the driver and on the workers."""
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a b\n" * 50 + b"c \xff\xfe\n" + b"b c\n" * 50)
    with pytest.raises(pa.ArrowInvalid, match="invalid UTF8"):
        if parts is None:
            Graph.from_edge_file(None, str(path))
        else:
            Graph.from_edge_file(sc, str(path), num_partitions=parts)
    assert doubtful(pa.array([b"ok", b"\xff"], pa.binary()).cast(pa.string(), safe=False))


def test_owners_of_str_ids_hashed_a_word_at_a_time_equal_portable_hash_id_by_id():
    """The vectorised CRC-32 (whole words, each string padded at its start) against
    portable_hash per id: every length 0..40 and long ones (each padding and word count),
    multi-byte UTF-8, an array sliced off its buffer's start (the padding reads no byte of
    another id)."""
    ids = ["".join("aé漢😀-9"[(i * 7 + j) % 6] for j in range(length)) for i, length in
           enumerate([*range(41), 0, 300, 1001, 5, 6, 7, 8])]
    for strings in (pa.array(ids), pa.array(["xyz", *ids, "q"]).slice(1, len(ids))):
        for n in (2, 7):
            assert HashPartitioner(n).partitions_of(strings).tolist() == [portable_hash(v) % n for v in ids]



def test_str_ids_hashed_in_batches_equal_portable_hash_id_by_id_across_batch_ends(monkeypatch):
    """Batches of a few strings and bytes (`crc32_strings`): every batch end, an id longer than
    the bytes of a batch, the long ids hashed apart (one, several, a batch of them alone), empty
    ids, large_string, a chunked array, an array sliced off its start."""
    ids = ["".join("aé漢😀-9"[(i * 5 + j) % 6] for j in range(length)) for i, length in
           enumerate([0, 0, *range(1, 30), 64, 0, 3, 200, 1, 17, 16, 15, 0, 9])]
    want = [portable_hash(v) for v in ids]
    half = len(ids) // 2
    for batch, batch_bytes, long in ((5, 16, 1000), (5, 16, 8), (7, 100, 20), (1, 1, 0), (1000, 1 << 20, 8)):
        monkeypatch.setattr(partitioning, "_CRC_BATCH", batch)
        monkeypatch.setattr(partitioning, "_CRC_BATCH_BYTES", batch_bytes)
        monkeypatch.setattr(partitioning, "_CRC_LONG", long)
        for strings in (pa.array(ids), pa.array(ids, pa.large_string()), pa.array(["xyz" * 9, *ids]).slice(1),
                        pa.chunked_array([pa.array(ids[:half]), pa.array(ids[half:])])):
            assert partitioning.portable_hashes(strings).tolist() == want, (batch, batch_bytes, long)


def test_hashing_many_str_ids_holds_a_few_batches_of_arrow_memory_not_five_times_their_bytes():
    """The word array (4 bytes a byte) and the loop's temporaries are a batch's: hashing 500k ids
    (6.4 MB) peaked at ~45 MB of Arrow's pool when they were all at once."""
    ids = pa.array([f"vertex-{i:06d}" for i in range(500_000)])
    proxy = pa.proxy_memory_pool(pa.default_memory_pool())
    before = pa.default_memory_pool()
    pa.set_memory_pool(proxy)
    try:
        hashes = partitioning.portable_hashes(ids)
    finally:
        pa.set_memory_pool(before)
    assert hashes[:3].tolist() == [portable_hash(v) for v in ids[:3].to_pylist()]
    assert proxy.max_memory() < 16 << 20

def test_pooled_indices_are_int64_values_of_the_positions_and_int64_ones_are_not_copied():
    positions = np.array([5, 0, 2 ** 31 - 1, 7], np.int32)
    cast = pooled_indices(positions)
    assert cast.dtype == np.int64 and cast.tolist() == positions.tolist()
    assert not np.shares_memory(cast, positions)
    already = np.arange(4, dtype=np.int64)
    assert pooled_indices(already) is already
