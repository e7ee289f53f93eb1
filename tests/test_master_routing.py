"""The master's ROUTER never drops a message silently.

Past a peer's send high-water mark a ROUTER drops messages without a word
(ZeroMQ's default), and a lost task result or frame costs a job. Every flow
the master sends is bounded by work in flight (a result per task, frames
per credit, one answer per request), so its queues have no mark, and a
message to a peer that is gone raises (ROUTER_MANDATORY) instead of
vanishing.
"""

import json
import subprocess
import sys

import zmq

import faults
from minibig import Context
from minibig.net import protocol as P
from minibig.net.security import dealer, secure_client

from support import cleanup, env, start_master

BURST = 5000          # five times ZeroMQ's default high-water mark of 1000
BOUND_MS = 60_000


def test_a_burst_of_answers_to_a_peer_that_reads_late_all_arrive():
    master, url = start_master()
    sock = zmq.Context.instance().socket(zmq.DEALER)
    # A peer that reads late holds few messages itself: the rest wait in the master's queue.
    sock.setsockopt(zmq.RCVHWM, 10)
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.setsockopt(zmq.LINGER, 0)
    secure_client(sock, url)
    sock.connect(url)
    try:
        # Each answer names the 100 task sets asked about (~5 kB): more than the kernel's
        # socket buffers hold, so the master's own queue fills.
        asked = [f"nobody/{n}.0" + "-" * 40 for n in range(100)]
        for _ in range(BURST):
            P.send(sock, P.JOB_STATE, {"driver_id": "nobody", "job_id": 1, "tasksets": asked})
        P.send(sock, P.STATUS)                        # answered after every one before it
        answers = 0
        while True:
            assert sock.poll(BOUND_MS), f"the master's answers stopped after {answers} of {BURST}"
            msg = P.recv(sock)
            if msg.kind == P.STATUS_REPLY:
                break
            assert msg.kind == P.JOB_STATE_REPLY and msg.header["missing"] == asked
            answers += 1
        assert answers == BURST
    finally:
        sock.close(0)
        cleanup([master])


def test_a_worker_whose_connection_is_gone_is_lost_at_the_next_message_not_its_timeout():
    """A message to a worker that closed its socket cannot go: the master loses the worker
    then (its tasks would run elsewhere), not after a heartbeat timeout of ten minutes."""
    master = subprocess.Popen([sys.executable, "-m", "minibig", "master", "--port", "0",
                               "--worker-timeout", "600"], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=env())
    url = json.loads(master.stdout.readline())["url"]
    try:
        fake = dealer(url, linger=0)
        P.send(fake, P.REGISTER, {"worker_id": "fake-1", "host": "127.0.0.1", "pid": 1,
                                  "slots": 1, "block_addr": "tcp://127.0.0.1:9", "work_dir": "/"})
        assert fake.poll(BOUND_MS) and P.recv(fake).kind == P.REGISTERED
        fake.close(0)
        client = dealer(url, linger=1000)
        try:
            def lost():
                # Each drop_blocks goes to every worker; once the master's socket has seen
                # the connection close, sending it there fails and the worker is lost.
                P.send(client, P.DROP_BLOCKS, {"prefix": "nothing/"})
                return faults.master_status(url)["workers"] == []
            faults.wait_until(lost, "the master losing the gone worker", timeout=60)
        finally:
            client.close()
    finally:
        cleanup([master])


def test_a_driver_whose_connection_came_back_mid_job_gets_its_exact_answer(tmp_path):
    """The driver's connection to the master comes back as a new one (a new identity at
    the master's ROUTER, as after a network cut) while its tasks run: their results cannot
    reach it, so its task sets go; its next question about the job comes from the new
    connection, and the stage runs again for what it lacks. (Before: the results vanished
    at every try, and the job failed after its resubmissions.)"""
    folder, release = str(tmp_path), str(tmp_path / "go")

    def gated(split, records):
        faults.announce_and_wait(folder, "held", release)
        return records
    with Context(workers=2, speculation=False, appName="reconnected") as ctx:
        rdd = ctx.parallelize(range(100), 2).mapPartitionsWithIndex(gated)
        join = faults.run_in_thread(rdd.collect, timeout=120)
        faults.wait_for_marker(folder, "held", count=2)
        backend = ctx._backend
        with backend.lock:
            old, backend.sock = backend.sock, dealer(ctx.master, linger=1000)
            old.close(0)
        faults.touch(release)
        assert join(120, "the job of a reconnected driver") == list(range(100))
        assert ctx.parallelize(range(10), 2).count() == 10


def test_a_result_queued_to_a_connection_that_went_is_run_again_at_once(tmp_path):
    """A task's result was queued to the driver's connection when it went: it is lost
    without a word (only a send after the socket saw the connection go raises). The
    driver's next question, from its new connection, finds the task set gone, and it runs
    again at once, not once the set's other task finishes. (Before: the master still ran
    the set, so nothing was missing, and the job waited for the held task.)"""
    folder, release, first = str(tmp_path), str(tmp_path / "go"), str(tmp_path / "first")

    def one_held(split, records):
        faults.announce_and_wait(folder, "held", first if split == 0 else release)
        return records
    with Context(workers=2, speculation=False, appName="queued-then-gone") as ctx:
        backend = ctx._backend
        rdd = ctx.parallelize(range(100), 2).mapPartitionsWithIndex(one_held)
        join = faults.run_in_thread(rdd.collect, timeout=120)
        faults.wait_for_marker(folder, "held", count=2)
        with backend.lock:                    # the driver reads nothing: results stay queued
            faults.touch(first)
            faults.wait_until(lambda: [s for s in faults.master_status(ctx.master)["stages"]
                                       if s["done"] == 1], "partition 0's result sent")
            old, backend.sock = backend.sock, dealer(ctx.master, linger=1000)
            old.close(0)                      # and what was queued to it is gone
        faults.wait_for_marker(folder, "held", count=3, timeout=60)   # the set ran again
        faults.touch(release)
        assert join(120, "the job whose result was lost") == list(range(100))
        assert ctx.parallelize(range(10), 2).count() == 10


def test_a_reconnected_drivers_first_broadcast_reaches_its_tasks():
    """A driver's file (a broadcast value) shipped first thing from a connection that came
    back is kept: the driver names itself, so the master knows it at its new identity.
    (Before: the master looked the driver up by its old identity and dropped the file, and
    the tasks that needed it failed.)"""
    with Context(workers=2, speculation=False, appName="reconnected-broadcast") as ctx:
        backend = ctx._backend
        with backend.lock:
            old, backend.sock = backend.sock, dealer(ctx.master, linger=1000)
            old.close(0)
        table = ctx.broadcast({n: n * n for n in range(10)})
        rdd = ctx.parallelize(range(10), 2).map(lambda n: table.value[n])
        assert rdd.collect() == [n * n for n in range(10)]
