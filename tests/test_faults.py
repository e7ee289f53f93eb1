"""Fault injection on real processes: a killed or stopped worker costs time,
never the answer.

Tasks announce themselves with marker files and wait for the test's
go-ahead (tests/faults.py), so each test kills a worker at an exact moment
without sleeping. Each cluster here is its own, with a short heartbeat timeout.
"""

import collections
import operator
import os
import signal
import sys

import pytest

import faults
from minibig import Context


PAIRS = [(i % 13, i) for i in range(2600)]
EXPECTED = {k: sum(v for kk, v in PAIRS if kk == k) for k in range(13)}




@pytest.fixture
def cluster():
    ctx = Context(workers=3, worker_timeout=3.0, fetch_timeout=3.0, appName="faults")
    yield ctx
    ctx.stop()


def worker_pids(ctx):
    return [p.pid for p in ctx._cluster.workers]


def test_worker_killed_during_a_map_stage(cluster, tmp_path):
    release = str(tmp_path / "go")

    def mapper(kv):
        faults.announce_and_wait(str(tmp_path), "map", release)
        return kv
    rdd = cluster.parallelize(PAIRS, 12).map(mapper).reduceByKey(operator.add)
    join = faults.run_in_thread(lambda: dict(rdd.collect()))
    victim = faults.wait_for_marker(str(tmp_path), "map")[0]
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    assert join() == EXPECTED


def test_worker_killed_during_a_reduce_stage(cluster, tmp_path):
    release = str(tmp_path / "go")

    def after_shuffle(kv):
        faults.announce_and_wait(str(tmp_path), "reduce", release)
        return kv
    rdd = cluster.parallelize(PAIRS, 6).reduceByKey(operator.add, 6).map(after_shuffle)
    join = faults.run_in_thread(lambda: dict(rdd.collect()))
    victim = faults.wait_for_marker(str(tmp_path), "reduce")[0]
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    assert join() == EXPECTED


@pytest.mark.parametrize("stage", ["map", "reduce"])
def test_worker_killed_during_an_mrjob_stage(cluster, tmp_path, stage):
    # MRJob's map tasks send their groups as packed column blocks: a killed map task runs
    # again, a reduce task whose worker died fetches the blocks made again, same output.
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "jobs"))
    from mr_pausing_word_freq import MRPausingWordFreq
    words = [f"w{i % 997}" for i in range(20000)]
    inputs = []
    for part in range(4):                           # one map task per input file
        path = tmp_path / f"part{part}.txt"
        path.write_text("\n".join(" ".join(words[i:i + 10]) for i in range(part, len(words), 40)))
        inputs.append(str(path))
    expected = collections.Counter(w for path in inputs for w in open(path).read().split())
    folder, release = tmp_path / "markers", str(tmp_path / "go")
    folder.mkdir()
    job = MRPausingWordFreq(args=[*inputs, "--folder", str(folder), "--release", release,
                                  "--stage", stage, "--num-reducers", "3", "--master", cluster.master])

    def run_job():
        with job.make_runner() as runner:
            runner.run()
            return dict(job.parse_output(runner.cat_output()))
    join = faults.run_in_thread(run_job)
    victim = faults.wait_for_marker(str(folder), stage)[0]
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    assert join(240.0, f"the MRJob with a worker killed in its {stage} stage") == dict(expected)


def test_lost_map_outputs_are_recomputed_for_the_lost_partitions_only(tmp_path):
    # No backup copies: this test counts how often each map partition ran.
    with Context(workers=3, worker_timeout=3.0, fetch_timeout=3.0,
                 shuffle_local_read=False, speculation=False) as ctx:
        def tagged(split, records):
            faults.announce_and_wait(str(tmp_path), f"p{split}")
            return records
        summed = ctx.parallelize(PAIRS, 6).mapPartitionsWithIndex(tagged).reduceByKey(operator.add, 4)
        assert dict(summed.collect()) == EXPECTED
        runs = collections.Counter(n.split("-")[0] for n in os.listdir(tmp_path))
        pid_of = {}
        for name in os.listdir(tmp_path):
            tag, pid = name.split("-")[:2]
            pid_of[tag] = int(pid)
        victim = pid_of["p0"]
        lost = {tag for tag, pid in pid_of.items() if pid == victim}
        os.kill(victim, signal.SIGKILL)
        before = collections.Counter(n.split("-")[0] for n in os.listdir(tmp_path))
        assert dict(summed.collect()) == EXPECTED, "the reused shuffle lost outputs; answer must hold"
        after = collections.Counter(n.split("-")[0] for n in os.listdir(tmp_path))
        rerun = {tag for tag in after if after[tag] > before[tag]}
        assert rerun == lost, "only the map partitions of the dead worker run again"
        assert sum(runs.values()) == 6


def test_a_task_failing_on_one_worker_only_succeeds_elsewhere(cluster):
    bad = worker_pids(cluster)[0]

    def picky(kv):
        if os.getpid() == bad:
            raise OSError("this worker's disk is broken")
        return kv
    got = dict(cluster.parallelize(PAIRS, 9).map(picky).reduceByKey(operator.add).collect())
    assert got == EXPECTED


def test_a_stopped_worker_is_worked_around_by_speculation(tmp_path):
    with Context(workers=3, worker_timeout=600.0, appName="straggler") as ctx:
        release = str(tmp_path / "go")

        def slow_once(x):
            if x == 0:
                faults.announce_and_wait(str(tmp_path), "straggler", release)
            return x * 2
        join = faults.run_in_thread(lambda: ctx.parallelize(range(24), 24).map(slow_once).sum())
        straggler = faults.wait_for_marker(str(tmp_path), "straggler")[0]
        os.kill(straggler, signal.SIGSTOP)
        try:
            faults.touch(release)      # the backup copy of task 0 may now finish
            assert join() == sum(x * 2 for x in range(24))
            assert ctx.defaultParallelism == 3
        finally:
            os.kill(straggler, signal.SIGCONT)


def test_a_worker_joining_mid_job_gets_work(tmp_path):
    with Context(workers=1, appName="late-joiner") as ctx:
        release = str(tmp_path / "go")

        def gated(x):
            faults.announce_and_wait(str(tmp_path), "task", release)
            return os.getpid()
        join = faults.run_in_thread(lambda: set(ctx.parallelize(range(12), 12).map(gated).collect()))
        faults.wait_for_marker(str(tmp_path), "task")
        late = ctx._cluster.add_worker()
        faults.wait_for_marker(str(tmp_path), "task", count=2)
        faults.touch(release)
        pids = join()
        assert late.pid in pids and len(pids) == 2


def test_speculation_and_retries_commit_each_partition_once(tmp_path):
    """A backup attempt and its original both finish: one output file, one count."""
    out = tmp_path / "out"
    markers = tmp_path / "markers"
    markers.mkdir()
    with Context(workers=3, worker_timeout=600.0, appName="exactly-once") as ctx:
        counted = ctx.accumulator(0)
        release = str(tmp_path / "go")

        def record(split, records):
            records = list(records)
            counted.add(len(records))
            if split == 0:
                faults.announce_and_wait(str(markers), "first", release)
            return iter(records)
        data = ctx.parallelize(range(240), 24).mapPartitionsWithIndex(record)
        join = faults.run_in_thread(lambda: data.saveAsTextFile(str(out)))
        straggler = faults.wait_for_marker(str(markers), "first")[0]
        os.kill(straggler, signal.SIGSTOP)
        try:
            faults.touch(release)
            join()
        finally:
            os.kill(straggler, signal.SIGCONT)
        lines = ctx.textFile(str(out)).collect()
    assert sorted(map(int, lines)) == list(range(240)), "no record lost or written twice"
    assert sorted(os.listdir(out)) == ["_SUCCESS"] + [f"part-{i:05d}" for i in range(24)]
    assert counted.value == 240, "accumulator updates counted once per partition"


def test_cached_partitions_of_a_killed_worker_are_recomputed_from_lineage(cluster):
    computed = cluster.accumulator(0)

    def tag(x):
        computed.add(1)
        return (x % 7, x, os.getpid())
    cached = cluster.parallelize(range(700), 12).map(tag).cache()
    holders = collections.Counter(pid for _, _, pid in cached.collect())
    assert computed.value == 700 and len(holders) >= 2
    victim = holders.most_common(1)[0][0]
    os.kill(victim, signal.SIGKILL)
    got = dict(cached.map(lambda t: (t[0], t[1])).reduceByKey(operator.add).collect())
    assert got == {k: sum(x for x in range(700) if x % 7 == k) for k in range(7)}
    assert dict(cached.map(lambda t: (t[0], t[1])).reduceByKey(operator.add).collect()) == got


def test_worker_killed_during_the_reduce_stage_of_an_arrow_str_count(cluster, tmp_path):
    """A str count big enough for the Arrow sums (`ArrowColumns`, past ARROW_MIN_KEYS_COLD
    keys a map task on a fresh worker): a worker killed while the reducers hold their
    sums costs a retry (and the lost map outputs), not the answer."""
    from minibig.shuffle import writer
    per_map = writer.ARROW_MIN_KEYS_COLD + 10_000
    maps = [[(f"w{i}", 1 + i % 3) for i in range(m * 100_000, m * 100_000 + per_map)]
            for m in range(2)]
    expected = collections.Counter()
    for part in maps:
        for word, n in part:
            expected[word] += n
    release = str(tmp_path / "go")

    def after_shuffle(records):
        faults.announce_and_wait(str(tmp_path), "reduce", release)
        return records
    rdd = (cluster.parallelize(maps, 2).flatMap(lambda part: part)
           .reduceByKey(operator.add, 3).mapPartitions(after_shuffle))
    join = faults.run_in_thread(lambda: dict(rdd.collect()))
    victim = faults.wait_for_marker(str(tmp_path), "reduce")[0]
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    assert join() == dict(expected)
    # The count went through Arrow: the workers left loaded pyarrow for it (nothing else here does).
    assert any(cluster.parallelize(range(6), 6).map(lambda _: "pyarrow" in sys.modules).collect())
