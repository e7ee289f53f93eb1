"""A keyed cluster speaks CurveZMQ and admits only peers holding its key."""

import json
import subprocess
import sys

from minibig import Context

from support import cleanup, env


def _run(*args, **extra):
    return subprocess.run([sys.executable, "-m", "minibig", *args], capture_output=True,
                          text=True, env=env(**extra), timeout=120)


def test_listening_beyond_loopback_needs_a_key():
    done = _run("master", "--bind", "0.0.0.0", "--port", "0")
    assert done.returncode != 0
    assert "without a cluster key" in done.stderr and "Traceback" not in done.stderr


def test_only_key_holders_join_a_keyed_cluster(tmp_path, monkeypatch):
    key, other = tmp_path / "cluster.key", tmp_path / "other.key"
    assert _run("keygen", str(key)).returncode == 0
    assert _run("keygen", str(other)).returncode == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    master = subprocess.Popen([sys.executable, "-m", "minibig", "master", "--port", "0",
                               "--key-file", str(key)], stdout=subprocess.PIPE, env=env())
    procs = [master]
    try:
        url = json.loads(master.stdout.readline())["url"]
        procs.append(subprocess.Popen([sys.executable, "-m", "minibig", "worker", "--master", url,
                                       "--key-file", str(key)], env=env()))
        procs.append(subprocess.Popen([sys.executable, "-m", "minibig", "worker", "--master", url,
                                       "--key-file", str(other)], env=env()))
        monkeypatch.setenv("MINIBIG_KEY_FILE", str(key))
        with Context(master=url) as ctx:
            ctx._backend.wait_for_workers(1, timeout=60)
            assert ctx.parallelize(range(10), 3).map(lambda x: x + 1).sum() == 55
        status = _run("status", "--master", url, "--json", "--key-file", str(key))
        assert len(json.loads(status.stdout)["workers"]) == 1, "the wrong key never registers"
        for args in (["--key-file", str(other)], []):
            refused = _run("status", "--master", url, "--timeout", "1", *args)
            assert refused.returncode != 0 and "no minibig master answered" in refused.stderr
    finally:
        cleanup(procs)
