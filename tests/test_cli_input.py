"""The command line and Context refuse bad input with one line naming the bad
value and what is allowed, a non-zero exit, and no traceback or hang."""

import json
import os
import socket
import subprocess
import sys

import pytest

from minibig import Context
from minibig.cluster.local import max_embedded_workers
from minibig.errors import InvalidArgumentError

from support import cleanup, env

TIMEOUT = 120


def _run(*args, **extra):
    return subprocess.run([sys.executable, "-m", "minibig", *args], capture_output=True,
                          text=True, env=env(**extra), timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def _one_line_error(done, *words):
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minibig: error:"), done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def job(tmp_path):
    path = tmp_path / "job.py"
    path.write_text("print('ran')\n")
    return str(path)


@pytest.mark.parametrize("value, words", [
    ("-1", ["--workers=-1", "at least 1"]),
    ("0", ["--workers=0", "at least 1"]),
    ("1000", ["--workers=1000", "1 to", "minibig worker"]),
])
def test_submit_refuses_a_bad_worker_count(job, value, words):
    done = _run("submit", "--workers", value, job)
    _one_line_error(done, *words)
    assert "ran" not in done.stdout, "nothing starts"


@pytest.mark.parametrize("command, url", [("submit", "localhost:7077"),
                                          ("worker", "tcp://127.0.0.1"),
                                          ("status", "http://127.0.0.1:7077"),
                                          ("worker", "tcp://127.0.0.1:99999")])
def test_a_malformed_master_url_is_refused_by_every_command(job, command, url):
    args = {"submit": ["submit", "--master", url, job], "worker": ["worker", "--master", url],
            "status": ["status", "--master", url]}[command]
    _one_line_error(_run(*args), repr(url), "tcp://HOST:PORT")


def test_master_refuses_a_port_out_of_range():
    _one_line_error(_run("master", "--port", "99999"), "--port 99999", "65535")


def test_worker_says_it_waits_then_gives_up_on_a_silent_master():
    url = f"tcp://127.0.0.1:{_unused_port()}"
    done = _run("worker", "--master", url, "--connect-timeout", "2", "-v")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"connecting to the master at {url}" in done.stderr
    assert "no answer yet" in done.stderr and "retrying" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("minibig: error: no minibig master answered") and "2s" in last


def test_keyed_master_hint_and_a_closed_stdout(tmp_path):
    key = tmp_path / "cluster.key"
    assert _run("keygen", str(key)).returncode == 0
    master = subprocess.Popen([sys.executable, "-m", "minibig", "master", "--port", "0",
                               "--key-file", str(key)], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=env())
    try:
        url = json.loads(master.stdout.readline())["url"]
        # Without the key the master never answers: the error says a key may be needed.
        _one_line_error(_run("status", "--master", url, "--timeout", "1"),
                        "no minibig master answered", "keyed", "--key-file")
        # `minibig status | head`: the reader has gone before status writes.
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run([sys.executable, "-m", "minibig", "status", "--master", url,
                                   "--key-file", str(key)], stdout=write_end, stderr=subprocess.PIPE,
                                  text=True, env=env(), timeout=TIMEOUT)
        finally:
            os.close(write_end)
        assert done.returncode == 141 and done.stderr == "", done.stderr
    finally:
        cleanup([master])


@pytest.mark.parametrize("kwargs, words", [
    ({"workers": 0}, ["workers=0", "at least 1"]),
    ({"workers": -1}, ["workers=-1", "at least 1"]),
    ({"workers": "two"}, ["workers='two'", "whole number"]),
    ({"master": "localhost:7077"}, ["'localhost:7077'", "tcp://HOST:PORT"]),
    ({"master": "tcp://127.0.0.1"}, ["tcp://HOST:PORT"]),
])
def test_context_refuses_bad_arguments_at_once(kwargs, words):
    with pytest.raises(ValueError) as info:
        Context(**kwargs)
    assert isinstance(info.value, InvalidArgumentError)
    for word in words:
        assert word in str(info.value)


def test_context_refuses_more_workers_than_the_machine_allows():
    too_many = max_embedded_workers() + 1
    with pytest.raises(InvalidArgumentError, match=f"workers={too_many}: .* 1 to "):
        Context(workers=too_many)


def test_minibig_master_inline_in_the_environment_runs_in_process(monkeypatch):
    """MINIBIG_MASTER=inline means Context(master="inline"); a bad value is named with its source."""
    monkeypatch.setenv("MINIBIG_MASTER", "inline")
    with Context() as ctx:
        assert ctx.master == "inline"
        assert ctx.parallelize(range(10), 2).sum() == 45
    monkeypatch.setenv("MINIBIG_MASTER", "localhost:7077")
    with pytest.raises(InvalidArgumentError, match="MINIBIG_MASTER 'localhost:7077'"):
        Context()


def test_version_prints_the_installed_version_and_exits_0():
    import minibig
    done = _run("--version")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == f"minibig {minibig.__version__} (Python {sys.version.split()[0]})\n"


@pytest.mark.parametrize("exit_call, status, stderr", [
    ('sys.exit("usage: job.py INPUT")', 1, "usage: job.py INPUT\n"), ("sys.exit(3)", 3, ""), ("sys.exit()", 0, "")])
def test_a_job_exits_as_it_would_under_python(tmp_path, exit_call, status, stderr):
    job = tmp_path / "exits.py"
    job.write_text(f"import sys\n{exit_call}\n")
    alone = subprocess.run([sys.executable, str(job)], capture_output=True, text=True, timeout=TIMEOUT)
    done = _run("submit", "--workers", "1", str(job))
    assert (done.returncode, done.stderr) == (alone.returncode, alone.stderr) == (status, stderr)
