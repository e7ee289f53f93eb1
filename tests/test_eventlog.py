"""The event log (docs/event-log.md): what a job writes, and a killed worker replayed.

Each test runs its own embedded cluster with `Context(event_log=DIR)`; the
killed-worker log is served by a real `minibig history` process.
"""

import gc
import glob
import json
import operator
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

import faults
from minibig import Context
from minibig.core.task import TaskContext
from minibig.graph import Graph, sssp
from minibig.shuffle.spill import open_run
from minibig.ui.events import FORMAT, VERSION, read_events
from minibig.ui.graphs import graph_runs, graph_view
from minibig.ui.state import RunState
from support import cleanup, env



def only_log(folder) -> list[dict]:
    paths = glob.glob(os.path.join(folder, "*.jsonl"))
    assert len(paths) == 1 and not glob.glob(os.path.join(folder, "*.inprogress")), os.listdir(folder)
    return read_events(paths[0])


def test_a_job_writes_versioned_events_from_app_start_to_app_end(tmp_path):
    folder = str(tmp_path / "log")
    # No backup copies: on a loaded machine one may start, and this test counts attempts.
    with Context(workers=2, event_log=folder, appName="logged", speculation=False) as sc:
        pairs = sc.parallelize(range(200), 4).map(lambda x: (x % 5, x))
        assert dict(pairs.reduceByKey(operator.add, 2).collect())[0] == sum(range(0, 200, 5))
        summary = sc.lastJob
    events = only_log(folder)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "app_start" and kinds[-1] == "app_end"
    assert all(e["v"] == VERSION for e in events)
    assert kinds.count("worker_added") == 2
    assert kinds.count("job_start") == kinds.count("job_end") == 1
    assert [e["result"] for e in events if e["event"] == "job_end"] == ["succeeded"]
    stages = [e for e in events if e["event"] == "stage_submitted"]
    assert len(stages) == summary.stages == 2
    assert stages[1]["parents"] == [stages[0]["stage"]] and stages[1]["final"]
    starts = [e for e in events if e["event"] == "task_start"]
    ends = [e for e in events if e["event"] == "task_end"]
    assert len(starts) == len(ends) == summary.tasks == 6
    assert {e["locality"] for e in starts} <= set(summary.locality)
    assert all(e["worker"] and e["slot"] == 0 and not e["speculative"] for e in starts)
    assert all(e["result"] == "success" and e["duration"] >= 0 and e["run_seconds"] >= 0 for e in ends)
    written = sum(e["shuffle_write_bytes"] for e in ends if e["stage"] == stages[0]["stage"])
    assert written == sum(e["shuffle_read_bytes"] for e in starts if e["stage"] == stages[1]["stage"])


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.load(response)


def test_a_killed_workers_lost_tasks_and_retries_replay_in_history(tmp_path):
    folder, release = str(tmp_path / "log"), str(tmp_path / "go")

    def mapper(x):
        faults.announce_and_wait(str(tmp_path), "map", release)
        return x
    # No speculation: the lost attempt is retried because its worker is declared lost.
    with Context(workers=2, worker_timeout=2.0, speculation=False, event_log=folder,
                 appName="killed") as sc:
        box = {}
        thread = threading.Thread(target=lambda: box.update(n=sc.parallelize(range(40), 4)
                                                            .map(mapper).count()))
        thread.start()
        victim = faults.wait_for_marker(str(tmp_path), "map")[0]
        os.kill(victim, signal.SIGKILL)
        faults.touch(release)
        thread.join(120)
        assert box["n"] == 40
        app = sc._driver_id
    history = subprocess.Popen([sys.executable, "-m", "minibig", "history", folder, "--port", "0"],
                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env())
    try:
        url = history.stdout.readline().decode().strip()
        overview = get(url, "api/overview")
        assert overview["mode"] == "history"
        lost = [w for w in overview["workers"] if w["removed"]]
        assert len(lost) == 1 and "heartbeat" in lost[0]["reason"]
        job = get(url, f"api/job?app={app}&job=0")
        tasks = job["tasks"]
        gone = [t for t in tasks if t["result"] == "lost"]
        assert gone and all(t["worker"] == lost[0]["id"] for t in gone)
        for t in gone:          # each lost task was retried, and its retry succeeded elsewhere
            assert any(r["partition"] == t["partition"] and r["attempt"] > t["attempt"]
                       and r["result"] == "success" and r["worker"] != t["worker"] for r in tasks)
        assert job["job"]["result"] == "succeeded" and job["job"]["lost"] == len(gone)
        assert any(b["result"] == "lost" for b in job["timeline"]["bars"])
    finally:
        cleanup([history])


def churn(x):
    """Cyclic garbage and a collection: the task spends measurable time in GC."""
    for _ in range(1000):
        a = []
        a.append(a)
    gc.collect()
    return x


def test_tasks_record_the_bytes_they_spilled_and_their_gc_time(tmp_path):
    folder = str(tmp_path / "log")
    # A 2 MiB budget: 100 000 distinct keys spill on both sides of the shuffle.
    with Context(workers=1, worker_memory=2 << 20, event_log=folder, speculation=False) as sc:
        pairs = sc.parallelize(range(100_000), 2).map(lambda x: (x % 50_000, 1))
        assert sorted(set(pairs.reduceByKey(operator.add, 2).values().collect())) == [2]
        assert sc.parallelize(range(4), 2).map(churn).count() == 4
        assert sc.parallelize(range(4), 2).count() == 4
    events = only_log(folder)
    assert events[0]["format"] == FORMAT
    ends = [e for e in events if e["event"] == "task_end"]
    by_job = {job: [e for e in ends if e["job"] == job] for job in (0, 1, 2)}
    assert all(e["spill_bytes"] > 0 for e in by_job[0])
    assert all(e["spill_bytes"] == 0 for e in by_job[1] + by_job[2])
    assert all(e["gc_seconds"] > 0 for e in by_job[1])
    assert all(e["gc_seconds"] >= 0 for e in ends)


def test_a_tasks_spilled_bytes_count_the_files_it_deleted_and_those_left(tmp_path):
    ctx = TaskContext(partition=0, attempt=0, stage_id=0, payloads={}, work_dir=str(tmp_path))
    sizes = [1000, 2345, 17]
    paths = []
    for size in sizes:                        # runs written as the shuffle writes them
        with open_run(ctx.spill_dir(), "test") as (path, f):
            f.write(b"x" * size)
        paths.append(path)
    os.unlink(paths[0])                       # a merged run, deleted while the task runs
    os.remove(paths[1])
    outside = tmp_path / "elsewhere"
    outside.write_bytes(b"y" * 99)
    os.unlink(outside)                        # not the task's: not counted
    ctx.release()
    assert ctx.spilled_bytes == sum(sizes) and not os.listdir(tmp_path / "spill")


@pytest.mark.parametrize("session", [True, False], ids=["session", "stepwise"])
def test_a_graph_runs_supersteps_replay_from_its_log(tmp_path, session):
    folder, edges = str(tmp_path / "log"), tmp_path / "path.txt"
    edges.write_text("".join(f"{v} {v + 1}\n" for v in range(5)))
    with Context(workers=2, event_log=folder) as sc:
        graph = Graph.from_edge_file(sc, str(edges))
        assert dict(sssp(graph, 0, session=session).collect()) == {v: v for v in range(6)}
        app = sc._driver_id
    state = RunState()
    for ev in only_log(folder):
        state.apply(ev)
    [run] = graph_runs(state)
    view = graph_view(state, app, run["run"])
    # Along a path from 0, superstep k's one message goes to vertex k + 1; the last sends none.
    assert [(s["superstep"], s["messages_sent"]) for s in view["steps"]] == \
        [(k, 1) for k in range(5)] + [(5, 0)]
    assert view["result"] == "succeeded"
    if session:                        # one job ran every superstep and brought the outputs back
        assert view["session"]["result"] == "succeeded" and view["output"] is None
    else:
        assert view["output"]["result"] == "succeeded"
    assert view["load"] is None        # the first superstep takes the workers' loaded partitions
