"""The web UI against a real cluster running real jobs: HTTP endpoints and a real browser.

The shared `sc` cluster serves the UI on a free loopback port (`sc.uiWebUrl`).
The master makes a task's events before it forwards the task's result, so once
an action returns its job's end is in the UI: no test waits for it.
"""

import json
import operator
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.request


import networkx as nx

import faults
from minibig.graph import Graph, sssp
from minibig.streaming import StreamingContext, TumblingWindow


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


def get(sc, path):
    with urllib.request.urlopen(sc.uiWebUrl + path, timeout=10) as response:
        assert response.status == 200
        return json.load(response)


def latest_job(sc) -> dict:
    jobs = [j for j in get(sc, "api/overview")["jobs"] if j["app"] == sc._driver_id]
    return max(jobs, key=lambda j: j["job"])


def word_count(sc):
    lines = sc.parallelize(["a b c a", "b c d", "a a e"] * 50, 6)
    return dict(lines.flatMap(str.split).map(lambda w: (w, 1)).reduceByKey(operator.add, 3).collect())


def test_the_job_endpoints_match_sc_lastJob(sc):
    assert word_count(sc)["a"] == 200
    summary = sc.lastJob
    job = latest_job(sc)
    assert job["result"] == "succeeded"
    assert (job["stages"], job["succeeded"]) == (summary.stages, summary.tasks)
    assert job["locality"] == dict(summary.locality)
    view = get(sc, f"api/job?app={sc._driver_id}&job={job['job']}")
    mapper, reducer = view["stages"]
    assert (mapper["tasks"], reducer["tasks"]) == (6, 3)
    assert reducer["parents"] == [mapper["stage"]] and mapper["parents"] == []
    assert mapper["shuffle_write_bytes"] == reducer["shuffle_read_bytes"] > 0
    # The shared cluster speculates: on a loaded machine a backup copy may run, and the
    # slower of the two copies is killed (or, finishing second, superseded).
    done = [t for t in view["tasks"] if t["result"] == "success"]
    assert len(done) == 9 and all(t["duration"] >= 0 for t in done)
    assert len({(t["stage"], t["partition"]) for t in done}) == 9
    assert all(t["result"] in ("killed", "superseded") for t in view["tasks"] if t not in done)
    assert {t["worker"] for t in view["tasks"]} <= {w["id"] for w in get(sc, "api/overview")["workers"]}
    assert len(view["timeline"]["bars"]) == len(view["tasks"])
    for stage in (mapper, reducer):       # per-stage sums of the tasks' own reports
        mine = [t for t in done if t["stage"] == stage["stage"]]
        assert stage["spill_bytes"] == sum(t["spill_bytes"] for t in mine) == 0
        assert stage["gc_seconds"] == round(sum(t["gc_seconds"] for t in mine), 6)
    stage = get(sc, f"api/stage?app={sc._driver_id}&stage={reducer['stage']}&attempt=0")
    assert sorted(t["partition"] for t in stage["tasks"]) == [0, 1, 2]


def test_the_status_endpoint_is_the_masters_status(sc):
    status = faults.wait_until(lambda: get(sc, "api/status").get("workers") and get(sc, "api/status"),
                               "a status snapshot", timeout=10)
    assert status["ui"] == sc.uiWebUrl and status["url"] == sc.master
    assert len(status["workers"]) == 2


def test_a_running_job_shows_live_then_finishes(sc, tmp_path):
    release = str(tmp_path / "go")

    def slow(x):
        faults.announce_and_wait(str(tmp_path), "task", release)
        return x
    box = {}
    thread = threading.Thread(target=lambda: box.update(n=sc.parallelize(range(4), 2).map(slow).count()))
    thread.start()
    try:
        faults.wait_for_marker(str(tmp_path), "task")
        running = latest_job(sc)
        assert running["result"] == "running" and running["running"] >= 1
    finally:
        faults.touch(release)
        thread.join(60)
    assert box["n"] == 4
    assert latest_job(sc)["result"] == "succeeded"


def chromium(url: str, *extra: str) -> subprocess.CompletedProcess:
    """Headless chromium on `url` with a throwaway profile."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is needed (`.ci/run` installs it: apt-get install chromium)"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=90)


def test_the_job_page_renders_in_a_browser_without_errors(sc):
    word_count(sc)
    job = latest_job(sc)
    done = chromium(f"{sc.uiWebUrl}#/job/{sc._driver_id}/{job['job']}", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert "ShuffleMapStage" in done.stdout and "ResultStage" in done.stdout
    assert 'class="timeline"' in done.stdout and 'class="dag"' in done.stdout
    assert "succeeded" in done.stdout and ">spill<" in done.stdout and ">GC<" in done.stdout


def binary_tree(folder, depth: int) -> str:
    """An edge file of a complete binary tree, edges pointing away from the root 0."""
    path = os.path.join(folder, "tree.txt")
    with open(path, "w") as f:
        for v in range(2 ** depth - 1):
            f.write(f"{v} {2 * v + 1}\n{v} {2 * v + 2}\n")
    return path


def test_a_graph_runs_supersteps_show_their_messages_in_a_browser(sc, tmp_path):
    path = binary_tree(str(tmp_path), 4)
    graph = Graph.from_edge_file(sc, path)
    tree = nx.read_edgelist(path, create_using=nx.DiGraph, nodetype=int)
    levels = nx.single_source_shortest_path_length(tree, 0)
    assert dict(sssp(graph, 0).collect()) == levels
    # Oracle: at superstep k the vertices k edges from the root learn their distance and
    # each sends one message per out-edge; every vertex has one in-edge, so none combine.
    expected = [sum(tree.out_degree(v) for v, d in levels.items() if d == k)
                for k in range(max(levels.values()) + 1)]
    run = next(g for g in get(sc, "api/overview")["graphs"] if g["app"] == sc._driver_id)
    view = get(sc, f"api/graph?app={sc._driver_id}&run={run['run']}")
    assert [s["superstep"] for s in view["steps"]] == list(range(len(expected)))
    assert [s["messages_sent"] for s in view["steps"]] == expected
    assert view["result"] == "succeeded" and view["messages_sent"] == sum(expected)
    assert all(s["tasks"] == graph.num_partitions and s["duration"] >= 0 for s in view["steps"])
    done = chromium(f"{sc.uiWebUrl}#/graph/{sc._driver_id}/{run['run']}", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert "Supersteps" in done.stdout and done.stdout.count('class="bars"') == 3


STREAM_EVENTS = [(i, f"k{i % 7}", i) for i in range(600)]
STREAM_PAUSE = 400


def test_a_running_streams_operators_show_in_a_browser(sc, tmp_path):
    folder = str(tmp_path)
    ssc = StreamingContext(sc, parallelism=2, batch_size=50, checkpoint_interval=0.1, name="ui-counts")
    got = (ssc.source(faults.PausingSource(STREAM_EVENTS, folder, STREAM_PAUSE), timestamp=lambda e: e[0])
              .key_by(lambda e: e[1]).window(TumblingWindow(100)).count().collect())
    join = faults.run_in_thread(lambda: ssc.run(timeout=120))
    try:
        def paused_and_seen():
            # The source has read everything before its pause, and a checkpoint is taken.
            streams = [s for s in get(sc, "api/overview")["streams"] if s["name"] == "ui-counts"]
            if not streams or streams[0]["last_checkpoint"] is None:
                return None
            source = streams[0]["operators"][0]
            return streams[0] if source["records_in"] == STREAM_PAUSE else None
        stream = faults.wait_until(paused_and_seen, "the UI showing the stream before its pause")
        done = chromium(f"{sc.uiWebUrl}#/streams", "--dump-dom")
    finally:
        faults.touch(os.path.join(folder, "release"))
    join(120, "the streaming job")
    # Oracle: 600 events, timestamps 0..599, in windows of 100 per key.
    assert sum(count for *_, count in got.result()) == len(STREAM_EVENTS)
    assert stream["app"] == sc._driver_id
    assert [op["name"].split("-")[0] for op in stream["operators"]] == ["source", "key_by", "window", "collect"]
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert "ui-counts" in done.stdout and "backpressure" in done.stdout
    assert all(op["name"] in done.stdout for op in stream["operators"])
    assert f'<td class="num">{STREAM_PAUSE}</td>' in done.stdout       # the source's records in
