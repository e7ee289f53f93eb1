"""The first RDD surface on a real 2-worker cluster, against plain Python.

Each test runs real jobs: stages cut at shuffles, tasks on two worker
processes, shuffle blocks fetched worker to worker.
"""

import collections
import gzip
import itertools
import operator
import os

import pytest

from minibig import Context
from minibig.shuffle.hashing import portable_hash

WORDS = "the quick brown fox jumps over the lazy dog — déjà vu, naïve café 東京 the end".split()


def test_parallelize_collect_keeps_order_and_partitions(sc):
    data = list(range(103))
    rdd = sc.parallelize(data, 7)
    assert rdd.getNumPartitions() == 7
    assert rdd.collect() == data
    assert sum(rdd.glom().collect(), []) == data


def test_default_parallelism_is_total_slots(sc):
    assert sc.defaultParallelism == 2
    assert sc.parallelize(range(10)).getNumPartitions() == 2


def test_narrow_transformations_match_python(sc):
    data = list(range(-20, 60))
    rdd = sc.parallelize(data, 5)
    got = (rdd.map(lambda x: x * 3)
              .filter(lambda x: x % 2 == 0)
              .flatMap(lambda x: [x, -x])
              .mapPartitions(lambda it: (x + 1 for x in it))
              .collect())
    expected = [y + 1 for x in data if (x * 3) % 2 == 0 for y in (x * 3, -x * 3)]
    assert got == expected


def test_count_take_first(sc):
    rdd = sc.parallelize(range(50), 10).filter(lambda x: x % 7 == 3)
    assert rdd.count() == len([x for x in range(50) if x % 7 == 3])
    assert rdd.take(3) == [3, 10, 17]
    assert rdd.take(100) == [x for x in range(50) if x % 7 == 3]
    assert sc.parallelize([], 3).take(2) == []
    assert sc.parallelize([], 3).count() == 0


def test_reduce_by_key_word_count(sc):
    lines = [" ".join(WORDS[i:i + 5]) for i in range(len(WORDS))] * 7
    got = dict(sc.parallelize(lines, 4).flatMap(str.split).map(lambda w: (w, 1))
               .reduceByKey(operator.add).collect())
    assert got == collections.Counter(w for line in lines for w in line.split())


def test_reduce_by_key_with_explicit_partitions_and_skew(sc):
    pairs = [(i % 3 if i % 10 else 99, i) for i in range(1000)] + [("hot", 1)] * 500
    rdd = sc.parallelize(pairs, 6).reduceByKey(operator.add, 5)
    assert rdd.getNumPartitions() == 5
    expected = collections.defaultdict(int)
    for k, v in pairs:
        expected[k] += v
    assert dict(rdd.collect()) == expected


def test_group_by_key(sc):
    pairs = [(w, i) for i, w in enumerate(WORDS * 3)]
    got = {k: sorted(v) for k, v in sc.parallelize(pairs, 3).groupByKey().collect()}
    expected = collections.defaultdict(list)
    for k, v in pairs:
        expected[k].append(v)
    assert got == {k: sorted(v) for k, v in expected.items()}


@pytest.mark.parametrize("ascending", [True, False])
def test_sort_by_key_is_a_total_order_across_partitions(sc, ascending):
    import random
    rng = random.Random(7)
    pairs = [(rng.randrange(10_000), i) for i in range(3000)]
    rdd = sc.parallelize(pairs, 4).sortByKey(ascending, 3)
    parts = rdd.glom().collect()
    assert len(parts) <= 3 and sum(map(len, parts)) == len(pairs)
    keys = [k for k, _ in rdd.collect()]
    assert keys == sorted((k for k, _ in pairs), reverse=not ascending)
    assert all(len(p) > len(pairs) / 10 for p in parts), "range partitions should be balanced"


def test_partition_by_uses_the_process_independent_hash(sc):
    keys = WORDS + [1, 2.5, None, (1, "a"), b"bytes", "ünïcode"]
    parts = sc.parallelize([(k, 0) for k in keys], 3).partitionBy(4).glom().collect()
    for index, part in enumerate(parts):
        for key, _ in part:
            assert portable_hash(key) % 4 == index


def test_shuffle_blocks_fetched_over_the_network(sc):
    """A second driver on the same cluster, reading every block from the workers' block servers."""
    with Context(master=sc.master, shuffle_local_read=False) as remote:
        pairs = [(i % 17, i) for i in range(2000)]
        got = dict(remote.parallelize(pairs, 5).reduceByKey(operator.add, 3).collect())
    expected = collections.defaultdict(int)
    for k, v in pairs:
        expected[k] += v
    assert got == expected


def test_stage_code_is_shipped_once_per_worker(sc):
    from minibig.net import protocol as P
    from minibig.net.security import dealer

    def code_sent():
        sock = dealer(sc.master)
        P.send(sock, P.STATUS)
        assert sock.poll(10_000)
        reply = P.recv(sock).header
        sock.close()
        return sum(w["code_sent"] for w in reply["workers"])

    big = bytes(200_000)
    before = code_sent()
    assert sc.parallelize(range(40), 40).map(lambda x: len(big) + x).count() == 40
    assert code_sent() - before <= 2, "one stage's code must travel at most once to each worker"


def _write(path, text, mode="w"):
    with open(path, mode, encoding="utf-8", newline="") as f:
        f.write(text)


@pytest.mark.parametrize("split_size", [1, 7, 64, 1 << 20])
def test_text_file_splits_never_lose_or_repeat_a_line(tmp_path, split_size, sc):
    lines = ["", "first line", "second — ünïcode", "", "x" * 50, "a\tb", "last without newline"]
    _write(tmp_path / "a.txt", "\n".join(lines))
    _write(tmp_path / "b.txt", "\r\n".join(["crlf one", "crlf two", ""]))
    with Context(master=sc.master, split_size=split_size) as ctx:
        rdd = ctx.textFile(str(tmp_path))
        got = rdd.collect()
    assert got == lines + ["crlf one", "crlf two"]


def test_text_file_reads_globs_and_gzip(tmp_path, sc):
    _write(tmp_path / "one.log", "a\nb\n")
    with gzip.open(tmp_path / "two.log.gz", "wt", encoding="utf-8") as f:
        f.write("c\nd\n")
    _write(tmp_path / "skip.txt", "no\n")
    assert sorted(sc.textFile(str(tmp_path / "*.log*")).collect()) == ["a", "b", "c", "d"]


def test_text_file_min_partitions(tmp_path, sc):
    _write(tmp_path / "big.txt", "".join(f"line {i}\n" for i in range(10_000)))
    rdd = sc.textFile(str(tmp_path / "big.txt"), minPartitions=5)
    assert rdd.getNumPartitions() >= 5
    assert rdd.count() == 10_000


def test_save_as_text_file_round_trip(tmp_path, sc):
    out = tmp_path / "out"
    sc.parallelize(range(100), 4).map(lambda x: f"n={x}").saveAsTextFile(str(out))
    names = sorted(os.listdir(out))
    assert names == ["_SUCCESS", "part-00000", "part-00001", "part-00002", "part-00003"]
    assert sc.textFile(str(out)).collect() == [f"n={x}" for x in range(100)]


def test_multi_stage_job_reuses_shuffle_output_across_actions(sc):
    acc = sc.accumulator(0)

    def tagged(x):
        acc.add(1)
        return (x % 5, x)
    summed = sc.parallelize(range(100), 4).map(tagged).reduceByKey(operator.add)
    first = sorted(summed.collect())
    second = sorted(summed.collect())
    assert first == second == sorted({k: sum(x for x in range(100) if x % 5 == k)
                                      for k in range(5)}.items())
    assert acc.value == 100, "the map stage must run once; the second action reuses its output"


def test_inline_master_gives_the_same_answers(sc):
    def job(ctx):
        words = ctx.parallelize(WORDS * 4, 3).map(lambda w: (w, 1)).reduceByKey(operator.add)
        return sorted(words.collect()), words.sortByKey().keys().take(4)
    with Context(master="inline") as inline:
        assert job(inline) == job(sc)


def test_union_and_chained_shuffles(sc):
    a = sc.parallelize(range(30), 3).map(lambda x: (x % 4, x))
    b = sc.parallelize(range(10), 2).map(lambda x: (x % 4, -x))
    got = dict(a.union(b).reduceByKey(operator.add).map(lambda kv: (kv[1] % 3, kv[0]))
               .groupByKey().mapValues(sorted).collect())
    sums = collections.defaultdict(int)
    for k, v in itertools.chain(((x % 4, x) for x in range(30)), ((x % 4, -x) for x in range(10))):
        sums[k] += v
    expected = collections.defaultdict(list)
    for k, v in sums.items():
        expected[v % 3].append(k)
    assert got == {k: sorted(v) for k, v in expected.items()}


