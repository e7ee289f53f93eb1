"""Graph runs in a session (the default, `minibig/graph/session.py`): one long task per
partition, the supersteps driven over the driver's socket, on a real cluster of its own (two
workers, two slots).

A session gives the superstep-by-superstep loop's answers (the local
engine's, and networkx's), whichever program kind and whether the run's end
is known in advance; it is one job of one task per partition, run where the
partitions live; it is not used when the partitions outnumber the slots, and
a session whose tasks cannot all start in time gives way to the superstep
loop with the same answer; the web UI shows its supersteps as a stepwise run's.
"""

import json
import os
import pickle
import stat
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pyarrow as pa
import pytest
import zmq

import faults
import support
from minibig import Context
from minibig.graph import Graph, cluster, pagerank, session
from minibig.graph.algorithms import PageRank, ShortestPaths
from minibig.graph.errors import GraphStateLostError
from minibig.graph.examples import GASShortestPaths, PregelComponents, PregelShortestPaths
from minibig.graph.messages import Messages

from graph_oracles import (DATASETS, check_components, check_distances, check_pagerank, nx_from_edges,
                           nx_from_file, random_edges)


class ShortestPathsEndingEarly(ShortestPaths):
    """Declares superstep 1 its last, wrongly: the session must go on and still meet the oracle."""

    def last_superstep(self):
        return 1


@pytest.fixture(scope="module")
def sc():
    """A cluster of its own (two workers, one slot each): a session needs a slot where each
    partition lives, and the shared cluster may hold a worker excluded for a while after
    other modules' failing tasks, so that a graph loads on one worker only."""
    with Context(workers=2, appName="graph-sessions") as ctx:
        yield ctx


@pytest.fixture(scope="module")
def roget(sc):
    path = f"{DATASETS}/roget.txt"
    return Graph.from_edge_file(sc, path), nx_from_file(path)


@pytest.fixture
def stages(sc, monkeypatch):
    """The task codes of the run_code calls made while the test runs."""
    names = []
    run_code = sc._dag.run_code
    monkeypatch.setattr(sc._dag, "run_code", lambda code, parts, description, **k:
                        names.append(type(code).__name__) or run_code(code, parts, description, **k))
    return names


def test_a_run_is_one_session_job_with_the_superstep_loops_answers(sc, roget, stages):
    g, G = roget
    assert g.num_partitions <= sc.defaultParallelism
    program = PageRank(g.num_vertices, max_iter=15, tol=0.0)
    run = g.run(program, checkpoint_every=4, session=True)
    assert stages == ["SessionCode"] and run.rollbacks == 0          # no load, no output task
    assert run.barrier.reason == "master" and run.supersteps == 16
    assert sc.lastJob.tasks == g.num_partitions and sc.lastJob.share("PROCESS_LOCAL") == 1.0
    stepwise = g.run(program, session=False)
    assert g.values(run, program) == pytest.approx(g.values(stepwise, program), rel=1e-12, abs=0)
    local = g.values(g.run(program, engine="local"), program)
    assert g.values(run, program) == pytest.approx(local, rel=1e-12, abs=0)
    stages.clear()
    check_pagerank(pagerank(g, tol=1e-10, max_iter=1000, session=True).collectAsMap(), G)   # a built-in
    assert stages == ["SessionCode"]


def test_a_sessions_outputs_are_the_stepwise_runs_arrays(sc, tmp_path):
    """The outputs cross from the tasks in frames of their own, not copied (`session.frames_of`):
    the same Arrow str ids and the same writable float64 ranks as a stepwise run's, arrays the
    driver may write to."""
    path = tmp_path / "edges.txt"
    path.write_text("".join(f"{u} {v}\n" for u, v in random_edges(7, 300, 2000, string_ids=True)))
    g = Graph.from_edge_file(sc, str(path), num_partitions=2)
    program = PageRank(g.num_vertices, max_iter=10, tol=0.0)
    ours, theirs = (g.run(program, checkpoint_every=0, session=s).outputs for s in (True, False))
    for (ids, ranks), (their_ids, their_ranks) in zip(ours, theirs):
        assert isinstance(ids, pa.StringArray) and ids.equals(their_ids) and len(ids) > 0
        assert ranks.dtype == np.float64 and ranks.tolist() == their_ranks.tolist()
        ranks += 1.0                                  # the driver's own: writable, not a frame's copy
        assert ranks.tolist() == (their_ranks + 1.0).tolist()


class DriverSidePageRank(PageRank):
    """PageRank whose master logic runs on the driver: it records the supersteps it saw there."""

    master_on_driver = True

    def __init__(self, n, **options):
        super().__init__(n, **options)
        self.seen = []

    def master_compute(self, superstep, aggregates):
        self.seen.append(superstep)
        return super().master_compute(superstep, aggregates)


class FailingMaster(PageRank):
    """PageRank whose master logic raises after superstep 3, on every task that runs it."""

    def master_compute(self, superstep, aggregates):
        if superstep == 3:
            raise ZeroDivisionError(f"master at superstep {superstep}")
        return super().master_compute(superstep, aggregates)


def test_the_tasks_run_the_barrier_and_the_driver_hears_only_checkpoints_and_outputs(sc, roget, stages):
    """A vectorised program's barrier runs on every task (`master_on_driver` False): the driver
    gets no report per superstep, only each partition's output, plus a checkpoint per
    partition every `checkpoint_every` supersteps, with the stepwise run's answer. A program
    whose master logic runs on the driver still gets a report per superstep and partition,
    and its `master_compute` runs there; an error in master logic run by the tasks keeps its type."""
    g, G = roget
    parts = g.num_partitions
    program = PageRank(g.num_vertices, max_iter=20, tol=0.0)
    run = g.run(program, checkpoint_every=0, session=True)
    assert run.supersteps == 21 and run.traffic["answers"] == parts and run.barrier.reason == "master"
    stepwise = g.run(program, session=False)
    assert g.values(run, program) == pytest.approx(g.values(stepwise, program), rel=1e-12, abs=0)
    assert run.barrier.aggregates == pytest.approx(stepwise.barrier.aggregates, rel=1e-12)
    assert run.traffic["messages"] > 0 and run.timings["worker"] > 0
    checkpointed = g.run(program, checkpoint_every=5, session=True)
    assert checkpointed.traffic["answers"] == parts * (1 + 4)        # before supersteps 5, 10, 15, 20
    converging = PageRank(g.num_vertices, max_iter=1000, tol=1e-6)     # stops on the tasks' aggregates
    run = g.run(converging, checkpoint_every=0, session=True)
    assert run.supersteps == g.run(converging, session=False).supersteps < 1000
    assert run.traffic["answers"] == parts
    driven = DriverSidePageRank(g.num_vertices, max_iter=20, tol=0.0)
    run = g.run(driven, checkpoint_every=0, session=True)
    assert driven.seen == list(range(21)) and run.traffic["answers"] == parts * 21
    assert g.values(run, driven) == pytest.approx(g.values(stepwise, program), rel=1e-12, abs=0)
    with pytest.raises(ZeroDivisionError, match="master at superstep 3"):
        g.run(FailingMaster(g.num_vertices, max_iter=20, tol=0.0), checkpoint_every=0, session=True)
    stages.clear()
    exact = PageRank(g.num_vertices, max_iter=1000, tol=1e-10)
    check_pagerank(g.values(g.run(exact, session=True), exact), G)     # the next session is fine
    assert stages == ["SessionCode"]


@pytest.mark.parametrize("make", [lambda g: ShortestPaths(g.dense(1), weighted=False),
                                  lambda g: PregelShortestPaths(1), lambda g: GASShortestPaths(1),
                                  lambda g: ShortestPathsEndingEarly(g.dense(1), weighted=False)])
def test_programs_whose_end_is_not_known_end_in_the_session(sc, roget, stages, make):
    g, G = roget
    program = make(g)
    run = g.run(program, checkpoint_every=3, session=True)
    assert stages == ["SessionCode"] and run.barrier.reason == "converged"
    check_distances(g.values(run, program), G, 1, weighted=False)
    assert run.supersteps == g.run(program, session=False).supersteps


def test_combiner_off_and_max_supersteps_in_a_session(sc, roget, stages):
    g, G = roget
    program = PregelComponents()
    check_components(g.values(g.run(program, combine_on_sender=False, session=True), program), G)
    program = ShortestPaths(g.dense(1), weighted=False)
    run = g.run(program, max_supersteps=4, session=True)
    assert run.barrier.reason == "max_supersteps" and run.supersteps == 4
    assert g.values(run, program) == g.values(g.run(program, engine="local", max_supersteps=4), program)
    assert set(stages) == {"SessionCode"}


def test_more_partitions_than_slots_run_superstep_by_superstep(sc, stages):
    path = f"{DATASETS}/roget.txt"
    g = Graph.from_edge_file(sc, path, num_partitions=sc.defaultParallelism + 1)
    program = ShortestPaths(g.dense(1), weighted=False)
    run = g.run(program, session=True)
    assert "SessionCode" not in stages and "SuperstepCode" in stages
    check_distances(g.values(run, program), nx_from_file(path), 1, weighted=False)


def test_a_session_whose_tasks_do_not_start_in_time_gives_way_to_the_superstep_loop(sc, roget, stages,
                                                                                     monkeypatch):
    g, G = roget
    # never in time: not the first hello either (both could come in one receive, and a
    # session whose hellos all came together is in time whatever START_TIMEOUT says)
    monkeypatch.setattr(session, "START_TIMEOUT", -1.0)
    monkeypatch.setattr(session, "FIRST_START_TIMEOUT", -1.0)
    monkeypatch.setattr(session, "_STARTED", session.weakref.WeakKeyDictionary())
    program = PageRank(g.num_vertices, tol=1e-10, max_iter=1000)
    run = g.run(program, session=True)
    assert stages[0] == "SessionCode" and "SuperstepCode" in stages and run.rollbacks == 0
    check_pagerank(g.values(run, program), G)
    stages.clear()                            # remembered: the next run does not try
    g.run(program, session=True)
    assert "SessionCode" not in stages
    # ... for RETRY_SESSIONS_AFTER seconds: the slots it lacked may have been another job's
    slots, started, when = session._STARTED[sc]
    session._STARTED[sc] = (slots, started, when - session.RETRY_SESSIONS_AFTER - 1)
    assert session.usable(sc, g.num_partitions)
    monkeypatch.setattr(session, "FIRST_START_TIMEOUT", 60.0)
    monkeypatch.setattr(session, "START_TIMEOUT", 60.0)
    stages.clear()
    check_pagerank(g.values(g.run(program, session=True), program), G)
    assert stages == ["SessionCode"]


def test_a_session_by_default_but_not_on_the_inline_backend(sc, roget, stages):
    """By default a run is a session (the built-ins' too); `session=False` goes superstep by superstep."""
    g, G = roget
    program = ShortestPaths(g.dense(1), weighted=False)
    check_distances(g.values(g.run(program), program), G, 1, weighted=False)
    assert stages == ["SessionCode"]
    check_pagerank(pagerank(g, tol=1e-10, max_iter=1000).collectAsMap(), G)
    assert stages == ["SessionCode"] * 2
    g.run(program, session=False)
    assert "SuperstepCode" in stages and stages.count("SessionCode") == 2
    assert not session.usable(type("Inline", (), {"_backend": object(), "defaultParallelism": 8})(), 2)
    assert cluster.usable is session.usable


class PausingPageRank(PageRank):
    """PageRank whose superstep 3 announces itself and waits for `release` (tests/faults.py)."""

    def __init__(self, n, folder, release, **options):
        super().__init__(n, **options)
        self.folder, self.release = folder, release

    def compute(self, part, ctx):
        if ctx.superstep == 3:
            faults.announce_and_wait(self.folder, "superstep", self.release)
        super().compute(part, ctx)


def test_a_run_while_a_session_holds_the_slots_goes_superstep_by_superstep(sc, roget, stages, tmp_path,
                                                                           monkeypatch):
    """Two runs of one driver at once: the second does not wait for the slots the first's
    session holds (it would for START_TIMEOUT, here ten minutes); its supersteps queue behind
    the session, both meet the oracle, and sessions are still used after."""
    g, G = roget
    monkeypatch.setattr(session, "START_TIMEOUT", 600.0)
    release = str(tmp_path / "go")
    paused = PausingPageRank(g.num_vertices, str(tmp_path), release, tol=1e-10, max_iter=1000)
    first = faults.run_in_thread(lambda: g.run(paused))
    faults.wait_for_marker(str(tmp_path), "superstep", count=g.num_partitions)   # both slots held
    second = faults.run_in_thread(lambda: pagerank(g, tol=1e-10, max_iter=1000).collectAsMap())
    faults.wait_until(lambda: "SuperstepCode" in stages, "the second run going superstep by superstep")
    faults.touch(release)
    check_pagerank(g.values(first(120, "the paused session"), paused), G)
    check_pagerank(second(120, "the second run"), G)
    assert stages.count("SessionCode") == 1 and session.usable(sc, g.num_partitions)


def test_a_graph_loaded_on_one_worker_runs_superstep_by_superstep_after_its_session_fails(
        sc, stages, tmp_path):
    """Both partitions loaded on one worker (the other's slot was busy then: in the shared
    cluster, a worker excluded after failing tasks): a session cannot run both tasks there, so
    one runs elsewhere and finds nothing. The run rolls back once and goes on superstep by
    superstep, with the oracle's answer. (Before: each rollback started a session again, placed
    the same way, until the run failed after nine.) The load's own session could not start
    either: the stages loaded the file."""
    folder, release = str(tmp_path), str(tmp_path / "go")
    path = f"{DATASETS}/roget.txt"
    held = faults.run_in_thread(lambda: sc.parallelize([0], 1).map(
        lambda x: faults.announce_and_wait(folder, "held", release)).collect())
    faults.wait_for_marker(folder, "held")
    try:
        g = Graph.from_edge_file(sc, path, num_partitions=2)     # one free slot: one worker
    finally:
        faults.touch(release)
    held(120, "the task holding a slot")
    assert list(g.on_workers.timings) == ["exchange", "read", "build"]
    # that failed start says the cluster has one slot: a session is tried again for this test
    session._STARTED.pop(sc, None)
    stages.clear()
    run = g.run(PageRank(g.num_vertices, tol=1e-10, max_iter=1000))
    check_pagerank(g.values(run, PageRank(g.num_vertices)), nx_from_file(path))
    assert run.rollbacks == 1 and stages.count("SessionCode") == 1 and "SuperstepCode" in stages


def graph_view_of_newest_run(sc) -> dict:
    """The web UI's view of this driver's newest graph run (`minibig/ui/graphs.py`)."""
    def get(path):
        with urllib.request.urlopen(sc.uiWebUrl + path, timeout=10) as response:
            return json.load(response)
    run = next(r for r in get("api/overview")["graphs"] if r["app"] == sc._driver_id)
    return get(f"api/graph?app={sc._driver_id}&run={run['run']}")


def test_the_web_ui_shows_a_sessions_supersteps_as_it_shows_the_superstep_loops(sc, roget):
    """The session's tasks report their supersteps when they end (the session's job ends after
    them, so the view has them once the run returns): the same rows as a stepwise run's."""
    g, _ = roget
    program = ShortestPaths(g.dense(1), weighted=False)
    views = []
    for in_session in (True, False):
        run = g.run(program, session=in_session)
        views.append(graph_view_of_newest_run(sc))
    session_view, stepwise_view = views
    assert session_view["session"] is not None and stepwise_view["session"] is None

    def rows(view):     # bytes differ: a session sends a repeated destination array once
        return [(s["superstep"], s["tasks"], s["runs"], s["result"], s["messages_sent"], s["active_vertices"],
                 s["message_bytes"] > 0) for s in view["steps"]]
    assert rows(session_view) == rows(stepwise_view)
    assert len(session_view["steps"]) == session_view["supersteps"] == run.supersteps
    assert sum(s["messages_sent"] for s in session_view["steps"]) > 0
    assert all(s["duration"] >= 0 and s["job"] == session_view["session"]["job"] for s in session_view["steps"])


def test_a_local_session_listens_on_a_socket_file_only_its_user_may_reach(sc, roget, monkeypatch):
    """The master is on loopback: ipc:// paths in a 0700 folder (no CurveZMQ), the driver's and
    the tasks', gone after the run."""
    g, G = roget
    seen = []
    bind = session.Session.bind

    def spy(self, sock):
        address = bind(self, sock)
        seen.append((address, self.folder, stat.S_IMODE(os.stat(self.folder).st_mode), self))
        return address
    monkeypatch.setattr(session.Session, "bind", spy)
    program = ShortestPaths(g.dense(1), weighted=False)
    check_distances(g.values(g.run(program, session=True), program), G, 1, weighted=False)
    (address, folder, mode, driver), = seen
    assert address == f"ipc://{folder}/session" and mode == 0o700
    # the tasks' peer sockets too (worker to worker messages): files in the same folder
    assert sorted(driver.peers) == list(range(g.num_partitions))
    assert all(peer.startswith(f"ipc://{folder}/p") for peer in driver.peers.values())
    assert not os.path.exists(folder)


def test_messages_go_worker_to_worker_and_a_repeated_destination_array_crosses_once(sc):
    """The driver's session socket carries steps, reports and outputs, not the outboxes: on a
    graph whose messages outweigh the rest, it sees a fraction of their bytes (it saw all of
    them when it forwarded them; no checkpoints here, which do go to the driver). PageRank sends the same destinations every superstep: in a
    session they cross once, so its messages take about half the bytes of a stepwise run's."""
    edges = random_edges(7, 4000, 40000)
    g, G = Graph.from_edges(sc, edges, num_partitions=2), nx_from_edges(edges)
    program = PageRank(g.num_vertices, max_iter=30, tol=0.0)
    run = g.run(program, session=True, checkpoint_every=0)
    stepwise = g.run(program, session=False, checkpoint_every=0)
    assert run.traffic["messages"] > 500_000
    assert run.traffic["session"] < run.traffic["messages"] / 4
    assert run.traffic["messages"] < 0.6 * stepwise.traffic["messages"]
    assert g.values(run, program) == pytest.approx(g.values(stepwise, program), rel=1e-12, abs=0)
    check_pagerank(pagerank(g, tol=1e-10, max_iter=1000, session=True).collectAsMap(), G)


@pytest.fixture
def driver_link(tmp_path):
    """A 0700 folder for `Peers`' socket files, and a pair of sockets standing for a task's
    link to its driver: (folder, the driver's end, the task's end)."""
    folder = tmp_path / "s"
    folder.mkdir(mode=0o700)
    zctx = zmq.Context.instance()
    driver, task_end = zctx.socket(zmq.PAIR), zctx.socket(zmq.PAIR)
    driver.bind(f"ipc://{folder}/driver-test")
    task_end.connect(f"ipc://{folder}/driver-test")
    yield folder, driver, task_end
    driver.close(0)
    task_end.close(0)


def test_peers_deliver_in_order_send_a_repeated_destination_array_once_and_bound_their_wait(driver_link):
    """Two `Peers` on real sockets (socket files, as in a local session): segments arrive as
    sent; the same destinations again cross as values only and are put back; a sender that
    never sends ends the wait with `GraphStateLostError` after `wait`; a word from the driver
    ends it at once (None: the caller reads the abort)."""
    folder, driver, task_end = driver_link
    driver_address = f"ipc://{folder}/session"
    zctx = zmq.Context.instance()
    a, b = (session.Peers(driver_address, 0, 0, lost_after=10.0, wait=0.3),
            session.Peers(driver_address, 1, 0, lost_after=10.0, wait=0.3))
    c = None
    try:
        for peers in (a, b):
            peers.connect({0: a.address, 1: b.address})
        dst = np.arange(0, 2000, 2, dtype=np.int64)
        first = a.send(5, {1: Messages(dst, np.ones(len(dst)))}, {})
        again = a.send(6, {1: Messages(dst.copy(), np.full(len(dst), 2.0))}, {1: [("request",)]})
        assert first[0] == again[0] == 0 and again[1] < first[1] - 7000      # 8 KB of dst stayed home
        b.send(5, {}, {}, partial="b's report")
        ((sender, batch, requests),), partials = b.inbox(5, task_end)
        assert sender == 0 and batch.dst.tolist() == dst.tolist() and batch.values.tolist() == [1.0] * 1000
        assert partials == {0: None}                  # a sent no partial report (the driver's barrier)
        assert not batch.dst.flags.writeable          # kept for the next segments: never written
        ((sender, batch, requests),), _ = b.inbox(6, task_end)
        assert batch.dst.tolist() == dst.tolist() and batch.values[0] == 2.0 and requests == [("request",)]
        assert a.inbox(5, task_end) == ([(1, None, [])], {1: "b's report"})    # an empty segment still arrives
        started = time.monotonic()
        with pytest.raises(GraphStateLostError, match="partition 1's messages of superstep 6"):
            a.inbox(6, task_end)
        assert 0.3 <= time.monotonic() - started < 5
        driver.send(b"abort")
        assert b.inbox(7, task_end) is None
        task_end.recv()
        # "the same destinations as last time" from a sender whose last ones never came: lost
        c = session.Peers(driver_address, 2, 0, lost_after=10.0, wait=0.3)
        c.connect({0: a.address, 2: c.address})
        stranger = zctx.socket(zmq.DEALER)
        stranger.connect(c.address)
        stranger.send(pickle.dumps((b"", 8, 0, Messages(None, np.ones(3)), [], True, None)))
        with pytest.raises(GraphStateLostError, match="never got the destinations partition 0"):
            c.inbox(8, task_end)
        stranger.close(0)
    finally:
        a.close()
        b.close()
        if c is not None:
            c.close()


def test_a_peer_slower_than_lost_after_is_not_declared_lost(driver_link):
    """A task does not give up on a live peer after `lost_after` (a dead one is the driver's
    to find, by its heartbeats): a segment that comes three `lost_after`s late is still
    taken; only the backstop, `PEER_WAIT_FACTOR` of them, ends the wait."""
    folder, driver, task_end = driver_link
    lost_after = 0.1
    a, b = (session.Peers(f"ipc://{folder}/session", q, 0, lost_after) for q in (0, 1))
    late = threading.Timer(3 * lost_after, lambda: a.send(4, {1: Messages(np.arange(1, 3), np.ones(2))}, {}))
    try:
        for peers in (a, b):
            peers.connect({0: a.address, 1: b.address})
        started = time.monotonic()
        late.start()                      # the delay is the point: the segment comes late
        ((sender, batch, _),), _ = b.inbox(4, task_end)
        assert sender == 0 and batch.dst.tolist() == [1, 2]
        assert time.monotonic() - started >= 3 * lost_after
        assert b.wait == session.PEER_WAIT_FACTOR * lost_after >= 3.0
    finally:
        late.cancel()
        if late.ident is not None:
            late.join(5)
        a.close()
        b.close()


def test_a_segment_from_outside_the_session_is_not_taken_for_a_peers(driver_link):
    """A segment with another session's token (a lingering task of an earlier session whose
    socket reached this one), or from a partition that is not a peer, is dropped and
    counted; the peer's own segment, sent after them on the same socket, is the one taken."""
    folder, driver, task_end = driver_link
    zctx = zmq.Context.instance()
    token = b"this session"
    receiver = session.Peers(f"ipc://{folder}/session", 1, 0, 10.0, wait=5.0, token=token)
    sender = zctx.socket(zmq.DEALER)
    try:
        receiver.connect({0: f"ipc://{folder}/nobody", 1: receiver.address})
        sender.connect(receiver.address)
        for segment in [(b"an earlier session", 3, 0, Messages(np.arange(1, 3), np.full(2, 9.0)), [], False, None),
                        (token, 3, 2, Messages(np.arange(1, 3), np.full(2, 8.0)), [], False, None),
                        (token, 3, 0, Messages(np.arange(1, 3), np.ones(2)), [], False, None)]:
            sender.send(pickle.dumps(segment))
        ((q, batch, _),), _ = receiver.inbox(3, task_end)
        assert q == 0 and batch.values.tolist() == [1.0, 1.0]
        assert receiver.foreign == 2
    finally:
        sender.close(0)
        receiver.close()


PEERS_OVER_TCP = """
import pickle, sys, zmq
from minibig.graph.errors import GraphStateLostError
from minibig.graph.messages import Messages
from minibig.graph.session import Peers
import numpy as np
zctx = zmq.Context.instance()
idle = zctx.socket(zmq.PAIR)                     # the driver's socket: it says nothing here
a, b = Peers("tcp://127.0.0.1:1", 0, 0, 10.0, wait=1.0), Peers("tcp://127.0.0.1:1", 1, 0, 10.0, wait=1.0)
for peers in (a, b):
    peers.connect({0: a.address, 1: b.address})
a.send(3, {1: Messages(np.arange(5), np.ones(5))}, {})
((sender, batch, _),), _ = b.inbox(3, idle)
assert sender == 0 and batch.dst.tolist() == [0, 1, 2, 3, 4], batch
stranger = zctx.socket(zmq.DEALER)               # no key: CurveZMQ never lets it through
stranger.connect(b.address.replace(b.address.split("//")[1].split(":")[0], "127.0.0.1"))
stranger.send_multipart([pickle.dumps((4, 0, None, [], False))])
try:
    b.inbox(4, idle)
    sys.exit("an unkeyed peer's segment was taken")
except GraphStateLostError:
    pass
print("ok", a.address.split(":")[0])
"""


def test_peers_of_a_remote_master_speak_curvezmq_and_refuse_unkeyed_peers():
    """A master elsewhere: every task's peer socket is TCP with the cluster key (the test
    session's key file, as a worker's key), the segments go through, and a peer without the
    key never gets a segment in (a fresh process: this one's embedded clusters have keys of
    their own)."""
    done = subprocess.run([sys.executable, "-c", PEERS_OVER_TCP], env=support.env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "tcp"]


def test_tasks_running_the_barrier_end_on_the_drivers_end_once_every_output_is_in(sc, roget, monkeypatch):
    """A task that halts has sent its last segment, which a peer may still be receiving (a big
    one over TCP with CurveZMQ): it sends its output and waits for the driver's `end`, sent once
    every output is in, before it closes its peer sockets. The session's job is still running
    when the driver says `end`, and every task's log says it ended on it."""
    g, G = roget
    sent = []
    seen = []
    send_all = session.Session.send_all

    def spy(self, message):
        seen.append(self)
        sent.append((message["kind"], self.thread.is_alive()))
        return send_all(self, message)
    monkeypatch.setattr(session.Session, "send_all", spy)
    program = PageRank(g.num_vertices, max_iter=10, tol=0.0)
    run = g.run(program, checkpoint_every=0, session=True)
    assert run.supersteps == 11 and run.rollbacks == 0
    assert sent == [("step", True), ("end", True)]          # the tasks waited for the driver's word
    driver, = set(seen)
    assert [log.ended for log in driver.logs] == ["end"] * g.num_partitions
    assert g.values(run, program) == pytest.approx(g.values(g.run(program, session=False), program),
                                                   rel=1e-12, abs=0)
