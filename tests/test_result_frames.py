"""Results streamed in frames (core/task.py: stream_result; core/dag.py: frame_arrived).

A task's list of records reaches the driver in frames, decoded as they come;
the answer must be the one a plain Python run gives, in partition order and
with the same types, whatever happens to the attempts that sent frames: one
failing after some frames, a job aborted mid-stream (the cluster serves the
next job). Killed workers and speculative copies: tests/test_lost_tasks.py.
"""

import collections
import math

import pytest

from minibig import Context
from minibig.core.task import FIRST_FRAME_RECORDS, MARSHAL, PICKLE, current_task, encode_frame, \
    decode_frame
from minibig.errors import ResultTooLargeError

PER_PARTITION = 6 * FIRST_FRAME_RECORDS        # several frames from each task


def pairs(split, n=PER_PARTITION):
    return ((f"word{i}", i) for i in range(split * n, (split + 1) * n))


def oracle(parts, n=PER_PARTITION):
    return [p for split in range(parts) for p in pairs(split, n)]


def test_collect_streams_frames_and_keeps_partition_order(sc):
    rdd = sc.parallelize(range(3), 3).flatMap(pairs)
    assert rdd.collect() == oracle(3)
    assert sc._dag.last_job.frames >= 3          # each task sent frames ahead of its report
    assert rdd.collectAsMap() == dict(oracle(3))
    assert list(rdd.toLocalIterator()) == oracle(3)
    assert rdd.take(PER_PARTITION + 5) == oracle(3)[:PER_PARTITION + 5]


def test_counts_come_back_through_frames(sc):
    words = sc.parallelize(range(4), 4).flatMap(lambda s: (f"w{i % 9000}" for i in range(20000)))
    expected = collections.Counter(f"w{i % 9000}" for _ in range(4) for i in range(20000))
    assert words.countByValue() == expected
    assert words.map(lambda w: (w, 1)).countByKey() == expected


# Records whose types marshal could not give back as they are, and atoms it can.
class Word(str):
    pass


Point = collections.namedtuple("Point", "x y")


def odd_record(i):
    kinds = [i, -i * 2.5, f"s{i}", b"b%d" % i, None, i % 2 == 0, 2 ** 100 + i, complex(i, 1),
             (f"k{i}", i), bytearray(b"x%d" % i), Word(f"w{i}"), Point(i, -i), [i, (i,)],
             {"k": i}, -0.0, math.inf]
    return kinds[i % len(kinds)]


def typed(records):
    return [(type(r), repr(r)) for r in records]


@pytest.mark.parametrize("uniform", [True, False])
def test_frames_give_back_each_records_type(sc, uniform):
    n = 3 * FIRST_FRAME_RECORDS
    make = (lambda i: (f"k{i}", i * 0.5, None)) if uniform else odd_record
    got = sc.parallelize(range(2), 2).flatMap(lambda s: (make(i) for i in range(s * n, (s + 1) * n)))
    assert typed(got.collect()) == typed(make(i) for i in range(2 * n))


def test_frame_codecs():
    flat = [(f"k{i}", i, 1.5, None, True, b"x") for i in range(100)]
    assert encode_frame(flat)[0] == MARSHAL
    assert encode_frame(list(range(10)))[0] == MARSHAL
    for chunk in ([bytearray(b"x")], [Word("a")], [Point(1, 2)], [(1, [2])], [1, (2,)]):
        codec, data = encode_frame(chunk)
        assert codec == PICKLE
        assert typed(decode_frame(codec, data)) == typed(chunk)
    shared = "x" * 10_000                          # marshal keeps what is shared shared
    codec, data = encode_frame([(shared, i) for i in range(100)])
    assert codec == MARSHAL and len(data) < 20_000
    back = decode_frame(codec, data)
    assert back[0][0] is back[99][0]


def test_an_attempt_failing_after_sending_frames_leaves_none_of_them(sc):
    def flaky(split):
        for i, record in enumerate(pairs(split)):
            if split == 1 and current_task().attempt == 0 and i == 4 * FIRST_FRAME_RECORDS:
                raise RuntimeError("fails after some frames")
            yield record
    rdd = sc.parallelize(range(3), 3).flatMap(flaky)
    assert rdd.collect() == oracle(3)


def test_a_job_failing_mid_stream_keeps_its_exception_and_the_cluster_serves_the_next(sc):
    class Boom(Exception):
        pass

    def failing(split):
        yield from pairs(split)
        if split == 0:
            raise Boom("after all its frames")
    with Context(master=sc.master, max_task_attempts=1, appName="fail-mid-stream") as ctx:
        with pytest.raises(Boom, match="after all its frames"):
            ctx.parallelize(range(3), 3).flatMap(failing).collect()
        assert ctx.parallelize(range(3), 3).flatMap(pairs).collect() == oracle(3)
    assert sc.parallelize(range(2), 2).flatMap(pairs).collect() == oracle(2)


def test_results_too_large_stop_mid_stream_and_the_next_job_runs(sc):
    with Context(master=sc.master, max_result_size=200_000, appName="too-large") as ctx:
        with pytest.raises(ResultTooLargeError, match="max_result_size"):
            ctx.parallelize(range(4), 4).flatMap(lambda s: pairs(s, 40_000)).collect()
        assert ctx.parallelize(range(2), 2).flatMap(lambda s: pairs(s, 100)).collect() \
            == oracle(2, 100)


def test_a_50_mb_record_among_small_ones(sc):
    big = 50 << 20

    def records(split):
        yield from range(3 * FIRST_FRAME_RECORDS)
        if split == 1:
            yield "x" * big
        yield from range(3)
    got = sc.parallelize(range(2), 2).flatMap(records).collect()
    assert len(got) == 2 * (3 * FIRST_FRAME_RECORDS + 3) + 1
    assert [len(r) for r in got if isinstance(r, str)] == [big]
    assert got[-4] == "x" * big and got[-3:] == [0, 1, 2]


def test_inline_collect_is_a_list():
    with Context(master="inline") as ctx:
        assert ctx.parallelize(range(2), 2).flatMap(pairs).collect() == oracle(2)
