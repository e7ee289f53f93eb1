"""The collector's young threshold while stream tasks run (``core/gcpolicy.py``).

Raised while any holder is inside ``young_threshold``, put back as found when
the last one leaves, whichever thread leaves last; never lowered, never
turning a stopped collector (threshold 0) on. On the cluster, a stream job's
operators see the raised threshold on the workers, and the workers' next
batch tasks see the threshold they had before the job.
"""

from __future__ import annotations

import gc
import threading

import pytest

from minibig.streaming import StreamingContext
from minibig.core import gcpolicy
from minibig.core.gcpolicy import STREAM_YOUNG_THRESHOLD, young_threshold

WAIT = 30                  # seconds, generous: a bound, not a pause


@pytest.fixture
def thresholds():
    """Run with Python's default thresholds; put back whatever the test found."""
    found = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*found)


def test_a_collection_inside_the_lock_may_end_a_holder_on_the_same_thread(thresholds, monkeypatch):
    """Any allocation inside `young_threshold`'s bookkeeping may start a collection, and
    the collection may finalize a dropped generator (in a reference cycle) that held the
    threshold: its block then ends on this thread, inside the lock. That must neither
    deadlock nor leave the thresholds wrong. The collection is started exactly there by
    letting `gc.get_threshold`, as gcpolicy calls it, collect first."""
    def holder():
        with young_threshold():
            yield

    collected = []

    class CollectingGc:
        def __getattr__(self, name):
            return getattr(gc, name)

        def get_threshold(self):
            collected.append(gc.collect())
            return gc.get_threshold()

    done = threading.Event()

    def enter():
        dropped = holder()
        next(dropped)                          # holds the threshold
        cycle = [dropped]
        cycle.append(cycle)                    # only a collection can finalize it now
        del dropped, cycle
        monkeypatch.setattr(gcpolicy, "gc", CollectingGc())
        with young_threshold():
            pass
        done.set()

    thread = threading.Thread(target=enter, daemon=True)
    thread.start()
    assert done.wait(WAIT), "young_threshold deadlocked when a collection ended a holder"
    monkeypatch.undo()
    assert collected and collected[0] > 0, "nothing was collected inside: the test did not test"
    assert gc.get_threshold() == (700, 10, 10)


def test_raised_within_and_restored_after(thresholds):
    with young_threshold():
        assert gc.get_threshold() == (STREAM_YOUNG_THRESHOLD, 10, 10)
        with young_threshold(50):                     # nested, lower: no change
            assert gc.get_threshold() == (STREAM_YOUNG_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (STREAM_YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_when_the_block_raises(thresholds):
    with pytest.raises(KeyError):
        with young_threshold():
            raise KeyError("x")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_is_kept_and_a_stopped_collector_stays_stopped(thresholds):
    gc.set_threshold(STREAM_YOUNG_THRESHOLD * 3, 5, 5)
    with young_threshold():
        assert gc.get_threshold() == (STREAM_YOUNG_THRESHOLD * 3, 5, 5)
    gc.set_threshold(0, 10, 10)
    with young_threshold():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


def test_the_last_thread_out_restores_whichever_it_is(thresholds):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with young_threshold():
            first_in.set()
            assert second_in.wait(WAIT)
        first_out.set()

    def second():
        assert first_in.wait(WAIT)
        with young_threshold():
            second_in.set()
            assert first_out.wait(WAIT)
            seen["after the first left"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    assert seen["after the first left"] == (STREAM_YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def _workers_thresholds(sc) -> set:
    return set(sc.parallelize(range(8), 8).map(lambda _: gc.get_threshold()).collect())


def test_stream_tasks_raise_it_on_the_workers_and_put_it_back(sc):
    before = _workers_thresholds(sc)
    ssc = StreamingContext(sc, parallelism=2, batch_size=16)
    seen = (ssc.source(list(range(200)), timestamp=lambda e: e, parallelism=2)
               .map(lambda e: gc.get_threshold()[0]).collect())
    ssc.run()
    assert len(seen.result()) == 200
    assert min(seen.result()) >= STREAM_YOUNG_THRESHOLD
    assert _workers_thresholds(sc) == before


def test_a_block_ending_after_the_threshold_was_put_back_changes_nothing(thresholds):
    """`put_back_unheld` (a worker with no task left, after a kill that left a holder
    counted) ends every count; a block that ends later (a dropped generator finalized
    then) must not count below zero, which would keep the next holders' threshold for
    good."""
    def holder():
        with young_threshold():
            yield

    late = holder()
    next(late)                                     # a block still open
    gcpolicy._raise(STREAM_YOUNG_THRESHOLD)        # the count a kill left behind
    gcpolicy.put_back_unheld()
    assert gc.get_threshold() == (700, 10, 10)
    late.close()                                   # ends after the put-back
    with young_threshold():
        assert gc.get_threshold() == (STREAM_YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
