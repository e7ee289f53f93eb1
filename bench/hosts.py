"""Between hosts: what CurveZMQ costs the shuffle, and what a second host buys.

Hosts are Linux network namespaces on one machine (tests/netns.py: a
bridge, a veth pair and a private disk per host), so every byte between two
hosts crosses a real TCP connection through the kernel, as between
machines, but no wire: the figures show the software's costs (encryption,
copies, Python), not a network's. Needs root and iproute2. Three parts:

1. **ZeroMQ alone**: a block server on one host answers a reducer on another
   with 4 MiB chunks, 4 requests in flight (the shuffle reader's protocol,
   `shuffle/reader.py`), plain and with CurveZMQ. minibig refuses to listen
   beyond loopback without a key, so this is where the unkeyed figure comes from.
2. **The engine's shuffle**, keyed, master and two workers on three hosts:
   a job that moves `--shuffle-mb` MB through `partitionBy`, half of it
   fetched from the other host's block server.
3. **Word count, 1 worker host vs 2** (keyed), optionally over shaped links
   (`--rate 100mbit`, `--delay-ms 50`: tc netem, or tbf's rate limit on
   kernels without netem).

    sudo python bench/hosts.py                   # writes bench/results/hosts.json
    sudo python bench/hosts.py --rate 100mbit    # the same over 100 Mbit/s links
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from operator import add
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
import netns  # noqa: E402

CHUNK = 4 << 20
WINDOW = 4

SERVER = """
import sys, zmq
ctx = zmq.Context()
sock = ctx.socket(zmq.ROUTER)
if sys.argv[2] == "curve":
    public, secret = sys.argv[3].encode(), sys.argv[4].encode()
    from zmq.auth.thread import ThreadAuthenticator
    auth = ThreadAuthenticator(ctx); auth.start()
    auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
    sock.curve_publickey, sock.curve_secretkey, sock.curve_server = public, secret, True
sock.bind(f"tcp://{sys.argv[1]}:5555")
print("ready", flush=True)
chunk = zmq.Frame(bytes(%d))
while True:
    ident, request = sock.recv_multipart()
    if request == b"stop":
        break
    sock.send_multipart([ident, chunk], copy=False)
""" % CHUNK

CLIENT = """
import sys, time, zmq
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
if sys.argv[2] == "curve":
    sock.curve_serverkey = sys.argv[3].encode()
    sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
sock.connect(f"tcp://{sys.argv[1]}:5555")
total = int(sys.argv[5])
sock.send(b"get"); sock.recv()                      # the handshake, outside the timing
start, sent, got = time.perf_counter(), 0, 0
while got < total:
    while sent < total and sent - got < %d:
        sock.send(b"get"); sent += 1
    got += len(sock.recv(copy=False)) and 1
print(total * %d / (time.perf_counter() - start) / 1e6)
sock.send(b"stop")
""" % (WINDOW, CHUNK)


def zmq_throughput(a: netns.Host, b: netns.Host, curve: bool, chunks: int) -> float:
    """MB/s of 4 MiB chunks from a block server on `a` to a reducer on `b`."""
    import zmq
    public, secret = (k.decode() for k in zmq.curve_keypair())
    mode = "curve" if curve else "plain"
    server = a.popen([sys.executable, "-c", SERVER, a.addr, mode, public, secret],
                     stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 30)
        assert ready and server.stdout.readline().strip() == "ready", "the server did not start"
        argv = ["client", a.addr, mode, public, "", str(chunks)]
        done = b.python(f"import sys; sys.argv = {argv!r}\n" + CLIENT, timeout=300)
        assert done.returncode == 0, done.stderr
        return float(done.stdout.strip())
    finally:
        server.kill()
        server.wait()


def keyed_cluster(net: netns.Network, key: str, workers: list, slots: int):
    """A master on its own host and a worker on each of `workers`; the master's URL."""
    master = net.add_host()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = master.popen([sys.executable, "-m", "minibig", "master", "--bind", master.addr,
                         "--port", "0", "--key-file", key], env=env, stdout=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, "the master did not start"
    url = json.loads(proc.stdout.readline())["url"]
    for host in workers:
        host.popen([sys.executable, "-m", "minibig", "worker", "--master", url, "--host",
                    host.addr, "--key-file", key, "--slots", str(slots), "--work-dir",
                    host.work_dir], env=env)
    return url


def shuffle_job(sc, megabytes: int) -> dict:
    """Seconds and MB/s of a job that shuffles `megabytes` MB of 1 KB records."""
    parts, per = 8, megabytes * 1000 // 8

    def records(p):
        # distinct payloads: pickle would send one shared bytes object once per batch
        return ((i, i.to_bytes(8, "little") * 125) for i in range(p * per, (p + 1) * per))
    start = time.perf_counter()
    n = sc.parallelize(range(parts), parts).flatMap(records).partitionBy(parts).count()
    seconds = time.perf_counter() - start
    assert n == per * parts
    return {"mb": megabytes, "seconds": round(seconds, 3), "mb_per_s": round(megabytes / seconds, 1)}


def wordcount(sc, path: str) -> float:
    start = time.perf_counter()
    sc.textFile(path, 8).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(add, 8).count()
    return time.perf_counter() - start


def engine(args, scratch: Path, worker_hosts: int, part: str):
    """Run `part` ("shuffle" or "wordcount") on a keyed cluster of `worker_hosts` worker hosts."""
    from minibig import Context
    net = netns.Network(scratch / f"{part}{worker_hosts}")
    key = str(scratch / f"{part}{worker_hosts}.key")
    subprocess.run([sys.executable, "-m", "minibig", "keygen", key], check=True,
                   capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        hosts = [net.add_host() for _ in range(worker_hosts)]
        url = keyed_cluster(net, key, hosts, slots=2 if worker_hosts == 2 else 4)
        shaped = [h.shape(args.delay_ms, args.rate) for h in hosts] if args.rate else []
        os.environ["MINIBIG_KEY_FILE"] = key
        with Context(master=url, appName=f"bench-{part}", progress=False) as sc:
            sc._backend.wait_for_workers(worker_hosts, 60)
            if part == "shuffle":
                return {**shuffle_job(sc, args.shuffle_mb), "shaped": shaped[:1]}
            wordcount(sc, args.text)                       # warm: code shipped, imports done
            best = min(wordcount(sc, args.text) for _ in range(args.repeat))
            return {"seconds": round(best, 3), "shaped": shaped[:1]}
    finally:
        net.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=128, help="4 MiB chunks per ZeroMQ run")
    parser.add_argument("--shuffle-mb", type=int, default=200)
    parser.add_argument("--text", default=str(REPO / "datasets" / "text"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rate", default=None, help="shape each worker host's link, e.g. 100mbit")
    parser.add_argument("--delay-ms", type=int, default=50, help="with --rate, where netem exists")
    parser.add_argument("--out", default=str(HERE / "results" / "hosts.json"))
    args = parser.parse_args()
    reason = netns.unavailable()
    if reason:
        print(f"bench/hosts.py: {reason}", file=sys.stderr)
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="minibig-bench-hosts-"))
    results = {"cores": os.cpu_count()}
    net = netns.Network(scratch / "zmq")
    try:
        a, b = net.add_host(), net.add_host()
        for curve in (False, True, False, True):           # interleaved: the machine is noisy
            name = "zmq_curve_mb_per_s" if curve else "zmq_plain_mb_per_s"
            results[name] = max(results.get(name, 0), round(zmq_throughput(a, b, curve, args.chunks), 1))
    finally:
        net.close()
    results["curve_cost"] = round(1 - results["zmq_curve_mb_per_s"] / results["zmq_plain_mb_per_s"], 3)
    results["engine_shuffle_keyed"] = engine(args, scratch, 2, "shuffle")
    results["wordcount_1_host"] = engine(args, scratch, 1, "wordcount")
    results["wordcount_2_hosts"] = engine(args, scratch, 2, "wordcount")
    results["wordcount_speedup"] = round(results["wordcount_1_host"]["seconds"]
                                         / results["wordcount_2_hosts"]["seconds"], 2)
    print(json.dumps(results, indent=1))
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
