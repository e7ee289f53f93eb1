"""`minibig bench`: real runs through the CLI, and the speedup arithmetic on known numbers."""

import csv
import importlib.util
import json
import os
import statistics
import subprocess
import sys

import numpy as np
import pytest

from minibig.benchmark import amdahl, cgroups, main, plot, report, runner, split_argv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = os.path.join(ROOT, "datasets", "text", "austen_persuasion.txt")


def bench(*args, timeout=55):
    return subprocess.run([sys.executable, "-m", "minibig", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=ROOT))


# -- real runs ---------------------------------------------------------------------
def test_bench_wordcount_writes_a_consistent_table(tmp_path):
    out = bench("jobs/wordcount.py", "datasets/text/austen_persuasion.txt", "--workers", "1,2",
                "--repeat", "1", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "speedup" in out.stdout and "Karp-Flatt" in out.stdout and "Amdahl fit" in out.stdout
    assert "excludes the interpreter's and the cluster's start-up" in out.stdout   # says what is timed

    with open(tmp_path / "wordcount.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["workers"]) for r in rows] == [1, 2]
    doc = json.loads((tmp_path / "wordcount.json").read_text())
    assert doc["workers"] == [1, 2] and doc["repeat"] == 1 and doc["args"] == ["datasets/text/austen_persuasion.txt"]
    t1, t2 = (statistics.median(r["times_s"]) for r in doc["rows"])
    assert all(len(r["times_s"]) == 1 and r["times_s"][0] > 0 for r in doc["rows"])
    assert doc["rows"][1]["speedup"] == pytest.approx(t1 / t2)
    assert doc["rows"][1]["efficiency"] == pytest.approx(t1 / t2 / 2)
    assert doc["rows"][1]["karp_flatt"] == pytest.approx((t2 / t1 - 0.5) / 0.5)
    assert doc["rows"][0]["karp_flatt"] is None and doc["rows"][0]["speedup"] == 1.0
    assert float(rows[1]["speedup"]) == pytest.approx(float(rows[0]["median_s"]) / float(rows[1]["median_s"]))
    assert float(rows[1]["median_s"]) == pytest.approx(float(rows[1]["times_s"]), abs=1e-6)
    assert rows[0]["karp_flatt"] == ""
    assert 0 <= doc["amdahl"]["serial_fraction"] <= 1
    assert all(r["startup_median_s"] > 0 for r in doc["rows"])
    if importlib.util.find_spec("matplotlib"):
        png = tmp_path / "wordcount.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_compare_runs_the_baseline_and_skips_missing_peers(tmp_path):
    out = bench("jobs/wordcount.py", "--workers", "2", "--repeat", "1", "--warmup", "0", "--compare",
                "--out", str(tmp_path), "--name", "cmp", TEXT, "--top", "3")
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "cmp.json").read_text())
    assert doc["args"] == [TEXT, "--top", "3"]
    peers = {p["engine"]: p for p in doc["compare"]}
    base = peers["baseline"]
    assert len(base["times_s"]) == 1 and base["median_s"] > 0
    assert base["slower_than_minibig"] == pytest.approx(base["median_s"] / doc["rows"][0]["median_s"])
    for engine, package in (("dask_version", "dask"), ("pyspark_version", "pyspark")):
        assert peers[engine]["times_s"] or peers[engine]["note"].startswith("skipped")
    assert "plain Python, 1 process" in out.stdout and "Amdahl fit: needs at least two" in out.stdout


def test_a_failing_job_is_one_clear_error(tmp_path):
    job = tmp_path / "boom.py"
    job.write_text("raise ValueError('no such luck')\n")
    out = bench(str(job), "--workers", "1", "--repeat", "1", "--warmup", "0", "--out", str(tmp_path))
    assert out.returncode == 2
    assert "no such luck" in out.stderr and "Traceback (most recent call last)" not in out.stderr.splitlines()[0]
    missing = bench("no/such/job.py", "--out", str(tmp_path))
    assert missing.returncode == 2 and "job file not found" in missing.stderr


@pytest.mark.parametrize("option", [["--repeat", "0"], ["--warmup", "-1"], ["--timeout", "0"]])
def test_a_bad_count_or_timeout_is_refused_before_any_run(option, capsys):
    assert main([os.path.join(ROOT, "jobs", "wordcount.py"), "--workers", "1", *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minibig: error: --repeat must be at least 1") and "[bench]" not in err


def test_help_lists_bench():
    out = subprocess.run([sys.executable, "-m", "minibig", "--help"], capture_output=True, text=True,
                         timeout=30, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert "bench job.py" in out.stdout


# -- main() with fake measurements: the files and the plot note ----------------------
def fake_series(times_by_workers):
    return [runner.Series("minibig", n, f"{n}", list(ts), [0.1] * len(ts)) for n, ts in times_by_workers.items()]


def test_main_without_matplotlib_skips_the_png_with_a_note(tmp_path, monkeypatch, capsys):
    job = tmp_path / "job.py"
    job.write_text("pass\n")
    monkeypatch.setattr(runner, "run_scaling", lambda *a: fake_series({1: [8.0, 9.0, 7.0], 4: [3.0, 2.0, 4.0]}))
    monkeypatch.setattr(plot, "available", lambda: False)
    assert main([str(job), "--workers", "1,4", "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "matplotlib is not installed" in printed and printed.count("not installed") == 1
    assert sorted(os.listdir(tmp_path / "r")) == ["job.csv", "job.json"]
    doc = json.loads((tmp_path / "r" / "job.json").read_text())
    assert doc["rows"][1]["speedup"] == pytest.approx(8.0 / 3.0)
    # Two medians fit exactly: s + q = 8, s + q/4 = 3, so s = 4/3 and f = s / 8.
    assert doc["amdahl"]["serial_fraction"] == pytest.approx(1 / 6)


@pytest.mark.skipif(not plot.available(), reason="matplotlib is not installed")
def test_plot_writes_a_png(tmp_path):
    rows = report.scaling_rows(fake_series({1: [10.0], 2: [6.0], 4: [4.0]}))
    fit = amdahl.fit_amdahl([1, 2, 4], [10.0, 6.0, 4.0])
    path = plot.plot_speedup(str(tmp_path / "s.png"), rows, fit, "test")
    assert path and os.path.getsize(path) > 1000


# -- the arithmetic on known answers -------------------------------------------------
def amdahl_times(f, t1, workers):
    return [t1 * (f + (1 - f) / p) for p in workers]


@pytest.mark.parametrize("f", [0.0, 0.05, 0.2, 0.5, 1.0])
def test_amdahl_fit_recovers_the_serial_fraction_of_exact_data(f):
    workers = [1, 2, 4, 8, 16]
    fit = amdahl.fit_amdahl(workers, amdahl_times(f, 12.0, workers))
    assert fit.serial_fraction == pytest.approx(f, abs=1e-9)
    assert fit.serial_seconds == pytest.approx(12.0 * f, abs=1e-9)
    assert fit.rms_residual == pytest.approx(0.0, abs=1e-9)
    assert fit.predict_speedup(4) == pytest.approx(1 / (f + (1 - f) / 4))
    assert fit.max_speedup > 1e9 if f == 0 else fit.max_speedup == pytest.approx(1 / f)


def test_karp_flatt_equals_the_serial_fraction_under_amdahl():
    workers = [1, 2, 3, 4, 8]
    times = amdahl_times(0.25, 20.0, workers)
    for p, t in zip(workers[1:], times[1:]):
        assert amdahl.karp_flatt(times[0] / t, p) == pytest.approx(0.25)
    assert amdahl.karp_flatt(2.0, 2) == pytest.approx(0.0)        # linear speedup: nothing serial
    assert amdahl.karp_flatt(1.0, 4) == pytest.approx(1.0)        # no speedup: all serial
    assert amdahl.karp_flatt(1.0, 1) is None


def test_fit_is_relative_to_the_smallest_worker_count_and_least_squares():
    # Measured from 2 workers: r = 1, 2, 4 for 2, 4, 8 workers.
    fit = amdahl.fit_amdahl([2, 4, 8], amdahl_times(0.1, 5.0, [1, 2, 4]))
    assert fit.serial_fraction == pytest.approx(0.1)
    # Noisy data: the fit is the least-squares line in 1/r (numpy's polyfit agrees).
    workers, times = [1, 2, 4], [10.0, 6.5, 3.5]
    fit = amdahl.fit_amdahl(workers, times)
    slope, intercept = np.polyfit(1 / np.array(workers, float), times, 1)
    assert (fit.serial_seconds, fit.parallel_seconds) == pytest.approx((intercept, slope))


def test_fit_keeps_times_non_negative_and_needs_two_counts():
    superlinear = amdahl.fit_amdahl([1, 2], [10.0, 4.0])          # unconstrained: s < 0
    assert superlinear.serial_seconds == 0 and superlinear.serial_fraction == 0
    slower = amdahl.fit_amdahl([1, 2, 4], [1.0, 1.5, 2.0])         # more workers, more time
    assert slower.parallel_seconds == 0 and slower.serial_fraction == 1
    assert slower.serial_seconds == pytest.approx(1.5)
    assert amdahl.fit_amdahl([2, 2], [1.0, 1.1]) is None
    with pytest.raises(ValueError):
        amdahl.fit_amdahl([1, 2], [1.0])


def test_scaling_rows_use_medians_and_the_smallest_count_as_base():
    rows = report.scaling_rows(fake_series({4: [2.0, 3.0, 10.0], 2: [5.0, 4.0, 6.0]}))
    assert [r["workers"] for r in rows] == [2, 4]
    assert rows[1]["median_s"] == 3.0 and rows[1]["min_s"] == 2.0 and rows[1]["max_s"] == 10.0
    assert rows[1]["speedup"] == pytest.approx(5.0 / 3.0)
    assert rows[1]["efficiency"] == pytest.approx(5.0 / 3.0 / 2)
    assert rows[1]["karp_flatt"] == pytest.approx((3.0 / 5.0 - 0.5) / 0.5)


def test_split_argv_separates_bench_options_from_job_arguments():
    assert split_argv(["job.py", "--workers=1,2", "in", "--compare", "--top", "3"]) == (
        ["--workers=1,2", "--compare", "job.py"], ["in", "--top", "3"])
    assert split_argv(["--repeat", "2", "job.py"]) == (["--repeat", "2", "job.py"], [])
    assert split_argv(["job.py", "--", "--workers", "9"]) == (["job.py"], ["--workers", "9"])


def test_job_functions_are_found_without_running_the_job(tmp_path):
    job = tmp_path / "j.py"
    job.write_text("raise SystemExit('must not run')\ndef baseline(argv):\n    pass\nclass dask_version: pass\n")
    assert runner.defined_functions(str(job)) == {"baseline"}


def test_peer_ratios_leave_start_up_out_unless_asked():
    peers = [runner.Series("pyspark_version", 2, "PySpark", times=[30.0, 20.0, 40.0], startups=[4.0, 5.0, 3.0]),
             runner.Series("baseline", 1, "plain", times=[12.0]),
             runner.Series("dask_version", 2, "Dask", note="skipped: dask is not installed")]
    minibig = {"workers": 2, "median_s": 10.0, "startup_median_s": 0.5}
    spark, plain, dask = report.peer_rows(peers, minibig)
    assert spark["median_s"] == 30.0 and spark["startup_median_s"] == 4.0
    assert spark["slower_than_minibig"] == pytest.approx(3.0)
    assert spark["slower_with_startup"] == pytest.approx(34.0 / 10.5)
    assert plain["slower_with_startup"] == pytest.approx(12.0 / 10.5)     # its start-up is in its time
    assert dask["median_s"] is None and dask["slower_with_startup"] is None
    table = report.format_peers([spark, plain, dask], minibig)
    assert "minibig 3.00x faster" in table and "3.24" in table and "skipped: dask" in table


def test_a_peer_that_marks_its_engine_started_reports_start_up_apart(tmp_path):
    """The child times a --compare function from `engine_started()` on; before it is start-up."""
    job = tmp_path / "marks.py"
    job.write_text(
        "import os\n"
        "def baseline(argv):\n"
        "    from minibig.benchmark import engine_started\n"
        "    open(argv[0], 'w').write('engine up')\n"
        "    engine_started()\n"
        "    sum(range(10 ** 5))\n")
    seconds, startup = runner.measure_function(str(job), "baseline", [str(tmp_path / "flag")], 2, 120)
    assert (tmp_path / "flag").read_text() == "engine up"
    assert seconds > 0 and startup is not None and startup >= 0
    job.write_text("def baseline(argv):\n    sum(range(10 ** 5))\n")
    seconds, startup = runner.measure_function(str(job), "baseline", [], 2, 120)
    assert seconds > 0 and startup is None


# -- weak scaling and CPU quotas: real runs -----------------------------------------
RECORDING_JOB = """\
import json, os, sys
from minibig import Context
from minibig.benchmark import input_scale
record, scale_arg, copies = sys.argv[1:4]
sc = Context()
lines = sc.textFile(copies).count()
cgroups = sorted(set(sc.parallelize(range(8), 8).map(lambda _: open("/proc/self/cgroup").read()).collect()))
with open(record, "a") as f:
    f.write(json.dumps({"arg": scale_arg, "env": input_scale(), "lines": lines,
                        "workers": sc.defaultParallelism, "cgroups": cgroups}) + "\\n")
"""


def recorded(path) -> list[dict]:
    return sorted((json.loads(line) for line in open(path)), key=lambda r: r["workers"])


def test_weak_scaling_grows_the_input_with_the_workers_and_fits_gustafson(tmp_path):
    job, record = tmp_path / "weak.py", tmp_path / "record.jsonl"
    job.write_text(RECORDING_JOB)
    lines = sum(1 for _ in open(TEXT, encoding="utf-8"))
    out = bench(str(job), str(record), "{scale}", "{copies:%s}" % TEXT, "--weak", "--workers", "1,2",
                "--repeat", "1", "--warmup", "0", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    runs = recorded(record)
    assert [(r["workers"], r["arg"], r["env"], r["lines"]) for r in runs] == \
        [(1, "1", 1.0, lines), (2, "2", 2.0, 2 * lines)]
    doc = json.loads((tmp_path / "weak.json").read_text())
    assert doc["weak"] and "weak scaling" in doc["title"] and doc["title"] in out.stdout
    t1, t2 = (r["median_s"] for r in doc["rows"])
    assert doc["rows"][1]["scale"] == 2 and doc["rows"][1]["speedup"] == pytest.approx(2 * t1 / t2)
    assert doc["rows"][1]["efficiency"] == pytest.approx(t1 / t2) and doc["rows"][1]["karp_flatt"] is None
    # Two points fit Gustafson exactly: S = 2 - alpha, within [0, 1].
    assert doc["gustafson"]["alpha"] == pytest.approx(min(1.0, max(0.0, 2 - 2 * t1 / t2)))
    assert "Gustafson fit" in out.stdout and "Amdahl fit" in out.stdout


def quota_or_skip():
    try:
        return cgroups.find_cpu_controller()
    except cgroups.CgroupError as exc:
        pytest.skip(f"this machine offers no usable cgroup cpu controller: {exc}")


def test_cpu_quota_runs_each_worker_in_its_own_limited_cgroup(tmp_path):
    version, parent = quota_or_skip()
    job, record = tmp_path / "quota.py", tmp_path / "record.jsonl"
    job.write_text(RECORDING_JOB)
    out = bench(str(job), str(record), "x", TEXT, "--cpu-quota", "0.3", "--workers", "1,2",
                "--repeat", "1", "--warmup", "0", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    for run in recorded(record):
        # Each worker process sits in a group of its own under the bench's group.
        groups = {cgroups.own_cgroups(text)["cpu" if version == "v1" else ""] for text in run["cgroups"]}
        assert len(groups) == run["workers"] and all("/minibig-bench-" in g for g in groups), groups
    doc = json.loads((tmp_path / "quota.json").read_text())
    assert doc["cpu_quota"] == 0.3 and "limited to 0.3 CPU" in doc["title"] and doc["title"] in out.stdout
    assert all(len(r["throttled"][0]) == r["workers"] for r in doc["rows"])
    assert all(w["nr_periods"] > 0 for r in doc["rows"] for w in r["throttled"][0])
    assert all(0 <= r["throttled_share"] <= 1 for r in doc["rows"])
    assert not [n for n in os.listdir(parent) if n.startswith("minibig-bench-")]      # cleaned up


BUSY = """\
import sys, time
sys.stdin.read()                       # placed in its cgroup by now
cpu, wall = time.process_time(), time.monotonic()
while time.monotonic() - wall < 1.0:
    pass
print((time.process_time() - cpu) / (time.monotonic() - wall))
"""


def test_a_quota_holds_a_busy_process_to_its_share_of_a_cpu():
    quota_or_skip()
    with cgroups.CpuQuota(0.2) as quota:
        proc = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        quota.limit(proc.pid)
        share = float(proc.communicate("", timeout=30)[0])
        stats = quota.stats()
    assert share < 0.2 + 0.08 and stats[0]["nr_throttled"] > 0
    assert not os.path.exists(quota.base)


def test_no_cgroup_cpu_controller_is_one_clear_error(tmp_path):
    with pytest.raises(cgroups.CgroupError, match="needs a cgroup cpu controller.*no cgroup file system"):
        cgroups.find_cpu_controller([], {})
    v2 = cgroups.mounts(f"cgroup2 {tmp_path} cgroup2 rw,relatime 0 0\n")
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(cgroups.CgroupError, match="offers no cpu controller"):
        cgroups.find_cpu_controller(v2, {"": "/"})
    with pytest.raises(cgroups.CgroupError, match="below the kernel's minimum"):
        cgroups.quota_us(0.001)


def test_gustafson_fit_recovers_alpha_of_exact_data():
    workers = [1, 2, 4, 8]
    for alpha in (0.0, 0.1, 0.5, 1.0):
        fit = amdahl.fit_gustafson(workers, [p - alpha * (p - 1) for p in workers])
        assert fit.alpha == pytest.approx(alpha) and fit.rms_residual == pytest.approx(0, abs=1e-12)
    assert amdahl.fit_gustafson([2, 2], [1.0, 1.0]) is None
    # Amdahl on weak runs fits the time per unit of input: flat times give f = 0 there.
    assert amdahl.fit_amdahl_weak([1, 2, 4], [3.0, 3.0, 3.0]).serial_fraction == pytest.approx(0)


def test_scaled_arguments_fill_in_the_scale_and_copies(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("a\nb\n")
    folder = tmp_path / "runs"
    folder.mkdir()
    args = runner.scaled_args(["--n", "{scale}000", "{copies:%s}" % data, "plain"], 3, str(folder))
    assert args[:2] == ["--n", "3000"] and args[3] == "plain"
    assert sorted(open(os.path.join(args[2], n)).read() for n in os.listdir(args[2])) == ["a\nb\n"] * 3
    with pytest.raises(runner.BenchError, match="not a whole number"):
        runner.scaled_args(["{copies:%s}" % data], 1.5, str(folder))
