"""The same job files on minibig and on the engines users move to: PySpark and mrjob.

Every RDD job in jobs/ runs twice, unchanged: `minibig submit --workers 2`
on minibig, and `minibig submit --engine spark=local[2]` on PySpark (where
`Context()` is a shim over a SparkContext); their outputs must be equal.
The Spark runs go through `minibig.cli.main` in one child process (see
`spark_batch` at the end of this file), so one JVM serves them all: a
SparkContext per job, as each job starts and stops its own, but one JVM
start-up (5-10 s) for the module.

Every MRJob in jobs/ runs on minibig and on mrjob's own inline runner, the
only change being the import line (`from minibig.mapreduce import` becomes
`from mrjob.job import`), as a user moving to mrjob would change it; word
frequency also runs on mrjob's local runner (a process per task).

Jobs that need what only minibig has are listed with the reason
(MINIBIG_ONLY_JOBS); a new job file must be added to one of the lists.

Without Java, pyspark (the `compare` extra) or mrjob, the tests that need
them skip with the reason; `.ci/run` installs all three.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import psutil
import pytest

from support import env, wait_gone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOBS = os.path.join(REPO, "jobs")
DATA = os.path.join(REPO, "datasets")
TIMEOUT = 300                     # seconds for any one child process
SPARK_TIMEOUT = 600               # the whole Spark batch: a JVM start (5-10 s), then every job

# RDD jobs run on both engines: name -> arguments ({out} is the engine's own output folder).
# Inputs are cut down where Spark's cost per job (~0.5 s a stage) would dominate the suite.
EMMA = os.path.join(DATA, "text", "austen_emma.txt")
RDD_JOBS = {
    "wordcount": [EMMA, "--output", "{out}/counts", "--top", "15"],
    "pagerank": [os.path.join(DATA, "graphs", "roget.txt"), "--iterations", "5"],
    "inverted_index": [os.path.join(DATA, "text", "austen_p*.txt"), "--partitions", "2",
                       "--query", "darcy pemberley", "--query", "navy captain", "--where", "wentworth"],
    "log_analytics": [],
}

# MRJobs run on minibig and mrjob: name -> arguments. mrjob's inline runner
# hands mapper_raw a folder or a glob as it is, so mr_inverted_index gets files.
TEXT = sorted(os.path.join(DATA, "text", f) for f in os.listdir(os.path.join(DATA, "text")))
MR_JOBS = {
    "mr_word_freq": [EMMA],
    "mr_most_used_word": [EMMA],
    "mr_inverted_index": TEXT,
    "mr_pagerank": [os.path.join(DATA, "graphs", "roget.txt"), "--iterations", "5"],
}

# Job files (fnmatch patterns) that cannot run on PySpark, and why.
MINIBIG_ONLY_JOBS = {
    "terasort.py": "writes records with rdd.saveAsBinaryRecords, an RDD method PySpark lacks",
    "graph_*.py": "minibig.graph's Pregel/GAS engine (on Spark: GraphFrames, a different API)",
    "stream_*.py": "minibig.streaming's operators (on Spark: Structured Streaming, a different API)",
}

# Uses what only minibig has, after a first Spark job: must end with a one-line error naming it.
LAST_JOB = '''
from minibig import Context
with Context() as sc:
    print(sc.parallelize(range(10), 2).sum())
    print(sc.lastJob)
'''


def _missing_for_spark() -> str | None:
    if shutil.which("java") is None:
        return "no java on PATH (PySpark needs Java 17+; .ci/run installs default-jre-headless)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[compare]'; .ci/run does)"
    return None


def _run(argv: list[str], **extra_env) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, env=env(**extra_env), capture_output=True,
                          text=True, timeout=TIMEOUT)


def _format(args: list[str], out: str) -> list[str]:
    return [a.replace("{out}", out) for a in args]


# -- outputs compared -------------------------------------------------------------------
NUMBER = re.compile(r"-?\d+\.\d+")


def assert_same_report(ours: str, theirs: str) -> None:
    """Equal text, except that a printed decimal may differ by one unit of its last digit
    (floating-point sums come out in a different order on each engine)."""
    ours_lines, their_lines = ours.splitlines(), theirs.splitlines()
    assert len(ours_lines) == len(their_lines), (ours, theirs)
    for a, b in zip(ours_lines, their_lines):
        assert NUMBER.sub("#", a) == NUMBER.sub("#", b), (a, b)
        for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
            digits = min(len(x.split(".")[1]), len(y.split(".")[1]))
            assert abs(float(x) - float(y)) <= 1.01 * 10 ** -digits, (a, b)


def part_lines(folder: str) -> list[str]:
    """The sorted lines of every part file of a saveAsTextFile output."""
    lines = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("part-"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                lines.extend(f.read().splitlines())
    return sorted(lines)


def mr_pairs(stdout: str) -> list:
    """The (key, value) pairs of an MRJob's JSONProtocol output, sorted by their text."""
    pairs = (line.split("\t", 1) for line in stdout.splitlines() if line)
    # Parsed, then sorted by a canonical text: mrjob may encode with ujson's spacing.
    return sorted(((json.loads(k), json.loads(v)) for k, v in pairs), key=json.dumps)


# -- the runs, once per module ------------------------------------------------------
@pytest.fixture(scope="module")
def minibig_runs(tmp_path_factory):
    """name -> (status, stdout, output folder) of each RDD job on minibig, 2 workers."""
    runs = {}
    for name, args in RDD_JOBS.items():
        out = str(tmp_path_factory.mktemp(f"minibig-{name}"))
        done = _run([sys.executable, "-m", "minibig", "submit", "--workers", "2",
                     os.path.join(JOBS, f"{name}.py"), *_format(args, out)])
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = (done.returncode, done.stdout, out)
    return runs


@pytest.fixture(scope="module")
def spark_runs(tmp_path_factory):
    """(name -> (status, stdout, output folder, stderr) of each job on PySpark local[2],
    the marker on the command line of the JVM that ran them)."""
    missing = _missing_for_spark()
    if missing:
        pytest.skip(missing)
    base = tmp_path_factory.mktemp("spark")
    job_file = base / "uses_last_job.py"
    job_file.write_text(LAST_JOB)
    jobs = {name: [os.path.join(JOBS, f"{name}.py"), *args] for name, args in RDD_JOBS.items()}
    jobs["last_job"] = [str(job_file)]
    spec = []
    for name, argv in jobs.items():
        out = base / name
        out.mkdir()
        spec.append({"name": name, "out": str(out),
                     "argv": ["submit", "--engine", "spark=local[2]", *_format(argv, str(out))]})
    (base / "spec.json").write_text(json.dumps(spec))
    marker = uuid.uuid4().hex                     # names this module's JVMs on their command line
    submit_args = (f"--conf spark.ui.enabled=false --conf spark.local.dir={base} "
                   f"--conf spark.minibig.test={marker} pyspark-shell")
    with open(base / "batch.log", "w") as log:
        batch = subprocess.run([sys.executable, __file__, str(base / "spec.json")], cwd=REPO,
                               env=env(PYSPARK_SUBMIT_ARGS=submit_args, PYTHONHASHSEED=0),
                               stdout=log, stderr=subprocess.STDOUT, timeout=SPARK_TIMEOUT)
    assert batch.returncode == 0, (base / "batch.log").read_text()[-5000:]
    statuses = json.loads((base / "statuses.json").read_text())
    runs = {}
    for job in spec:
        read = lambda suffix: (base / f"{job['name']}.{suffix}").read_text()   # noqa: E731
        runs[job["name"]] = (statuses[job["name"]], read("stdout"), job["out"], read("stderr"))
    return runs, marker


# -- RDD jobs ------------------------------------------------------------------------------
def test_every_job_is_compared_or_listed_as_minibig_only():
    compared = {f"{name}.py" for name in [*RDD_JOBS, *MR_JOBS]}
    for name in sorted(os.listdir(JOBS)):
        if name.endswith(".py"):
            assert name in compared or any(fnmatch.fnmatch(name, p) for p in MINIBIG_ONLY_JOBS), \
                f"jobs/{name}: compare it on Spark or mrjob here, or list it in MINIBIG_ONLY_JOBS"


@pytest.mark.parametrize("name", list(RDD_JOBS))
def test_rdd_job_prints_the_same_on_spark(name, minibig_runs, spark_runs):
    status, stdout, _, stderr = spark_runs[0][name]
    assert status == 0, stderr[-3000:]
    assert stdout.strip(), "the job printed nothing"
    assert_same_report(minibig_runs[name][1], stdout)


def test_wordcount_saves_the_same_counts_on_spark(minibig_runs, spark_runs):
    ours = part_lines(os.path.join(minibig_runs["wordcount"][2], "counts"))
    theirs = part_lines(os.path.join(spark_runs[0]["wordcount"][2], "counts"))
    assert len(ours) > 5_000
    assert ours == theirs


def test_minibig_only_feature_is_a_one_line_error_naming_it_on_spark(spark_runs):
    status, stdout, _, stderr = spark_runs[0]["last_job"]
    assert stdout.split() == ["45"], "the job ran on Spark until it asked for lastJob"
    assert status == 2
    assert "minibig: error: sc.lastJob" in stderr and "minibig-only" in stderr
    assert "Traceback" not in stderr


def test_spark_jobs_leave_no_jvm_behind(spark_runs):
    marker = spark_runs[1]
    jvms = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if any(marker in arg for arg in p.info["cmdline"]):
                jvms.append(p.pid)
    assert wait_gone(jvms, timeout=10) == [], "a Spark JVM outlived its driver"


def test_submit_refuses_an_unknown_engine_and_a_minibig_master_for_spark():
    job = os.path.join(JOBS, "wordcount.py")
    done = _run([sys.executable, "-m", "minibig", "submit", "--engine", "flink", job])
    assert done.returncode == 2 and "--engine: expected minibig, spark or spark=URL" in done.stderr
    done = _run([sys.executable, "-m", "minibig", "submit", "--engine", "spark",
                 "--master", "tcp://127.0.0.1:1", job])
    assert done.returncode == 2 and "--engine spark=URL" in done.stderr


# -- MRJobs -------------------------------------------------------------------------------
def as_mrjob(name: str, folder) -> str:
    """A copy of jobs/<name>.py whose only change is importing from mrjob."""
    with open(os.path.join(JOBS, f"{name}.py"), encoding="utf-8") as f:
        source = f.read()
    ported, changed = re.subn(r"^from minibig\.mapreduce import ", "from mrjob.job import ",
                              source, flags=re.MULTILINE)
    assert changed == 1 and "minibig" not in ported.replace("minibig submit", ""), name
    path = os.path.join(folder, f"{name}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(ported)
    return path


def mrjob_run(name: str, folder, runner: str) -> str:
    """stdout of the mrjob copy of a job on one of mrjob's runners."""
    pytest.importorskip("mrjob", reason="mrjob is not installed (it is in the test extra)")
    done = _run([sys.executable, as_mrjob(name, folder), "-r", runner, *MR_JOBS[name]])
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def minibig_mr_run(name: str) -> str:
    done = _run([sys.executable, "-m", "minibig", "submit", "--workers", "2",
                 os.path.join(JOBS, f"{name}.py"), *MR_JOBS[name]])
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("name", list(MR_JOBS))
def test_mrjob_gives_the_same_pairs_on_mrjobs_inline_runner(name, tmp_path):
    theirs = mr_pairs(mrjob_run(name, tmp_path, "inline"))
    ours = mr_pairs(minibig_mr_run(name))
    assert ours, "the job wrote nothing"
    if name == "mr_pagerank":                 # sums of floats, added in another order
        assert [k for k, _ in ours] == [k for k, _ in theirs]
        assert dict(ours) == pytest.approx(dict(theirs), rel=1e-9)
    else:
        assert ours == theirs


def test_word_freq_gives_the_same_pairs_on_mrjobs_local_runner(tmp_path):
    theirs = mr_pairs(mrjob_run("mr_word_freq", tmp_path, "local"))
    assert mr_pairs(minibig_mr_run("mr_word_freq")) == theirs


# -- the Spark batch (run as a child process by `spark_runs`) -------------------------
def spark_batch(spec_path: str) -> int:
    """Run each `minibig ...` command line of the spec in this process; record statuses."""
    sys.path.insert(0, REPO)
    from minibig.cli import main
    with open(spec_path) as f:
        spec = json.load(f)
    folder = os.path.dirname(spec_path)
    statuses = {}
    for job in spec:
        with open(os.path.join(folder, f"{job['name']}.stdout"), "w") as out, \
                open(os.path.join(folder, f"{job['name']}.stderr"), "w") as err, \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            statuses[job["name"]] = main(job["argv"])
    with open(os.path.join(folder, "statuses.json"), "w") as f:
        json.dump(statuses, f)
    return 0


if __name__ == "__main__":
    sys.exit(spark_batch(sys.argv[1]))
