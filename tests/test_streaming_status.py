"""A running streaming job as `minibig status` shows it: per-operator records,
rates, watermarks and backpressure, the last checkpoint, and each worker's
CPU and memory, on a real master with two workers.

The source pauses halfway (``faults.PausingSource``) so the job is running
while the test reads the master's status; the test waits (bounded) for the
status to show exactly the records read before the pause, then releases it.
A second job has a slow keyed operator: its producer shows backpressure.
"""

import glob
import json
import os
import subprocess
import sys
import time

from minibig import Context
from minibig.shuffle.hashing import portable_hash
from minibig.streaming import StreamingContext, TumblingWindow

import faults
from streaming_reference import failure_free
from support import cleanup, env, start_master, start_worker

EVENTS = [(i - (i * 7919) % 9, f"k{(i * 31) % 11}", i) for i in range(4000)]
PAUSE_AT = 1500


def build(ssc, folder):
    return (ssc.source(faults.PausingSource(EVENTS, folder, PAUSE_AT), timestamp=lambda e: e[0],
                       max_out_of_orderness=3)
               .key_by(lambda e: e[1]).window(TumblingWindow(40)).count().collect())


def stream_of(url: str, name: str):
    streams = [s for s in faults.master_status(url)["streams"] if s["name"] == name]
    return streams[0] if streams else None


def test_status_shows_a_running_streams_operators_and_the_workers_use(tmp_path):
    folder = str(tmp_path)
    _, want = failure_free(build, folder, parallelism=2, batch_size=50)

    master, url = start_master()
    workers = []
    try:
        workers = [start_worker(url), start_worker(url)]
        with Context(master=url, appName="status-test") as ctx:
            ctx._backend.wait_for_workers(2, timeout=60)
            ssc = StreamingContext(ctx, parallelism=2, batch_size=50, checkpoint_interval=0.1, name="counts")
            got = build(ssc, folder)
            join = faults.run_in_thread(lambda: ssc.run(timeout=120))

            def paused_and_seen():
                stream = stream_of(url, "counts")
                if stream is None or stream["last_checkpoint"] is None:
                    return None
                window, collect = stream["operators"][2:]
                steady = window["records_in"] == PAUSE_AT and collect["records_in"] == window["records_out"]
                return stream if steady else None
            stream = faults.wait_until(paused_and_seen, "the status showing every record before the pause")
            status = faults.master_status(url)
            snapshots = lambda: [d for w in status["workers"] for d in glob.glob(
                os.path.join(w["work_dir"], "shuffle", f"{ctx._driver_id}_stream-*"))]
            assert len(snapshots()) >= 2                  # each task's, on its worker's disk
            human = subprocess.run([sys.executable, "-m", "minibig", "status", "--master", url],
                                   capture_output=True, text=True, env=env(), timeout=60)
            faults.touch(os.path.join(folder, "release"))
            join(120, "the streaming job")
            assert sorted(got.result()) == sorted(want.result())
            faults.wait_until(lambda: stream_of(url, "counts") is None, "the ended stream leaving the status")
            faults.wait_until(lambda: not snapshots(), "the job's snapshots deleted from the workers")

        assert ssc.executor.address.startswith("tcp://127.0.0.1:")    # a keyed cluster on loopback
        assert stream["app"] == ctx._driver_id
        ops = stream["operators"]
        assert [op["name"].split("-")[0] for op in ops] == ["source", "key_by", "window", "collect"]
        source, key_by, window, collect = ops
        assert [op["parallelism"] for op in ops] == [1, 1, 2, 1]
        assert source["records_in"] == source["records_out"] == PAUSE_AT
        assert key_by["records_in"] == key_by["records_out"] == PAUSE_AT
        assert collect["records_in"] == window["records_out"]
        marks = [e[0] for e in EVENTS[:PAUSE_AT]]
        assert source["watermark"] == max(marks) - 3
        assert window["watermark"] <= source["watermark"]
        assert abs(window["watermark_lag_s"] - (time.time() - window["watermark"])) < 60
        assert all(0.0 <= op["backpressure"] <= 1.0 and op["rate_in"] >= 0 for op in ops)
        checkpoint = stream["last_checkpoint"]
        assert checkpoint["id"] >= 1 and checkpoint["bytes"] > 0 and checkpoint["duration_s"] >= 0
        assert abs(checkpoint["at"] - time.time()) < 120
        assert all(w["rss_bytes"] > 0 and w["cpu_percent"] >= 0 for w in status["workers"])
        json.dumps(status)                                       # what --json prints
        assert human.returncode == 0, human.stderr
        assert "stream counts" in human.stdout and "last checkpoint:" in human.stdout
        assert any(line.split()[0] == window["name"] for line in human.stdout.splitlines() if line.strip())
    finally:
        cleanup([*workers, master])


def test_a_slow_consumer_shows_as_backpressure_on_its_producer(tmp_path):
    """Every key goes to the keyed operator's instance 1, which is slow while the file
    `slow` exists: task 0's key_by fills the channel to task 1 and waits on it."""
    slow = str(tmp_path / "slow")
    faults.touch(slow)
    keys = [k for k in (f"k{n}" for n in range(50)) if portable_hash(k) % 2 == 1][:4]
    events = [(i, keys[i % len(keys)]) for i in range(4000)]

    def work(state, event):
        if os.path.exists(slow):
            time.sleep(0.005)                # the workload: a slow operator, not a wait
        state.update(state.value(0) + 1)
        return event[1], state.value()

    with Context(workers=2, appName="backpressure") as ctx:
        ssc = StreamingContext(ctx, parallelism=2, batch_size=50, name="slow")
        out = (ssc.source(events, timestamp=lambda e: e[0]).map(lambda e: (*e, "x" * 20_000))
                  .key_by(lambda e: e[1]).map_with_state(work).collect())
        join = faults.run_in_thread(lambda: ssc.run(timeout=120))

        def key_by_waiting():
            streams = faults.master_status(ctx._cluster.url)["streams"]
            ops = [op for s in streams if s["name"] == "slow" for op in s["operators"]]
            return [op for op in ops if op["name"].startswith("key_by") and op["backpressure"] >= 0.5]
        waiting = faults.wait_until(key_by_waiting, "backpressure on key_by")
        os.remove(slow)
        join(120, "the streaming job")
    assert waiting[0]["backpressure"] <= 1.0
    assert sorted(out.result()) == sorted((k, n) for k in keys for n in range(1, 1001))
