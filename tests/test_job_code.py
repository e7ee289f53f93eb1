"""Each job runs the code it shipped, even on a worker that ran another job's
version of the same module just before, or runs it at the same time."""

import subprocess
import sys

from support import cleanup, env, start_master, start_worker

TIMEOUT = 120

JOB = """\
import helper
from minibig import Context

with Context() as sc:
    print(sorted(set(sc.parallelize(range(8), 8).map(helper.version).collect())))
"""

HELPER = """\
import time

def version(_):
    time.sleep(0.02)          # long enough for two jobs' tasks to meet on the worker
    return {tag!r}
"""


def _job_folder(root, tag: str) -> str:
    folder = root / tag
    folder.mkdir()
    (folder / "helper.py").write_text(HELPER.format(tag=tag))
    (folder / "job.py").write_text(JOB)
    return str(folder / "job.py")


def _submit(url: str, job: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "minibig", "submit", "--master", url, job],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env())


def _output(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return out.strip()


def test_each_job_imports_its_own_helper_on_a_shared_worker(tmp_path):
    master, url = start_master()
    procs = [master, start_worker(url, "--slots", "2")]
    try:
        first, second = _job_folder(tmp_path, "v1"), _job_folder(tmp_path, "v2")
        for job, tag in ((first, "v1"), (second, "v2"), (first, "v1")):
            assert _output(_submit(url, job)) == f"['{tag}']", "one job after the other"
        both = [_submit(url, first), _submit(url, second)]
        procs.extend(both)
        assert [_output(p) for p in both] == ["['v1']", "['v2']"], "two jobs at once"
    finally:
        cleanup(procs)
