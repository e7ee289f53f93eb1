"""MRJob command lines end to end: `python job.py ...` and `minibig submit job.py ...`.

Each test runs a real subprocess with a bounded timeout; most join the `sc`
fixture's cluster with --master, one starts its own embedded cluster.
stdout must hold the job's output and nothing else.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

from support import REPO, env, key_file_for

WORD_FREQ = os.path.join(REPO, "jobs", "mr_word_freq.py")
RAISING = os.path.join(REPO, "tests", "jobs", "mr_raising_job.py")
PERSUASION = os.path.join(REPO, "datasets", "text", "austen_persuasion.txt")
TIMEOUT = 120


def cli(*args, stdin: bytes = b"", joins: str | None = None) -> subprocess.CompletedProcess:
    """Run a command; `joins`: the URL of this process's embedded cluster it needs the key of."""
    keyed = env(MINIBIG_KEY_FILE=key_file_for(joins)) if joins else env()
    return subprocess.run(list(args), input=stdin, capture_output=True, env=keyed,
                          cwd=REPO, timeout=TIMEOUT)


def counts_of(path: str) -> dict:
    counts = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
    return dict(counts)


def parsed(stdout: bytes) -> dict:
    pairs = {}
    for line in stdout.decode("utf-8").splitlines():
        key, value = line.split("\t")
        pairs[json.loads(key)] = json.loads(value)
    return pairs


def test_python_job_py_prints_only_the_output(sc):
    done = cli(sys.executable, WORD_FREQ, PERSUASION, "--master", sc.master, joins=sc.master)
    assert done.returncode == 0, done.stderr.decode()
    assert parsed(done.stdout) == counts_of(PERSUASION)
    assert b"Running MRWordFreqCount" in done.stderr


def test_python_job_py_reads_stdin_inline():
    done = cli(sys.executable, WORD_FREQ, "-r", "inline", "-q", stdin=b"a b a\nc\n")
    assert done.returncode == 0, done.stderr.decode()
    assert parsed(done.stdout) == {"a": 2, "b": 1, "c": 1}
    assert done.stderr == b""                             # -q: no log lines


def test_minibig_submit_to_a_running_cluster_writes_part_files(sc, tmp_path):
    out = tmp_path / "out"
    done = cli(sys.executable, "-m", "minibig", "submit", "--master", sc.master, WORD_FREQ,
               PERSUASION, "-o", str(out), "--num-reducers", "3", joins=sc.master)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b""                             # -o: nothing on stdout
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    total = {}
    for part in ("part-00000", "part-00001", "part-00002"):
        total.update(parsed((out / part).read_bytes()))
    assert total == counts_of(PERSUASION)


def test_minibig_submit_with_an_embedded_cluster():
    done = cli(sys.executable, "-m", "minibig", "submit", "--workers", "2",
               os.path.join(REPO, "jobs", "mr_most_used_word.py"), PERSUASION)
    assert done.returncode == 0, done.stderr.decode()
    (word, count), = parsed(done.stdout).items()
    assert word == "the" and count > 3000


def test_a_failing_job_exits_non_zero_with_context_on_stderr(sc, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("fine\nstill fine\nboom here\n")
    for where in (["-r", "inline"], ["--master", sc.master]):
        done = cli(sys.executable, RAISING, str(data), *where, joins=sc.master)
        assert done.returncode == 1
        assert done.stdout == b""
        err = done.stderr.decode()
        assert "ValueError: mapper met 'boom'" in err
        assert f"step 1 of 1, mapper MRRaisingJob.mapper, input {data} line 3" in err
        assert 'mr_raising_job.py", line 17, in mapper' in err     # the user's frame
    assert "remote traceback" in err and "scheduler/dag.py" not in err   # no driver stack


def test_help_and_bad_options():
    done = cli(sys.executable, WORD_FREQ, "--help")
    assert done.returncode == 0 and b"--num-reducers" in done.stdout
    done = cli(sys.executable, WORD_FREQ, "--no-such-option")
    assert done.returncode == 2 and b"unrecognized arguments" in done.stderr
