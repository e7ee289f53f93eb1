"""A worker killed in the middle of a graph run: the workers load the file again (the
victim held partitions of it), the run rolls back to its last checkpoint on the surviving
worker and still meets the networkx oracle.

The program announces superstep 6 with a marker file and waits for the
test's go-ahead (tests/faults.py), so the kill lands mid-superstep without
sleeping. The cluster is this test's own, with a short heartbeat timeout.
"""

import logging
import os
import signal
import threading

import pytest

import faults
from minibig import Context
from minibig.graph import Graph, HashPartitioner, pagerank
from minibig.graph.algorithms import PageRank

from graph_oracles import DATASETS, check_pagerank, nx_from_file


KILL_AT = 6


class AnnouncingPageRank(PageRank):
    """PageRank whose superstep KILL_AT announces itself and waits for `release`."""

    def __init__(self, n, folder, release, at=KILL_AT, **options):
        super().__init__(n, **options)
        self.folder, self.release, self.at = folder, release, at

    def compute(self, part, ctx):
        if ctx.superstep == self.at:
            faults.announce_and_wait(self.folder, "superstep", self.release)
        super().compute(part, ctx)


@pytest.fixture
def cluster():
    ctx = Context(workers=2, worker_timeout=2.0, fetch_timeout=3.0, appName="graph-faults", progress=False)
    yield ctx
    ctx.stop()


@pytest.mark.parametrize("at, partitions", [(KILL_AT, 4), (0, 4), (KILL_AT, 2), (0, 2)])
def test_worker_killed_mid_pagerank_rolls_back_to_the_checkpoint(cluster, tmp_path, at, partitions):
    """At 0: the first superstep, whose tasks also put the loaded partitions in place. 4
    partitions run superstep by superstep (more than the 2 slots), 2 in a session, whose
    driver finds the victim's task silent (`session.py`)."""
    path = f"{DATASETS}/roget.txt"
    g, G = Graph.from_edge_file(cluster, path, num_partitions=partitions), nx_from_file(path)
    release = str(tmp_path / "go")
    program = AnnouncingPageRank(g.num_vertices, str(tmp_path), release, at=at, tol=1e-10, max_iter=1000)
    box = {}

    def target():
        try:
            box["run"] = g.run(program, checkpoint_every=3, session=True)
        except BaseException as exc:
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    victim = faults.wait_for_marker(str(tmp_path), "superstep")[0]
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    thread.join(120)
    assert not thread.is_alive(), "the run did not finish"
    if "error" in box:
        raise box["error"]
    run = box["run"]
    assert run.rollbacks >= 1
    assert g.on_workers.generation >= 1          # the workers loaded the file again: partitions died
    assert len(faults.markers(str(tmp_path), "superstep")) > 1        # the superstep ran again
    check_pagerank(g.values(run, program), G)


class PeerPausingPageRank(PageRank):
    """PageRank whose superstep KILL_AT announces itself: partition 0 waits for `release` there,
    the others go on (sending partition 0 their messages, and reporting)."""

    def __init__(self, n, folder, release, at=KILL_AT, **options):
        super().__init__(n, **options)
        self.folder, self.release, self.at = folder, release, at

    def compute(self, part, ctx):
        if ctx.superstep == self.at:
            faults.announce_and_wait(self.folder, f"p{part.index}", self.release if part.index == 0 else None)
        super().compute(part, ctx)


def test_worker_killed_while_its_peer_sends_it_messages(cluster, tmp_path):
    """In a session messages go task to task: partition 1's worker is killed after its
    superstep, while partition 0 is still in its own; partition 0 then sends its outbox to
    the dead task and reports; the driver finds partition 1 silent, the session ends with
    `GraphStateLostError`, and the run rolls back and meets the oracle."""
    path = f"{DATASETS}/roget.txt"
    g, G = Graph.from_edge_file(cluster, path, num_partitions=2), nx_from_file(path)
    release = str(tmp_path / "go")
    program = PeerPausingPageRank(g.num_vertices, str(tmp_path), release, tol=1e-10, max_iter=1000)
    box = faults.run_in_thread(lambda: g.run(program, checkpoint_every=3, session=True))
    paused = faults.wait_for_marker(str(tmp_path), "p0")[0]
    victim = faults.wait_for_marker(str(tmp_path), "p1")[0]
    assert victim != paused                       # one partition per worker: a session's placement
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    run = box(120, "the run")
    assert run.rollbacks >= 1 and len(faults.markers(str(tmp_path), "p1")) > 1   # superstep 6 again
    check_pagerank(g.values(run, program), G)


class RecordingPageRank(AnnouncingPageRank):
    """AnnouncingPageRank that also leaves a `step<superstep>` marker for every superstep each
    partition computes: which supersteps ran again after a rollback."""

    def compute(self, part, ctx):
        faults.announce_and_wait(self.folder, f"step{ctx.superstep}")
        super().compute(part, ctx)


def test_worker_killed_while_the_tasks_run_the_barrier_rolls_back_to_their_checkpoint(cluster, tmp_path):
    """PageRank's session tasks run the barrier themselves and tell the driver only their
    checkpoints (here before supersteps 3 and 6) and outputs. A worker is SIGKILLed in
    superstep 7, its peer then waits for the dead task's segment; the driver finds the victim
    silent by its heartbeats, aborts the peer, and the run rolls back to the checkpoint the
    tasks sent before superstep 6 (no later superstep than 6 is run again) and meets the oracle."""
    path = f"{DATASETS}/roget.txt"
    g, G = Graph.from_edge_file(cluster, path, num_partitions=2), nx_from_file(path)
    release = str(tmp_path / "go")
    program = RecordingPageRank(g.num_vertices, str(tmp_path), release, at=7, tol=1e-10, max_iter=1000)
    box = faults.run_in_thread(lambda: g.run(program, checkpoint_every=3, session=True))
    victim = faults.wait_for_marker(str(tmp_path), "superstep")[0]
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    run = box(120, "the run")
    assert run.rollbacks >= 1 and run.traffic["answers"] == 4       # two checkpoints per partition
    runs = {s: len(faults.markers(str(tmp_path), f"step{s}")) for s in range(run.supersteps)}
    assert all(runs[s] == 2 for s in range(6)), runs                  # both partitions, once
    assert runs[6] == 4 and all(runs[s] == 2 for s in range(8, run.supersteps)), runs   # 6 on: again
    check_pagerank(g.values(run, program), G)


class AnnouncingPartitioner:
    """The hash partitioner, one id at a time; routing `stop_at` announces itself and waits."""

    def __init__(self, num_partitions, stop_at, folder, release):
        self.hash = HashPartitioner(num_partitions)
        self.stop_at, self.folder, self.release = stop_at, folder, release

    def __call__(self, vertex):
        if vertex == self.stop_at:
            faults.announce_and_wait(self.folder, "route", self.release)
        return self.hash(vertex)


@pytest.mark.parametrize("lonely", [0, 40])
def test_worker_killed_while_the_workers_load_the_file(cluster, tmp_path, lonely):
    """The routing task dies with its worker. Two partitions load in one stage (a session:
    `distload.ExchangeCode`): the driver finds the task silent, ends the session and loads the
    file again, by the stages now that one worker is left. (With the stages alone, routed edges
    lost with the worker make the driver load again.) With a vertex file (`lonely` vertices
    without an edge), the task stops on its last vertex, which only that file names: the load
    again reads both files."""
    path = f"{DATASETS}/roget.txt"
    vertices = None
    last = Graph.from_edge_file(None, path).index.ids[-1]          # a vertex some range routes
    if lonely:
        vertices = str(tmp_path / "lonely.v")
        with open(vertices, "w") as f:
            f.write("".join(f"{10_000 + v}\n" for v in range(1, lonely + 1)))
        last = 10_000 + lonely
    release = str(tmp_path / "go")
    partitioner = AnnouncingPartitioner(2, int(last), str(tmp_path), release)
    box = faults.run_in_thread(lambda: Graph.from_edge_file(cluster, path, num_partitions=2,
                                                            partitioner=partitioner, vertices=vertices))
    victim = faults.wait_for_marker(str(tmp_path), "route")[0]
    os.kill(victim, signal.SIGKILL)
    faults.touch(release)
    g = box(120, "the load")
    assert len(faults.markers(str(tmp_path), "route")) > 1          # its range was routed again
    reference = Graph.from_edge_file(None, path, num_partitions=2, partitioner=HashPartitioner(2), vertices=vertices)
    assert (g.num_vertices, g.num_edges) == (reference.num_vertices, reference.num_edges)
    for ours, theirs in zip(g.partitions, reference.partitions):
        assert ours.out_dst.tolist() == theirs.out_dst.tolist() and ours.ids.tolist() == theirs.ids.tolist()
    G = nx_from_file(path)
    G.add_nodes_from(range(10_001, 10_001 + lonely))
    check_pagerank(dict(pagerank(g, tol=1e-10, max_iter=1000).collect()), G)


class _ReleaseOnSessionEnd(logging.Handler):
    """Lets the paused partition 0 go on once the driver says why it ends the session (before
    it waits for the session's tasks to stop), and keeps that reason."""

    def __init__(self, release: str):
        super().__init__()
        self.go, self.reasons = release, []

    def emit(self, record):
        self.reasons.append(record.getMessage())
        faults.touch(self.go)


def test_a_peer_wait_that_runs_out_while_the_tasks_run_the_barrier_rolls_back_with_its_reason(
        cluster, tmp_path):
    """Partition 0 pauses in superstep 2 (alive: it still beats) while the tasks run the barrier;
    partition 1's wait for its segment runs out (`PEER_WAIT_FACTOR * lost_after`, lost_after
    the cluster's worker_timeout), and it tells the driver the partition is lost: the
    session ends with that reason, the driver's abort releases partition 0, and the run rolls
    back and meets the oracle."""
    path = f"{DATASETS}/roget.txt"
    g, G = Graph.from_edge_file(cluster, path, num_partitions=2), nx_from_file(path)
    release = str(tmp_path / "go")
    program = PeerPausingPageRank(g.num_vertices, str(tmp_path), release, tol=1e-10, max_iter=1000, at=2)
    # The cluster's own worker_timeout (2 s, set when it started) is the session's lost_after:
    # partition 0 beats every 0.5 s while paused, and partition 1's wait runs out after 60 s.
    handler = _ReleaseOnSessionEnd(release)
    logger = logging.getLogger("minibig.graph.session")
    logger.addHandler(handler)
    try:
        run = faults.run_in_thread(lambda: g.run(program, checkpoint_every=0, session=True))(240, "the run")
    finally:
        logger.removeHandler(handler)
    assert run.rollbacks == 1
    reason, = [r for r in handler.reasons if "ends (" in r]
    assert "partition 1 waited 60s for partition 0's messages of superstep 2" in reason, reason
    assert len(faults.markers(str(tmp_path), "p0")) == 2     # paused once, then superstep 2 again
    check_pagerank(g.values(run, program), G)
