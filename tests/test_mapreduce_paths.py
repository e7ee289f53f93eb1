"""The MRJob record path's fast parts against plain Python and mrjob's semantics.

Counted groups (a map task counts pairs whose value is one constant object
instead of listing the values) must hold exactly the groups the general
path would, switch to lists at the first chunk that does not qualify, and
keep what the reducer sees: JSON's types (True stays true, 1.0 stays a
float), each key's values in the mapper's order, and a malformed pair
still failing. The reduce side's decorated sort must order keys by their
JSON text, as Hadoop orders serialized keys. Jobs run in this process
(`-r inline`): seconds, no cluster.
"""

from __future__ import annotations

import io
import json
import pickle
import random

import pytest

from minibig.mapreduce import MRJob
from minibig.mapreduce.internal import (COUNTS, LISTS, REPEATED_FROM, SINGLES, CountedGroups,
                                        GroupColumns, JSONPath, LinePath, Repeated, column_records,
                                        columns_of, split_groups, unpacked)
from minibig.mapreduce.protocols import PickleProtocol
from minibig.mapreduce.protocols import json_text
from minibig.mapreduce.tasks import Position


class Odd(str):
    """A str subclass: it encodes as its str; marshal refuses it (a record holding one
    is pickled)."""


def _general(chunks) -> dict:
    groups: dict = {}
    for chunk in chunks:
        JSONPath().group(chunk, groups)
    return groups


def _counted_then_general(chunks) -> dict:
    """What a map task does: count while chunks qualify, then lists."""
    groups = CountedGroups()
    for chunk in chunks:
        if type(groups) is CountedGroups and groups.add(chunk):
            continue
        if type(groups) is CountedGroups:
            groups = groups.as_lists()
        JSONPath().group(chunk, groups)
    return groups.as_lists() if type(groups) is CountedGroups else groups


def _typed(groups: dict) -> dict:
    """Groups with each value's type, so 1, 1.0 and True differ."""
    return {key: [(type(v).__name__, v) for v in values] for key, values in groups.items()}


@pytest.mark.parametrize("seed", range(6))
def test_counted_groups_hold_what_the_general_path_holds(seed):
    rng = random.Random(seed)
    one = 1
    odd = [True, 1.0, 2, "1", None, [1], (1,)]
    keys = ["a", "b", "é", 'q"', "wow!", "wow", 7, (1, "x"), ["l"], Odd("a"), Odd("new"), True]
    chunks = []
    for _ in range(rng.randrange(1, 12)):
        chunk = [(rng.choice(keys[:6]), one) for _ in range(rng.randrange(1, 40))]
        if rng.random() < 0.3:                    # one pair that does not qualify
            chunk[rng.randrange(len(chunk))] = (rng.choice(keys), rng.choice(odd + [one]))
        chunks.append(chunk)
    assert _typed(_counted_then_general(chunks)) == _typed(_general(chunks))


def test_counted_groups_refuse_what_they_cannot_count():
    assert not CountedGroups().add([("a", 1), ("b", True)])      # True is not the object 1
    assert not CountedGroups().add([("a", 1.0), ("b", 1)])
    assert not CountedGroups().add([("a", 1), (2, 1)])           # a non-str key
    assert not CountedGroups().add([("a", 1), ["b", 1]])         # a list, not a tuple
    assert not CountedGroups().add([("a", 1, "x")])              # not a pair
    assert not CountedGroups().add([("a",), ("b", 1)])
    assert not CountedGroups().add([()])
    for odd_pair in [("b", 1, "x"), ("b",), ()]:                 # not a pair, after pairs
        groups = CountedGroups()
        assert groups.add([("a", 1)]) and not groups.add([("c", 1), ("a", 1), odd_pair])
        assert groups.counts == {"a": 1}
    assert not CountedGroups().add([("a", [1])])                 # a value JSON changes
    groups = CountedGroups()
    assert groups.add([("a", "v"), ("b", "v")]) and not groups.add([("a", "w")])
    assert groups.as_lists() == {"a": ["v"], "b": ["v"]}


@pytest.mark.parametrize("odd", [7, True, 1.0, ["l"], {"d": 1}, (1, "x"), Odd("new"), None])
def test_a_refused_chunk_leaves_the_counts_as_they_were(odd):
    """A chunk with a key that is not a str is not counted at all, not even in part."""
    groups = CountedGroups()
    assert groups.add([("a", 1), ("b", 1), ("a", 1)])
    before = dict(groups.counts)
    assert not groups.add([("a", 1), ("c", 1), (odd, 1), ("b", 1), ("d", 1), (odd, 1)])
    assert groups.counts == before and list(groups.counts) == list(before)


def _sent(columns, reducers: int = 1, limit: int = 1 << 20) -> list:
    """What a reducer's task reads of `columns`: the map side's records, unpacked."""
    return list(unpacked(column_records(columns, reducers, limit)))


@pytest.mark.parametrize("threshold", [1, 2, 3, 1 << 62])
def test_split_of_counted_groups_matches_split_of_lists(threshold):
    def counted_groups():
        counted = CountedGroups()
        assert counted.add([("a", 1)] * 5 + [("b", 1)] * 2 + [("c", 1)] + [("e", 1)] * 3
                           + [("d", 1)] * REPEATED_FROM)
        return counted
    lists = counted_groups().as_lists()

    def plain(split):
        identities, stored, rest = split
        return ([(i, list(v)) for i, v in zip(identities, stored)],
                [(i, list(v)) for i, v in _sent(rest)])      # both in the groups' order
    assert plain(split_groups(counted_groups(), threshold)) == plain(split_groups(lists, threshold))
    records = _sent(split_groups(counted_groups(), threshold)[2])
    # The values a reducer rebuilds (shared tuples, Repeated) come back equal from a
    # pickle, as from a reduce side's spilled run.
    assert pickle.loads(pickle.dumps(records)) == records
    assert {type(values) for _, values in records} <= {tuple, Repeated}
    assert [type(values) for key, values in records if key == "d"] in ([], [Repeated])
    assert plain(split_groups(CountedGroups(), threshold)) == ([], [])


@pytest.mark.parametrize("threshold", [0, 1, 2, 1 << 62])
def test_a_split_empties_its_groups(threshold):
    counted, lists = CountedGroups(), {"a": [1, 1], "b": [1]}
    assert counted.add([("a", 1), ("a", 1), ("b", 1)])
    for groups in (counted, lists):
        identities, stored, _ = split_groups(groups, threshold)
        assert len(groups) == 0
        assert {i: list(v) for i, v in zip(identities, stored)} == \
            {i: v for i, v in {"a": [1, 1], "b": [1]}.items() if len(v) >= threshold}


def test_records_are_identity_and_values():
    assert _sent(JSONPath().flat([("a", 1), (7, (2, 3))])) == [("a", (1,)), (b"7", ([2, 3],))]


@pytest.mark.parametrize("reducers", [1, 2, 3, 13])
def test_columns_reach_the_reducer_of_their_keys_whole_and_in_order(reducers):
    """Each identity reaches the reducer `portable_hash` gives it, with its values as
    they were (types, order, what marshal cannot write), a record
    per block of keys, and the identities of one reducer in their map-side order."""
    from minibig.shuffle.hashing import portable_hash
    rng = random.Random(reducers)
    pairs = [(rng.choice(["a", "é", 'q"', 7, None, (1, "x")] + [f"k{i}" for i in range(300)]),
              rng.choice([1, True, 1.0, -0.0, "v", None, [2, {"k": 1}]])) for _ in range(3000)]

    def json_groups():
        groups: dict = {}
        JSONPath().group(pairs, groups)
        return columns_of(groups)

    def line_groups():
        lines: dict = {}
        LinePath(PickleProtocol()).group([(f"k{i % 40}", [i]) for i in range(500)], lines)
        return columns_of(lines)

    def counted_groups():
        counted = CountedGroups()
        assert counted.add([(f"w{i % 90}", 1) for i in range(2000)])
        return columns_of(counted)
    for make in (json_groups, line_groups, counted_groups,
                 lambda: JSONPath().flat([("a", 1), ("a", 2), (7, [3])]),
                 lambda: GroupColumns(LISTS, None, ["a", "b"], [[Odd("x")], [1, Odd("y")]])):
        columns = make()
        expected = list(zip(columns[2], columns[3]))
        for limit in (1 << 20, 64):             # 64 bytes: a record per key
            records = list(column_records(make(), reducers, limit))
            assert all(p == portable_hash(p) % reducers for p, _ in records)
            assert len(records) >= (len(expected) if limit == 64 else 1)
            assert sum(len(list(unpacked([record]))) for record in records) == len(expected)
            got: dict = {}
            for record in records:
                for identity, values in unpacked([record]):
                    assert portable_hash(identity) % reducers == record[0]
                    got.setdefault(record[0], []).append((identity, list(values)))
            for p, received in got.items():
                mine = [(i, list(v) if type(v) is list else v) for i, v in expected
                        if portable_hash(i) % reducers == p]
                if columns[0] == COUNTS:         # counted: n times the value
                    mine = [(i, [1] * n) for i, n in mine]
                elif columns[0] == SINGLES:      # one value each
                    mine = [(i, [v]) for i, v in mine]
                typed = [(i, [(type(v), repr(v)) for v in vs]) for i, vs in received]
                assert typed == [(i, [(type(v), repr(v)) for v in vs]) for i, vs in mine]


@pytest.mark.parametrize("reducers", [1, 3])
@pytest.mark.parametrize("layout", ["small first", "big where not sampled"])
def test_a_record_stays_within_its_limit_whatever_keys_come_first(reducers, layout):
    """The keys per record came from the first 8 keys' size: 8 keys of one value,
    then keys of 1,000, made records of 1.7 MB at a 64 KiB limit. Now the sample
    is spread over the batch, and a block packed over the limit is cut smaller."""
    limit, n = 1 << 16, 2000
    if layout == "small first":
        big = [i >= 8 for i in range(n)]
    else:                                           # the spread sample sees small keys only
        big = [i % (n // 8) != 0 for i in range(n)]
    keys = [f"k{i}" for i in range(n)]
    values = [list(range(1000)) if b else [i] for i, b in enumerate(big)]
    records = list(column_records(GroupColumns(LISTS, None, list(keys), list(values)),
                                  reducers, limit))
    assert max(len(data) for _, data in records) <= limit
    got = sorted((i, list(v)) for i, v in unpacked(records))
    assert got == sorted(zip(keys, values))


def test_reduce_side_orders_keys_by_their_json_text():
    keys = ["wow", "wow!", 'wow"', "wowa", "é", "Z", "a b", "", 10, 9, -1, 2.5, None, True,
            [1, "x"], {"k": 1}]
    rng = random.Random(3)
    blocks = []                                 # the shuffle records, as a reducer receives them
    for n in range(5):                          # as several map tasks would send them
        groups: dict = {}
        JSONPath().group([(rng.choice(keys), rng.randrange(9)) for _ in range(40)], groups)
        blocks += column_records(columns_of(groups), 1)
        if n == 0:
            blocks += column_records(GroupColumns(LISTS, None, ["solo", "pair"], [[1], [2]]), 1)
            blocks += column_records(GroupColumns(COUNTS, 6, ["many"], [70]), 1)
    blocks += column_records(GroupColumns(SINGLES, None, ["pair", "pair"], [3, 4]), 1)
    blocks += column_records(GroupColumns(COUNTS, True, ["many"], [65]), 1)   # many values
    records = list(unpacked(blocks))
    assert [r for r in records if r[0] in ("solo", "pair")] == [("solo", [1]), ("pair", [2]),
                                                             ("pair", (3,)), ("pair", (4,))]
    oracle: dict = {}
    for identity, values in records:
        oracle.setdefault(identity, []).extend(values)
    expected = sorted(oracle.items(), key=lambda item: JSONPath.sort_key(item[0]))
    assert {len([r for r in records if r[0] == identity]) for identity, _ in expected} >= {1, 2, 3}

    def seen_by_the_reducer(sort_values: bool, position: Position) -> list:
        return [(key, list(values)) for key, values in
                JSONPath().reducer_input(iter(blocks), sort_values, position)]
    position = Position()
    seen = seen_by_the_reducer(False, position)
    assert seen == [(JSONPath.key_of(identity), values) for identity, values in expected]
    many = next(values for key, values in seen if key == "many")
    assert [(type(v), v) for v in many] == [(int, 6)] * 70 + [(bool, True)] * 65
    by_value = seen_by_the_reducer(True, Position())
    assert by_value == [(key, sorted(values, key=json_text)) for key, values in seen]
    assert position.current_key() == (True, seen[-1][0])


class MRValuesAsSeen(MRJob):
    """Each word with a value that depends on --kind; the reducer shows what it got."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--kind")

    def mapper(self, _, line):
        kind = self.options.kind
        for n, word in enumerate(line.split()):
            if kind == "switch":                  # one constant, then another value
                yield word, 1 if int(line.split(":")[0]) < 50 else n
            elif kind == "triple":
                yield word, 1, "extra"
            else:
                yield word, {"true": True, "float": 1.0, "str": "x", "none": None}[kind]

    def reducer(self, key, values):
        yield key, list(values)


def _lines(count: int) -> bytes:
    return "".join(f"{i}: w{i % 7} w{i % 3} w{i % 7}\n" for i in range(count)).encode()


def _run_inline(*args, stdin: bytes):
    job = MRValuesAsSeen(args=["-r", "inline", "-q", "--num-reducers", "1", *args])
    job.sandbox(stdin=io.BytesIO(stdin))
    with job.make_runner() as runner:
        runner.run()
        return [line for chunk in runner.cat_output() for line in chunk.decode().splitlines()]


def _plain(kind: str, data: bytes) -> dict:
    """The reducer's input in plain Python: each word's values in line order, as JSON gives them."""
    value = {"true": True, "float": 1.0, "str": "x", "none": None}.get(kind)
    groups: dict = {}
    for line in data.decode().splitlines():
        for n, word in enumerate(line.split()):
            if kind == "switch":
                value = 1 if int(line.split(":")[0]) < 50 else n
            groups.setdefault(word, []).append(value)
    return groups


@pytest.mark.parametrize("kind", ["true", "float", "str", "none", "switch"])
def test_constant_values_reach_the_reducer_as_json_gives_them(kind):
    data = _lines(600)                          # keys with more values than REPEATED_FROM
    lines = _run_inline("--kind", kind, "-D", "mapreduce.job.maps=1", stdin=data)
    got = {json.loads(k): json.loads(v) for k, v in (line.split("\t") for line in lines)}
    assert {k: [(type(v).__name__, v) for v in vs] for k, vs in got.items()} == \
        {k: [(type(v).__name__, v) for v in vs] for k, vs in _plain(kind, data).items()}
    keys = [line.split("\t")[0] for line in lines]
    assert keys == sorted(keys)                 # one reducer: keys in the order of their JSON text


def test_a_mapper_yielding_three_items_still_fails():
    with pytest.raises(ValueError, match="unpack"):
        _run_inline("--kind", "triple", stdin=_lines(5))


def test_parse_output_reads_what_json_protocol_wrote_line_by_line():
    from minibig.mapreduce.protocols import JSONProtocol
    rng = random.Random(5)
    keys = ["w", "é", 'q"\t', "a,b", "", 3, -2.5, None, True, [1, "x"], {"k": [1, 2]}]
    pairs = [(rng.choice(keys), rng.choice(keys)) for _ in range(3000)]
    data = b"".join(JSONProtocol().write(k, v) + b"\n" for k, v in pairs)
    cuts = sorted(rng.sample(range(1, len(data)), 40))
    chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    job = MRJob(args=[])
    expected = [JSONProtocol().read(line) for line in data.split(b"\n")[:-1]]
    assert list(job.parse_output(chunks)) == expected
    assert list(job.parse_output([data[:-1]])) == expected        # no newline at the end
    with pytest.raises(ValueError):                                # read line by line: fails
        list(job.parse_output([b'"a"\t1\n"b"\t[1,\n']))


@pytest.mark.parametrize("data", [
    b'"a"\t1\t2\n3\n',                      # two tabs, then a line without one: was [("a", 1), (2, 3)]
    b'[1\t2]\n"a",1\t2\n',                   # brackets and commas across the tab: was [([1, 2], "a"), (1, 2)]
    b'[1\t2],3\n',                            # one line that decodes as two items
    b'"x\ty",1\n',                            # a raw tab inside a string
    b'"x\ty"\t1\n',
    b'"a"\t1\n"b"\n',                         # a line without a tab
    b'1\t[2\n3\t4]\n',                        # brackets across lines
    b'"a",1\t2\n3\t4\n',
    b'"a"\t\n',
])
def test_parse_output_raises_on_malformed_lines_as_the_line_reader_does(data):
    from minibig.mapreduce.protocols import JSONProtocol
    lines = data.split(b"\n")[:-1]
    with pytest.raises(ValueError) as by_line:
        [JSONProtocol().read(line) for line in lines]
    with pytest.raises(type(by_line.value)):
        list(MRJob(args=[]).parse_output([data]))


def test_a_block_of_words_holding_brackets_is_decoded_whole_as_the_line_reader_reads_it():
    # Real vocabularies hold "[1]" and "{x": a bracket inside a string must not send
    # the whole block to the line reader (a word count's output: 10x slower).
    from minibig.mapreduce.job import _json_pairs
    from minibig.mapreduce.protocols import JSONProtocol
    words = ["[1]", "{x", "a]b", 'q"[', "\\[", "}", "plain", "é{"]
    data = b"".join(JSONProtocol().write(w, n) + b"\n" for n, w in enumerate(words))
    whole = _json_pairs(data, len(words))
    assert whole is not None
    assert list(whole) == [JSONProtocol().read(line) for line in data.split(b"\n")[:-1]]
    assert _json_pairs(b'"a"\t[1]\n', 1) is None                 # a list value: line by line


def test_parse_output_names_the_line_it_cannot_read():
    chunks = [b'"a"\t1\n"b"\t2\n', b'"c"\t[3]\n"d"', b"\n\"e\"\t5\n"]
    with pytest.raises(ValueError) as failed:
        list(MRJob(args=[]).parse_output(chunks))
    assert failed.value.__notes__ == ["output line 4: b'\"d\"'"]


def test_parse_output_hands_a_line_protocol_each_line_with_its_newline_as_mrjob_does():
    # mrjob's parse_output reads each line with its newline (mrjob.util.to_lines keeps it):
    # a raw value ends in it, the last line of an output without a final newline does not.
    from minibig.mapreduce import RawProtocol, RawValueProtocol

    class MRRawValues(MRJob):
        OUTPUT_PROTOCOL = RawValueProtocol

    class MRRawPairs(MRJob):
        OUTPUT_PROTOCOL = RawProtocol
    chunks = [b"a b\nc", b"\td\n", b"e"]
    assert list(MRRawValues(args=[]).parse_output(chunks)) == \
        [(None, "a b\n"), (None, "c\td\n"), (None, "e")]
    assert list(MRRawPairs(args=[]).parse_output(chunks)) == \
        [("a b\n", None), ("c", "d\n"), ("e", None)]


def test_parse_output_reads_its_chunks_only_as_its_pairs_are_asked_for():
    pulled = []

    def chunks():
        for n in range(3):
            pulled.append(n)
            yield b'"k%d"\t%d\n' % (n, n)
    pairs = MRJob(args=[]).parse_output(chunks())
    assert pulled == []                         # nothing read before the first pair is asked for
    assert list(pairs) == [("k0", 0), ("k1", 1), ("k2", 2)] and pulled == [0, 1, 2]
