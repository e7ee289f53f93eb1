"""Embedded clusters forked from a zygote: same processes, same guarantees, no orphans."""

import os
import signal
import subprocess
import sys
from collections import Counter
from operator import add

import pytest

from minibig import Context
from minibig.cluster import forking

from support import REPO, descendants, env, wait_gone

pytestmark = pytest.mark.skipif(not forking.supported(), reason="forked clusters need pidfds")


def _run_driver(code: str, **environ) -> None:
    """Run `code` as a driver of its own; fail with its stderr if it fails."""
    done = subprocess.run([sys.executable, "-c", code], env=env(**environ), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _worker_facts(_):
    import os
    import random
    return [(os.getpid(), os.getppid(), hash("minibig"), random.random(),
             os.environ.get("MINIBIG_TEST_SEEN"), os.getcwd())]


def test_forked_workers_hash_as_fixed_seed_processes_and_see_the_drivers_env_and_folder(tmp_path):
    os.environ["MINIBIG_TEST_SEEN"] = "set after the import"   # after the zygote started
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        with Context(workers=2) as ctx:
            assert all(isinstance(p, forking.ForkedProcess) for p in ctx._cluster.processes())
            facts = ctx.parallelize(range(8), 8).mapPartitions(_worker_facts).collect()
            zygote = ctx._cluster.zygote.proc.pid
    finally:
        os.chdir(old)
        del os.environ["MINIBIG_TEST_SEEN"]
    fresh = subprocess.run([sys.executable, "-c", "print(hash('minibig'))"], env=env(PYTHONHASHSEED="0"),
                           capture_output=True, text=True, check=True).stdout
    assert {f[2] for f in facts} == {int(fresh)}, "str hashing is the fixed seed's"
    assert {f[1] for f in facts} == {zygote}, "the workers are the zygote's children"
    assert {f[4] for f in facts} == {"set after the import"}
    assert {f[5] for f in facts} == {str(tmp_path)}
    by_pid = {}
    for pid, _, _, draw, _, _ in facts:
        by_pid.setdefault(pid, draw)
    assert len(by_pid) == 2 and len(set(by_pid.values())) == 2, "random is reseeded in each fork"


def _start_state(_):
    import gc
    import sys
    return [("asyncio" in sys.modules, gc.get_freeze_count() > 0)]


def test_forked_workers_start_without_asyncio_and_with_the_zygotes_objects_frozen():
    """pyzmq's zmq.auth imports asyncio (~50 ms before any fork; minibig has its own ZAP
    handler), and a fork's collections must never walk (and so copy) the zygote's objects."""
    forking.discard_prewarmed()
    with Context(workers=1) as ctx:
        assert ctx.parallelize([0], 1).mapPartitions(_start_state).collect() == [(False, True)]


def _numpy_loaded(_):
    import sys
    return ["numpy" in sys.modules]


def test_a_fresh_clusters_word_count_and_distinct_pairs_do_not_import_numpy():
    """numpy's import costs a fresh worker ~0.13 s: more than the columnar path or the
    uint64 mix of tuple keys saves below their cold thresholds (`columnar_size_pays`,
    `hashing.UINT64_BATCH_COLD`), so a shuffle that small leaves it unloaded, and the
    answer is the same."""
    words = [f"w{i % 3000}" for i in range(20_000)]
    edges = [(f"a{i % 5000}", f"b{i % 7}") for i in range(30_000)]     # all distinct: 15k a map task
    forking.discard_prewarmed()
    with Context(workers=2) as ctx:
        counts = dict(ctx.parallelize(words, 2).map(lambda w: (w, 1)).reduceByKey(add, 2).collect())
        pairs = ctx.parallelize(edges, 2).distinct(2).collect()
        loaded = ctx.parallelize(range(2), 2).mapPartitions(_numpy_loaded).collect()
    assert counts == dict(Counter(words))
    assert sorted(pairs) == sorted(set(edges))
    assert loaded == [False, False]


def test_handles_report_signals_and_stop_leaves_no_process_not_even_the_zygote():
    before = descendants()
    with Context(workers=2, worker_timeout=3.0) as ctx:
        victim = ctx._cluster.workers[0]
        zygote = ctx._cluster.zygote.proc.pid
        assert victim.poll() is None
        victim.kill()
        assert victim.wait(timeout=30) == -signal.SIGKILL
        late = ctx._cluster.add_worker()
        pids = set(ctx.parallelize(range(40), 40).map(lambda _: os.getpid()).collect())
        assert victim.pid not in pids and late.poll() is None
        everything = [p.pid for p in ctx._cluster.processes()] + [zygote]
    assert wait_gone(everything, timeout=10) == []
    assert descendants() <= before


def test_an_inline_context_stops_the_zygote_its_import_started():
    _run_driver(
        "from minibig import Context\n"
        "from minibig.cluster import forking\n"
        "zygote = forking._prewarmed\n"
        "assert zygote is not None, 'asking for Context started a zygote'\n"
        "with Context(master='inline') as sc:\n"
        "    assert sc.parallelize(range(10)).count() == 10\n"
        "assert forking._prewarmed is None and zygote.proc.poll() is not None\n")


def test_without_the_zygote_each_process_is_a_fresh_interpreter():
    _run_driver(
        "import subprocess\n"
        "from minibig import Context\n"
        "with Context(workers=2) as sc:\n"
        "    assert sc._cluster.zygote is None\n"
        "    assert all(isinstance(p, subprocess.Popen) for p in sc._cluster.processes())\n"
        "    assert sc.parallelize(range(10)).count() == 10\n", MINIBIG_ZYGOTE="0")


def test_the_first_context_takes_the_zygote_its_import_started():
    _run_driver(
        "from minibig import Context\n"
        "from minibig.cluster import forking\n"
        "zygote = forking._prewarmed\n"
        "with Context(workers=2) as sc:\n"
        "    assert sc._cluster.zygote is zygote and forking._prewarmed is None\n"
        "    assert sc.parallelize(range(10)).count() == 10\n"
        "assert zygote.proc.poll() is not None, 'stopped with its cluster'\n")


def test_a_zygote_never_asked_for_anything_exits_by_itself():
    zygote = subprocess.Popen([sys.executable, "-m", "minibig.cluster.zygote", "0.5"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env(), cwd=REPO)
    try:
        assert zygote.wait(timeout=60) == 0, "its driver still holds its stdin"
        assert zygote.stdout.read() == b""
    finally:
        zygote.kill()
        zygote.wait()
        zygote.stdin.close()
        zygote.stdout.close()


def test_a_zygote_serving_a_cluster_outlives_its_idle_timeout(monkeypatch):
    """Only an unused zygote gives up: a quiet cluster's must stay (its processes die with it)."""
    forking.discard_prewarmed()
    monkeypatch.setattr(forking, "IDLE_EXIT", 0.2)
    with Context(workers=1) as ctx:
        with pytest.raises(subprocess.TimeoutExpired):
            ctx._cluster.zygote.proc.wait(timeout=2.0)      # ten idle timeouts, all quiet
        assert ctx.parallelize(range(10), 2).count() == 10


def test_a_driver_in_a_removed_folder_still_starts_its_cluster():
    _run_driver(
        "import os, tempfile\n"
        "from minibig import Context\n"
        "gone = tempfile.mkdtemp()\n"
        "os.chdir(gone)\n"
        "os.rmdir(gone)\n"
        "with Context(workers=1) as sc:\n"
        "    assert sc.defaultParallelism == 1\n")


def test_a_worker_handed_a_wrong_url_on_stdin_says_no_master_answered():
    """Only an embedded cluster's workers (URL on stdin, --die-with-parent) skip asking
    the master first: a user piping a wrong URL hears so, not a worker registering into
    nothing."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    done = subprocess.run([sys.executable, "-m", "minibig", "worker", "--master", "-",
                           "--connect-timeout", "1"], input=url + "\n", capture_output=True,
                          text=True, env=env(), cwd=REPO, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "no minibig master answered" in done.stderr.strip().splitlines()[-1], done.stderr
