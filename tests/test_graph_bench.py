"""bench/graph.py runs end to end on a small graph and says where the graph engine's time went."""

import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "bench", "graph.py")


def load_bench():
    """bench/graph.py as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_graph", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_breakdown_names_the_load_steps_and_the_supersteps(tmp_path, capsys):
    """`--breakdown`: a one-stage load's steps (the slowest task's seconds each, within the load)
    and PageRank's run (its session, and the slowest partition's compute within it), in the
    printed line and in the JSON."""
    path = tmp_path / "g.txt"
    path.write_text("".join(f"v{i} v{(i * 7 + 1) % 500}\nv{i} v{(i * 13 + 5) % 500}\n" for i in range(500)))
    out = tmp_path / "figures.json"
    load_bench().main([str(path), "--iterations", "5", "--runs", "2", "--workers", "2", "--no-rdd",
                       "--breakdown", "--json", str(out)])
    job = json.loads(out.read_text())["workers"]["2"]["second"]
    assert list(job["phases"]) == ["parse", "pieces", "index", "build"]
    assert all(0 <= seconds <= job["load"] for seconds in job["phases"].values())
    assert 0 < job["run"]["worker"] <= job["run"]["supersteps"] <= job["pagerank"]
    line = capsys.readouterr().out.splitlines()[-1]
    assert "(slowest task: parse " in line and "the slowest partition computing" in line


def test_a_scipy_run_under_the_cpu_clocks_tick_gives_no_ratio_not_a_crash(monkeypatch, capsys):
    """psutil counts CPU in clock ticks: a small graph's warm scipy run can show 0 s, and the
    line says its CPU ratio is n/a (it divided by zero)."""
    bench = load_bench()
    job = {"job": 0.05, "cpu": 0.02, "load": 0.03, "pagerank": 0.02, "stages": {}, "phases": {},
           "run": {}, "vertices": 3, "edges": 2}
    monkeypatch.setattr(bench, "time_scipy", lambda *args: (0.01, 0.0))
    monkeypatch.setattr(bench, "time_engine", lambda *args: {
        "startup": 0.5, "first": job, "second": job, "warm_jobs": [0.05], "warm_cpus": [0.02]})
    bench.main(["unused.txt", "--runs", "2", "--workers", "2", "--no-rdd"])
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.endswith("CPU of a warm job (median) 0.02s = n/a scipy's")
