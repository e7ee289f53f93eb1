"""The RDD example jobs give the right answers on the shipped data.

Each job module is loaded from jobs/ and pickled by value (as `minibig
submit` ships a job's own functions), then its functions run on the `sc`
cluster; the answers are checked against plain Python over the same files.
"""

import collections
import importlib.util
import io
import os
import re
import sys
from contextlib import redirect_stdout

import cloudpickle
import pytest

from support import lineage_shuffles

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_job(name):
    spec = importlib.util.spec_from_file_location(f"job_{name}", os.path.join(REPO, "jobs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)
    return module


def shuffles_added(rdd, before) -> int:
    """Shuffles in the lineage of `rdd` that are not in the lineage of `before`."""
    return len(lineage_shuffles(rdd) - lineage_shuffles(before))


def test_inverted_index_finds_the_book_of_each_name(sc):
    job = load_job("inverted_index")
    text = os.path.join(REPO, "datasets", "text")
    total, index, document_frequency = job.build_index(sc, text, 4)
    assert total == 6
    ranked = job.search(sc, index, document_frequency, total, "Darcy Pemberley")
    assert ranked[0][0] == "austen_pride_and_prejudice"
    assert job.search(sc, index, document_frequency, total, "Elinor")[0][0] == \
        "austen_sense_and_sensibility"
    # The index agrees with a plain count over the file.
    with open(os.path.join(text, "austen_persuasion.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    count = sum(job.WORD.findall(line.lower()).count("wentworth") for line in lines)
    first = next(i for i, line in enumerate(lines, 1) if "wentworth" in job.WORD.findall(line.lower()))
    assert index.lookup("wentworth") == [("austen_persuasion", count, first)]
    assert index.lookup("the") == [], "stop words are left out"
    # Document frequencies share the index's partitioner: joining them adds no shuffle.
    assert document_frequency.partitioner == index.partitioner
    assert shuffles_added(index.join(document_frequency), index) == 0
    distinctive = dict(job.distinctive_words(index, document_frequency))
    assert "darcy" in distinctive["austen_pride_and_prejudice"]
    index.unpersist()


def test_log_analytics_matches_a_plain_count_of_the_log(sc):
    job = load_job("log_analytics")
    path = os.path.join(REPO, "datasets", "logs", "dpkg.log")
    out = io.StringIO()
    with redirect_stdout(out):
        job.analyse(sc, path, top=3)
    report = out.getvalue()
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    actions = collections.Counter(line.split()[2] for line in lines)
    assert f"{len(lines)} lines, {len(lines)} events" in report
    for action, n in actions.items():
        assert re.search(rf"^  {action} +{n}$", report, re.M), action
    runs = sum(1 for line in lines if line.split()[2:4] == ["startup", "archives"])
    assert f"{runs} dpkg runs" in report
    packages = {line.split()[4] for line in lines if line.split()[2] == "status"}
    assert f"{len(packages)} packages seen" in report
    assert job.parse("2025-06-24 14:36:25 upgrade libudev1:amd64 1.0 2.0") == (
        "2025-06-24 14:36:25", "upgrade", "libudev1:amd64", "2.0")
    assert job.parse("garbage") is None


def _printed(fn, argv) -> list[str]:
    out = io.StringIO()
    with redirect_stdout(out):
        fn(argv)
    return out.getvalue().splitlines()


def test_pagerank_and_its_plain_python_baseline_agree(sc):
    """`minibig bench --compare` times the baseline against the job: they must compute the same."""
    job = load_job("pagerank")
    for graph, undirected in (("roget.txt", False), ("karate.txt", True)):
        path = os.path.join(REPO, "datasets", "graphs", graph)
        args = [path, "--iterations", "6", "--top", "8"] + (["--undirected"] if undirected else [])
        ranks = job.pagerank(sc, path, 6, undirected).takeOrdered(8, key=lambda pr: (-pr[1], pr[0]))
        expected = [f"{page}\t{rank:.6f}" for page, rank in ranks]
        assert _printed(job.baseline, args) == expected


def test_word_count_and_its_plain_python_baseline_agree(sc):
    job = load_job("wordcount")
    path = os.path.join(REPO, "datasets", "text", "austen_persuasion.txt")
    counts = job.word_counts(sc, path).takeOrdered(5, key=lambda wc: (-wc[1], wc[0]))
    assert _printed(job.baseline, [path, "--top", "5"]) == [f"{w}\t{c}" for w, c in counts]


def test_pagerank_refuses_a_malformed_edge_line_and_the_cluster_stays_up(sc, tmp_path):
    job = load_job("pagerank")
    graph = tmp_path / "graph.txt"
    graph.write_text("1 2\n2 3\n\n# a comment\n3\n3 1\n")
    with pytest.raises(ValueError, match=r"not an edge .*: '3'"):
        job.pagerank(sc, str(graph), 2).collect()
    graph.write_text("1 2\n2 3\n\n# a comment\n3 1\n")
    assert sorted(job.pagerank(sc, str(graph), 2).keys().collect()) == ["1", "2", "3"]
