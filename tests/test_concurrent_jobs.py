"""Actions from several threads on one Context run at once and each gets its own answer.

PySpark runs jobs from several threads on one SparkContext; so does minibig:
each job gets only its own events, and two jobs that need the same shuffle
do not both compute it. Every answer is checked against plain Python.
"""

import collections
import operator
import threading

from minibig import Context

THREADS = 8
ROUNDS = 3
N = 2000


def _jobs(ctx):
    """(name, action, expected) for each thread: a mix of actions, some sharing parents."""
    words = [f"w{i % 37}" for i in range(N)]
    counts = collections.Counter(words)
    cached = ctx.parallelize(range(N), 4).map(lambda x: x * 3).cache()
    shared_shuffle = ctx.parallelize(words, 4).map(lambda w: (w, 1)).reduceByKey(operator.add, 3)
    return [
        ("collect", lambda: sorted(ctx.parallelize(range(N), 3).map(lambda x: x + 1).collect()),
         list(range(1, N + 1))),
        ("count", lambda: ctx.parallelize(range(N), 5).filter(lambda x: x % 3 == 0).count(),
         len(range(0, N, 3))),
        ("reduceByKey", lambda: sorted(ctx.parallelize(words, 4).map(lambda w: (w, 1))
                                       .reduceByKey(operator.add, 3).collect()),
         sorted(counts.items())),
        ("cached sum", lambda: cached.sum(), 3 * N * (N - 1) // 2),
        ("cached count", lambda: cached.filter(lambda x: x % 2 == 0).count(), N // 2),
        ("shared shuffle collect", lambda: sorted(shared_shuffle.collect()), sorted(counts.items())),
        ("shared shuffle join", lambda: sorted(shared_shuffle.join(shared_shuffle)
                                               .mapValues(lambda ab: ab[0] + ab[1]).collect()),
         sorted((w, 2 * c) for w, c in counts.items())),
        ("shared shuffle sum", lambda: shared_shuffle.values().sum(), N),
    ]


def _run_in_threads(ctx, rounds: int) -> dict:
    jobs = _jobs(ctx)
    assert len(jobs) == THREADS
    start = threading.Barrier(THREADS, timeout=60)
    answers: dict = collections.defaultdict(list)
    errors: list = []

    def worker(name, action):
        try:
            start.wait()
            for _ in range(rounds):
                answers[name].append(action())
                answers[name + " lastJob"].append(ctx.lastJob)
        except BaseException as exc:               # reported below, with its thread's name
            errors.append((name, exc))
    threads = [threading.Thread(target=worker, args=(name, action), daemon=True)
               for name, action, _ in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a job from a thread never returned"
    assert not errors, errors
    for name, _, expected in jobs:
        assert answers[name] == [expected] * rounds, name
    return answers


def test_eight_threads_running_actions_on_one_cluster_each_get_their_answer(sc):
    answers = _run_in_threads(sc, ROUNDS)
    # sc.lastJob, read in a thread, is that thread's last job: distinct jobs per thread.
    last_ids = [answers[name + " lastJob"][-1].job_id for name, _, _ in _jobs(sc)]
    assert len(set(last_ids)) == THREADS


def test_threads_on_an_inline_context_each_get_their_answer():
    with Context(master="inline", progress=False) as ctx:
        _run_in_threads(ctx, 1)


def test_a_failing_job_in_one_thread_does_not_disturb_another(sc):
    shared = sc.parallelize(range(100), 4).map(lambda x: (x % 5, x)).reduceByKey(operator.add)
    results, errors = {}, {}
    start = threading.Barrier(2, timeout=60)

    def good():
        start.wait()
        results["good"] = sorted(shared.collect())

    def bad():
        start.wait()
        try:
            shared.map(lambda kv: 1 // 0).collect()
        except ZeroDivisionError as exc:
            errors["bad"] = exc
    threads = [threading.Thread(target=f, daemon=True) for f in (good, bad)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert results["good"] == sorted((k, sum(x for x in range(100) if x % 5 == k)) for k in range(5))
    assert isinstance(errors.get("bad"), ZeroDivisionError)
