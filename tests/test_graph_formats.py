"""Graph files users bring: a vertex file beside the edges (Graphalytics' .v + .e), KONECT's
comments and extra columns, weights SSSP cannot use; read alike by the driver and by 2 workers."""

import gzip
import math
import random

import networkx as nx
import pytest

from minibig.graph import Graph, bfs, connected_components, local_clustering_coefficient, pagerank, sssp
from minibig.graph.load import EdgeFormat, EdgeLineError
from minibig.graph import session

from graph_oracles import check_components, check_distances, check_lcc


@pytest.fixture(autouse=True)
def _sessions_tried_afresh():
    """Each load may take the one stage (see test_graph_load.py)."""
    session._STARTED.clear()


def as_dict(result) -> dict:
    """{vertex: value} of a built-in's answer: a dict in this process, an RDD on a cluster."""
    return result if isinstance(result, dict) else result.collectAsMap()


def context(request, where):
    return None if where == "driver" else request.getfixturevalue("sc")


def isolated_graph(seed: int, n: int, m: int, lonely: int, spread: int = 1, str_ids: bool = False):
    """(edge lines, vertex lines, networkx graph): m random edges among n vertices, and `lonely`
    vertices more that only the vertex file names; ids multiplied by `spread` (a wide span is
    numbered by hashing, a narrow one by marking an array)."""
    rng = random.Random(seed)
    name = (lambda v: f"u{v * spread}") if str_ids else (lambda v: v * spread)
    G = nx.DiGraph()
    G.add_nodes_from(name(v) for v in range(n + lonely))
    for _ in range(m):
        G.add_edge(name(rng.randrange(n)), name(rng.randrange(n)))
    vertex_order = list(G.nodes)
    rng.shuffle(vertex_order)
    edges = "".join(f"{u} {v}\n" for u, v in G.edges)
    return edges, "".join(f"{v}\n" for v in vertex_order), G


@pytest.mark.parametrize("where", ["driver", "workers"])
@pytest.mark.parametrize("spread, str_ids", [(1, False), (10**12, False), (1, True)])
def test_a_vertex_file_puts_vertices_without_edges_in_the_graph(request, tmp_path, where, spread, str_ids):
    edges, vertices, G = isolated_graph(5, 60, 150, 25, spread, str_ids)
    (tmp_path / "g.e").write_text(edges)
    (tmp_path / "g.v").write_text(vertices)
    g = Graph.from_edge_file(context(request, where), str(tmp_path / "g.e"), vertices=str(tmp_path / "g.v"),
                             num_partitions=3)
    assert g.num_vertices == G.number_of_nodes() and g.num_edges == G.number_of_edges()
    check_components(as_dict(connected_components(g)), G)
    source = next(iter(G.edges))[0]
    check_distances(as_dict(bfs(g, source)), G, source, weighted=False)
    check_lcc(as_dict(local_clustering_coefficient(g)), G)
    ranks = as_dict(pagerank(g, tol=1e-10, max_iter=500))
    expected = nx.pagerank(G, tol=1e-12, max_iter=10_000)
    assert ranks.keys() == expected.keys()
    assert all(abs(ranks[v] - expected[v]) <= 1e-4 * expected[v] for v in G)


@pytest.mark.parametrize("where", ["driver", "workers"])
def test_a_vertex_file_of_graphalytics_lines_gz_with_comments_loads_undirected(request, tmp_path, where):
    (tmp_path / "g.e").write_text("1 2 0.5\n2 3 1.5\n3 1 4\n7 8 2\n")
    with gzip.open(tmp_path / "g.v.gz", "wt") as f:
        f.write("# vertices\n1\n2 extra-property\n\n3\n4\n5\n7\n8\n")
    g = Graph.from_edge_file(context(request, where), str(tmp_path / "g.e"), directed=False,
                             vertices=str(tmp_path / "g.v.gz"))
    assert as_dict(sssp(g, 1)) == {1: 0.0, 2: 0.5, 3: 2.0, 4: math.inf, 5: math.inf, 7: math.inf, 8: math.inf}
    assert as_dict(connected_components(g)) == {1: 1, 2: 1, 3: 1, 4: 4, 5: 5, 7: 7, 8: 7}


@pytest.mark.parametrize("where", ["driver", "workers"])
@pytest.mark.parametrize("words", [False, True])
def test_byte_ranges_with_vertices_and_no_edges_or_edges_and_no_vertices(request, tmp_path, where, words):
    name = (lambda v: f"w{v}") if words else (lambda v: v)
    (tmp_path / "g.e").write_text(f"{name(1)} {name(2)}\n")
    (tmp_path / "g.v").write_text("".join(f"{name(v)}\n" for v in range(1, 40)))
    (tmp_path / "h.e").write_text("".join(f"{name(v)} {name(v + 1)}\n" for v in range(1, 40)))
    (tmp_path / "h.v").write_text(f"{name(50)}\n")
    sc = context(request, where)
    g = Graph.from_edge_file(sc, str(tmp_path / "g.e"), vertices=str(tmp_path / "g.v"), num_partitions=4)
    assert as_dict(bfs(g, name(1))) == {name(v): {1: 0, 2: 1}.get(v, math.inf) for v in range(1, 40)}
    h = Graph.from_edge_file(sc, str(tmp_path / "h.e"), vertices=str(tmp_path / "h.v"), num_partitions=4)
    assert as_dict(bfs(h, name(1))) == {**{name(v): v - 1 for v in range(1, 41)}, name(50): math.inf}


@pytest.mark.parametrize("where", ["driver", "workers"])
def test_a_vertex_file_with_a_word_makes_every_id_a_string(request, tmp_path, where):
    (tmp_path / "g.e").write_text("1 2\n2 3\n")
    (tmp_path / "g.v").write_text("1\n2\n3\nhub\n")
    g = Graph.from_edge_file(context(request, where), str(tmp_path / "g.e"), vertices=str(tmp_path / "g.v"))
    assert as_dict(connected_components(g)) == {"1": "1", "2": "1", "3": "1", "hub": "hub"}


@pytest.mark.parametrize("where", ["driver", "workers"])
@pytest.mark.parametrize("edges", ["", "# no edge yet\n\n"])
def test_a_vertex_file_of_integers_beside_an_edge_file_of_no_edge_keeps_int_ids(request, tmp_path, where, edges):
    """No edge says nothing of the ids' kind: the vertex file's integers stay int, on the driver
    as on the workers (the driver made them str: the empty edge columns are text)."""
    (tmp_path / "g.e").write_text(edges)
    (tmp_path / "g.v").write_text("3\n1\n2\n")
    g = Graph.from_edge_file(context(request, where), str(tmp_path / "g.e"), vertices=str(tmp_path / "g.v"))
    assert as_dict(connected_components(g)) == {1: 1, 2: 2, 3: 3}


@pytest.mark.parametrize("where", ["driver", "workers"])
@pytest.mark.parametrize("int_edges, vertices", [(True, "7\nb\nc\n"), (False, "c\nb\r\n7 0.5\n")])
def test_the_one_stage_load_and_the_stages_load_a_vertex_file_alike(request, tmp_path, monkeypatch, where, int_edges,
                                                                    vertices):
    """Int edges beside a vertex file with a word, str edges beside one of integers (CRLF, a
    weight column): the one-stage load, the stages (forced) and the driver read the same graph,
    every id a str."""
    sc = context(request, where)
    name = (lambda v: v) if int_edges else (lambda v: f"w{v}")
    lines = [f"{name(i)} {name(i * 7 % 40)}" for i in range(40)]
    (tmp_path / "g.e").write_text("\n".join(lines) + "\n")
    (tmp_path / "g.v").write_bytes(vertices.encode())
    G = nx.DiGraph(line.split() for line in lines)
    G.add_nodes_from(line.split()[0] for line in vertices.splitlines())
    load = lambda: Graph.from_edge_file(sc, str(tmp_path / "g.e"), vertices=str(tmp_path / "g.v"), num_partitions=2)
    graphs = [load()]
    if sc is not None:
        from minibig.graph import distload
        monkeypatch.setattr(distload, "usable", lambda *args: False)
        graphs.append(load())
        assert list(graphs[-1].on_workers.timings)[0] == "read"
    for g in graphs:
        check_components(as_dict(connected_components(g)), G)


def konect_text(seed: int, lines: int = 300) -> tuple[str, dict]:
    """A KONECT `out.*` file (% header, src dst weight timestamp) and its edges as networkx keeps them."""
    rng = random.Random(seed)
    text, edges = ["% asym positive\n", f"% {lines} 40 40\n"], {}
    for i in range(lines):
        u, v, w = rng.randrange(40), rng.randrange(40), rng.choice(["1", "2.5", "1e-3", "3E+2"])
        text.append(f"{u} {v} {w} {1_230_000_000 + i}\n")
        edges[(u, v)] = float(w)
        if i == lines // 2:
            text.append("% a comment half way\n")
    return "".join(text), edges


@pytest.mark.parametrize("where", ["driver", "workers"])
def test_konect_files_read_with_their_comment_prefix_and_timestamps_skipped(request, tmp_path, where):
    text, edges = konect_text(3)
    path = tmp_path / "out.konect"
    path.write_text(text)
    g = Graph.from_edge_file(context(request, where), str(path), comments="%", extra_columns=True,
                             num_partitions=2)
    G = nx.DiGraph()
    G.add_weighted_edges_from((u, v, w) for (u, v), w in edges.items())
    assert sorted(nx.read_edgelist(str(path), comments="%", nodetype=int, data=False,
                                   create_using=nx.DiGraph).edges) == sorted(G.edges)
    check_distances(as_dict(sssp(g, next(iter(edges))[0])), G, next(iter(edges))[0], weighted=True)


@pytest.mark.parametrize("where", ["driver", "workers"])
def test_extra_columns_mixed_with_lines_of_two_fields_and_a_hash_line_under_percent_comments(request, tmp_path, where):
    """Lines of 2, 3 and 4+ fields mixed (the fast reader refuses them: the exact one reads
    them, a 2-field line weighs 1); with comments="%" a `#` line is an edge, as networkx's
    read_edgelist(comments="%") reads it."""
    lines = ["% header"] + [f"w{i} w{i * 3 % 50}" + ["", f" {i % 4 + 0.5}", f" {i % 3 + 1} 1230000{i} x"][i % 3]
                            for i in range(60)] + ["# w7"]
    path = tmp_path / "out.mixed"
    path.write_text("\n".join(lines) + "\n")
    G = nx.DiGraph()
    for line in lines[1:]:
        fields = line.split()
        G.add_edge(fields[0], fields[1], weight=float(fields[2]) if len(fields) > 2 else 1.0)
    g = Graph.from_edge_file(context(request, where), str(path), comments="%", extra_columns=True, num_partitions=2)
    assert (g.num_vertices, g.num_edges) == (G.number_of_nodes(), G.number_of_edges())
    check_distances(as_dict(sssp(g, "w1")), G, "w1", weighted=True)
    check_components(as_dict(connected_components(g)), G)


@pytest.mark.parametrize("where", ["driver", "workers"])
def test_fields_after_the_weight_are_an_error_unless_asked_for(request, tmp_path, where):
    path = tmp_path / "out.konect"
    path.write_text("% sym\n1 2 1 99\n2 3 1 98\n")
    with pytest.raises(EdgeLineError, match=r"out.konect, line 2: expected 'src dst \[weight\]'"):
        Graph.from_edge_file(context(request, where), str(path), comments="%")
    path.write_text("% sym unweighted\n1 2\n")
    with pytest.raises(EdgeLineError, match="line 1: weight 'unweighted'"):   # '%' is no comment by default
        Graph.from_edge_file(context(request, where), str(path))


def test_a_comment_prefix_is_one_character():
    with pytest.raises(ValueError, match="one character"):
        EdgeFormat(comments="//")


@pytest.mark.parametrize("where", ["driver", "workers"])
@pytest.mark.parametrize("bad", ["nan", "-0.5", "NaN"])
def test_sssp_refuses_a_nan_or_negative_weight_naming_the_edge(request, tmp_path, where, bad):
    path = tmp_path / "w.txt"
    path.write_text(f"# weighted\n1 2 0.5\n\n2 3 {bad}\n3 4 1\n4 5 -2\n")
    g = Graph.from_edge_file(context(request, where), str(path))
    with pytest.raises(ValueError, match=r"non-negative edge weights: an edge from vertex [24] weighs (nan|-0.5|-2)") \
            as caught:
        as_dict(sssp(g, 1))
    assert f"{path}, line 4: weight {bad!r} (the file's first negative or NaN weight)" in caught.value.__notes__
    # unweighted, the weights do not matter
    assert as_dict(sssp(g, 1, weight=False)) == {1: 0.0, 2: 1.0, 3: 2.0, 4: 3.0, 5: 4.0}


def graphalytics_pagerank(G: nx.DiGraph, damping: float, iterations: int) -> dict:
    """LDBC Graphalytics' PageRank, written plainly: a fixed number of iterations from 1/N, the
    dangling vertices' rank spread over every vertex."""
    n = G.number_of_nodes()
    rank = {v: 1 / n for v in G}
    for _ in range(iterations):
        dangling = sum(rank[v] for v in G if G.out_degree(v) == 0)
        rank = {v: (1 - damping) / n + damping * (dangling / n + sum(rank[u] / G.out_degree(u)
                                                                      for u in G.predecessors(v)))
                for v in G}
    return rank


@pytest.mark.parametrize("where", ["driver", "workers"])
def test_tol_zero_runs_exactly_max_iter_iterations_as_graphalytics_pagerank_does(request, tmp_path, where):
    edges, vertices, G = isolated_graph(9, 50, 200, 5)
    (tmp_path / "g.e").write_text(edges)
    (tmp_path / "g.v").write_text(vertices)
    g = Graph.from_edge_file(context(request, where), str(tmp_path / "g.e"), vertices=str(tmp_path / "g.v"))
    for iterations in (2, 14):
        ranks = as_dict(pagerank(g, damping=0.85, max_iter=iterations, tol=0))
        expected = graphalytics_pagerank(G, 0.85, iterations)
        assert all(math.isclose(ranks[v], expected[v], rel_tol=1e-9) for v in G), iterations


MATRIX_MARKET = {
    "symmetric": "%%MatrixMarket matrix coordinate real symmetric\n% from a collection\n5 5 5\n1 1 2.0\n"
                 "2 1 0.5\n3 2 1.5e0\n4 3 2\n4 1 7.25\n",
    "pattern": "%%MatrixMarket matrix coordinate pattern general\n6 6 4\n1 2\n2 3\n3 1\n5 4\n",
    "integer": "%%MatrixMarket matrix coordinate integer general\n4 4 3\n1 2 3\n2 3 4\n1 3 9\n",
}


@pytest.mark.parametrize("where", ["driver", "workers"])
@pytest.mark.parametrize("kind", sorted(MATRIX_MARKET))
def test_matrix_market_files_are_the_graph_networkx_makes_of_their_matrix(request, tmp_path, where, kind):
    import scipy.io
    path = tmp_path / f"{kind}.mtx"
    path.write_text(MATRIX_MARKET[kind])
    G = nx.from_scipy_sparse_array(scipy.io.mmread(str(path)), create_using=nx.DiGraph)
    g = Graph.from_matrix_market(context(request, where), str(path), num_partitions=2)
    assert (g.num_vertices, g.num_edges, g.weighted) == (G.number_of_nodes(), G.number_of_edges(), kind != "pattern")
    check_distances(as_dict(sssp(g, 0)), G, 0, weighted=kind != "pattern")
    check_components(as_dict(connected_components(g)), G)


def test_a_matrix_that_is_not_square_is_no_graph(tmp_path):
    path = tmp_path / "m.mtx"
    path.write_text("%%MatrixMarket matrix coordinate real general\n2 3 1\n1 3 1.0\n")
    with pytest.raises(ValueError, match="square, not 2 x 3"):
        Graph.from_matrix_market(None, str(path))


@pytest.mark.parametrize("where", ["driver", "workers"])
def test_a_dense_matrix_market_file_is_the_graph_of_its_non_zero_entries(request, tmp_path, where):
    """An `array` file (column by column, zeros written out): an edge per non-zero entry, as
    networkx's from_numpy_array has them (it was an AttributeError: scipy reads it as an ndarray)."""
    import scipy.io
    path = tmp_path / "dense.mtx.gz"
    with gzip.open(path, "wt") as f:
        f.write("%%MatrixMarket matrix array real general\n3 3\n0\n1.5\n0\n2\n0\n0\n0\n4\n0\n")
    G = nx.from_numpy_array(scipy.io.mmread(str(path)), create_using=nx.DiGraph)
    g = Graph.from_matrix_market(context(request, where), str(path), num_partitions=2)
    assert (g.num_vertices, g.num_edges) == (3, 3) == (G.number_of_nodes(), G.number_of_edges())
    check_distances(as_dict(sssp(g, 0)), G, 0, weighted=True)
