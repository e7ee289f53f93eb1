"""An RDD stage's task runs with the collector's young threshold at RDD_YOUNG_THRESHOLD
(`minibig.core.stages`; tests/test_pair_path.py checks the threshold), and cyclic garbage
made by the user's function is still freed while the task runs: it waits for at most that
many new containers."""

from __future__ import annotations

import gc

from minibig.core.stages import RDD_YOUNG_THRESHOLD

CYCLES = 3 * RDD_YOUNG_THRESHOLD


def _make_cycles(records):
    """Drop CYCLES lists that hold themselves (garbage only the collector frees); give the
    young collections' count and what they freed meanwhile, and the young count left."""
    before = _collections_and_collected()
    for _ in range(CYCLES):
        cycle: list = []
        cycle.append(cycle)
    after = _collections_and_collected()
    yield after[0] - before[0], after[1] - before[1], gc.get_count()[0], sum(1 for _ in records)


def _collections_and_collected() -> tuple[int, int]:
    """Collections run so far, of every generation, and the objects they freed."""
    stats = gc.get_stats()
    return sum(s["collections"] for s in stats), sum(s["collected"] for s in stats)


def test_cyclic_garbage_is_freed_while_a_task_runs(sc):
    for collections, collected, left, count in sc.parallelize(range(10), 2).mapPartitions(
            _make_cycles).collect():
        assert collections >= 2 and collected >= CYCLES - 2 * RDD_YOUNG_THRESHOLD
        assert left <= RDD_YOUNG_THRESHOLD and count == 5
