"""What a new user gets wrong in the first hour gets an answer as clear as Python's own:
the mistake named, in the user's words and lines, without minibig's frames around it."""

import json
import subprocess
import sys
import threading
import time

from support import cleanup, env

TIMEOUT = 120


def _submit(*args):
    return subprocess.run([sys.executable, "-m", "minibig", "submit", *args], capture_output=True,
                          text=True, env=env(), timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def test_a_job_file_that_does_not_compile_is_reported_as_python_reports_it(tmp_path):
    job = tmp_path / "typo.py"
    job.write_text("from minibig import Context\n"
                   "print('started')\n"
                   "with Context() as sc:\n"
                   "    print(sc.parallelize([1, 2]).map(lambda x: x +).collect())\n")
    alone = subprocess.run([sys.executable, str(job)], capture_output=True, text=True,
                           timeout=TIMEOUT)
    done = _submit("--workers", "1", str(job))
    assert (done.returncode, done.stdout, done.stderr) == (alone.returncode, "", alone.stderr)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[0] == f'  File "{job}", line 4', done.stderr
    assert done.stderr.endswith("SyntaxError: invalid syntax\n"), done.stderr


def test_a_syntax_error_in_a_module_the_job_imports_names_the_job_line_that_imports_it(tmp_path):
    (tmp_path / "helpers.py").write_text("def double(x):\n    return x *\n")
    job = tmp_path / "job.py"
    job.write_text("import helpers\n")
    done = _submit("--workers", "1", str(job))
    assert done.returncode == 1, done.stderr
    assert f'File "{job}", line 1, in <module>' in done.stderr, done.stderr
    assert "minibig" not in done.stderr and "runpy" not in done.stderr, done.stderr
    assert f'File "{tmp_path / "helpers.py"}", line 2' in done.stderr, done.stderr
    assert done.stderr.endswith("SyntaxError: invalid syntax\n"), done.stderr


def test_submit_without_a_job_file_asks_for_the_job_alone():
    done = _submit()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == ("minibig submit: error: the following arguments are "
                                            "required: job"), done.stderr


def _stderr_line(proc, timeout: float = TIMEOUT) -> str:
    """The next line `proc` writes on stderr, read in a thread so that a silent process fails
    the test after `timeout` instead of hanging it."""
    box = []
    reader = threading.Thread(target=lambda: box.append(proc.stderr.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert box, f"nothing on stderr within {timeout}s"
    return box[0]


def _by_hand(*command: str) -> subprocess.Popen:
    """`minibig COMMAND...` as a user starts it in a terminal, its stdout and stderr read here."""
    return subprocess.Popen([sys.executable, "-m", "minibig", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=env())


def _worker_ids(url: str) -> list:
    status = subprocess.run([sys.executable, "-m", "minibig", "status", "--master", url, "--json"],
                            capture_output=True, text=True, env=env(), timeout=TIMEOUT)
    return [w["id"] for w in json.loads(status.stdout)["workers"]]


def test_a_master_and_a_worker_started_by_hand_say_where_they_are_and_that_they_joined():
    procs = []
    try:
        master = _by_hand("master", "--port", "0")
        procs.append(master)
        url = json.loads(master.stdout.readline())["url"]         # the line for programs
        assert _stderr_line(master) == (f"minibig: master at {url}; workers join it with "
                                        f"`minibig worker --master {url}` (Ctrl-C stops it)\n")
        worker = _by_hand("worker", "--master", url, "--slots", "2", "--memory", "1g")
        procs.append(worker)
        joined = _stderr_line(worker)
        assert joined.startswith("minibig: worker ") and f"joined the master at {url}: " in joined
        assert "2 slot(s), 1.0 GiB, blocks served at tcp://127.0.0.1:" in joined, joined
        assert _worker_ids(url) == [joined.split()[2]]
    finally:
        cleanup(procs)


def test_a_worker_says_its_master_went_away_and_joins_it_once_when_it_is_back():
    procs = []
    try:
        master = _by_hand("master", "--port", "0")
        procs.append(master)
        url = json.loads(master.stdout.readline())["url"]
        worker = _by_hand("worker", "--master", url)
        procs.append(worker)
        assert "joined the master" in _stderr_line(worker)
        master.terminate()                          # the user stops the master (Ctrl-C, kill)
        master.wait(TIMEOUT)
        gone = _stderr_line(worker)
        assert gone.endswith(f": the master at {url} went away; it joins it again when it is "
                             "back (Ctrl-C stops it)\n"), gone
        time.sleep(3)                               # meanwhile the worker's heartbeats queue
        restarted = _by_hand("master", "--port", url.rpartition(":")[2])
        procs.append(restarted)
        assert json.loads(restarted.stdout.readline())["url"] == url
        joined = _stderr_line(worker)
        assert f"joined the master at {url} again" in joined, joined
        assert _worker_ids(url) == [joined.split()[2]]
        worker.terminate()                          # before the master: it must not see it go
        worker_said = worker.communicate(timeout=TIMEOUT)[1]
        restarted.terminate()
        master_said = restarted.communicate(timeout=TIMEOUT)[1]
        assert "joined" not in worker_said and "went away" not in worker_said, worker_said
        assert "re-registered" not in master_said, master_said
    finally:
        cleanup(procs)


def test_an_option_of_submit_written_after_the_job_file_is_pointed_out(tmp_path):
    job = tmp_path / "job.py"
    job.write_text("import argparse\nargparse.ArgumentParser().parse_args()\nprint('ran')\n")
    done = _submit(str(job), "--workers", "1")
    assert done.returncode == 2 and done.stdout == "", done
    assert "error: unrecognized arguments: --workers 1" in done.stderr, done.stderr   # the job's
    assert done.stderr.splitlines()[-1] == (
        "minibig: note: --workers is an option of minibig submit, and what follows the job file "
        f"goes to the job: write `minibig submit --workers 1 {job} ...`"), done.stderr
    refused = _submit(str(job), "--top", "3")                   # the job's own mistake: no note
    assert refused.returncode == 2 and "minibig: note" not in refused.stderr, refused.stderr
