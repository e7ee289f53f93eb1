"""A cluster whose hosts are really apart: Linux network namespaces (tests/netns.py).

The master and each worker run on hosts of their own (a namespace, an
address on a private bridge, a private disk), the test process is the
driver on one more host, and every cluster is keyed (`--key-file`): shuffle
blocks cross the network, since no worker can see another's files. Faults
between hosts (a host that dies, a partition that heals, a slow link) cost
time, never the answer, and a peer without the key gets nothing.

Tasks find out which host runs them from MB_TEST_HOST (set on each worker)
and synchronise with the test through marker files in a shared folder
(tests/faults.py): test plumbing, not engine data.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections import Counter
from operator import add

import cloudpickle
import pytest

import faults
import netns
import support
from minibig import Context


REASON = netns.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no network namespaces: {REASON}")

TEXT = os.path.join(support.REPO, "datasets", "text", "austen_northanger_abbey.txt")
GRAPH = os.path.join(support.REPO, "datasets", "graphs", "karate.txt")
PAIRS = [(i % 17, i) for i in range(3400)]
EXPECTED = {k: sum(v for kk, v in PAIRS if kk == k) for k in range(17)}


class HostsCluster:
    """A master and workers, one per namespace, and a Context on the test's host."""

    def __init__(self, scratch, workers: int = 2, slots: int = 2, worker_timeout: float = 2.0,
                 extra_hosts: int = 0, speculation: bool = True, locality_wait: float = 3.0):
        self.net = netns.Network(scratch / "hosts")
        self.key = os.environ["MINIBIG_KEY_FILE"]          # the driver's key too
        self.sc = None
        try:
            subprocess.run([sys.executable, "-m", "minibig", "keygen", self.key], check=True,
                           env=support.env(), capture_output=True, timeout=60)
            self.master_host = self.net.add_host()
            self.workers = [self.net.add_host() for _ in range(workers)]
            self.extra = [self.net.add_host() for _ in range(extra_hosts)]
            self.url = self._start_master(worker_timeout, speculation, locality_wait)
            for i, host in enumerate(self.workers, 1):
                self.start_worker(host, f"h{i}", slots)
            self.sc = Context(master=self.url, appName="hosts", fetch_timeout=3.0, progress=False)
            self.sc._backend.wait_for_workers(workers, 60)
        except BaseException:
            self.close()                                  # a half-built network goes too
            raise

    def _start_master(self, worker_timeout: float, speculation: bool, locality_wait: float) -> str:
        proc = self.master_host.popen(
            [sys.executable, "-m", "minibig", "master", "--bind", self.master_host.addr,
             "--port", "0", "--key-file", self.key, "--worker-timeout", str(worker_timeout),
             "--locality-wait", str(locality_wait),
             *([] if speculation else ["--no-speculation"])],
            env=support.env(), stdout=subprocess.PIPE)
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "the master did not say its URL within 60s"
        return json.loads(proc.stdout.readline())["url"]

    def start_worker(self, host: netns.Host, name: str, slots: int) -> None:
        """`minibig worker` on `host`, reachable at its address; MB_TEST_HOST=name for tasks."""
        host.popen([sys.executable, "-m", "minibig", "worker", "--master", self.url,
                    "--host", host.addr, "--key-file", self.key, "--slots", str(slots),
                    "--work-dir", host.work_dir, "--memory", "256m"],
                   env=support.env(MB_TEST_HOST=name))

    def status(self) -> dict:
        """The master's status snapshot (as `minibig status --json`)."""
        return faults.master_status(self.url)

    def close(self) -> None:
        """Stop the driver, then kill every host's processes and remove the network."""
        try:
            if self.sc is not None:
                self.sc.stop()
        finally:
            self.net.close()


@pytest.fixture
def hosts(tmp_path, monkeypatch):
    """Build a HostsCluster (kwargs as its constructor); everything goes at teardown."""
    made = []

    def build(**kw):
        monkeypatch.setenv("MINIBIG_KEY_FILE", str(tmp_path / f"cluster{len(made)}.key"))
        made.append(HostsCluster(tmp_path, **kw))
        return made[-1]
    yield build
    for cluster in made:
        cluster.close()
        assert cluster.net.leftovers() == [], "namespaces or links left behind"


def this_host() -> str:
    """Inside a task: the name of the test host running it."""
    return os.environ.get("MB_TEST_HOST", "driver")


def words(path) -> Counter:
    with open(path, encoding="utf-8") as f:
        return Counter(w for line in f for w in line.split())


def pagerank_in_python(path, iterations):
    """jobs/pagerank.py's algorithm in one process."""
    sys.path.insert(0, os.path.join(support.REPO, "jobs"))
    from pagerank import parse_edges
    links = {}
    with open(path) as f:
        for line in f:
            for src, dst in parse_edges(line):
                links.setdefault(src, set()).add(dst)
    ranks = dict.fromkeys(links, 1.0)
    for _ in range(iterations):
        sums = Counter()
        for page, neighbours in links.items():
            if page in ranks:
                for dst in neighbours:
                    sums[dst] += ranks[page] / len(neighbours)
        ranks = {page: 0.15 + 0.85 * total for page, total in sums.items()}
    return ranks


def test_three_hosts_run_wordcount_pagerank_and_an_mrjob(hosts):
    cluster = hosts()
    sc = cluster.sc
    status = cluster.status()
    assert sorted(w["host"] for w in status["workers"]) == sorted(h.addr for h in cluster.workers)

    counts = sc.textFile(TEXT, 4).flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(add, 4)
    assert dict(counts.collect()) == words(TEXT)
    # Each worker wrote map outputs the other had to fetch: its disk is its own, so a
    # reducer that tried to read them by path would have failed the job.
    assert set(sc.parallelize(range(8), 8).map(lambda _: this_host()).collect()) == {"h1", "h2"}

    sys.path.insert(0, os.path.join(support.REPO, "jobs"))
    import pagerank
    cloudpickle.register_pickle_by_value(pagerank)
    ranks = dict(pagerank.pagerank(sc, GRAPH, iterations=5).collect())
    expected = pagerank_in_python(GRAPH, 5)
    assert ranks.keys() == expected.keys()
    assert all(abs(ranks[p] - expected[p]) < 1e-9 for p in expected)

    import mr_word_freq
    cloudpickle.register_pickle_by_value(mr_word_freq)
    job = mr_word_freq.MRWordFreqCount(args=[TEXT, "--master", cluster.url])
    with job.make_runner() as runner:
        runner.run()
        assert dict(job.parse_output(runner.cat_output())) == words(TEXT)

    shown = cluster.status()["workers"]
    assert all(w["memory"] == 256 << 20 and w["slots"] == 2 for w in shown)
    assert sum(w["map_outputs"] for w in shown) > 0


def held_on(victim: str, markers: str):
    """A mapPartitions function: on the victim host, announce and never finish."""
    def hold(records):
        records = list(records)
        if this_host() == victim:
            faults.announce_and_wait(markers, f"hold{victim}", release=os.path.join(markers, "never"))
        return records
    return hold


def test_a_host_that_dies_mid_job_costs_time_not_the_answer(hosts, tmp_path):
    """Every process of a host is killed while it runs reduce tasks and holds map outputs."""
    cluster = hosts(locality_wait=0)       # reducers go to both hosts, not all to the bigger writer
    markers = str(tmp_path / "markers")
    os.mkdir(markers)
    seen = cluster.sc.accumulator(0)

    def count(records):
        for record in records:
            seen.add(1)
            yield record
    job = cluster.sc.parallelize(PAIRS, 4).reduceByKey(add, 4) \
        .mapPartitions(held_on("h2", markers)).mapPartitions(count)
    result = faults.run_in_thread(job.collect)
    faults.wait_for_marker(markers, "holdh2", timeout=60)
    assert cluster.workers[1].kill_all(), "the host had processes to kill"
    assert dict(result()) == EXPECTED
    assert seen.value == len(EXPECTED), "each reduce partition counted once"


def test_a_partitioned_host_that_heals_is_fenced_or_rejoins_and_nothing_counts_twice(hosts, tmp_path):
    """The victim's link goes down while its tasks run; the master reruns them on the
    other host; the link comes back, the victim's late results arrive: every
    partition's output is committed once, and the victim works again afterwards."""
    cluster = hosts(speculation=False)         # a task moves only because its host was lost
    markers = str(tmp_path / "markers")
    os.mkdir(markers)
    late, rerun = os.path.join(markers, "go-late"), os.path.join(markers, "go-rerun")
    seen = cluster.sc.accumulator(0)

    def step(i):
        from minibig.core.task import current_task
        seen.add(1)
        if this_host() == "h2":
            faults.touch(os.path.join(markers, f"victim{i}"))
            faults.announce_and_wait(markers, "late", release=late)
        elif current_task().attempt > 0:           # moved here from the partitioned host
            faults.announce_and_wait(markers, "rerun", release=rerun)
        return f"{i} {this_host()}"
    out = str(tmp_path / "out")
    job = faults.run_in_thread(lambda: cluster.sc.parallelize(range(8), 8).map(step).saveAsTextFile(out))
    faults.wait_for_marker(markers, "late", timeout=60)
    victim = cluster.workers[1]
    victim.cut()
    faults.wait_for_marker(markers, "rerun", timeout=60)  # the master gave up on the victim
    victim.heal()
    faults.wait_until(lambda: len(cluster.status()["workers"]) == 2, "the victim rejoining", 60)
    faults.touch(late)                                     # its late results go out now
    faults.touch(rerun)
    job()
    lines = sorted(line for name in os.listdir(out) if name.startswith("part-")
                   for line in open(os.path.join(out, name)).read().splitlines())
    assert sorted(int(line.split()[0]) for line in lines) == list(range(8)), lines
    print("partitions of the partitioned host committed from:",
          Counter(line.split()[1] for line in lines if int(line.split()[0]) in moved(markers)))
    assert seen.value == 8, "each partition's accumulator updates merged once"
    again = Counter(cluster.sc.parallelize(range(4), 4).map(lambda _: this_host()).collect())
    assert set(again) == {"h1", "h2"}, "the healed host runs tasks again"


def moved(markers) -> set:
    """Partitions whose first attempt ran on the partitioned host (from the markers)."""
    return {int(n[6:]) for n in os.listdir(markers) if n.startswith("victim")}


def test_a_slow_link_loses_tasks_to_a_speculative_copy(hosts):
    """One host's link is shaped (netem delay and rate, or a tbf rate limit where the
    kernel has no netem): its task's result crawls, a backup copy on the fast
    host wins, and sc.lastJob shows the copy's launch level (ANY)."""
    cluster = hosts(slots=1, worker_timeout=10.0)
    used = cluster.workers[1].shape(50, "2mbit")
    blob = 512 << 10

    def big(i):
        return i, this_host(), b"x" * blob
    got = cluster.sc.parallelize(range(8), 8).map(big).collect()
    assert sorted(i for i, _, _ in got) == list(range(8)), used
    winners = Counter(host for _, host, _ in got)
    print(f"shaped with {used}: results from {dict(winners)}; {cluster.sc.lastJob}")
    assert winners["h2"] < winners["h1"], (used, winners)
    assert cluster.sc.lastJob.locality.get("ANY", 0) >= 1, (used, cluster.sc.lastJob)


def test_a_peer_without_the_key_gets_nothing(hosts):
    """From another namespace, with no key or the wrong one: no registration, no
    block, no shutdown; with the key, the same peer is answered."""
    cluster = hosts(extra_hosts=1)
    block_addr = cluster.status()["workers"][0]["block_addr"]
    code = INTRUDER.format(master=cluster.url, block=block_addr, key=cluster.key)
    done = cluster.extra[0].python(code, timeout=60, env=support.env())
    assert done.returncode == 0, done.stderr
    answered = json.loads(done.stdout)
    assert answered == {"status with the key": True, "fetch with the key": True,
                        "register without a key": False, "fetch without a key": False,
                        "status without a key": False, "register with another key": False,
                        "fetch with another key": False}
    status = cluster.status()
    assert [w["id"] for w in status["workers"] if w["id"].startswith("intruder")] == []
    assert dict(cluster.sc.parallelize(PAIRS, 4).reduceByKey(add).collect()) == EXPECTED


INTRUDER = """
import json, time, zmq
from minibig.net import protocol as P
key = json.load(open({key!r}))
server = key["public"].encode()
ctx = zmq.Context()

def send(url, kind, header, keys=None):
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    if keys is not None:
        s.curve_serverkey = server
        s.curve_publickey, s.curve_secretkey = keys
    s.connect(url)
    P.send(s, kind, header)
    return s

real = (server, key["secret"].encode())
other = zmq.curve_keypair()
fake = {{"worker_id": "intruder-1", "host": "10.0.0.66", "pid": 1, "slots": 8,
         "block_addr": "tcp://10.0.0.66:1", "work_dir": "/"}}
fetch = {{"shuffle": "d0/0", "map": 0, "reduce": 0}}
asked = {{
    "status with the key": send({master!r}, P.STATUS, {{}}, real),
    "fetch with the key": send({block!r}, P.FETCH_BLOCK, fetch, real),
    "register without a key": send({master!r}, P.REGISTER, fake),
    "fetch without a key": send({block!r}, P.FETCH_BLOCK, fetch),
    "status without a key": send({master!r}, P.STATUS, {{}}),
    "register with another key": send({master!r}, P.REGISTER, fake, other),
    "fetch with another key": send({block!r}, P.FETCH_BLOCK, fetch, other),
}}
shutdowns = [send({master!r}, P.SHUTDOWN, {{}}), send({master!r}, P.SHUTDOWN, {{}}, other)]
poller = zmq.Poller()
for s in asked.values():
    poller.register(s, zmq.POLLIN)
deadline = time.monotonic() + 2.0       # the keyed peers answer within milliseconds
answered = set()
while time.monotonic() < deadline:
    answered |= {{s for s, _ in poller.poll(100)}}
print(json.dumps({{what: s in answered for what, s in asked.items()}}))
"""

