"""The streaming example jobs (jobs/stream_*.py) give plain Python's answers on the cluster.

Each job module is loaded from jobs/ and pickled by value (as ``minibig
submit`` ships a job's own code); its ``build`` runs on the shared ``sc``
cluster with checkpoints, and the answer is computed again in plain Python
from the same seeded input. The sessions job reads and writes a real
redis-server (``test_streaming_sinks``' fixture).
"""

import collections
import importlib.util
import os
import subprocess
import sys
import time

import cloudpickle

from minibig.streaming import RedisStreamSink, RedisStreamSource, StreamingContext

from test_streaming_sinks import client, redis_url  # noqa: F401 - fixtures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_job(name):
    spec = importlib.util.spec_from_file_location(f"job_{name}", os.path.join(REPO, "jobs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)
    return module


def test_hot_items_finds_the_most_bid_auction_of_every_sliding_window(sc):
    job = load_job("stream_hot_items")
    bids = job.BidSource(12_000, auctions=300, disorder=40, seed=3)
    ssc = StreamingContext(sc, parallelism=2, checkpoint_interval=0.05)
    hot = job.build(ssc, bids, size=5_000, slide=1_000, disorder=40).collect()
    metrics = ssc.run()
    every = [bids.bid(i) for i in range(12_000)]
    want = []
    for start in range(-5_000, 12_000, 1_000):
        counts = collections.Counter(b[1] for b in every if start <= b[0] < start + 5_000)
        if counts:
            auction, n = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
            want.append((start, start + 5_000, auction, n))
    assert sorted(hot.result()) == want and metrics["late_records"] == 0


def test_sessions_job_reads_clicks_from_redis_and_writes_each_session_once(sc, client, redis_url):  # noqa: F811
    job = load_job("stream_sessions")
    job.fill(redis_url, "clicks", 4_000, seed=1)
    ssc = StreamingContext(sc, parallelism=2, checkpoint_interval=0.05)
    sessions = job.build(ssc, RedisStreamSource(redis_url, "clicks", bounded=True), gap=30_000)
    sessions.map(lambda s: {"user": s[0], "start": s[1], "end": s[2], "clicks": s[3][0]}).sink_to(
        RedisStreamSink(redis_url, "sessions"))
    ssc.run()
    per_user = collections.defaultdict(list)
    for ts, user, _ in job.clicks(4_000, seed=1):
        per_user[user].append(ts)
    want = []
    for user, times in per_user.items():
        first = last = times[0]
        count = 1
        for ts in times[1:]:
            if ts > last + 30_000:                 # windows that touch merge (Flink's, DESIGN.md)
                want.append((user, first, last + 30_000, count))
                first, count = ts, 0
            last, count = ts, count + 1
        want.append((user, first, last + 30_000, count))
    got = [(f["user"], int(f["start"]), int(f["end"]), int(f["clicks"])) for _, f in client.xrange("sessions")]
    assert sorted(got) == sorted(want)


def test_a_stream_job_in_the_drivers_process_prints_the_clusters_answer():
    # Context(master="inline") runs the stream in this process (LocalExecutor), as for pdb
    def run(**env):
        return subprocess.run([sys.executable, os.path.join(REPO, "jobs", "stream_hot_items.py"), "--bids", "3000"],
                              capture_output=True, text=True, timeout=120, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": REPO, **env})
    inline, cluster = run(MINIBIG_MASTER="inline"), run(MINIBIG_WORKERS="2")
    assert inline.returncode == 0 == cluster.returncode, inline.stderr + cluster.stderr
    inline_lines, cluster_lines = inline.stdout.splitlines(), cluster.stdout.splitlines()
    assert inline_lines[:-1] == cluster_lines[:-1] and len(inline_lines) > 5
    assert inline_lines[-1].endswith(", 0 late bids, 0 checkpoints")


def test_wordcount_prints_a_socket_windows_bounds_as_times_of_day_to_its_precision():
    job = load_job("stream_wordcount")
    t = time.mktime((2026, 12, 3, 8, 30, 5, 0, 0, -1))         # local 08:30:05
    assert job._when(t, job.parse_args(["--socket", "h:1", "--window", "5"])) == "08:30:05"
    half = job.parse_args(["--socket", "h:1", "--window", "0.5"])
    assert [job._when(t + d, half) for d in (0, 0.5)] == ["08:30:05.000", "08:30:05.500"]
    assert job._when(1500.0, job.parse_args(["--window", "1000"])) == "1500"


def test_wordcount_summary_counts_time_windows_not_one_per_word_in_each():
    # 2,500 generated lines stamped 0..2499 ms in 1 s windows: 3 time windows of ~15 words each
    done = subprocess.run([sys.executable, os.path.join(REPO, "jobs", "stream_wordcount.py"), "--lines", "2500",
                           "--window", "1000"], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO, "MINIBIG_MASTER": "inline"})
    assert done.returncode == 0, done.stderr
    *windows, summary = done.stdout.splitlines()
    assert [line.split(")")[0] for line in windows] == ["[0, 1000", "[1000, 2000", "[2000, 3000"]
    assert summary == "15000 words, 3 windows, 0 checkpoints"
