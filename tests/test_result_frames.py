"""Results streamed in frames (core/task.py: stream_result; core/dag.py: frame_arrived).

A task's list of records reaches the driver in frames, decoded as they come;
the answer must be the one a plain Python run gives, in partition order and
with the same types, whatever happens to the attempts that sent frames: one
failing after some frames, a job aborted mid-stream (the cluster serves the
next job); the master passing on only a running attempt's frames; a worker
kept a few frames ahead of the driver. Killed workers and speculative
copies: tests/test_lost_tasks.py.
"""

import collections
import math
import os
import threading

import pytest
import zmq

from minibig import Context
from minibig.cluster.master import Master
from minibig.cluster.worker import FRAMES_IN_FLIGHT, FrameCredit
from minibig.conf import Conf
from minibig.core import dag
from minibig.core.task import (FIRST_FRAME_RECORDS, MARSHAL, PICKLE, current_task, decode_frame,
                               encode_frame)
from minibig.errors import JobAbortedError, ResultTooLargeError
from minibig.net import protocol as P

import faults

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


def test_the_master_forwards_only_the_frames_of_a_running_attempt():
    """A real Master object over inproc sockets, driven message by message: an attempt
    whose worker was lost (it registered again) has its later frames dropped, and its
    task_done, which the driver could not complete, is not passed on; the retry's is."""
    zctx = zmq.Context()
    router = zctx.socket(zmq.ROUTER)
    router.bind("inproc://master")
    master = Master(Conf(), "inproc://master")
    master.sock = router
    peers = []

    def peer():
        sock = zctx.socket(zmq.DEALER)
        sock.connect("inproc://master")
        peers.append(sock)
        return sock

    def say(sock, kind, header, blobs=()):
        P.send(sock, kind, header, list(blobs))
        assert router.poll(5000)
        master.handle(P.recv(router, routed=True))

    def heard(sock, *kinds):
        """The messages `sock` has been sent, of these kinds."""
        got = []
        while sock.poll(200):
            msg = P.recv(sock)
            if msg.kind in kinds:
                got.append(msg)
        return got
    try:
        worker, driver = peer(), peer()
        register = {"worker_id": "w1", "host": "h", "pid": 1, "slots": 1, "block_addr": "",
                    "work_dir": ""}
        say(worker, P.REGISTER, register)
        say(driver, P.HELLO, {"driver_id": "d1"})
        say(driver, P.SUBMIT_STAGE, {"driver_id": "d1", "job_id": 0, "stage_id": 0,
                                     "taskset": "0.0", "partitions": [0]}, [b"code", b"payload"])
        [launch] = heard(worker, P.LAUNCH)
        report = {"worker_id": "w1", "taskset": "d1/0.0", "partition": 0}
        say(worker, P.TASK_FRAME, {**report, "attempt": 0, "seq": 0, "codec": MARSHAL}, [b"f0"])
        say(worker, P.REGISTER, register)                  # lost and back: attempt 0 is lost
        [relaunch] = heard(worker, P.LAUNCH)
        assert (launch.header["attempt"], relaunch.header["attempt"]) == (0, 1)
        say(worker, P.TASK_FRAME, {**report, "attempt": 0, "seq": 1, "codec": MARSHAL}, [b"f1"])
        [kill] = heard(worker, P.KILL_TASK)                # it cannot count: stopped
        assert (kill.header["partition"], kill.header["attempt"]) == (0, 0)
        say(worker, P.TASK_DONE, {**report, "attempt": 0, "frames": 2}, [b"tail0"])
        say(worker, P.TASK_FRAME, {**report, "attempt": 1, "seq": 0, "codec": MARSHAL}, [b"g0"])
        say(worker, P.TASK_DONE, {**report, "attempt": 1, "frames": 1}, [b"tail1"])
        got = [(m.kind, m.header["attempt"], m.header.get("seq"), m.blobs[0])
               for m in heard(driver, P.RESULT_FRAME, P.TASK_RESULT)]
        assert got == [(P.RESULT_FRAME, 0, 0, b"f0"), (P.RESULT_FRAME, 1, 0, b"g0"),
                       (P.TASK_RESULT, 1, None, b"tail1")]
    finally:
        master.events.close()
        for sock in [*peers, router]:
            sock.close(0)
        zctx.term()


def test_a_worker_stays_a_few_frames_ahead_of_the_driver(sc, tmp_path, monkeypatch):
    """Flow control (cluster/worker.FrameCredit): while the driver decodes nothing, the
    task stops after FRAMES_IN_FLIGHT frames instead of making the rest of its result."""
    far = str(tmp_path / "far")                    # the task got this far: marked
    frame = 1024                                   # records of ~1 KB: ~1 MiB frames
    go, decode = threading.Event(), dag._Job.frame_arrived

    def held(job, stage, h, blob):
        assert go.wait(60), "the test never let the driver go on"
        return decode(job, stage, h, blob)
    monkeypatch.setattr(dag._Job, "frame_arrived", held)

    def records(split):
        for i in range(3 * FRAMES_IN_FLIGHT * frame):
            if i == 2 * FRAMES_IN_FLIGHT * frame:
                faults.touch(far)
            yield "%07d" % i + "x" * 1000
    join = faults.run_in_thread(sc.parallelize([0], 1).flatMap(records).collect)
    try:
        with pytest.raises(TimeoutError):
            faults.wait_until(lambda: os.path.exists(far), "the task running ahead", timeout=2)
    finally:
        go.set()
    got = join()
    assert len(got) == 3 * FRAMES_IN_FLIGHT * frame and got[-1].startswith("%07d" % (len(got) - 1))
    assert os.path.exists(far)


def test_lost_acks_cost_a_silence_not_the_frame_wait(sc, monkeypatch):
    """Every ack of the first FRAMES_IN_FLIGHT frames is lost on the way: the worker has no
    room for the next frame until the driver, hearing nothing for client.JOB_QUIET_AFTER
    (5 s), acks again what it decoded; not after worker.FRAME_WAIT (300 s)."""
    send, seen = sc._backend.frame_taken, set()

    def lossy(h):
        key = (h["taskset"], h["partition"], h["attempt"], h["seq"])
        if h["seq"] < FRAMES_IN_FLIGHT and key not in seen:
            seen.add(key)                          # lost: only its repetition gets through
            return
        send(h)
    monkeypatch.setattr(sc._backend, "frame_taken", lossy)
    n = 3 * FRAMES_IN_FLIGHT * FIRST_FRAME_RECORDS  # records of ~1 KB: frames of ~1 MiB
    rdd = sc.parallelize([0], 1).flatMap(lambda _: ("%07d" % i + "x" * 1000 for i in range(n)))
    join = faults.run_in_thread(lambda: (rdd.collect(), sc._dag.last_job.frames))
    got, frames = join(60, "a collect whose first acks were lost")
    assert got == ["%07d" % i + "x" * 1000 for i in range(n)]
    assert len(seen) == FRAMES_IN_FLIGHT and frames > FRAMES_IN_FLIGHT


def test_a_frame_waits_for_room_and_gives_up_in_bounded_time():
    credit = FrameCredit()
    for seq in range(FRAMES_IN_FLIGHT):
        credit.wait_for_room(seq, timeout=0)       # room for the first ones: no wait
    with pytest.raises(JobAbortedError, match="decoded none"):
        credit.wait_for_room(FRAMES_IN_FLIGHT, timeout=0.2)
    sent = threading.Event()
    waiter = threading.Thread(target=lambda: (credit.wait_for_room(FRAMES_IN_FLIGHT + 1, 30),
                                              sent.set()))
    waiter.start()
    credit.took(0)
    assert not sent.wait(0.3), "one frame decoded is room for one more, not two"
    credit.took(1)
    assert sent.wait(30)
    waiter.join(30)
