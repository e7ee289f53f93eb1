"""Cluster processes: start, join, status, clean stop, and no orphans ever."""

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest

from minibig import Context
from minibig.cluster import forking

from support import REPO, cleanup, descendants, env, start_master, start_worker, wait_gone


def test_stop_leaves_no_process_behind():
    before = descendants()
    with Context(workers=2) as ctx:
        pids = [p.pid for p in ctx._cluster.processes()]
        assert len(pids) == 3
        assert ctx.parallelize(range(10)).count() == 10
    assert wait_gone(pids, timeout=10) == []
    assert descendants() <= before


@pytest.mark.parametrize("zygote", ["1", "0"])
def test_sigkill_of_the_driver_takes_the_embedded_cluster_down(zygote):
    """Forks of the zygote (and the zygote), or fresh interpreters: none outlives its driver."""
    driver = subprocess.Popen(
        [sys.executable, "-c",
         "import json, sys\n"
         "from minibig import Context\n"
         "ctx = Context(workers=2)\n"
         "zygote = ctx._cluster.zygote\n"
         "pids = [p.pid for p in ctx._cluster.processes()] + ([zygote.proc.pid] if zygote else [])\n"
         "print(json.dumps(pids), flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env(MINIBIG_ZYGOTE=zygote), cwd=REPO)
    try:
        pids = json.loads(driver.stdout.readline())
        forked = zygote == "1" and forking.supported()
        assert len(pids) == (4 if forked else 3) and all(psutil.pid_exists(pid) for pid in pids)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        assert wait_gone(pids, timeout=10) == [], "embedded processes outlived their driver"
    finally:
        cleanup([driver])


def test_standalone_master_workers_status_and_submit(tmp_path):
    master, url = start_master()
    workers = []
    try:
        workers = [start_worker(url), start_worker(url, "--slots", "2")]
        with Context(master=url) as ctx:
            ctx._backend.wait_for_workers(2, timeout=60)
            assert ctx.defaultParallelism == 3
            assert ctx.parallelize(range(100), 6).map(lambda x: x * x).sum() == sum(x * x for x in range(100))
        status = subprocess.run([sys.executable, "-m", "minibig", "status", "--master", url, "--json"],
                                capture_output=True, text=True, env=env(), timeout=60)
        reply = json.loads(status.stdout)
        assert len(reply["workers"]) == 2 and sum(w["slots"] for w in reply["workers"]) == 3
        assert sum(w["tasks_done"] for w in reply["workers"]) >= 6
        human = subprocess.run([sys.executable, "-m", "minibig", "status", "--master", url],
                               capture_output=True, text=True, env=env(), timeout=60)
        assert "workers 2" in human.stdout

        (tmp_path / "helper_words.py").write_text("def shout(word):\n    return word.upper() + '!'\n")
        (tmp_path / "job.py").write_text(
            "import sys\n"
            "from minibig import Context\n"
            "import helper_words\n"
            "with Context() as sc:\n"
            "    words = sc.parallelize(sys.argv[1:], 2).map(helper_words.shout).collect()\n"
            "print(' '.join(words))\n")
        done = subprocess.run([sys.executable, "-m", "minibig", "submit", "--master", url,
                               str(tmp_path / "job.py"), "a", "b", "c"],
                              capture_output=True, text=True, env=env(), timeout=120, cwd=str(tmp_path.parent))
        assert done.returncode == 0, done.stderr
        assert done.stdout == "A! B! C!\n", "only the job's output on stdout"
    finally:
        cleanup(workers + [master])


def test_status_names_embedded_clusters_it_cannot_ask_and_shows_the_others(tmp_path):
    """An embedded cluster's key lives in its driver alone: `minibig status` (listing
    every master on the machine) says so at once instead of failing on it."""
    driver = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom minibig import Context\n"
         "with Context(workers=1) as sc:\n"
         "    print(sc.master, flush=True)\n"
         "    sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env(TMPDIR=tmp_path))
    master = None
    try:
        embedded = driver.stdout.readline().strip()
        assert embedded.startswith("tcp://"), embedded
        master, url = start_master(TMPDIR=tmp_path)
        done = subprocess.run([sys.executable, "-m", "minibig", "status", "--timeout", "30"],
                              capture_output=True, text=True, env=env(TMPDIR=tmp_path), timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"master {embedded}  embedded cluster" in done.stdout
        assert f"master {url}" in done.stdout and "workers 0" in done.stdout
        assert "no minibig master answered" not in done.stderr
    finally:
        driver.stdin.close()
        driver.wait(timeout=60)
        cleanup([driver, master])


def test_a_killed_workers_scratch_folder_is_removed_by_the_next_worker(tmp_path):
    """SIGKILL leaves a worker no time to clean up; the next worker on the machine does."""
    import glob
    from minibig.cluster.workdir import sweep_abandoned

    master, url = start_master()
    first = second = None
    try:
        first = start_worker(url, TMPDIR=tmp_path)
        with Context(master=url) as ctx:
            ctx._backend.wait_for_workers(1, timeout=60)
            pairs = ctx.parallelize(range(1000), 4).map(lambda x: (x % 7, x)).reduceByKey(int.__add__)
            assert sorted(pairs.collect()) == sorted(
                (k, sum(x for x in range(1000) if x % 7 == k)) for k in range(7))
        (left,) = glob.glob(str(tmp_path / "minibig-worker-*"))
        assert os.listdir(left) != [".owner"], "the job wrote shuffle blocks there"
        assert sweep_abandoned(str(tmp_path)) == [], "a live worker's folder is kept"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert os.path.isdir(left)

        second = start_worker(url, TMPDIR=tmp_path)
        with Context(master=url) as ctx:
            ctx._backend.wait_for_workers(1, timeout=60)        # registered: it swept first
            assert ctx.parallelize(range(10), 2).count() == 10
        assert not os.path.exists(left)
        (own,) = glob.glob(str(tmp_path / "minibig-worker-*"))
        second.terminate()
        second.wait(timeout=30)
        assert not os.path.exists(own), "a worker that stops cleanly removes its own folder"
    finally:
        cleanup([master, first, second])


def test_a_worker_that_joins_later_gets_work():
    with Context(workers=1) as ctx:
        assert ctx.defaultParallelism == 1
        late = ctx._cluster.add_worker()
        ctx._backend.wait_for_workers(2, timeout=60)
        assert ctx.defaultParallelism == 2
        pids = set(ctx.parallelize(range(40), 40).map(lambda _: os.getpid()).collect())
        assert late.pid in pids


def test_submit_embedded_cluster_prints_only_job_output():
    done = subprocess.run([sys.executable, "-m", "minibig", "submit", "--workers", "2",
                           "jobs/wordcount.py", "datasets/text/austen_persuasion.txt", "--top", "3"],
                          capture_output=True, text=True, env=env(), cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["the", "to", "and"]
    import collections
    with open(os.path.join(REPO, "datasets/text/austen_persuasion.txt"), encoding="utf-8") as f:
        counts = collections.Counter(w for line in f for w in line.split())
    assert [int(line.split("\t")[1]) for line in lines] == [c for _, c in counts.most_common(3)]


def test_a_driver_whose_master_dies_fails_its_job_with_a_clear_error():
    from minibig.errors import JobAbortedError
    master, url = start_master()
    worker = start_worker(url)
    try:
        with Context(master=url, master_timeout=3.0) as ctx:
            ctx._backend.wait_for_workers(1, timeout=60)
            assert ctx.parallelize(range(4)).count() == 4
            master.kill()
            master.wait()
            with pytest.raises(JobAbortedError, match="stopped answering"):
                ctx.parallelize(range(4)).count()
    finally:
        cleanup([worker, master])
