"""Ctrl-C during an action of `python job.py`: the user's line, no engine frames, no process left."""

import os
import signal
import subprocess
import sys
import time

import psutil

from support import env

TIMEOUT = 120

JOB = """
import os, sys, time
from minibig import Context

def wait(x):
    open(os.path.join({folder!r}, "task-%d" % x), "w").close()   # the action is under way
    time.sleep(120)
    return x

with Context(workers=1) as sc:
    print(sc.parallelize([0], 1).map(wait).collect())
"""


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # as in a terminal, whatever this process has


def test_ctrl_c_during_an_action_shows_the_users_line_and_leaves_no_process(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(JOB.format(folder=str(tmp_path)))
    proc = subprocess.Popen([sys.executable, str(job)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            env=env(), preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "task-0").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        family = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGINT, err
    assert err.endswith("KeyboardInterrupt\n"), err
    assert f'File "{job}", line 11, in <module>' in err, err
    assert f"minibig{os.sep}" not in err and "zmq" not in err, err
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, alive
