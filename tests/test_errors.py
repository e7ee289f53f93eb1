"""Failures come back to the driver as the user's own exception, with context,
and the cluster stays up for the next job."""

import os
import re
import subprocess
import sys
import threading

import pytest

from minibig import Context
from minibig.errors import InputPathError, PicklingError, ResultTooLargeError

from support import REPO, env


class NotMyFault(Exception):
    """A user-defined exception type raised inside a task."""


def test_user_exception_keeps_its_type_and_carries_context(sc):
    rdd = sc.parallelize(range(10), 2).map(lambda x: 1 // (x - 7))   # the failing line
    with pytest.raises(ZeroDivisionError) as info:
        rdd.collect()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "ResultStage" in notes and "partition 1" in notes and "on worker" in notes
    assert "attempt" in notes
    assert "test_errors.py:" in notes, "the user's line that created the failing dataset"
    assert "remote traceback" in notes and "ZeroDivisionError" in notes
    assert sc.parallelize(range(10), 2).sum() == 45, "the cluster runs the next job"


def test_custom_exception_type_from_a_shuffle_stage(sc):
    def explode(kv):
        if kv[0] == 3:
            raise NotMyFault(f"bad key {kv[0]}")
        return kv
    rdd = sc.parallelize([(i % 5, i) for i in range(50)], 3).map(explode).reduceByKey(lambda a, b: a + b)
    with pytest.raises(NotMyFault, match="bad key 3") as info:
        rdd.collect()
    notes = "\n".join(info.value.__notes__)
    assert "ShuffleMapStage" in notes
    assert info.value.minibig_context["worker"]
    assert sorted(sc.parallelize([1, 2, 3]).map(lambda x: (x, x)).reduceByKey(max).collect()) == \
        [(1, 1), (2, 2), (3, 3)]


def test_failing_dataset_is_named_not_the_last_one(sc):
    bad = sc.parallelize(["1", "2", "x"], 1).map(lambda s: int(s))     # the failing dataset
    good = bad.map(lambda v: v * 2).filter(lambda v: v > 0)
    with pytest.raises(ValueError) as info:
        good.count()
    notes = "\n".join(info.value.__notes__)
    line = next(n for n in notes.splitlines() if "failing dataset" in n)
    assert f"[{bad.id}]" in line


def test_unpicklable_closure_names_the_object(sc):
    guard = threading.Lock()
    rdd = sc.parallelize([1, 2]).map(lambda x: (guard, x))
    with pytest.raises(PicklingError) as info:
        rdd.collect()
    message = str(info.value)
    assert "'guard'" in message and "lock" in message.lower()
    assert "test_errors.py:" in message


def test_collect_bigger_than_the_limit_fails_clearly(sc):
    with Context(master=sc.master, max_result_size=50_000) as small:
        with pytest.raises(ResultTooLargeError, match="max_result_size"):
            small.parallelize(range(100_000), 4).collect()
        assert small.parallelize(range(100), 4).count() == 100


def test_missing_input_path_is_a_clear_error(sc):
    with pytest.raises(InputPathError, match="does not exist: /no/such/input"):
        sc.textFile("/no/such/input")


def _cli(*args, **extra):
    return subprocess.run([sys.executable, "-m", "minibig", *args], capture_output=True, text=True,
                          cwd=REPO, env=env(**extra), timeout=120)


@pytest.mark.parametrize("args, extra, message", [
    (["submit", "no_such_job.py"], {}, "job file not found: no_such_job.py"),
    (["submit", "--workers", "1", "jobs/wordcount.py", "/no/such/file"], {},
     "input path does not exist: /no/such/file"),
    (["submit", "--master", "tcp://127.0.0.1:9", "jobs/wordcount.py"],
     {"MINIBIG_CONNECT_TIMEOUT": "1"}, "no minibig master answered at tcp://127.0.0.1:9"),
])
def test_user_mistakes_are_one_line_without_traceback(args, extra, message):
    done = _cli(*args, **extra)
    assert done.returncode != 0
    assert done.stdout == ""
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_user_code_error_in_submit_shows_the_traceback(tmp_path):
    job = tmp_path / "bad_job.py"
    job.write_text("from minibig import Context\n"
                   "with Context() as sc:\n"
                   "    sc.parallelize([1, 0], 2).map(lambda x: 1 / x).collect()\n")
    done = _cli("submit", "--workers", "1", str(job))
    assert done.returncode == 1
    assert "ZeroDivisionError" in done.stderr and "remote traceback" in done.stderr


def oldest_allowed(package: str) -> str:
    """The lower bound pyproject.toml allows for `package` (`package>=X`)."""
    text = open(os.path.join(REPO, "pyproject.toml")).read()
    return re.search(rf'"{package}>=([0-9.]+)', text).group(1)


@pytest.fixture(scope="module")
def oldest_cloudpickle(tmp_path_factory):
    """A folder holding the oldest cloudpickle pyproject allows, to put first on PYTHONPATH."""
    version = oldest_allowed("cloudpickle")
    target = tmp_path_factory.mktemp("cloudpickle-oldest")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(target), f"cloudpickle=={version}"], check=True, timeout=300,
                   capture_output=True)
    return version, str(target)


@pytest.mark.parametrize("cloudpickle_release", ["installed", "oldest allowed"])
def test_failed_submit_leads_with_the_users_frames_local_and_remote(tmp_path, request,
                                                                     cloudpickle_release):
    """Both tracebacks name the job file and line, and leave out the engine's frames,
    with the newest cloudpickle (installed by CI) and the oldest pyproject allows."""
    extra = {}
    if cloudpickle_release == "oldest allowed":
        version, folder = request.getfixturevalue("oldest_cloudpickle")
        extra["PYTHONPATH"] = os.pathsep.join([folder, REPO])
        probe = subprocess.run([sys.executable, "-c", "import cloudpickle; print(cloudpickle.__version__)"],
                               capture_output=True, text=True, env=env(**extra), check=True)
        assert probe.stdout.strip().split(".")[:2] == version.split(".")[:2], \
            "driver and workers run the oldest cloudpickle allowed"
    job = tmp_path / "badjob.py"
    job.write_text("from minibig import Context\n"
                   "\n"
                   "def parse(line):\n"
                   "    return int(line)\n"
                   "\n"
                   "with Context() as sc:\n"
                   "    sc.parallelize(['1', 'x'], 2).map(parse).collect()\n")
    done = _cli("submit", "--workers", "1", str(job), **extra)
    assert done.returncode == 1
    err = done.stderr
    assert err.startswith("Traceback (most recent call last):")
    assert f'File "{job}", line 7, in <module>' in err            # the driver's frame
    assert f'File "{job}", line 4, in parse' in err               # the worker's frame
    assert "dynamic-code" not in err
    for engine in ("runpy", "minibig/cli.py", "scheduler/dag.py", "cluster/worker.py", "task.py"):
        assert engine not in err, engine


def test_code_shipped_by_value_keeps_its_file_and_lines(tmp_path):
    """cloudpickle 3.1 renames by-value code to <dynamic-code>; minibig's pickler must not."""
    from minibig.core.serialization import dumps
    mod = tmp_path / "shipped_mod.py"
    mod.write_text("def outer():\n"
                   "    def inner(x):\n"
                   "        return 1 // x\n"
                   "    return inner\n")
    script = (
        "import sys, cloudpickle, pickle\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import shipped_mod\n"
        "cloudpickle.register_pickle_by_value(shipped_mod)\n"
        "from minibig.core.serialization import dumps\n"
        "sys.stdout.buffer.write(dumps(shipped_mod.outer()))\n")
    blob = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True,
                          env=env()).stdout
    # Loaded in another process, where the module is not importable.
    load = "import sys, pickle; f = pickle.loads(sys.stdin.buffer.read()); f(0)"
    done = subprocess.run([sys.executable, "-c", load], input=blob, capture_output=True,
                          env=env())
    err = done.stderr.decode()
    assert f'File "{mod}", line 3, in inner' in err
    assert dumps(len)     # builtins still pickle by reference
