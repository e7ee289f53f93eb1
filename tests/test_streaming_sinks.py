"""Exactly-once sinks (files, Redis Streams) and the Redis Streams source.

The oracle of every test is the ``LocalExecutor`` run of the same dataflow
(itself checked against the plain-Python reference in the other streaming
tests). Redis tests run a real ``redis-server`` on a free loopback port,
without persistence, stopped at the end of the module. The kill tests follow
``test_streaming_recovery.py``: the source pauses halfway (a marker file),
the driver's ``on_checkpoint`` kills a worker once a checkpoint completed
during the pause, and the committed output must equal the failure-free
run's, nothing lost or written twice. No sleeps: every wait is on an event,
bounded.
"""

import os
import shutil
import signal
import socket
import subprocess

import pytest

from minibig import Context
from minibig.errors import OutputExistsError
from minibig.streaming import (FileSink, RedisStreamSink, RedisStreamSource, StreamingContext,
                               TumblingWindow)
from minibig.streaming.operators import OperatorContext
from minibig.streaming.sinks import read_committed

import faults

import redis  # noqa: E402 - in the test extra; a fresh machine runs these tests, never skips them

EVENTS = [(i - (i * 7919) % 9, f"k{(i * 31) % 11}", i) for i in range(6000)]
REDIS_SERVER = shutil.which("redis-server")


# -- a real redis-server ----------------------------------------------------------------


def free_port() -> int:
    # Redis refuses --port 0: take a free port from the OS, release it, hand it over.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A redis-server of this module's own, on a free loopback port; its URL."""
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed (apt-get install -y redis-server; .ci/run does it)")
    folder = tmp_path_factory.mktemp("redis")
    for attempt in range(3):                       # the port may be taken between bind and start
        port = free_port()
        proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(folder)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
        try:
            faults.wait_until(lambda: _pings(client, proc), "redis-server answering PING", timeout=10)
            break
        except TimeoutError:
            proc.kill()
            proc.wait()
            if attempt == 2:
                raise
        finally:
            client.close()
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pings(client, proc) -> bool:
    if proc.poll() is not None:
        raise TimeoutError("redis-server exited")
    try:
        return client.ping()
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def client(redis_url):
    """A client on a flushed database."""
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    c.flushdb()
    yield c
    c.close()


def stream_values(client, stream) -> list[str]:
    return [fields["value"] for _, fields in client.xrange(stream)]


# -- a source that pauses halfway -------------------------------------------------------


def windowed_counts(ssc, source):
    """``(key, start, end, count)`` per tumbling window of 40, from ``EVENTS``-shaped records."""
    return (ssc.source(source, timestamp=lambda e: e[0], max_out_of_orderness=3)
               .key_by(lambda e: e[1]).window(TumblingWindow(40)).count())


# -- file sink --------------------------------------------------------------------------


def test_file_sink_commits_part_files_per_checkpoint_and_success_at_the_end(sc, tmp_path):
    local = StreamingContext(parallelism=2, batch_size=50)
    windowed_counts(local, EVENTS).write_text(tmp_path / "local")
    local.run()
    ssc = StreamingContext(sc, parallelism=2, batch_size=50, checkpoint_interval=0.02)
    windowed_counts(ssc, EVENTS).sink_to(FileSink(tmp_path / "cluster"))
    ssc.run()
    want = sorted(read_committed(tmp_path / "local"))
    assert len(want) > 100 and sorted(read_committed(tmp_path / "cluster")) == want
    names = os.listdir(tmp_path / "cluster")
    assert "_SUCCESS" in names and "_temporary" not in names
    assert all(n == "_SUCCESS" or n.startswith("part-") for n in names)


def test_file_sink_refuses_an_existing_folder(sc, tmp_path):
    ssc = StreamingContext(sc)
    ssc.source([1, 2], timestamp=int).write_text(tmp_path)
    with pytest.raises(OutputExistsError):
        ssc.run()


def test_sink_to_refuses_what_is_not_a_sink():
    ssc = StreamingContext()
    with pytest.raises(TypeError, match="sink_to"):
        ssc.source([1]).sink_to("out.txt")


# -- Redis Streams ----------------------------------------------------------------------


def fill(client, stream, events):
    with client.pipeline() as pipe:
        for ts, key, i in events:
            pipe.xadd(stream, {"ts": ts, "key": key, "i": i})
        pipe.execute()


def as_event(fields):
    return (int(fields["ts"]), fields["key"], int(fields["i"]))


def test_redis_source_replays_from_a_checkpointed_offset(client, redis_url):
    fill(client, "s", EVENTS[:100])
    first = RedisStreamSource(redis_url, "s", bounded=True).split(0, 1)
    first.open(None)
    head = first.poll(30)
    offset = first.offset()
    rest = []
    while not first.finished:
        rest.extend(first.poll(25))
    again = RedisStreamSource(redis_url, "s", bounded=True).split(0, 1)
    again.open(None)
    again.seek(offset)
    fill(client, "s", EVENTS[100:110])        # after the bound: a bounded source never reads them
    replay = []
    while not again.finished:
        replay.extend(again.poll(7))
    first.close()
    again.close()
    assert [as_event(r) for r in head + rest] == EVENTS[:100]
    assert replay == rest


def test_redis_streams_in_and_out_on_the_cluster_match_the_local_run(sc, client, redis_url):
    halves = {"in-a": EVENTS[:3000], "in-b": EVENTS[3000:]}
    for stream, events in halves.items():
        fill(client, stream, events)
    outputs = {}
    for name, context in (("local", None), ("cluster", sc)):
        ssc = StreamingContext(context, parallelism=2, batch_size=64, checkpoint_interval=0.02)
        source = RedisStreamSource(redis_url, ["in-a", "in-b"], bounded=True)
        # Out-of-orderness above the streams' disorder: no record is late however the two
        # source instances interleave, so the counts are the same in every run.
        (ssc.source(source, timestamp=lambda f: int(f["ts"]), max_out_of_orderness=9, parallelism=2)
            .map(as_event).key_by(lambda e: e[1]).window(TumblingWindow(40)).count()
            .sink_to(RedisStreamSink(redis_url, f"out-{name}")))
        ssc.run()
        outputs[name] = sorted(stream_values(client, f"out-{name}"))
    assert sum(int(v.rsplit(",", 1)[1].strip(" )")) for v in outputs["local"]) == len(EVENTS)
    assert outputs["cluster"] == outputs["local"]


# -- a killed worker: each record once in the output ------------------------------------


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_a_killed_worker_never_loses_or_repeats_a_sink_record(kind, tmp_path, client, redis_url):
    folder = str(tmp_path)

    def sink(name):
        return FileSink(tmp_path / name) if kind == "file" else RedisStreamSink(redis_url, name)

    def committed(name):
        return read_committed(tmp_path / name) if kind == "file" else stream_values(client, name)

    faults.touch(os.path.join(folder, "release"))
    oracle = StreamingContext(parallelism=2, batch_size=50)
    windowed_counts(oracle, faults.PausingSource(EVENTS, folder, 2500)).sink_to(sink("oracle"))
    oracle.run()
    os.remove(os.path.join(folder, "release"))

    with Context(workers=2, worker_timeout=2.5, appName=f"stream-kill-{kind}") as ctx:
        killed = []

        def on_checkpoint(cid):
            if not killed and os.path.exists(os.path.join(folder, "paused")):
                killed.append(len(committed("killed")))     # committed before the kill
                victim = ctx._cluster.workers[0]
                os.kill(victim.pid, signal.SIGKILL)
                ctx._cluster.add_worker()                    # the restart needs two slots again
                faults.touch(os.path.join(folder, "release"))

        ssc = StreamingContext(ctx, parallelism=2, batch_size=50, checkpoint_interval=0.05,
                               task_timeout=1.0, on_checkpoint=on_checkpoint)
        windowed_counts(ssc, faults.PausingSource(EVENTS, folder, 2500)).sink_to(sink("killed"))
        ssc.run(timeout=120)
        assert killed and ssc.executor.restarts == 1
        want = sorted(committed("oracle"))
        assert 0 < killed[0] < len(want)
        assert sorted(committed("killed")) == want
    if kind == "file":
        names = os.listdir(tmp_path / "killed")
        assert "_SUCCESS" in names and "_temporary" not in names


def test_file_sink_discards_an_epoch_its_checkpoint_never_covered(tmp_path):
    sink = FileSink(tmp_path / "out")
    committer = sink.committer()
    committer.open()
    operator = sink.operator("sink-1")
    operator.open(OperatorContext("sink-1", index=3, parallelism=4))
    operator.process_batch([(1, "a"), 5, (2, "b")])
    committer.commit(1, operator.take(boundary=True))          # checkpoint 1 completed
    operator.process_batch([(7, "lost")])
    assert operator.take(boundary=False) == []                  # files are handed over at barriers only
    operator.take(boundary=True)                                # checkpoint 2 never completes
    committer.discard()                                         # the job restarts from checkpoint 1
    committer.finish()
    assert sorted(os.listdir(tmp_path / "out")) == ["_SUCCESS", "part-00003-000001"]
    assert read_committed(tmp_path / "out") == ["a", "b"]
