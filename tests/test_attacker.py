"""Another user of the machine attacks a running cluster: every attack is refused.

What issue 15 found possible on an unkeyed cluster, tried again:

- Reading the discovery files, the key and the master's environment, as uid
  65534 (nobody) when the tests run as root. The reads use `cat` and `ls`,
  not Python: nobody cannot read a Python installed under root's 0700 home
  (CI's is), and would silently get the system's Python without our packages.
- Running code through a Context, registering a fake worker, shutting the
  cluster down, fetching a shuffle block, and sending oversized, many-frame
  and raw garbage messages, both without a key and with a key of its own.
  A child process running this file does these as this uid, with no key
  configured: CurveZMQ refuses a peer for lacking the key, whoever it is.

Each wire attack waits for the handshake's refusal (a socket-monitor event,
no sleeping), and the test then checks that the cluster still has its
workers, answers and runs a job, and that the master's memory did not grow
with what was sent at it.
"""

import json
import os
import shutil
import socket
import subprocess
import sys

import psutil
import pytest

import support
from faults import master_status

NOBODY = 65534
ATTEMPT_TIMEOUT = 10.0             # seconds for one refusal to show
RSS_SLACK = 24 << 20               # the attack sends ~200 MB; the master may move a little
REFUSED = ("HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_FAILED_NO_DETAIL")


# -- the attacker (a child process) ---------------------------------------------------------
def _outcome(url: str, frames_list: list, curve: bool) -> str:
    """Send messages to `url` with no key (or a key of our own): 'refused' or 'accepted'."""
    import zmq
    from zmq.utils.monitor import recv_monitor_message
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve:                                   # a well-formed key, just not the cluster's
        sock.curve_serverkey = zmq.curve_keypair()[0]
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    monitor = sock.get_monitor_socket()
    sock.connect(url)
    try:
        for frames in frames_list:
            sock.send_multipart(frames, zmq.NOBLOCK)   # queued until a handshake that never comes
    except zmq.Again:
        pass                                    # refused already: its queue is gone
    try:
        while monitor.poll(int(ATTEMPT_TIMEOUT * 1000)):
            event = zmq.Event(recv_monitor_message(monitor)["event"]).name
            if event in REFUSED or event == "DISCONNECTED":
                return "refused"
            if event == "HANDSHAKE_SUCCEEDED":
                return "accepted"
        return "no answer"
    finally:
        sock.disable_monitor()
        monitor.close(0)
        sock.close(0)


def _raw_garbage(url: str) -> str:
    """A TCP client that speaks no ZMTP: a greeting claiming a 20 MB frame, then noise."""
    host, port = url[len("tcp://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=ATTEMPT_TIMEOUT) as raw:
        greeting = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + bytes(32)
        try:
            raw.sendall(greeting + b"\x06" + (20 << 20).to_bytes(8, "big") + os.urandom(1 << 20))
            while raw.recv(65536):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass
    return "refused"                            # the server closed the connection


def _try_context(url: str) -> str:
    """The attack of issue 15: run a lambda on the workers through a Context."""
    os.environ["MINIBIG_INSECURE"] = "1"
    from minibig import Context
    from minibig.errors import MasterUnreachableError
    try:
        with Context(master=url, connect_timeout=2.0, progress=False) as ctx:
            ctx.parallelize([0]).map(lambda _: open(os.path.expanduser("~/.bashrc")).read()).collect()
    except MasterUnreachableError:
        return "refused"
    return "accepted"


def attacker(master: str, block: str) -> dict:
    """Every wire attack; what became of each."""
    from minibig.net import protocol as P
    attacks = {
        "fake_worker": (master, [P.encode(P.REGISTER, {
            "worker_id": "evil", "host": "evil", "pid": 1, "slots": 8,
            "block_addr": "tcp://127.0.0.1:9", "work_dir": "/tmp"})]),
        "shutdown": (master, [P.encode(P.SHUTDOWN)]),
        "add_file": (master, [P.encode(P.ADD_FILE, {"file_id": "x"}, [bytes(1 << 20)])] * 50),
        "fetch_block": (block, [P.encode(P.FETCH_BLOCK, {"shuffle": "d/0", "map": 0, "reduce": 0})]),
        "oversized": (master, [[b"status", b"{}", bytes(20 << 20)]] * 10),
        "many_frames": (master, [[b"status", b"{}"] + [b""] * 1_000_000]),
    }
    report = {}
    for name, (url, messages) in attacks.items():
        for curve in (False, True):
            report[f"{name} ({'own key' if curve else 'no key'})"] = _outcome(url, messages, curve)
    report["raw garbage"] = _raw_garbage(master)
    report["run code"] = _try_context(master)
    return report


# -- the test -------------------------------------------------------------------------------
def _run_attacker(master: str, block: str) -> dict:
    env = support.env(HOME="/nonexistent")
    env.pop("MINIBIG_KEY_FILE")
    done = subprocess.run([sys.executable, os.path.abspath(__file__), master, block],
                          capture_output=True, text=True, env=env, cwd="/", timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _read_as_nobody(path: str) -> str:
    """'read', 'refused' or 'missing': `path` (a folder: its listing and files) read as nobody."""
    script = 'if [ -d "$1" ]; then ls -A "$1" && for f in "$1"/*; do [ ! -f "$f" ] || cat "$f"; done; ' \
             'else cat "$1"; fi > /dev/null'
    done = subprocess.run(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups",
                           "sh", "-c", script, "sh", path], capture_output=True, text=True,
                          cwd="/", timeout=60)
    if done.returncode == 0:
        return "read"
    if "Permission denied" in done.stderr:
        return "refused"
    assert "No such file" in done.stderr, done.stderr
    return "missing"


def _as_another_user() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


def test_another_user_cannot_read_the_key_the_discovery_files_or_the_environment(sc):
    from minibig.cluster.runtime import runtime_dir
    if not _as_another_user():
        pytest.skip("needs root and setpriv to become another user (CI has both)")
    files = [str(runtime_dir()), support.KEY_FILE, f"/proc/{sc._cluster.master.pid}/environ"]
    assert all(os.path.exists(path) for path in files)
    assert _read_as_nobody("/etc/hostname") == "read"        # the probe itself can read
    assert {path: _read_as_nobody(path) for path in files} == {path: "refused" for path in files}


def test_a_peer_without_the_key_can_neither_use_nor_stop_the_cluster(sc):
    from minibig.net.security import cluster_key
    before = master_status(sc.master)
    pid = sc._cluster.master.pid
    rss = psutil.Process(pid).memory_info().rss
    report = _run_attacker(sc.master, before["workers"][0]["block_addr"])
    assert len(report) == 14 and report == {attack: "refused" for attack in report}, report
    grown = psutil.Process(pid).memory_info().rss - rss
    assert grown < RSS_SLACK, f"the master grew by {grown >> 20} MiB under attack"
    secret = cluster_key(sc.master).secret.decode()
    for proc in sc._cluster.processes():
        assert secret not in " ".join(psutil.Process(proc.pid).cmdline()), "the key is in argv"
    after = master_status(sc.master)
    assert [w["id"] for w in after["workers"]] == [w["id"] for w in before["workers"]]
    assert {d["id"] for d in after["drivers"]} <= {d["id"] for d in before["drivers"]}
    assert sc.parallelize(range(100), 4).map(lambda x: (x % 3, x)).reduceByKey(
        lambda a, b: a + b).collectAsMap() == {k: sum(range(k, 100, 3)) for k in range(3)}


def test_scratch_and_discovery_files_are_the_owners_alone(sc):
    from minibig.cluster.runtime import runtime_dir
    assert sc.parallelize(range(200), 4).map(lambda x: (x % 7, x)).groupByKey(3).count() == 7
    sc.parallelize(range(10), 2).cache().count()
    for worker in master_status(sc.master)["workers"]:
        for top, dirs, names in os.walk(worker["work_dir"]):
            assert os.stat(top).st_mode & 0o077 == 0, f"{top} is open to others"
            for name in names:
                path = os.path.join(top, name)
                assert os.stat(path).st_mode & 0o077 == 0, f"{path} is open to others"
    folder = runtime_dir()
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.parent.stat().st_mode & 0o777 == 0o700
    ours = [e for e in folder.glob("*.json") if json.loads(e.read_text())["url"] == sc.master]
    assert len(ours) == 1 and ours[0].stat().st_mode & 0o777 == 0o600


if __name__ == "__main__":
    import faulthandler
    faulthandler.dump_traceback_later(120, exit=True)     # bounded, and says where it hung
    print(json.dumps(attacker(sys.argv[1], sys.argv[2])))
