"""A randomised fault soak: ten two-stage jobs, each losing a random worker at a
random moment, on a cluster of `minibig master` and `minibig worker` processes
that gets a new worker after every kill. Every job returns the exact answer
within a minute.

The moment is random but not a sleep: the victim dies right after the k-th
task announced itself (k drawn from the seed), so every run is reproducible
in where the kill lands. Set MINIBIG_SOAK_SEED to replay a printed seed.
"""

import json
import operator
import os
import random
import signal
import subprocess
import sys
import time


import faults
import support
from minibig import Context


RUNS = 10
RUN_TIMEOUT = 60.0
MAPS, REDUCES = 6, 3
PAIRS = [(i % 11, i) for i in range(660)]
EXPECTED = {k: sum(v for kk, v in PAIRS if kk == k) for k in range(11)}


def start_master(worker_timeout: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "minibig", "master", "--port", "0",
                             "--worker-timeout", str(worker_timeout)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=support.env())
    return proc, json.loads(proc.stdout.readline())["url"]


def two_stage_job(ctx, folder: str):
    """Map and reduce tasks both announce themselves, and take a little while."""
    def tagged(split, records):
        faults.announce_and_wait(folder, "task")
        time.sleep(0.05)                          # the work: kills land inside tasks
        return records
    return (ctx.parallelize(PAIRS, MAPS).mapPartitionsWithIndex(tagged)
            .reduceByKey(operator.add, REDUCES).mapPartitionsWithIndex(tagged))




def test_random_worker_kills_never_change_the_answer(tmp_path):
    seed = int(os.environ.get("MINIBIG_SOAK_SEED") or random.randrange(1 << 32))
    print(f"fault soak seed: {seed} (replay with MINIBIG_SOAK_SEED={seed})")
    rng = random.Random(seed)
    master, url = start_master(worker_timeout=2.0)
    workers = [support.start_worker(url), support.start_worker(url)]
    procs = [master, *workers]
    try:
        with Context(master=url, fetch_timeout=1.0, appName="soak") as ctx:
            for run in range(RUNS):
                folder = tmp_path / f"run{run}"
                folder.mkdir()
                k = rng.randrange(1, MAPS + REDUCES + 1)
                join = faults.run_in_thread(lambda: dict(two_stage_job(ctx, str(folder)).collect()))
                started = time.monotonic()
                faults.wait_for_marker(str(folder), "task", count=k, timeout=RUN_TIMEOUT)
                alive = [w for w in workers if w.poll() is None]
                victim = rng.choice(alive)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                workers.remove(victim)
                replacement = support.start_worker(url)
                workers.append(replacement)
                procs.append(replacement)
                value = join(RUN_TIMEOUT - (time.monotonic() - started),
                             f"run {run} (seed {seed}, kill after task {k})")
                assert value == EXPECTED, f"run {run} (seed {seed}): wrong answer"
    finally:
        support.cleanup(procs)
