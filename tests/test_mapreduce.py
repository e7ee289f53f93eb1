"""MapReduce jobs with mrjob's API, run on the real 2-worker cluster of the `sc` fixture.

Every job's output is compared with a plain-Python oracle. Jobs run through
`make_runner()` with `--master sc.master`, so no cluster starts per test; a
few use `-r inline`, and test_mapreduce_cli.py drives the command lines.
The fixture jobs live in tests/jobs/, the examples in jobs/.
"""

from __future__ import annotations

import collections
import io
import json
import os
import re
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(HERE, "jobs"), os.path.join(REPO, "jobs")]

from minibig.mapreduce import MRJob, MRStep  # noqa: E402
from minibig.mapreduce.internal import REPEATED_FROM  # noqa: E402
from mr_combiner_shape_job import MRCombinerShapeJob  # noqa: E402
from mr_counters_job import MRCountersJob  # noqa: E402
from mr_flaky_job import MRFlakyJob  # noqa: E402
from mr_growing_combiner_job import MRGrowingCombinerJob  # noqa: E402
from mr_growing_lists_job import MRGrowingListsJob  # noqa: E402
from mr_hooks_job import MRHooksJob  # noqa: E402
from mr_inverted_index import MRInvertedIndex  # noqa: E402
from mr_json_keys_job import MRJSONKeysJob  # noqa: E402
from mr_map_only_job import MRMapOnlyJob  # noqa: E402
from mr_most_used_word import MRMostUsedWord  # noqa: E402
from mr_pagerank import MRPageRank  # noqa: E402
from mr_passthru_job import MRPassthruJob  # noqa: E402
from mr_protocols_job import MRProtocolsJob  # noqa: E402
from mr_raising_job import MRRaisingJob  # noqa: E402
from mr_raw_job import MRRawJob  # noqa: E402
from mr_sort_values_job import MRSortValuesJob  # noqa: E402
from mr_split_words_job import MRSplitWordsJob  # noqa: E402
from mr_two_step_job import MRTwoStepJob  # noqa: E402
from mr_word_freq import MRWordFreqCount  # noqa: E402

TEXT = os.path.join(REPO, "datasets", "text")
PERSUASION = os.path.join(TEXT, "austen_persuasion.txt")
KARATE = os.path.join(REPO, "datasets", "graphs", "karate.txt")


def run(job_cls, *args, sc=None, stdin: bytes | None = None):
    """Run a job on the fixture's cluster (or as given by args); (output pairs, runner)."""
    args = list(args) + (["--master", sc.master] if sc is not None else [])
    job = job_cls(args=args)
    if stdin is not None:
        job.sandbox(stdin=io.BytesIO(stdin))
    with job.make_runner() as runner:
        runner.run()
        return list(job.parse_output(runner.cat_output())), runner


def words_of(*paths) -> collections.Counter:
    counts = collections.Counter()
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                counts.update(line.split())
    return counts


@pytest.fixture
def small_text(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("the cat sat\non the mat\n\nthe end boom\n", encoding="utf-8")
    return str(path)


# -- the examples --------------------------------------------------------------------
def test_word_freq_matches_counter(sc):
    pairs, runner = run(MRWordFreqCount, PERSUASION, sc=sc)
    assert dict(pairs) == dict(words_of(PERSUASION))
    assert len(pairs) == len(dict(pairs))                  # one line per word
    assert runner.counters() == [{}]


def test_word_freq_without_the_combiner_matches_counter(sc):
    # No combiner call: every counted word crosses the shuffle, the frequent ones as a Repeated.
    pairs, _ = run(MRWordFreqCount, PERSUASION, "-D", "minibig.combine.min.values=1000000000",
                   "--num-reducers", "1", sc=sc)
    counts = words_of(PERSUASION)
    assert max(counts.values()) >= REPEATED_FROM > min(counts.values())
    assert pairs == sorted(counts.items(), key=lambda pair: json.dumps(pair[0]))


def test_word_freq_each_reducer_sees_sorted_keys(sc, tmp_path):
    out = tmp_path / "out"
    run(MRWordFreqCount, PERSUASION, "-o", str(out), "--num-reducers", "3", sc=sc)
    parts = sorted(p for p in os.listdir(out) if p.startswith("part-"))
    assert parts == ["part-00000", "part-00001", "part-00002"]
    total = {}
    for part in parts:
        keys = [line.split(b"\t", 1)[0] for line in (out / part).read_bytes().splitlines()]
        assert keys == sorted(keys)                        # Hadoop: sorted by encoded key
        total.update((json.loads(k), None) for k in keys)
    assert total.keys() == words_of(PERSUASION).keys()


def test_most_used_word_two_steps(sc):
    counts = collections.Counter()
    with open(PERSUASION, encoding="utf-8") as f:
        for line in f:
            counts.update(w.lower() for w in re.findall(r"[\w']+", line))
    word, count = max((c, w) for w, c in counts.items())[::-1]
    assert run(MRMostUsedWord, PERSUASION, sc=sc)[0] == [(word, count)]


def test_inverted_index_with_mapper_raw(sc):
    files = ["austen_persuasion.txt", "austen_northanger_abbey.txt"]
    paths = [os.path.join(TEXT, f) for f in files]
    index = dict(run(MRInvertedIndex, *paths, sc=sc)[0])
    expected = collections.defaultdict(list)
    for name, path in sorted(zip(files, paths)):
        for word, count in words_of(path).items():
            expected[word].append([name, count])
    assert index == dict(expected)


def plain_pagerank(path: str, iterations: int, damping: float = 0.85) -> dict:
    out_links = collections.defaultdict(set)
    for line in open(path):
        fields = line.split("#")[0].split()
        if len(fields) >= 2:
            out_links[fields[0]].add(fields[1])
            out_links[fields[1]]
    n = len(out_links)
    rank = dict.fromkeys(out_links, 1.0 / n)
    for _ in range(iterations):
        dangling = sum(rank[v] for v, links in out_links.items() if not links)
        new = dict.fromkeys(out_links, (1 - damping) / n + damping * dangling / n)
        for v, links in out_links.items():
            for w in links:
                new[w] += damping * rank[v] / len(links)
        rank = new
    return rank


def test_pagerank_iterated_steps_match_power_iteration_and_networkx(sc):
    import networkx as nx
    ranks = dict(run(MRPageRank, KARATE, "--iterations", "12", "--buckets", "3", sc=sc)[0])
    oracle = plain_pagerank(KARATE, 12)
    assert ranks.keys() == oracle.keys()
    assert max(abs(ranks[v] - oracle[v]) for v in oracle) < 1e-12
    assert abs(sum(ranks.values()) - 1.0) < 1e-9
    graph = nx.read_edgelist(KARATE, create_using=nx.DiGraph, comments="#")
    reference = nx.pagerank(graph, tol=1e-10, max_iter=500)
    converged = dict(run(MRPageRank, KARATE, "--iterations", "60", "-r", "inline")[0])
    assert max(abs(converged[v] - reference[v]) for v in reference) < 1e-8


# -- data flow ---------------------------------------------------------------------------
def test_two_step_job(sc):
    pairs, _ = run(MRTwoStepJob, PERSUASION, "--num-reducers", "2", sc=sc)
    by_count = collections.defaultdict(list)
    for word, count in words_of(PERSUASION).items():
        by_count[count].append(word)
    assert dict(pairs) == {c: sorted(ws) for c, ws in by_count.items()}


def test_secondary_sort_values(sc):
    lines = [f"k{i % 3}\t{v}" for i, v in enumerate(["b", "a", "d", "c", "a", "B", "é", "1"])]
    pairs, _ = run(MRSortValuesJob, stdin="\n".join(lines).encode(), sc=sc)
    expected = collections.defaultdict(list)
    for line in lines:
        key, value = line.split("\t")
        expected[key].append(value)
    # Values sorted by their JSON text: "\u00e9" sorts after "B" and before "a".
    assert dict(pairs) == {k: sorted(v, key=json.dumps) for k, v in expected.items()}
    assert dict(pairs) == {"k0": ["é", "b", "c"], "k1": ["1", "a", "a"], "k2": ["B", "d"]}


def test_counters_are_exact(sc):
    pairs, runner = run(MRCountersJob, PERSUASION, "-D", "minibig.combine.min.values=1", sc=sc)
    words = words_of(PERSUASION)
    lines = open(PERSUASION, encoding="utf-8").read().split("\n")[:-1]
    lengths = collections.Counter()
    for word, n in words.items():
        lengths[len(word)] += n
    assert dict(pairs) == dict(lengths)
    counters = runner.counters()
    assert len(counters) == 1
    c = counters[0]
    assert c["lines"] == {"all": len(lines), "empty": sum(1 for l in lines if not l.strip())}
    assert c["words"] == {"long": sum(n for w, n in words.items() if len(w) > 5),
                          "short": sum(n for w, n in words.items() if len(w) <= 5)}
    map_tasks = c["tasks"]["mapper"]
    assert map_tasks == 2                                   # one per input split
    assert 1 <= c["tasks"]["combiner calls"] <= map_tasks * len(lengths)
    assert c["lengths"] == {"distinct": len(lengths)}
    assert c["group; with comma"] == {"name; with comma": 2 * len(lengths)}


def test_counters_count_once_when_a_task_is_retried(sc, small_text, tmp_path):
    marker = tmp_path / "failed-once"
    pairs, runner = run(MRFlakyJob, small_text, "--marker", str(marker), sc=sc)
    assert marker.exists()                                  # an attempt did fail
    assert dict(pairs) == {"the cat sat": 1, "on the mat": 1, "": 1, "the end boom": 1}
    assert runner.counters() == [{"lines": {"seen": 4}}]


def test_counters_one_dict_per_step(sc):
    class MRStepCounters(MRJob):
        def steps(self):
            return [MRStep(mapper=self.m1, reducer=self.r1), MRStep(reducer=self.r2)]

        def m1(self, _, line):
            self.increment_counter("s1", "lines")
            yield line[:1], 1

        def r1(self, key, ones):
            yield None, sum(ones)

        def r2(self, _, totals):
            self.increment_counter("s2", "reducer calls")
            yield "total", sum(totals)

    pairs, runner = run(MRStepCounters, stdin=b"ab\nac\nb\n", sc=sc)
    assert pairs == [("total", 3)]
    assert runner.counters() == [{"s1": {"lines": 3}}, {"s2": {"reducer calls": 1}}]


@pytest.mark.parametrize("min_values", [1, 16, 10 ** 9])
def test_combiner_that_changes_value_shape_is_right_whether_or_not_it_runs(sc, min_values):
    pairs, runner = run(MRCombinerShapeJob, PERSUASION,
                        "-D", f"minibig.combine.min.values={min_values}", sc=sc)
    expected = collections.defaultdict(lambda: [0, 0])
    for word, n in words_of(PERSUASION).items():
        expected[word[0].lower()][0] += len(word) * n
        expected[word[0].lower()][1] += n
    assert dict(pairs) == dict(expected)
    calls = runner.counters()[0].get("combiner", {}).get("calls", 0)
    if min_values == 1:
        assert calls >= len(expected)                       # every key of every map task
    elif min_values == 10 ** 9:
        assert calls == 0                                   # never ran
    else:
        assert 0 < calls                                    # the frequent letters only


def test_hooks_run_once_per_task_and_may_yield(sc, small_text):
    pairs, _ = run(MRHooksJob, small_text, "--num-reducers", "2", sc=sc)
    got = collections.defaultdict(list)
    for key, value in pairs:
        got[key].append(value)
    assert got["line"] == [4]
    assert got["init"] == [["mapper", "mapper"]]             # two map tasks
    assert got["lines seen by mapper tasks"] == [4]
    assert got["combiner tasks"] == [2]
    assert len(got["keys per reducer"]) == 2 and sum(got["keys per reducer"]) == 4


def test_map_only_steps_keep_input_order_and_json_semantics(sc, small_text):
    pairs, _ = run(MRMapOnlyJob, small_text, sc=sc)
    assert pairs == [(3, ["the", "cat", "sat"]), (3, ["on", "the", "mat"]), (0, []),
                     (3, ["the", "end", "boom"])]
    pairs, _ = run(MRMapOnlyJob, small_text, "--two-steps", sc=sc)
    assert [p[0] for p in pairs] == ["list"] * 4            # the tuple became a list


@pytest.mark.parametrize("internal", ["json", "pickle"])
def test_a_yielded_list_grown_afterwards_is_read_as_it_was_yielded(sc, internal):
    """mrjob encodes a pair at its yield: a mapper's or reducer's list changed after
    it was yielded must not change the pair (each is taken before the next is made)."""
    rng = __import__("random").Random(4)
    vocabulary = [f"w{i}" for i in range(30)]
    lines = [" ".join(rng.choice(vocabulary) for _ in range(rng.randrange(1, 12)))
             for _ in range(300)]
    lengths = collections.defaultdict(list)
    for line in lines:
        for position, word in enumerate(line.split()):
            lengths[word].append(position + 1)
    expected = sorted((word, sorted(ns)[:k]) for word, ns in lengths.items()
                      for k in range(1, len(ns) + 1))
    job_cls = MRGrowingListsJob
    if internal == "pickle":                     # lines between the phases (`LinePath`)
        from minibig.mapreduce import PickleProtocol

        class job_cls(MRGrowingListsJob):
            INTERNAL_PROTOCOL = PickleProtocol
    pairs, _ = run(job_cls, "--num-reducers", "2", sc=sc, stdin="\n".join(lines).encode())
    assert sorted(pairs) == expected


def test_a_combiner_list_grown_afterwards_is_read_as_it_was_yielded(sc, tmp_path):
    text = tmp_path / "words.txt"
    text.write_text("b a b c b a\n" * 40 + "d\n")
    pairs, _ = run(MRGrowingCombinerJob, str(text), "-D", "mapreduce.job.maps=1",
                   "-D", "minibig.combine.min.values=1", sc=sc)
    counts = collections.Counter(text.read_text().split())    # one map task: one combine
    assert sorted(pairs) == sorted((word, list(range(1, n + 1))) for word, n in counts.items())


def test_mixed_key_types_group_and_sort_by_json_text(sc):
    rows = [["b", 1], [2, 2], ["b", 3], [[1, "x"], 4], [["tuple", 1, "x"], 5], [1.0, 6],
            [1, 7], [True, 8], [None, 9], [{"k": 1}, 10], [10, 11], ["é", 12]]
    stdin = "\n".join(json.dumps(r) for r in rows).encode()
    pairs, _ = run(MRJSONKeysJob, "--num-reducers", "1", sc=sc, stdin=stdin)
    keys = [json.dumps(k[0]) for k, _ in pairs]
    assert keys == sorted(keys)                             # one reducer: one sorted run
    got = {json.dumps(k[0]): (k[1], v) for k, v in pairs}
    assert got['[1, "x"]'] == ("list", [4, 5])              # tuple key == list key
    assert got["1"] == ("int", [7]) and got["1.0"] == ("float", [6])
    assert got["true"] == ("bool", [8]) and got["null"] == ("NoneType", [9])
    assert got['{"k": 1}'] == ("dict", [10]) and got['"b"'] == ("str", [1, 3])
    assert got['"\\u00e9"'] == ("str", [12])


def test_generic_protocol_path_gives_the_same_answer(sc):
    from minibig.mapreduce import JSONProtocol

    class SlowJSON(JSONProtocol):
        """A subclass: the runner treats it as an unknown protocol (lines all the way)."""

    class MRTwoStepSlow(MRTwoStepJob):
        INTERNAL_PROTOCOL = SlowJSON

    slow, _ = run(MRTwoStepSlow, PERSUASION, sc=sc)      # its base class travels by value too
    fast, _ = run(MRTwoStepJob, PERSUASION, sc=sc)
    assert sorted(fast) == sorted(slow)


def _protocol_cases():
    from minibig.mapreduce import protocols as P
    nested = {"b": [2.5, None, True, "é\t\n"]}
    return [
        (P.JSONProtocol, ["a", 1], nested, (["a", 1], nested)),
        (P.JSONProtocol, (1, "x"), (2, 3), ([1, "x"], [2, 3])),     # JSON has no tuples
        (P.JSONProtocol, 7, {1: "int key"}, (7, {"1": "int key"})),  # nor int object keys
        (P.JSONValueProtocol, "dropped", nested, (None, nested)),
        (P.PickleProtocol, (1, "a\tb"), {frozenset({1}): b"\n"}, ((1, "a\tb"), {frozenset({1}): b"\n"})),
        (P.PickleValueProtocol, "dropped", {2, 3}, (None, {2, 3})),
        (P.ReprProtocol, (1, "a"), {1: {2}, "r": range(3), "s": set()},
         ((1, "a"), {1: {2}, "r": range(3), "s": set()})),
        (P.ReprValueProtocol, "dropped", [1.5, None, frozenset({"x"})],
         (None, [1.5, None, frozenset({"x"})])),
        (P.RawProtocol, "key", "value\twith tab", ("key", "value\twith tab")),
        (P.RawProtocol, "key only", None, ("key only", None)),
        (P.RawValueProtocol, "dropped", "a line", (None, "a line")),
        (P.TextProtocol, "é", "ü", ("é", "ü")),
        (P.BytesProtocol, b"k", b"\xff", (b"k", b"\xff")),
        (P.BytesValueProtocol, None, b"raw \xff", (None, b"raw \xff")),
    ]


@pytest.mark.parametrize("protocol, key, value, expected", _protocol_cases(),
                         ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_each_protocol_round_trips(protocol, key, value, expected):
    line = protocol().write(key, value)
    assert isinstance(line, bytes) and b"\n" not in line
    assert protocol().read(line) == expected


def test_protocol_line_formats():
    from minibig.mapreduce import JSONProtocol, RawValueProtocol, ReprProtocol
    assert JSONProtocol().write("word", [1, "é"]) == b'"word"\t[1, "\\u00e9"]'
    assert ReprProtocol().write("k", (1,)) == b"'k'\t(1,)"
    assert RawValueProtocol().read(b"caf\xe9") == (None, "café")    # latin-1 fallback
    with pytest.raises(ValueError):
        ReprProtocol().read(b"'k'\t__import__('os')")               # not a literal


@pytest.mark.parametrize("internal, output, expected", [
    ("json", "json", "list/str/5"),
    ("pickle", "json", "tuple/frozenset/5"),
    ("repr", "repr", "tuple/frozenset/5"),
    ("pickle", "pickle", "tuple/frozenset/5"),
    ("json", "raw", "list/str/5\n"),      # as mrjob's parse_output: RawProtocol keeps the newline
])
def test_protocols_between_phases_and_for_output(sc, internal, output, expected):
    pairs, _ = run(MRProtocolsJob, "--internal", internal, "--output", output, sc=sc,
                   stdin=b"hello\nworld\n")
    assert sorted(pairs) == [("hello", expected), ("world", expected)]


def test_input_protocol_json_value(sc):
    from minibig.mapreduce import JSONValueProtocol

    class MRSumJSON(MRJob):
        INPUT_PROTOCOL = JSONValueProtocol

        def mapper(self, key, record):
            assert key is None
            yield record["user"], record["n"]

        def reducer(self, user, ns):
            yield user, sum(ns)

    stdin = b'{"user": "a", "n": 1}\n{"user": "b", "n": 2}\n{"user": "a", "n": 3}\n'
    assert sorted(run(MRSumJSON, sc=sc, stdin=stdin)[0]) == [("a", 4), ("b", 2)]


# -- running ---------------------------------------------------------------------------------
def test_output_dir_part_files_and_success(sc, tmp_path):
    out = tmp_path / "counts"
    job = MRWordFreqCount(args=[PERSUASION, "-o", str(out), "--master", sc.master,
                                "-D", "mapreduce.job.reduces=4"])
    with job.make_runner() as runner:
        runner.run()
        assert runner.get_output_dir() == str(out)
        from_runner = dict(job.parse_output(runner.cat_output()))
    names = sorted(os.listdir(out))
    assert names == ["_SUCCESS", "part-00000", "part-00001", "part-00002", "part-00003"]
    from_files = {}
    for name in names[1:]:
        from_files.update(job.parse_output([(out / name).read_bytes()]))
    assert from_files == from_runner == dict(words_of(PERSUASION))


def test_stdin_input_and_dash(sc, small_text):
    pairs, _ = run(MRWordFreqCount, sc=sc, stdin=b"a b\r\nb c\n")
    assert dict(pairs) == {"a": 1, "b": 2, "c": 1}
    pairs, _ = run(MRWordFreqCount, small_text, "-", sc=sc, stdin=b"cat cat\n")
    assert dict(pairs)["cat"] == 3


def test_passthrough_and_file_args(sc, small_text, tmp_path):
    stop = tmp_path / "stop.txt"
    stop.write_text("the\non\n")
    job = MRPassthruJob(args=[small_text, "--min-length", "3", "--stop-words", str(stop)])
    assert job.options.min_length == 3 and job.prefix == "DRIVER:"
    pairs, _ = run(MRPassthruJob, small_text, "--min-length=3", "--upper",
                   "--stop-words", os.path.relpath(stop), sc=sc)
    assert dict(pairs) == {"TASK:CAT": 1, "TASK:SAT": 1, "TASK:MAT": 1, "TASK:END": 1,
                           "TASK:BOOM": 1}


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError):
        MRPassthruJob(args=["--min-length", "three"])
    with pytest.raises(ValueError):
        MRWordFreqCount(args=["-r", "hadoop"])


def test_mapper_raw_gets_each_file(sc, tmp_path):
    for name, lines in (("a.txt", 3), ("b.txt", 5)):
        (tmp_path / name).write_text("x\n" * lines)
    assert sorted(run(MRRawJob, str(tmp_path), sc=sc)[0]) == [("a.txt", 3), ("b.txt", 5)]


def test_inline_runner(small_text):
    pairs, runner = run(MRWordFreqCount, small_text, "-r", "inline")
    assert dict(pairs) == dict(words_of(small_text))


def test_plain_functions_and_identity_steps(sc):
    class MRPlain(MRJob):
        def steps(self):
            return [MRStep(mapper=self.words, reducer=self.count), MRStep(reducer=self.ident)]

        def words(self, _, line):
            return [(w, 1) for w in line.split()]            # a list, not a generator

        def count(self, word, ones):
            return None if word == "skip" else [(word, sum(ones))]

        def ident(self, word, counts):
            for c in counts:
                yield word, c

    pairs, _ = run(MRPlain, sc=sc, stdin=b"a skip b a\n")
    assert pairs == [("a", 2), ("b", 1)]


# -- word count's split-and-emit mapper, with hooks around it ----------------------------------
def test_split_words_mapper_job_with_hooks_matches_plain_python(sc):
    pairs, _ = run(MRSplitWordsJob, PERSUASION, "--num-reducers", "3",
                   "-D", "mapreduce.job.maps=3", sc=sc)
    expected = {word: [count, []] for word, count in words_of(PERSUASION).items()}
    expected["the"][1] = ["from mapper_final"] * 3 + ["from mapper_init"] * 3   # 3 map tasks
    assert dict(pairs) == expected
    assert len(pairs) == len(expected)


# -- errors ----------------------------------------------------------------------------------
def notes(exc) -> str:
    return "\n".join(getattr(exc, "__notes__", []))


def test_mapper_error_names_step_phase_file_and_line(sc, small_text):
    with pytest.raises(ValueError, match="mapper met 'boom'") as info:
        run(MRRaisingJob, small_text, sc=sc)
    text = notes(info.value)
    assert "step 1 of 1, mapper MRRaisingJob.mapper" in text
    assert f"input {small_text} line 4" in text
    assert "remote traceback" in text and "mr_raising_job.py" in text
    assert info.value.mapreduce_context["line"] == 4


def test_mapper_error_line_number_in_a_later_split(sc, tmp_path):
    path = tmp_path / "big.txt"
    lines = [f"w{i}" for i in range(20000)]
    lines[15000] = "boom"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as info:
        run(MRRaisingJob, str(path), sc=sc)
    assert f"input {path} line 15001" in notes(info.value)


def test_reducer_and_combiner_errors_name_the_key(sc, small_text):
    with pytest.raises(ZeroDivisionError) as info:
        run(MRRaisingJob, small_text, "--fail-in", "reducer", "--fail-on", "the", sc=sc)
    assert "step 1 of 1, reducer MRRaisingJob.reducer, key 'the'" in notes(info.value)
    with pytest.raises(KeyError) as info:
        run(MRRaisingJob, small_text, "--fail-in", "combiner", "--fail-on", "cat",
            "-D", "minibig.combine.min.values=1", sc=sc)
    assert "combiner MRRaisingJob.combiner, key 'cat'" in notes(info.value)


def test_error_inline_keeps_type_and_context(small_text):
    with pytest.raises(ValueError) as info:
        run(MRRaisingJob, small_text, "-r", "inline")
    assert f"input {small_text} line 4" in notes(info.value)


@pytest.mark.parametrize("first", ["x", "a list first"])
def test_unencodable_output_is_named(sc, first):
    class MRSet(MRJob):
        def mapper(self, _, line):
            yield line, ({1, 2} if line == "x" else [line])

    # "a list first": the set comes once the output is written pair by pair
    stdin = b"x\n" if first == "x" else b"a\nx\nb\nc\n"   # two partitions: a, x and b, c
    with pytest.raises(TypeError, match="not JSON serializable") as info:
        run(MRSet, sc=sc, stdin=stdin)
    assert "JSONProtocol cannot write the output pair ('x', {1, 2})" in notes(info.value)
    assert info.value.mapreduce_context["phase"] == "output"


def test_jobconf_maps_and_a_step_own_reducers(sc, tmp_path):
    pairs, runner = run(MRCountersJob, PERSUASION, "-D", "mapreduce.job.maps=5", sc=sc)
    assert runner.counters()[0]["tasks"]["mapper"] == 5          # at least 5 map tasks: 5 splits

    class MROneReducer(MRWordFreqCount):
        def steps(self):
            return [MRStep(mapper=self.mapper, reducer=self.reducer,
                           jobconf={"mapreduce.job.reduces": "1"})]

    out = tmp_path / "out"
    run(MROneReducer, PERSUASION, "-o", str(out), "--num-reducers", "3", sc=sc)
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000"]   # the step's jobconf wins


def test_pagerank_names_a_malformed_edge_line(sc, tmp_path):
    graph = tmp_path / "graph.txt"
    graph.write_text("1 2\n2 3\n\n# a comment\n3\n3 1\n")
    with pytest.raises(ValueError, match=r"not an edge \(expected 'src dst \[weight\]'\): '3'") as info:
        run(MRPageRank, str(graph), "--iterations", "1", sc=sc)
    assert f"input {graph} line 5" in notes(info.value)
    graph.write_text("1 2\n2 3\n\n# a comment\n3 1\n")
    pairs, _ = run(MRPageRank, str(graph), "--iterations", "1", sc=sc)
    assert sorted(k for k, _ in pairs) == ["1", "2", "3"]


# -- what a task sees of its jobconf (Hadoop Streaming's environment) ----------------------
class MRWhereAmI(MRJob):
    """Yields what jobconf_from_env tells each phase: input file, jobconf, task kind."""

    def mapper_init(self):
        from minibig.mapreduce import jobconf_from_env
        self.first_seen = jobconf_from_env("mapreduce.map.input.file")

    def mapper(self, _, line):
        from minibig.mapreduce import jobconf_from_env
        # the Hadoop 1 name of the same setting, and what mapper_init saw
        yield jobconf_from_env("map.input.file"), [self.first_seen, jobconf_from_env("my.label")]

    def combiner(self, path, seen):
        from minibig.mapreduce import jobconf_from_env
        for first_seen, label in seen:
            yield path, [first_seen, label, jobconf_from_env("mapreduce.map.input.file")]

    def reducer(self, path, seen):
        from minibig.mapreduce import jobconf_from_env
        yield path, [sorted(set(map(tuple, seen))), jobconf_from_env("mapreduce.task.ismap"),
                     jobconf_from_env("map.input.file", "none")]


@pytest.mark.parametrize("where", ["cluster", "inline"])
def test_jobconf_from_env_names_each_map_tasks_file_and_the_jobconf(sc, tmp_path, where):
    from minibig.mapreduce import jobconf_from_env
    files = []
    for name, lines in (("a.txt", 40), ("b.txt", 7)):
        files.append(str(tmp_path / name))
        (tmp_path / name).write_text("x y\n" * lines)
    # several map tasks per file, so splits past the first name their file too; the
    # combiner on every key, so it runs in each map task
    args = [*files, "-D", "mapreduce.job.maps=5", "-D", "my.label=L",
            "-D", "minibig.combine.min.values=1"]
    pairs, _ = run(MRWhereAmI, *args, sc=sc) if where == "cluster" else \
        run(MRWhereAmI, *args, "-r", "inline")
    assert sorted(pairs) == [(f"file://{f}", [[[f"file://{f}", "L", f"file://{f}"]], "false",
                                              "none"]) for f in files]
    assert jobconf_from_env("map.input.file") is None    # the inline driver's thread as it was


def test_a_failed_inline_job_leaves_the_drivers_jobconf_as_it_was(small_text):
    from minibig.mapreduce import jobconf_from_env
    with pytest.raises(ValueError):
        run(MRRaisingJob, small_text, "-r", "inline")
    assert jobconf_from_env("mapreduce.map.input.file") is None


def test_jobconf_from_env_is_each_tasks_own_in_threads_of_one_process(tmp_path):
    # A worker runs its tasks in threads: each must see its own input file while the other
    # runs. Each mapper waits until the other task's stream has started (and set its own).
    from minibig.mapreduce import jobconf_from_env
    from minibig.mapreduce.tasks import JobSpec, MapTask
    started = {"a": threading.Event(), "b": threading.Event()}

    class MRFileOfLine(MRJob):
        def mapper(self, _, line):
            started[line].set()
            assert started["b" if line == "a" else "a"].wait(30)
            yield line, jobconf_from_env("mapreduce.map.input.file")
    sources = [("file", str(tmp_path / "a.txt"), 0, 2), ("file", str(tmp_path / "b.txt"), 0, 2)]
    task = MapTask(JobSpec(MRFileOfLine, []), 0, 1, None, final=True, shuffle=False,
                   sources=sources)
    out = {}

    def run_task(split, line):
        out[line] = b"".join(task(split, iter([line])))
    threads = [threading.Thread(target=run_task, args=(n, line)) for n, line in enumerate("ab")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert out == {line: b'"%s"\t"file://%s"\n' % (line.encode(), str(tmp_path / f"{line}.txt")
                                                   .encode()) for line in "ab"}


class MRWordsOfLines(MRJob):
    """Each word of each line, with 1 (defined here: pickled by value to the workers)."""

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1


@pytest.mark.parametrize("partitions", [1, 2])
def test_a_task_stream_abandoned_half_way_leaves_no_jobconf_on_its_pool_thread(sc, partitions):
    # take() stops reading a map task's output blocks after the first: the job's generator
    # is left suspended with the task's settings set for its thread (as when a result is
    # too large for max_result_size, or a kill lands between two blocks). A later task on
    # the same pool thread (each worker has one) is not a MapReduce task: it must see none.
    from minibig.mapreduce import jobconf_from_env
    from minibig.mapreduce.tasks import JobSpec, MapTask
    task = MapTask(JobSpec(MRWordsOfLines, []), 0, 1, None, final=True, shuffle=False,
                   jobconf={"my.label": "L"})
    lines = sc.parallelize([f"w{n} x" for n in range(20_000)], partitions)
    assert len(lines.mapPartitionsWithIndex(task).take(1)) == 1
    seen = sc.parallelize(range(8), 8).map(
        lambda _: (jobconf_from_env("my.label"), jobconf_from_env("mapreduce.task.ismap"))).collect()
    assert seen == [(None, None)] * 8


def test_a_job_defining_spark_is_refused_by_name():
    class MRSparkOnly(MRJob):
        def spark(self, input_path, output_path):
            raise AssertionError("never run")

    with pytest.raises(NotImplementedError, match=r"MRSparkOnly defines spark\(\)"):
        with MRSparkOnly(args=["-r", "inline"]).make_runner() as runner:
            runner.run()


class MRStepSettings(MRJob):
    """Two steps with their own jobconf: what each phase (and each task's job, as it is
    built) finds with jobconf_from_env."""

    def __init__(self, *args, **kwargs):
        from minibig.mapreduce import jobconf_from_env
        super().__init__(*args, **kwargs)
        self.built_with = jobconf_from_env("step.label")      # in a task: its step's

    def steps(self):
        return [MRStep(mapper=self.first_mapper, reducer=self.first_reducer,
                       jobconf={"step.label": "one"}),
                MRStep(mapper=self.second_mapper, mapper_final=self.second_mapper_final,
                       reducer=self.second_reducer, jobconf={"step.label": "two"})]

    def seen(self, phase):
        from minibig.mapreduce import jobconf_from_env
        return [phase, jobconf_from_env("step.label"), jobconf_from_env("mapreduce.task.ismap"),
                self.built_with]

    def first_mapper(self, _, line):
        yield line, self.seen("m1")

    def first_reducer(self, key, seen):
        yield key, [*seen, self.seen("r1")]

    def second_mapper(self, key, seen):
        # pipelined in the task of the first step's reducer
        yield key, [*seen, self.seen("m2")]

    def second_mapper_final(self):
        yield "final", [self.seen("m2 final")]

    def second_reducer(self, key, seen):
        for value in seen:
            yield key, [*value, self.seen("r2")]


def test_a_pipelined_steps_mapper_and_each_tasks_job_see_their_own_steps_settings(sc, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("a\nb\nc\n")
    pairs, _ = run(MRStepSettings, str(data), "--num-reducers", "2", sc=sc)
    expected = [["m1", "one", "true", "one"], ["r1", "one", "false", "one"],
                ["m2", "two", "true", "two"], ["r2", "two", "false", "two"]]
    finals = [("final", [["m2 final", "two", "true", "two"], ["r2", "two", "false", "two"]])] * 2
    assert sorted(pairs) == [(key, expected) for key in "abc"] + finals   # 2 second-step mappers


@pytest.mark.parametrize("final", [True, False])
def test_a_failed_task_puts_its_threads_settings_back(tmp_path, final):
    # A worker's pool thread runs task after task: a task whose job fails must not leave
    # its settings behind for what the thread runs next (a last step, or one feeding the next).
    from minibig.mapreduce import jobconf_from_env
    from minibig.mapreduce.tasks import JobSpec, MapTask

    class MRFailsOnB(MRJob):
        def mapper(self, _, line):
            if line == "b":
                raise ValueError("b")
            yield line, 1
    sources = [("file", str(tmp_path / "a.txt"), 0, 4)]
    task = MapTask(JobSpec(MRFailsOnB, []), 0, 2 - final, None, final=final, shuffle=False,
                   sources=sources)
    seen = {}

    def run_task():
        with pytest.raises(ValueError):
            list(task(0, iter(["a", "b"])))
        seen["after"] = jobconf_from_env("mapreduce.map.input.file")
    thread = threading.Thread(target=run_task)
    thread.start()
    thread.join(60)
    assert seen == {"after": None}


class MRClearedSettings(MRJob):
    """A None jobconf value unsets the setting (mrjob's combine_jobconfs), a step's None the
    job's value too."""
    JOBCONF = {"my.kept": True, "my.cleared": "job's", "my.none": None}

    def steps(self):
        return [MRStep(mapper=self.mapper, jobconf={"my.cleared": None})]

    def mapper(self, _, line):
        from minibig.mapreduce import jobconf_from_env
        yield line, [jobconf_from_env(name, "unset") for name in ("my.kept", "my.cleared",
                                                                     "my.none")]


def test_a_none_jobconf_value_unsets_the_setting_as_in_mrjob(sc, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("a\n")
    pairs, _ = run(MRClearedSettings, str(data), sc=sc)
    assert pairs == [("a", ["true", "unset", "unset"])]       # mrjob's inline runner's answer


class MRInputRange(MRJob):
    def mapper(self, _, line):
        from minibig.mapreduce import jobconf_from_env
        yield line, [jobconf_from_env(f"mapreduce.map.input.{name}")
                     for name in ("file", "start", "length")]


def test_a_compressed_inputs_length_is_the_files_as_in_mrjob(sc, tmp_path):
    import gzip
    data = tmp_path / "in.txt.gz"
    data.write_bytes(gzip.compress(b"g1\ng2\n"))
    pairs, _ = run(MRInputRange, str(data), sc=sc)
    seen = [f"file://{data}", "0", str(data.stat().st_size)]   # one split, read whole
    assert sorted(pairs) == [("g1", seen), ("g2", seen)]
