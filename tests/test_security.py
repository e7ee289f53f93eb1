"""Every cluster is keyed (CurveZMQ): only key holders join, bad keys are refused up front,
and an authenticated peer's garbage, oversized or many-frame messages break nothing."""

import json
import os
import random
import subprocess
import sys
import threading

import psutil
import pytest
import zmq

from minibig import Context
from minibig.net import protocol as P
from minibig.net.security import (ZAP_VERSION, ClusterKey, _authenticators, dealer, secure_server,
                                   stop_authenticator)

import faults
from support import cleanup, env, start_worker

LIMITS = {"MINIBIG_MAX_FRAME_BYTES": 1 << 20, "MINIBIG_MAX_FRAMES": 1000}


def _run(*args, **extra):
    return subprocess.run([sys.executable, "-m", "minibig", *args], capture_output=True,
                          text=True, env=env(**extra), timeout=120, stdin=subprocess.DEVNULL)


def _one_line_error(done, *words):
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_keygen_writes_the_default_key_owner_only(tmp_path):
    done = _run("keygen", XDG_CONFIG_HOME=str(tmp_path))
    key = tmp_path / "minibig" / "cluster.key"
    assert done.returncode == 0 and str(key) in done.stderr
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    _one_line_error(_run("keygen", XDG_CONFIG_HOME=str(tmp_path)), "already exists")


def test_a_master_without_a_usable_key_refuses_to_start(tmp_path):
    missing = env(XDG_CONFIG_HOME=str(tmp_path))
    missing.pop("MINIBIG_KEY_FILE")
    done = subprocess.run([sys.executable, "-m", "minibig", "master", "--port", "0"],
                          capture_output=True, text=True, env=missing, timeout=120)
    _one_line_error(done, "no cluster key", "minibig keygen", "--insecure")
    key = tmp_path / "open.key"
    assert _run("keygen", str(key)).returncode == 0
    key.chmod(0o644)
    _one_line_error(_run("master", "--port", "0", "--key-file", str(key)),
                    "open to other users", "chmod 600")
    _one_line_error(_run("worker", "--master", "tcp://127.0.0.1:9", "--key-file", str(key)),
                    "open to other users")


def test_insecure_is_loopback_only_and_says_what_it_opens():
    _one_line_error(_run("master", "--bind", "0.0.0.0", "--port", "0", "--insecure"),
                    "refusing to listen on 0.0.0.0 with --insecure")


def test_insecure_mode_runs_a_job_only_when_asked(tmp_path):
    job = tmp_path / "job.py"
    job.write_text("from minibig import Context\nprint(Context().parallelize(range(10), 2).sum())\n")
    done = _run("submit", "--workers", "1", "--insecure", str(job))
    assert done.returncode == 0 and done.stdout.strip() == "45", done.stderr
    assert "any user of this machine can run code as you" in done.stderr


def test_only_key_holders_join_a_keyed_cluster(tmp_path, monkeypatch):
    key, other = tmp_path / "cluster.key", tmp_path / "other.key"
    assert _run("keygen", str(key)).returncode == 0
    assert _run("keygen", str(other)).returncode == 0
    master = subprocess.Popen([sys.executable, "-m", "minibig", "master", "--port", "0",
                               "--key-file", str(key)], stdout=subprocess.PIPE, env=env())
    procs = [master]
    try:
        url = json.loads(master.stdout.readline())["url"]
        procs.append(start_worker(url, "--key-file", str(key)))
        procs.append(start_worker(url, "--key-file", str(other)))
        monkeypatch.setenv("MINIBIG_KEY_FILE", str(key))
        with Context(master=url) as ctx:
            ctx._backend.wait_for_workers(1, timeout=60)
            assert ctx.parallelize(range(10), 3).map(lambda x: x + 1).sum() == 55
        status = _run("status", "--master", url, "--json", "--key-file", str(key))
        assert len(json.loads(status.stdout)["workers"]) == 1, "the wrong key never registers"
        for args in (["--key-file", str(other)], []):        # []: the test session's key
            refused = _run("status", "--master", url, "--timeout", "1", *args)
            assert refused.returncode != 0 and "no minibig master answered" in refused.stderr
    finally:
        cleanup(procs)


@pytest.fixture
def limited_cluster(tmp_path):
    """A master and a worker with small message bounds, the master's log in a file."""
    log = open(tmp_path / "master.log", "w")
    master = subprocess.Popen([sys.executable, "-m", "minibig", "master", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                              env=env(**LIMITS))
    procs = [master]
    try:
        url = json.loads(master.stdout.readline())["url"]
        procs.append(start_worker(url, **LIMITS))
        faults.wait_until(lambda: len(faults.master_status(url)["workers"]) == 1,
                          "the worker registering", timeout=60)
        yield url, master, tmp_path / "master.log"
    finally:
        cleanup(procs)
        log.close()


def _dropped(sock, frames) -> bool:
    """Send `frames`; True once the server drops the connection (a monitor event)."""
    from zmq.utils.monitor import recv_monitor_message
    monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    try:
        sock.send_multipart(frames)
        return monitor.poll(30_000) and recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
    finally:
        sock.disable_monitor()
        monitor.close(0)


def _garbage(rng, limit: int) -> list:
    kinds = [b"register", b"heartbeat", b"task_done", b"task_failed", b"submit_stage", b"hello",
             b"add_file", b"fetch_block", b"bye", b"status", b"launch", b"\xff", b""]
    header = rng.choice([b"{}", b"not json", b'{"worker_id": 3}', b'{"file_id": "f"}',
                         b'{"driver_id": "d", "partitions": [1, 2]}', b"[1]", os.urandom(20)])
    frames = [rng.choice(kinds), header] + [os.urandom(rng.randrange(64))
                                            for _ in range(rng.randrange(3))]
    if rng.random() < 0.05:
        frames += [b""] * (limit + rng.randrange(1, 50))     # too many frames
    return frames[:rng.randrange(0, len(frames) + 1)] or [b""]


def _answered(sock) -> bool:
    """True once the reply to the closing request came (garbage may draw replies first)."""
    while sock.poll(100):
        if P.recv(sock).kind in (P.STATUS_REPLY, P.NO_BLOCK):
            return True
    return False


def test_authenticated_garbage_oversized_and_many_frames_break_nothing(limited_cluster):
    url, master, log = limited_cluster
    rss = psutil.Process(master.pid).memory_info().rss
    status = faults.master_status(url)
    targets = [url, status["workers"][0]["block_addr"]]
    for target in targets:                     # an oversized frame: ZeroMQ drops the peer
        sock = dealer(target)
        assert _dropped(sock, [b"status", b"{}", bytes(4 << 20)]), "the oversized frame got in"
        sock.close(0)
    rng = random.Random(15)
    socks = [dealer(target) for target in targets]
    for _ in range(400):
        rng.choice(socks).send_multipart(_garbage(rng, LIMITS["MINIBIG_MAX_FRAMES"]))
    socks[0].send_multipart([b"status", b"{}"] + [b""] * 100_000)
    P.send(socks[0], P.STATUS)
    P.send(socks[1], P.FETCH_BLOCK, {"shuffle": "d/0", "map": 0, "reduce": 0})
    for sock in socks:           # each answers after every message sent on its connection before
        faults.wait_until(lambda: _answered(sock), "an answer after the garbage", timeout=30)
        sock.close(linger=10_000)                # what is still queued goes out
    faults.wait_until(lambda: "refused a message of 100003 frames" in log.read_text(),
                      "the master logging the refusal (100002 frames and a routing id)", timeout=30)
    after = faults.master_status(url)
    assert [w["id"] for w in after["workers"]] == [w["id"] for w in status["workers"]]
    grown = psutil.Process(master.pid).memory_info().rss - rss
    assert grown < 16 << 20, f"the master grew by {grown >> 20} MiB"
    with Context(master=url, progress=False) as ctx:
        assert ctx.parallelize(range(100), 4).map(lambda x: (x % 3, 1)).reduceByKey(
            lambda a, b: a + b).collectAsMap() == {0: 34, 1: 33, 2: 33}


def test_a_message_past_the_bounds_is_refused_before_sending(monkeypatch):
    monkeypatch.setenv("MINIBIG_MAX_FRAMES", "10")
    with pytest.raises(P.MessageTooLargeError, match="MINIBIG_MAX_FRAMES"):
        P.check_size("submit_stage", [b""] * 11)
    monkeypatch.setenv("MINIBIG_MAX_FRAME_BYTES", "100")
    with pytest.raises(P.MessageTooLargeError, match="MINIBIG_MAX_FRAME_BYTES"):
        P.check_size("add_file", [b"add_file", b"{}", bytes(101)])


def test_a_drivers_shipped_modules_leave_the_workers_when_it_goes(limited_cluster, tmp_path):
    url, _, _ = limited_cluster
    (tmp_path / "helper_of_one_driver.py").write_text("VALUE = 42\n")
    work_dir = faults.master_status(url)["workers"][0]["work_dir"]
    with Context(master=url, progress=False) as ctx:
        ctx.addPyFile(str(tmp_path / "helper_of_one_driver.py"))
        assert ctx.parallelize([0], 1).map(
            lambda _: __import__("helper_of_one_driver").VALUE).collect() == [42]
        assert [n for n in os.listdir(work_dir) if n.startswith("pyfiles-")]
    faults.wait_until(lambda: not [n for n in os.listdir(work_dir) if n.startswith("pyfiles-")],
                      "the driver's zip leaving the worker", timeout=30)


def test_the_zap_handler_admits_the_cluster_key_alone():
    """minibig's own ZAP handler (net/security.ZapHandler), socket to socket in one process."""
    key, stranger = ClusterKey(*zmq.curve_keypair()), ClusterKey(*zmq.curve_keypair())
    ctx = zmq.Context()
    server = ctx.socket(zmq.ROUTER)
    clients = []
    try:
        secure_server(server, key)
        port = server.bind_to_random_port("tcp://127.0.0.1")

        def client(own: ClusterKey):
            sock = ctx.socket(zmq.DEALER)
            sock.linger = 0
            sock.curve_serverkey = key.public
            sock.curve_publickey, sock.curve_secretkey = own
            sock.connect(f"tcp://127.0.0.1:{port}")
            clients.append(sock)
            sock.send(b"hello")
            return sock
        client(key), client(stranger)
        assert server.poll(10_000), "the key holder's message never came"
        assert server.recv_multipart()[1] == b"hello"
        assert not server.poll(1500), "a peer without the cluster key got a message through"

        handler = _authenticators[id(ctx)]
        raw = zmq.utils.z85.decode
        asks = {b"200": [[ZAP_VERSION, b"1", b"", b"a", b"", b"CURVE", raw(key.public)],
                         [ZAP_VERSION, b"2", b"", b"a", b"", b"NULL"]],
                b"400": [[ZAP_VERSION, b"3", b"", b"a", b"", b"CURVE", raw(stranger.public)],
                         [ZAP_VERSION, b"4", b"", b"a", b"", b"PLAIN", b"u", b"p"],
                         [b"0.9", b"5", b"", b"a", b"", b"CURVE", raw(key.public)],
                         [ZAP_VERSION, b"6", b"", b"a", b"", b"CURVE"],
                         [ZAP_VERSION, b"7"]]}
        for status, requests in asks.items():
            for request in requests:
                reply = handler.answer(request)
                assert reply[:3] == [ZAP_VERSION, request[1], status], request
    finally:
        for sock in [*clients, server]:
            sock.close(0)
        stop_authenticator(ctx)
        ctx.term()


def test_sockets_secured_from_two_threads_at_once_share_one_zap_handler():
    key = ClusterKey(*zmq.curve_keypair())
    for _ in range(20):
        ctx = zmq.Context()
        socks = [ctx.socket(zmq.ROUTER) for _ in range(2)]
        start, errors = threading.Barrier(2, timeout=30), []

        def secure(sock):
            start.wait()
            try:
                secure_server(sock, key)
            except Exception as exc:
                errors.append(exc)
        threads = [threading.Thread(target=secure, args=(s,)) for s in socks]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not errors and id(ctx) in _authenticators
        finally:
            for sock in socks:
                sock.close(0)
            stop_authenticator(ctx)
            ctx.destroy(linger=0)
