"""Every path where a killed worker could lose a task without it running again,
and every handler failure that could leave a job waiting: each job must end,
with the exact answer or a clear error, on real master and worker processes.

Tasks announce themselves with marker files and wait for the test's
go-ahead (tests/faults.py), so a worker dies at an exact moment.
"""

import collections
import operator
import os
import pickle
import signal
import threading

import cloudpickle
import pytest
import zmq

import faults
import support
from minibig import Context
from minibig.core.task import FIRST_FRAME_RECORDS, current_task
from minibig.errors import JobAbortedError
from minibig.net import protocol as P
from minibig.net.security import dealer, stop_authenticators

try:
    from minibig.net.security import load_key_file, secure_server
except ImportError:                   # before clusters were keyed: nothing to secure
    def secure_server(sock, key=None):
        pass

    def load_key_file(path):
        return None


def worker_key():
    """The key the workers `support` starts hold (other tests may change this process's)."""
    path = getattr(support, "KEY_FILE", None)
    return load_key_file(path) if path else None


PAIRS = [(i % 13, i) for i in range(1300)]
EXPECTED = {k: sum(v for kk, v in PAIRS if kk == k) for k in range(13)}
JOB_TIMEOUT = 120




def test_finished_map_outputs_of_a_worker_killed_mid_stage_are_made_again(tmp_path):
    """The issue's hang: the dead worker held finished outputs of the running map stage."""
    folder, release = str(tmp_path), str(tmp_path / "go")
    # No speculation: a backup of the dead worker's task could finish the stage
    # before the loss is noticed, and the lost outputs would never be waited for.
    with Context(workers=2, worker_timeout=3.0, speculation=False, appName="lost-outputs") as ctx:
        def gated(split, records):
            if split < 4:
                faults.announce_and_wait(folder, "done")
            else:
                faults.announce_and_wait(folder, "held", release)
            return records
        rdd = ctx.parallelize(PAIRS, 12).mapPartitionsWithIndex(gated).reduceByKey(operator.add, 3)
        join = faults.run_in_thread(lambda: dict(rdd.collect()))
        held = faults.wait_for_marker(folder, "held", count=2)   # splits 0-3 are all done
        victim = next(pid for pid in held if pid in faults.pids_of(folder, "done"))
        os.kill(victim, signal.SIGKILL)
        faults.touch(release)
        assert join() == EXPECTED


def test_tasks_waiting_for_locality_on_a_killed_worker_run_elsewhere(tmp_path):
    """Delay scheduling keeps tasks for the worker caching their input; it dies: they move."""
    folder, release = str(tmp_path), str(tmp_path / "go")
    with Context(workers=2, worker_timeout=3.0, locality_wait=600.0, appName="locality") as ctx:
        cached = ctx.parallelize(range(600), 8).map(lambda x: (x % 5, x, os.getpid())).cache()
        holders = collections.Counter(pid for _, _, pid in cached.collect())
        assert len(holders) == 2

        def gated(record):
            faults.announce_and_wait(folder, "task", release)
            return record[:2]
        join = faults.run_in_thread(lambda: dict(cached.map(gated).reduceByKey(operator.add).collect()))
        victim = faults.wait_for_marker(folder, "task")[0]
        os.kill(victim, signal.SIGKILL)
        faults.touch(release)
        assert join() == {k: sum(x for x in range(600) if x % 5 == k) for k in range(5)}


def test_the_original_of_a_speculated_task_dies_and_its_copy_wins(tmp_path):
    folder, release = str(tmp_path), str(tmp_path / "go")
    with Context(workers=3, worker_timeout=3.0, appName="speculated") as ctx:
        def slow_first(x):
            if x == 0:
                faults.announce_and_wait(folder, f"a{current_task().attempt}", release)
            return x * 2
        join = faults.run_in_thread(lambda: ctx.parallelize(range(24), 24).map(slow_first).sum())
        original = faults.wait_for_marker(folder, "a0")[0]
        faults.wait_for_marker(folder, "a1")          # the backup copy has started
        os.kill(original, signal.SIGKILL)
        faults.touch(release)
        assert join() == sum(x * 2 for x in range(24))


def test_a_fetch_failure_from_a_killed_worker_rebuilds_all_its_outputs_at_once(tmp_path):
    """Reducers find the dead worker before the master does: its outputs are rebuilt in one
    resubmission, and the ones invalidated later by its loss are not waited for forever."""
    folder, release = str(tmp_path), str(tmp_path / "go")
    with Context(workers=3, worker_timeout=6.0, fetch_timeout=1.0, shuffle_local_read=False,
                 appName="fetch-failed") as ctx:
        def mapped(split, records):
            faults.announce_and_wait(folder, "map")
            return records

        def reduced(split, records):
            faults.announce_and_wait(folder, "reduce", release)
            return records
        rdd = (ctx.parallelize(PAIRS, 18).mapPartitionsWithIndex(mapped)
               .reduceByKey(operator.add, 3).mapPartitionsWithIndex(reduced))
        join = faults.run_in_thread(lambda: dict(rdd.collect()))
        faults.wait_for_marker(folder, "reduce")      # every map output is written
        writers = collections.Counter(int(n.split("-")[1]) for n in faults.markers(folder, "map"))
        victim = writers.most_common(1)[0][0]
        os.kill(victim, signal.SIGKILL)
        faults.touch(release)
        assert join() == EXPECTED


# -- handler failures ---------------------------------------------------------
class Unsayable(Exception):
    """A user exception that cannot even be turned into text."""

    def __str__(self):
        raise RuntimeError("no words for this")


def test_an_exception_that_cannot_describe_itself_fails_the_job(sc):
    def bad(x):
        raise Unsayable()
    join = faults.run_in_thread(lambda: sc.parallelize(range(4), 2).map(bad).collect(), JOB_TIMEOUT)
    with pytest.raises(Unsayable):
        join()
    assert sc.parallelize(range(10), 2).sum() == 45, "the cluster serves the next job"


class BreaksOnWorkers:
    """Unpickles on the driver, raises when a worker unpickles the stage's code."""

    def __init__(self):
        self.driver = os.getpid()

    def __setstate__(self, state):
        if os.getpid() != state["driver"]:
            raise ValueError("this object cannot live on a worker")
        self.__dict__.update(state)


def test_stage_code_that_cannot_be_unpickled_on_workers_fails_the_job(sc):
    thing = BreaksOnWorkers()
    with pytest.raises(ValueError, match="cannot live on a worker"):
        sc.parallelize(range(4), 2).map(lambda x: (thing, x)[1]).collect()
    assert sc.parallelize(range(10), 2).sum() == 45


def test_a_launch_the_worker_cannot_start_is_reported_failed(tmp_path):
    """A real worker, a stand-in master: a malformed launch gets a task_failed, not silence."""
    zctx = zmq.Context()
    router = zctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    secure_server(router, worker_key())           # workers talk only to a keyed master
    port = router.bind_to_random_port("tcp://127.0.0.1")
    worker = support.start_worker(f"tcp://127.0.0.1:{port}", "--work-dir", str(tmp_path))
    try:
        hello = faults.wait_until(lambda: _registration(router), "the worker registering")
        P.send(router, P.REGISTERED, {"heartbeat_interval": 0.5}, identity=hello.identity)
        launch = {"taskset": "d0/0.0", "stage_id": 0, "job_id": 0, "partition": 3, "attempt": 0,
                  "blobs": ["payload", "code"], "locations": {}, "task_conf": {}}
        P.send(router, P.LAUNCH, launch, [b"only one blob"], identity=hello.identity)
        reply = faults.wait_until(lambda: _next_report(router), "a report of the launch")
        assert reply.kind == P.TASK_FAILED
        assert (reply.header["taskset"], reply.header["partition"]) == ("d0/0.0", 3)
        assert "blob" in reply.header["error"]
    finally:
        support.cleanup([worker])
        router.close(0)
        stop_authenticators()
        zctx.term()


def _registration(router):
    """The worker's register message; answers the probes it may send first."""
    while router.poll(100):
        msg = P.recv(router, routed=True)
        if msg.kind == P.REGISTER:
            return msg
        if msg.kind == P.STATUS:
            P.send(router, P.STATUS_REPLY, {"workers": []}, identity=msg.identity)
    return None


def _next_report(router):
    while router.poll(100):
        msg = P.recv(router, routed=True)
        if msg.kind in (P.TASK_DONE, P.TASK_FAILED):
            return msg
    return None


def test_a_submit_the_master_cannot_handle_fails_the_stage():
    master, url = support.start_master()
    sock = dealer(url)
    try:
        header = {"driver_id": "dtest", "job_id": 1, "taskset": "0.0", "partitions": [0],
                  "description": "broken"}                 # no stage_id
        P.send(sock, P.SUBMIT_STAGE, header, [b"code", b"payload"])
        assert sock.poll(30_000), "the master dropped the submit without a word"
        reply = P.recv(sock)
        assert reply.kind == P.STAGE_FAILED
        report = pickle.loads(reply.blobs[0])
        assert isinstance(pickle.loads(report["exception"]), JobAbortedError)
        assert "stage_id" in reply.header["error"]
        assert faults.master_status(url)["url"] == url, "the master is still up"
    finally:
        sock.close(0)
        support.cleanup([master])


# -- cancellation ---------------------------------------------------------------
def test_killed_and_speculated_attempts_release_memory_and_spill_folders(tmp_path):
    folder = str(tmp_path)
    with Context(workers=3, worker_timeout=600.0, appName="kills") as ctx:
        def hold_resources(x):
            task = current_task()
            assert task.memory_budget > 0
            with open(os.path.join(task.spill_dir(), "run"), "w") as f:
                f.write("spilled")
            if x == 0 and task.attempt == 0:          # straggles until the master kills it
                faults.announce_and_wait(folder, "straggler", str(tmp_path / "never"), limit=90)
            return x
        assert ctx.parallelize(range(24), 24).map(hold_resources).sum() == sum(range(24))

        def all_released():
            workers = faults.master_status(ctx.master)["workers"]
            spill = [os.listdir(os.path.join(w["work_dir"], "spill")) for w in workers
                     if os.path.isdir(os.path.join(w["work_dir"], "spill"))]
            return (all(w["running"] == 0 and w["reserved"] == 0 for w in workers)
                    and not any(spill))
        faults.wait_until(all_released, "releasing every task's memory and spill folder")


def test_a_kill_landing_in_a_tasks_cleanup_does_not_leak(tmp_path, monkeypatch):
    """Deterministic: the kill is sent from inside the cleanup that releases the task."""
    from minibig.cluster import worker as worker_module
    from minibig.core import task as task_module
    w = worker_module.Worker("tcp://127.0.0.1:1", 1, "127.0.0.1", str(tmp_path), 1 << 24)
    done = w.zctx.socket(zmq.PULL)
    done.bind(f"inproc://done-{w.worker_id}")
    key = ("d0/0.0", 0, 0)
    real_rmtree = task_module.shutil.rmtree

    def rmtree_killed_midway(path, **kw):
        w.kill(key)                               # as if the master's kill arrived now
        for _ in range(1000):                     # bytecodes: where the kill would land
            pass
        real_rmtree(path, **kw)
    monkeypatch.setattr(task_module.shutil, "rmtree", rmtree_killed_midway)

    def uses_memory_and_disk(iterator):
        task = current_task()
        task.memory_budget
        task.spill_dir()
        return sum(iterator)
    w.codes.add(key[0], cloudpickle.dumps(OneTaskCode(uses_memory_and_disk)))
    switch = worker_module.KillSwitch()
    w.active[key] = switch
    header = {"taskset": key[0], "partition": 0, "attempt": 0, "stage_id": 0, "task_conf": {}}
    payload = cloudpickle.dumps({})
    thread = threading.Thread(target=w.execute, args=(key, header, payload, switch))
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert done.poll(10_000), "the attempt reported nothing"
    report = P.decode(done.recv_multipart())
    assert report.kind in (P.TASK_DONE, P.TASK_FAILED)
    assert w.memory.reserved == {}, "the memory reservation leaked"
    assert not os.listdir(os.path.join(str(tmp_path), "spill")), "the spill folder leaked"
    assert key not in w.active
    done.close(0)
    w.pool.shutdown()


class OneTaskCode:
    """The code of a one-task result stage over [1, 2, 3], without a driver."""

    kind = "result"                       # the task protocol's two spellings: attributes...
    returns_to_driver = True

    def __init__(self, func):
        self.func = func
        self.rdd = self

    def iterator(self, split, ctx):
        return iter([1, 2, 3])

    def run(self, ctx):                   # ...and methods
        return self.func(self.iterator(ctx.partition, ctx))

    def result_fields(self, value):
        return {}

    def failure_site(self, exc):
        return ""


# -- results streamed in frames (core/task.py: stream_result) --------------------------
def frames_seen(monkeypatch) -> set:
    """(partition, attempt) of every result frame the driver decodes from now on."""
    from minibig.core import dag
    seen, decode = set(), dag._Job.frame_arrived

    def spy(job, stage, h, blob):
        seen.add((int(h["partition"]), int(h["attempt"])))
        return decode(job, stage, h, blob)
    monkeypatch.setattr(dag._Job, "frame_arrived", spy)
    return seen


def streamed(split, hold, n=6 * FIRST_FRAME_RECORDS):
    """Pairs of a partition; `hold()` runs once a frame of them has been sent."""
    for i in range(split * n, (split + 1) * n):
        if i == split * n + 2 * FIRST_FRAME_RECORDS:
            hold(split)
        yield f"w{i}", i


def test_a_worker_killed_mid_stream_leaves_no_record_of_its_attempt(tmp_path, monkeypatch):
    folder, release = str(tmp_path), str(tmp_path / "go")
    seen = frames_seen(monkeypatch)

    def hold(split):
        if split == 0 and current_task().attempt == 0:
            faults.announce_and_wait(folder, "streaming", release)
    with Context(workers=2, worker_timeout=3.0, speculation=False, appName="killed-stream") as ctx:
        rdd = ctx.parallelize(range(3), 3).flatMap(lambda s: streamed(s, hold))
        join = faults.run_in_thread(rdd.collect)
        victim = faults.wait_for_marker(folder, "streaming")[0]
        faults.wait_until(lambda: (0, 0) in seen, "the driver decoding a frame of attempt 0")
        os.kill(victim, signal.SIGKILL)
        faults.touch(release)
        assert join() == [r for s in range(3) for r in streamed(s, lambda s: None)]
        assert (0, 1) in seen                     # the retry streamed too


def test_a_speculative_copy_wins_and_the_originals_frames_are_dropped(tmp_path, monkeypatch):
    folder = str(tmp_path)
    seen = frames_seen(monkeypatch)

    def hold(split):
        if split == 0 and current_task().attempt == 0:    # straggles until the master kills it
            faults.announce_and_wait(folder, "straggler", str(tmp_path / "never"), limit=90)
    with Context(workers=3, worker_timeout=600.0, appName="speculated-stream") as ctx:
        got = ctx.parallelize(range(12), 12).flatMap(lambda s: streamed(s, hold)).collect()
        assert got == [r for s in range(12) for r in streamed(s, lambda s: None)]
        assert (0, 0) in seen and (0, 1) in seen
