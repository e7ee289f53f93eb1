"""The master's scheduling policy: plain state, tested directly, and on a cluster."""

import operator
import random
import threading

import pytest

import support  # noqa: F401  (the test session's cluster key, for the frames test's own sockets)
from minibig import Context
from minibig.net import protocol as P
from minibig.net.security import dealer
from minibig.cluster.placement import Exclusions
from minibig.cluster.taskset import (ANY, NO_PREF, NODE_LOCAL, PROCESS_LOCAL, Policy, Prefs,
                                       TaskSet)


def make_taskset(n=4, prefs=None, max_attempts=4):
    return TaskSet(key="d/0.0", driver_id="d", job_id=0, stage_id=0, description="",
                   code=b"", payloads={p: b"" for p in range(n)}, prefs=prefs or {},
                   reads_shuffles=[], writes_shuffle=None, py_files=[], broadcasts=[],
                   task_conf={}, max_attempts=max_attempts, submitted=0.0)


LIVE, HOSTS = {"w1", "w2"}, {"h1", "h2"}


def test_delay_scheduling_waits_for_the_preferred_worker_then_relaxes():
    ts = make_taskset(2, {0: Prefs({"w1"}, {"h1"}), 1: Prefs({"w1"}, {"h1"})})
    policy = Policy(locality_wait=1.0)
    assert ts.take_task("w2", "h2", 0.5, policy, LIVE, HOSTS) is None, "w2 must wait for w1"
    assert ts.take_task("w1", "h1", 0.6, policy, LIVE, HOSTS)[2] == PROCESS_LOCAL
    assert ts.take_task("w2", "h2", 1.0, policy, LIVE, HOSTS) is None, "the wait restarted at 0.6"
    picked = ts.take_task("w2", "h2", 3.7, policy, LIVE, HOSTS)
    assert picked is not None and picked[2] == ANY


def test_node_local_comes_before_any():
    ts = make_taskset(1, {0: Prefs({"w1"}, {"h1"})})
    policy = Policy(locality_wait=1.0)
    assert ts.take_task("w3", "h1", 1.5, policy, LIVE | {"w3"}, HOSTS)[2] == NODE_LOCAL


def test_tasks_without_preferences_run_at_once():
    ts = make_taskset(3)
    assert [ts.take_task("w1", "h1", 0.0, Policy(), LIVE, HOSTS)[2] for _ in range(3)] == [NO_PREF] * 3


def test_failed_task_is_not_retried_on_the_same_worker_while_others_exist():
    ts = make_taskset(1)
    partition, attempt, _, _ = ts.take_task("w1", "h1", 0.0, Policy(), LIVE, HOSTS)
    assert ts.fail(partition, attempt, "w1")
    assert ts.take_task("w1", "h1", 0.1, Policy(), LIVE, HOSTS) is None
    assert ts.take_task("w2", "h2", 0.1, Policy(), LIVE, HOSTS)[:2] == (0, 1)


def test_task_fails_the_set_after_max_attempts():
    ts = make_taskset(1, max_attempts=2)
    p, a, _, _ = ts.take_task("w1", "h1", 0.0, Policy(), LIVE, HOSTS)
    assert ts.fail(p, a, "w1")
    p, a, _, _ = ts.take_task("w2", "h2", 0.0, Policy(), LIVE, HOSTS)
    assert not ts.fail(p, a, "w2")


def test_speculation_backs_up_the_slowest_task_once_most_are_done():
    ts = make_taskset(8)
    policy = Policy(speculation_min_seconds=0.1)
    for _ in range(8):
        ts.take_task("w1", "h1", 0.0, policy, LIVE, HOSTS)
    for p in range(1, 8):
        ts.succeed(p, 0, 1.0)
    assert ts.stragglers(1.2, policy) == [], "not yet slower than 1.5x the median"
    assert ts.stragglers(2.0, policy) == [0]
    backup = ts.take_task("w2", "h2", 2.0, policy, LIVE, HOSTS)
    assert backup[:2] == (0, 1) and backup[3] is True
    assert ts.take_task("w1", "h1", 2.0, policy, LIVE, HOSTS) is None, "one backup only"
    assert ts.succeed(0, 1, 2.5) and ts.other_attempts(0) == [(0, "w1")]


def test_progress_rate_ranks_stragglers():
    ts = make_taskset(10)
    policy = Policy(speculation_min_seconds=0.1, speculation_cap=0.5)
    for _ in range(10):
        ts.take_task("w1", "h1", 0.0, policy, LIVE, HOSTS)
    for p in range(2, 10):
        ts.succeed(p, 0, 1.0)
    ts.report_progress(0, 0, 0.9)     # nearly there
    ts.report_progress(1, 0, 0.1)     # far behind
    assert ts.stragglers(3.0, policy)[0] == 1


def test_exclusions_never_exclude_the_last_worker():
    ex = Exclusions(max_failures=2, window=10, exclude_for=5)
    ex.record_failure("w1", 0.0)
    ex.record_failure("w1", 1.0)
    assert ex.usable(["w1", "w2"], 2.0) == ["w2"]
    assert ex.usable(["w1"], 2.0) == ["w1"]
    assert ex.usable(["w1", "w2"], 6.5) == ["w1", "w2"]


def test_a_task_that_failed_its_last_attempt_leaves_no_worker_excluded():
    ex = Exclusions(max_failures=2, window=10, exclude_for=5)
    ex.record_failure("w1", 0.0, ("bad", 0))
    ex.record_failure("w1", 1.0, ("bad", 0))
    ex.record_failure("w2", 1.0, ("flaky", 3))
    assert ex.usable(["w1", "w2"], 2.0) == ["w2"]
    ex.forgive(("bad", 0))                       # it failed wherever it ran: not w1's fault
    assert ex.usable(["w1", "w2"], 2.0) == ["w1", "w2"]
    ex.record_failure("w2", 2.0, ("flaky", 4))   # w2's own failures still add up
    assert ex.usable(["w1", "w2"], 2.5) == ["w1"]
    ex.record_failure("w1", 3.0, ("bad", 1))
    ex.record_failure("w1", 3.5, ("other", 0))
    ex.forgive(("bad", 7))                       # forgiving another task lifts nothing
    assert ex.excluded(4.0) == ["w1", "w2"]
    ex.forgive(("bad", 1))                       # w1 keeps one failure of its own: not enough
    assert ex.excluded(4.0) == ["w2"]


def _pid(_):
    import os
    return os.getpid()


def _always_fails(_):
    raise ValueError("a user's bug, raised on every worker")


def test_jobs_failing_on_a_users_exception_leave_both_workers_for_the_next_job():
    """Five jobs whose one task fails its one attempt: three failures on one worker would
    exclude it for 30 s (the other holds at most two), yet each failure followed the task,
    not the worker, so the next job runs on both workers again."""
    with Context(workers=2, max_task_attempts=1, speculation=False, appName="forgive",
                 progress=False) as ctx:
        for _ in range(5):
            with pytest.raises(ValueError, match="a user's bug"):
                ctx.parallelize(range(1), 1).map(_always_fails).collect()
        seen: set = set()
        for _ in range(20):                      # bounded: tiny jobs until both workers ran one
            seen.update(ctx.parallelize(range(16), 16).map(_pid).collect())
            if len(seen) == 2:
                break
        assert len(seen) == 2, "a worker stayed excluded after the failed jobs"


def test_iterations_over_a_cached_dataset_run_process_local(sc):
    data = sc.parallelize(range(4000), 8).map(lambda x: (x % 10, x)).cache()
    data.count()
    local = total = 0
    for i in range(10):
        assert data.filter(lambda kv, i=i: kv[0] == i).count() == 400
        local += sc.lastJob.locality[PROCESS_LOCAL]
        total += sc.lastJob.tasks
    assert total == 80 and local / total >= 0.95
    plain = sc.parallelize(range(4000), 8).map(lambda x: (x % 10, x))
    for i in range(3):
        plain.filter(lambda kv, i=i: kv[0] == i).count()
        assert sc.lastJob.locality[PROCESS_LOCAL] == 0
    data.unpersist()


def test_two_drivers_share_a_master_and_one_failure_does_not_disturb_the_other(sc):
    results = {}

    def good():
        with Context(master=sc.master) as ctx:
            results["good"] = dict(ctx.parallelize([(i % 7, i) for i in range(700)], 7)
                                   .reduceByKey(operator.add).collect())

    def bad():
        with Context(master=sc.master) as ctx:
            try:
                ctx.parallelize(range(10), 5).map(lambda x: 1 // 0).collect()
            except ZeroDivisionError:
                results["bad"] = "failed as it should"
    threads = [threading.Thread(target=f) for f in (good, bad)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {"good": {k: sum(i for i in range(700) if i % 7 == k) for k in range(7)},
                       "bad": "failed as it should"}


def _status(url):
    sock = dealer(url)
    P.send(sock, P.STATUS)
    assert sock.poll(20_000), "the master stopped answering"
    reply = P.recv(sock).header
    sock.close()
    return reply


def _garbage(rng):
    kinds = [b"register", b"heartbeat", b"task_done", b"task_failed", b"submit_stage", b"hello",
             b"fetch_block", b"bye", b"status", b"launch", b"\xff\xfe", b""]
    frames = [rng.choice(kinds)]
    header = rng.choice([b"{}", b"not json", b'{"worker_id": 3}', b'{"taskset": "x/1.0"}',
                         b'{"driver_id": "d", "partitions": [1, 2]}', b"[1, 2]", b'{"shuffle": 1}',
                         bytes(rng.randrange(256) for _ in range(rng.randrange(40)))])
    frames.append(header)
    frames += [bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
               for _ in range(rng.randrange(3))]
    return frames[:rng.randrange(0, len(frames) + 1)] or [b""]


@pytest.mark.parametrize("seed", [1, 2])
def test_random_and_truncated_frames_do_not_break_the_cluster(sc, seed):
    rng = random.Random(seed)
    status = _status(sc.master)
    targets = [sc.master] + [w["block_addr"] for w in status["workers"]]
    socks = []
    for addr in targets:
        socks.append(dealer(addr))      # holds the cluster's key: past the handshake
    for _ in range(300):
        rng.choice(socks).send_multipart(_garbage(rng))
    for sock in socks:
        sock.close()
    assert len(_status(sc.master)["workers"]) == 2
    pairs = [(i % 5, i) for i in range(500)]
    assert dict(sc.parallelize(pairs, 4).reduceByKey(operator.add).collect()) == \
        {k: sum(i for i in range(500) if i % 5 == k) for k in range(5)}


def test_fair_mode_serves_both_drivers():
    with Context(workers=2, scheduler_mode="FAIR") as one:
        assert one.parallelize(range(100), 10).sum() == 4950
        with Context(master=one.master) as two:
            assert two.parallelize(range(10), 10).count() == 10


