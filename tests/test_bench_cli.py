"""`minibig bench`: real runs through the CLI, and the speedup arithmetic on known numbers."""

import csv
import importlib.util
import json
import os
import statistics
import subprocess
import sys

import pytest

from minibig.benchmark import amdahl, main, plot, report, runner, split_argv

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
    import numpy as np
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
