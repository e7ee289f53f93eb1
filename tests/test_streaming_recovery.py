"""A worker SIGKILLed mid-stream: the job restores its last checkpoint on a
replacement worker and the collected output and metrics equal the
failure-free run's, nothing lost or counted twice.

The source pauses halfway (a marker file says so) until the test releases
it, so the kill lands mid-stream; the test kills from the driver's
``on_checkpoint`` callback once a checkpoint has completed during the pause.
The killed worker's disk goes too (its task's snapshot is read from the
driver's copy, the other's from its worker's disk). A second test kills
during barrier alignment (checkpoint n snapshotted by some operators,
not complete: the job goes back to n - 1). No sleeps: every step waits on an
event, bounded.
"""

import glob
import os
import shutil
import signal

import pytest

from minibig import Context
from minibig.streaming import (KeyedProcessFunction, Source, StreamingContext, TumblingWindow,
                               ValueStateDescriptor)

import faults
from streaming_reference import failure_free

EVENTS = [(i - (i * 7919) % 9, f"k{(i * 31) % 11}", i) for i in range(6000)]


class CountAndRemind(KeyedProcessFunction):
    """Keyed state and event-time timers through a restore: each record counts and sets a
    timer 30 later (one per key and time); a timer emits the key's count then."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, event, ctx):
        self.count.update((self.count.value() or 0) + 1)
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 30)

    def on_timer(self, timestamp, ctx):
        yield ctx.get_current_key(), timestamp, self.count.value()


def build(ssc, folder):
    keyed = (ssc.source(faults.PausingSource(EVENTS, folder, 2500), timestamp=lambda e: e[0], max_out_of_orderness=3)
                .key_by(lambda e: e[1]))
    counts = keyed.window(TumblingWindow(40)).reduce(lambda a, b: (a[0], a[1], a[2] + b[2]))
    totals = keyed.map_with_state(lambda state, e: (e[1], state.update(state.value(0) + 1) or state.value()))
    running = keyed.reduce(lambda a, b: (max(a[0], b[0]), a[1], a[2] + b[2]))    # rolling, keyed state
    summed, latest = keyed.sum(2), keyed.max_by(0, first=False)                   # rolling aggregations
    overall = keyed.window_all(TumblingWindow(100)).reduce(lambda a, b: (a[0], (a[1][0], a[1][1], a[1][2] + b[1][2])))
    sliding, tumbling = keyed.count_window(7, 3).count(), keyed.count_window(5).process(lambda k, rs: [r[2] for r in rs])
    reminded = keyed.process(CountAndRemind())
    return (counts.collect(), counts.late().collect(), totals.collect(), running.collect(), summed.collect(),
            latest.collect(), overall.collect(), overall.late().collect(), sliding.collect(), tumbling.collect(),
            reminded.collect())


def pid_of(worker_id: str) -> int:
    """The process id in a worker's id (``<host>-<pid>-<tag>``)."""
    return int(worker_id.rsplit("-", 2)[1])


@pytest.mark.parametrize("lost", ["the holder's disk", "the other task's snapshot"])
def test_a_killed_worker_costs_a_restore_never_a_record(tmp_path, lost):
    """The killed worker held task 0's snapshots. Its disk goes with it: task 0 restores
    from the driver's copy, task 1 from its worker's disk. Or task 1's snapshot is gone
    from its (living) worker: task 1 cannot read it, and the job restarts again, both
    tasks from the driver's copy."""
    folder = str(tmp_path)
    oracle, handles = failure_free(build, folder, parallelism=2, batch_size=50)
    want = [sorted(h.result(), key=repr) for h in handles]

    with Context(workers=2, worker_timeout=2.5, appName="stream-kill") as ctx:
        killed = []

        def on_checkpoint(cid):
            # Called as checkpoint cid completes: with task 0 dead, no later one can.
            if not killed and os.path.exists(os.path.join(folder, "paused")):
                dirs = {w["id"]: w["work_dir"] for w in faults.master_status(ctx._cluster.url)["workers"]}
                holder, other = ssc.executor.task_workers[0], ssc.executor.task_workers[1]
                os.kill(pid_of(holder), signal.SIGKILL)
                if lost == "the holder's disk":
                    shutil.rmtree(dirs[holder])                      # its machine is gone: so is its disk
                else:
                    for snapshot in glob.glob(os.path.join(dirs[other], "shuffle", f"*stream-*-c{cid}-t1")):
                        shutil.rmtree(snapshot)
                killed.append(holder)
                ctx._cluster.add_worker()                    # the restart needs two slots again
                faults.touch(os.path.join(folder, "release"))

        ssc = StreamingContext(ctx, parallelism=2, batch_size=50, checkpoint_interval=0.05,
                               task_timeout=1.0, on_checkpoint=on_checkpoint)
        handles = build(ssc, folder)
        metrics = ssc.run(timeout=120)
        got = [sorted(h.result(), key=repr) for h in handles]
        assert killed
        if lost == "the holder's disk":
            assert ssc.executor.restarts == 1
            assert sorted(ssc.executor.restored_from) == [(1, 0, "driver"), (1, 1, "disk")]
        else:
            assert ssc.executor.restarts == 2
            restored = sorted(ssc.executor.restored_from)     # generation 1 may stop before task 0 says hello
            assert restored[-2:] == [(2, 0, "driver"), (2, 1, "driver")] and (1, 1, "disk") not in restored
        assert got == want
        assert metrics.by_operator == oracle.metrics.by_operator
        assert ctx.parallelize(range(4), 2).count() == 4          # the cluster still works


class StallingAtCheckpoint(Source):
    """``events`` split round-robin, pausing at ``pause_at`` like ``faults.PausingSource``.
    Once ``armed`` exists, each checkpoint's snapshot of instance 0 announces ``snap`` and
    instance 1's first one announces ``stall`` and blocks until ``release``: instance 1
    sends no barrier, so checkpoint n stays part-taken (instance 0 and what follows it
    have snapshotted it, the keyed operators wait in alignment)."""

    def __init__(self, events, folder, pause_at, index=0):
        self.events, self.folder, self.pause_at, self.index = events, folder, pause_at, index
        self.position = 0

    def split(self, index, parallelism):
        return StallingAtCheckpoint(self.events[index::parallelism], self.folder, self.pause_at, index)

    @property
    def finished(self):
        return self.position >= len(self.events)

    def poll(self, max_records):
        if self.position >= self.pause_at and not os.path.exists(os.path.join(self.folder, "release")):
            return []
        end = min(self.position + max_records, len(self.events))
        if self.position < self.pause_at:
            end = min(end, self.pause_at)
        batch = self.events[self.position:end]
        self.position = end
        return batch

    def offset(self):
        if os.path.exists(os.path.join(self.folder, "armed")):
            if self.index == 0:
                faults.announce_and_wait(self.folder, "snap")
            elif not faults.markers(self.folder, "stall"):
                faults.announce_and_wait(self.folder, "stall", os.path.join(self.folder, "release"))
        return self.position

    def seek(self, offset):
        self.position = offset


def build_aligned(ssc, folder):
    source = StallingAtCheckpoint(EVENTS, folder, 1200)
    events = ssc.source(source, timestamp=lambda e: e[0], max_out_of_orderness=12, parallelism=2)
    keyed = events.key_by(lambda e: e[1])
    # Two sources interleave differently on every run: what is collected must not depend
    # on it. Counts do; no record is late (each source's disorder is under its delay);
    # the running totals are 1..n per key in some order, from keyed state and from a rolling reduce.
    counts = keyed.window(TumblingWindow(40)).count()
    totals = keyed.map_with_state(lambda state, e: (e[1], state.update(state.value(0) + 1) or state.value()))
    running = events.map(lambda e: (e[1], 1)).key_by(lambda p: p[0]).reduce(lambda a, b: (a[0], a[1] + b[1]))
    return counts.collect(), counts.late().collect(), totals.collect(), running.collect()


def test_a_kill_during_barrier_alignment_goes_back_to_the_previous_checkpoint(tmp_path):
    folder = str(tmp_path)
    oracle, handles = failure_free(build_aligned, folder, parallelism=2, batch_size=50)
    want = [sorted(h.result(), key=repr) for h in handles]

    with Context(workers=2, worker_timeout=2.5, appName="stream-align") as ctx:
        ssc = StreamingContext(ctx, parallelism=2, batch_size=50, checkpoint_interval=0.05,
                               task_timeout=1.0,
                               on_checkpoint=lambda cid: faults.touch(os.path.join(folder, "armed")))
        handles = build_aligned(ssc, folder)
        join = faults.run_in_thread(lambda: ssc.run(timeout=120))
        stalled = faults.wait_for_marker(folder, "stall")[0]       # task 1 holds back checkpoint n
        snapped = faults.wait_for_marker(folder, "snap")[0]        # task 0 has snapshotted it
        assert stalled != snapped
        in_flight = ssc.executor.checkpoints + 1
        os.kill(snapped, signal.SIGKILL)
        ctx._cluster.add_worker()
        faults.touch(os.path.join(folder, "release"))
        metrics = join(120, "the streaming job")
        got = [sorted(h.result(), key=repr) for h in handles]
        assert ssc.executor.failures == [{"in_flight": in_flight, "restored": in_flight - 1}]
        assert in_flight >= 2
        assert got == want and want[1] == []
        assert metrics.by_operator == oracle.metrics.by_operator
