"""Helpers for tests that start their own cluster processes.

Every process a test starts is killed in `cleanup`, and `no_survivors`
checks that none is left: a test of a distributed engine must not leak
processes into the next one.

Clusters started by hand are keyed like a user's: the test session makes
one key (`minibig keygen`'s format, 0600 in a 0700 folder of its own, never
the user's ~/.config) and names it in MINIBIG_KEY_FILE, for this process's
Contexts and for every child `env()` builds. There is no unkeyed test path.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _session_key() -> str:
    """A fresh cluster key for this test session, removed at exit."""
    from minibig.net.security import generate_key_file
    folder = tempfile.mkdtemp(prefix="minibig-test-key-")
    atexit.register(shutil.rmtree, folder, True)
    return generate_key_file(os.path.join(folder, "cluster.key"))


KEY_FILE = _session_key()
os.environ["MINIBIG_KEY_FILE"] = KEY_FILE
os.environ.pop("MINIBIG_INSECURE", None)


def key_file_for(url: str) -> str:
    """A 0600 copy of the key of an embedded cluster this process started, for child drivers.

    An embedded cluster's key lives in its driver's memory only; a test whose
    child processes join the `sc` fixture's cluster hands them this copy.
    """
    from minibig.net.security import cluster_key, key_text
    path = os.path.join(os.path.dirname(KEY_FILE), url.replace("/", "_").replace(":", "_") + ".key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key_text(cluster_key(url)))
    return path


def env(**extra) -> dict:
    """Environment for a child python: the repo importable, no cluster inherited, the test key."""
    e = dict(os.environ)
    e.pop("MINIBIG_MASTER", None)
    e.pop("MINIBIG_INSECURE", None)
    e["MINIBIG_KEY_FILE"] = KEY_FILE
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, e.get("PYTHONPATH", "")]))
    e.update({k: str(v) for k, v in extra.items()})
    return e


def start_master(**environ) -> tuple[subprocess.Popen, str]:
    """`minibig master --port 0`, with `environ` added to its environment; the process and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "minibig", "master", "--port", "0"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env(**environ))
    line = proc.stdout.readline()
    return proc, json.loads(line)["url"]


def start_worker(url: str, *args: str, **environ) -> subprocess.Popen:
    """`minibig worker --master URL`, with `environ` added to its environment."""
    return subprocess.Popen([sys.executable, "-m", "minibig", "worker", "--master", url, *args],
                            stdin=subprocess.DEVNULL, env=env(**environ))


def cleanup(procs, timeout: float = 10.0) -> None:
    """Terminate, then kill, every process; wait for all of them."""
    procs = [p for p in procs if p is not None]
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for pipe in (p.stdin, p.stdout, p.stderr):
            if pipe is not None:
                pipe.close()


def descendants() -> set[int]:
    """Pids of every process this one started, and theirs."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


def wait_gone(pids, timeout: float) -> list[int]:
    """Wait until the processes exit; return the pids still alive after `timeout`."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def lineage_shuffles(rdd) -> set:
    """Shuffle ids anywhere in the lineage of `rdd` (across stage boundaries)."""
    from minibig.core.dependency import ShuffleDependency
    seen, stack, found = set(), [rdd], set()
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        for dep in node.deps:
            if isinstance(dep, ShuffleDependency):
                found.add(dep.shuffle_id)
            stack.append(dep.rdd)
    return found
