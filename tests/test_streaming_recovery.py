"""A worker SIGKILLed mid-stream: the job restores its last checkpoint on a
replacement worker and the collected output and metrics equal the
failure-free run's, nothing lost or counted twice.

The source pauses halfway (a marker file says so) until the test releases
it, so the kill lands mid-stream; the test kills from the driver's
``on_checkpoint`` callback once a checkpoint has completed during the pause.
No sleeps: every step waits on an event, bounded.
"""

import os
import signal

from minibig import Context
from minibig.streaming import Source, StreamingContext, TumblingWindow

import faults

EVENTS = [(i - (i * 7919) % 9, f"k{(i * 31) % 11}", i) for i in range(6000)]


def build(ssc, folder):
    keyed = (ssc.source(faults.PausingSource(EVENTS, folder, 2500), timestamp=lambda e: e[0], max_out_of_orderness=3)
                .key_by(lambda e: e[1]))
    counts = keyed.window(TumblingWindow(40)).reduce(lambda a, b: (a[0], a[1], a[2] + b[2]))
    totals = keyed.map_with_state(lambda state, e: (e[1], state.update(state.value(0) + 1) or state.value()))
    return counts.collect(), counts.late().collect(), totals.collect()


def test_a_killed_worker_costs_a_restore_never_a_record(tmp_path):
    folder = str(tmp_path)
    faults.touch(os.path.join(folder, "release"))
    oracle = StreamingContext(parallelism=2, batch_size=50)
    handles = build(oracle, folder)
    oracle.run()
    want = [sorted(h.result(), key=repr) for h in handles]
    os.remove(os.path.join(folder, "release"))

    with Context(workers=2, worker_timeout=1.0, appName="stream-kill") as ctx:
        killed = []

        def on_checkpoint(cid):
            if not killed and os.path.exists(os.path.join(folder, "paused")):
                victim = ctx._cluster.workers[0]
                os.kill(victim.pid, signal.SIGKILL)
                killed.append(victim.pid)
                ctx._cluster.add_worker()                    # the restart needs two slots again
                faults.touch(os.path.join(folder, "release"))

        ssc = StreamingContext(ctx, parallelism=2, batch_size=50, checkpoint_interval=0.05,
                               task_timeout=1.0, on_checkpoint=on_checkpoint)
        handles = build(ssc, folder)
        metrics = ssc.run(timeout=120)
        got = [sorted(h.result(), key=repr) for h in handles]
        assert killed and ssc.executor.restarts == 1
        assert got == want
        assert metrics.by_operator == oracle.metrics.by_operator
        assert ctx.parallelize(range(4), 2).count() == 4          # the cluster still works
