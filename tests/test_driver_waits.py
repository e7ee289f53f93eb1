"""A driver never waits forever for a job the cluster no longer runs.

Each test takes something away from a running job on real master and
worker processes — its task set, the master's memory of the driver, the
master itself, the master's sense of time — and the job must end within a
bound: with the exact answer when the work can be done again, else with a
typed error. Tasks announce themselves with marker files and wait for the
test's go-ahead (tests/faults.py).
"""

import os
import signal
import time

import pytest

import faults
from minibig import Context
from minibig.core.task import TaskCode
from minibig.errors import JobAbortedError
from minibig.net import protocol as P
from minibig.net.security import dealer

#: A job that hears nothing asks the master after client.JOB_QUIET_AFTER (5 s): well within.
BOUND = 60


def gated_job(ctx, folder: str, release: str):
    """A collect of 0..99 whose tasks wait for `release`; (join, the master's stage of it)."""
    def gated(split, records):
        faults.announce_and_wait(folder, "held", release)
        return records
    rdd = ctx.parallelize(range(100), 2).mapPartitionsWithIndex(gated)
    join = faults.run_in_thread(rdd.collect, timeout=BOUND)
    faults.wait_for_marker(folder, "held")
    stages = faults.master_status(ctx.master)["stages"]
    assert len(stages) == 1, stages
    return join, stages[0]


def tell_master(url: str, kind: str, header: dict) -> None:
    """Send the master one message from a socket of our own, as any client could."""
    sock = dealer(url, linger=1000)
    try:
        P.send(sock, kind, header)
    finally:
        sock.close()


class Stateful(TaskCode):
    """A task that changes state kept on its worker, as a graph superstep does: run twice,
    it would apply its step twice, so it must never run again behind its caller's back."""

    def __init__(self, folder: str, release: str):
        self.folder, self.release = folder, release

    def run(self, ctx):
        faults.announce_and_wait(self.folder, "stepped", self.release)
        return ctx.partition


def test_a_lost_task_set_of_code_tasks_fails_its_job_and_never_runs_them_again(tmp_path):
    """Code tasks (graph supersteps, run_code) have no lineage: a task set the master lost
    is the caller's to recover (the graph driver rolls back to a checkpoint), so the job
    fails, typed; an RDD stage's is run again (the test below)."""
    folder, release = str(tmp_path), str(tmp_path / "go")
    with Context(workers=2, speculation=False, appName="lost-code") as ctx:
        join = faults.run_in_thread(lambda: ctx._dag.run_code(
            Stateful(folder, release), [0, 1], "stateful tasks", speculate=False), timeout=BOUND)
        faults.wait_for_marker(folder, "stepped", count=2)
        (stage,) = faults.master_status(ctx.master)["stages"]
        tell_master(ctx.master, P.CANCEL_JOB, {"driver_id": ctx._backend.driver_id,
                                               "job_id": stage["job"]})
        faults.wait_until(lambda: not faults.master_status(ctx.master)["stages"],
                          "the master forgetting the task set")
        faults.touch(release)
        with pytest.raises(JobAbortedError, match="lost the task set"):
            join(BOUND, "the code job whose task set was lost")
        assert len(faults.markers(folder, "stepped")) == 2, "a stateful task ran again"
        assert ctx.parallelize(range(10), 2).count() == 10


def test_a_task_set_the_master_lost_runs_again_and_the_job_gets_its_exact_answer(tmp_path):
    """The master drops the job's task set without a word to the driver (as a lost submit
    or lost results would leave it): the driver, hearing nothing, asks, and resubmits."""
    folder, release = str(tmp_path), str(tmp_path / "go")
    with Context(workers=2, speculation=False, appName="lost-taskset") as ctx:
        join, stage = gated_job(ctx, folder, release)
        tell_master(ctx.master, P.CANCEL_JOB, {"driver_id": ctx._backend.driver_id,
                                               "job_id": stage["job"]})
        faults.wait_until(lambda: not faults.master_status(ctx.master)["stages"],
                          "the master forgetting the task set")
        faults.touch(release)
        assert join(BOUND, "the job whose task set was lost") == list(range(100))
        assert ctx.lastJob.stages == 2                # the stage, and its resubmission
        assert ctx.parallelize(range(10), 2).sum() == 45


def test_a_driver_the_master_dropped_fails_its_job_with_a_typed_error(tmp_path):
    """The master forgets the driver (as after driver_timeout without heartbeats) while it
    waits for a job: its stages and shuffles are gone, and the job fails, within a bound."""
    folder, release = str(tmp_path), str(tmp_path / "go")
    with Context(workers=2, speculation=False, appName="dropped-driver") as ctx:
        join, _ = gated_job(ctx, folder, release)
        tell_master(ctx.master, P.BYE, {"driver_id": ctx._backend.driver_id})
        faults.wait_until(lambda: not faults.master_status(ctx.master)["drivers"],
                          "the master forgetting the driver")
        with pytest.raises(JobAbortedError, match="no longer knows this driver"):
            join(BOUND, "the job of a dropped driver")
        # Its running attempts were stopped with it: both slots free again.
        faults.wait_until(lambda: all(w["running"] == 0 for w in
                                      faults.master_status(ctx.master)["workers"]),
                          "the dropped driver's attempts to stop")
        faults.touch(release)


def test_an_embedded_master_killed_during_a_job_fails_it_with_a_typed_error(tmp_path):
    folder, release = str(tmp_path), str(tmp_path / "go")
    with Context(workers=1, appName="killed-master") as ctx:
        join, _ = gated_job(ctx, folder, release)
        started = time.monotonic()
        ctx._cluster.master.kill()
        with pytest.raises(JobAbortedError, match="master has exited"):
            join(BOUND, "the job of a killed master")
        assert time.monotonic() - started < 10      # noticed by its process handle, not a timeout
        faults.touch(release)


def test_a_master_stopped_longer_than_worker_timeout_loses_no_worker_on_waking():
    """Back from a pause, the master reads its queued heartbeats before judging anyone."""
    with Context(workers=2, worker_timeout=2.0, speculation=False, appName="paused-master") as ctx:
        assert ctx.parallelize(range(40), 8).map(lambda x: x * 2).sum() == 1560
        before = {w["id"]: w["tasks_done"] for w in faults.master_status(ctx.master)["workers"]}
        master = ctx._cluster.master
        master.send_signal(signal.SIGSTOP)
        try:
            time.sleep(3.0)            # the fault itself: a pause past worker_timeout (2 s)
        finally:
            master.send_signal(signal.SIGCONT)
        after = {w["id"]: w["tasks_done"] for w in faults.master_status(ctx.master)["workers"]}
        assert after == before, "a worker was judged lost (a new registration counts from 0)"
        assert ctx.parallelize(range(40), 8).map(lambda x: x * 2).sum() == 1560


STOPPED_DRIVER = r"""
import sys
from minibig import Context
import faults
folder, release = sys.argv[1], sys.argv[2]
def gated(split, records):
    faults.announce_and_wait(folder, "held", release)
    return records
with Context(workers=1, master_timeout=2.0, appName="stopped-driver") as ctx:
    print(sum(ctx.parallelize(range(100), 2).mapPartitionsWithIndex(gated).collect()), flush=True)
"""


def test_a_driver_stopped_longer_than_master_timeout_does_not_blame_the_master(tmp_path):
    """The driver itself is paused past master_timeout while its job runs: back, it hears
    the master at once and gets its answer, instead of calling the master silent."""
    import subprocess
    import sys
    import support
    folder, release = str(tmp_path), str(tmp_path / "go")
    env = support.env(PYTHONPATH=os.pathsep.join([os.path.dirname(__file__),
                                                  support.env().get("PYTHONPATH", "")]))
    driver = subprocess.Popen([sys.executable, "-c", STOPPED_DRIVER, folder, release],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        faults.wait_for_marker(folder, "held")
        driver.send_signal(signal.SIGSTOP)
        try:
            time.sleep(3.0)            # the fault itself: a pause past master_timeout (2 s)
        finally:
            driver.send_signal(signal.SIGCONT)
        faults.touch(release)
        out, err = driver.communicate(timeout=BOUND)
        assert driver.returncode == 0, err
        assert out.split() == [str(sum(range(100)))]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_an_aborted_stage_gives_back_the_slots_its_other_tasks_held(tmp_path):
    """A stage aborted (a task out of attempts) while another of its tasks runs: the master
    kills that task, so its slot serves the next job at once, rather than staying held by
    work nobody will read (a streamed result would wait out FRAME_WAIT for its acks)."""
    folder, never = str(tmp_path), str(tmp_path / "never")

    def fail_or_hold(split, records):
        if split == 0:
            faults.wait_for_marker(folder, "held", timeout=BOUND)
            raise ValueError("partition 0 always fails")
        faults.announce_and_wait(folder, "held", never, limit=2 * BOUND)
        return records

    def both_slots_at_once(split, records):
        faults.announce_and_wait(folder, "together")
        faults.wait_for_marker(folder, "together", timeout=BOUND, count=2)
        return records

    with Context(workers=2, speculation=False, max_task_attempts=1, appName="aborted-stage") as ctx:
        with pytest.raises(ValueError, match="always fails"):
            ctx.parallelize(range(10), 2).mapPartitionsWithIndex(fail_or_hold).collect()
        # Both tasks must run side by side: only if the held one gave its slot back.
        assert sorted(ctx.parallelize(range(10), 2).mapPartitionsWithIndex(both_slots_at_once)
                      .collect()) == list(range(10))
