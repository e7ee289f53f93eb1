"""Where tasks would like to run, and which workers to keep away from.

`task_prefs` turns what the master knows into each task's preferences:

- a persisted partition the task reads: the workers holding it, and their
  hosts (PROCESS_LOCAL / NODE_LOCAL); cached data wins over everything else,
  since missing it means computing it again;
- otherwise, a shuffle it reads: the host of the worker that wrote at least
  a fifth of that reducer's input (Spark's REDUCER_PREF_LOCS_FRACTION). A
  host, not the worker: any worker there reads the blocks straight from disk,
  so a busy writer must not hold its reducers back;
- an input file split: the hosts the driver names (`input_hosts`).

`Exclusions` keeps a worker on which tasks keep failing out of scheduling for
a while (Spark's excludeOnFailure), never the last usable worker.
"""

from __future__ import annotations

from collections import defaultdict, deque

from minibig.cluster.taskset import Prefs

REDUCER_PREF_FRACTION = 0.2


def task_prefs(partitions: list, header: dict, blocks: dict, workers: dict,
               map_outputs: dict, map_sizes: dict) -> dict:
    """partition -> Prefs for a submitted stage."""
    cache_keys = header.get("cache_keys", {})
    input_hosts = header.get("input_hosts", {})
    prefs = {}
    for p in partitions:
        pref = Prefs()
        for key in cache_keys.get(str(p), []):
            pref.workers |= blocks.get(key, set())
        pref.workers &= set(workers)
        pref.hosts = {workers[w].host for w in pref.workers} | set(input_hosts.get(str(p), []))
        if not pref.workers:
            for shuffle in header.get("reads_shuffles", []):
                writer = _main_writer(p, map_outputs.get(shuffle, {}), map_sizes.get(shuffle, {}))
                if writer is not None and writer in workers:
                    pref.hosts.add(workers[writer].host)
        if pref.workers or pref.hosts:
            prefs[p] = pref
    return prefs


def _main_writer(reducer: int, outputs: dict, sizes: dict):
    """The worker that wrote at least REDUCER_PREF_FRACTION of a reducer's input."""
    per_worker: dict[str, int] = defaultdict(int)
    total = 0
    for m, worker in outputs.items():
        size = sizes.get(m, [])
        if reducer < len(size):
            per_worker[worker] += size[reducer]
            total += size[reducer]
    if total == 0:
        return None
    worker, size = max(per_worker.items(), key=lambda kv: kv[1])
    return worker if size >= REDUCER_PREF_FRACTION * total else None


class Exclusions:
    """Workers excluded for a while after repeated task failures.

    A task that fails its last attempt failed for what it does (a user's exception
    raised wherever it runs), not for where it ran: `forgive` takes its failures back,
    so a failed job does not leave healthy workers excluded for the next one.
    """

    def __init__(self, max_failures: int = 3, window: float = 60.0, exclude_for: float = 30.0):
        self.max_failures = max_failures
        self.window = window
        self.exclude_for = exclude_for
        self.failures: dict[str, deque] = defaultdict(deque)    # worker -> (time, task) of failures
        self.until: dict[str, float] = {}
        self.causes: dict[str, list] = {}                        # worker -> tasks that excluded it

    def record_failure(self, worker: str, now: float, task=None) -> None:
        """Count a failed attempt of `task` on `worker`; exclude it once failures pile up."""
        times = self.failures[worker]
        times.append((now, task))
        while times and times[0][0] < now - self.window:
            times.popleft()
        if len(times) >= self.max_failures:
            self.until[worker] = now + self.exclude_for
            self.causes[worker] = [t for _, t in times]
            times.clear()

    def forgive(self, task) -> None:
        """Take back `task`'s failures (it failed its last attempt): an exclusion stays only
        if the worker's other failures would have excluded it."""
        for times in self.failures.values():
            kept = [entry for entry in times if entry[1] != task]
            times.clear()
            times.extend(kept)
        for worker, causes in list(self.causes.items()):
            if task in causes:
                causes[:] = [t for t in causes if t != task]
                if len(causes) < self.max_failures:
                    self.until.pop(worker, None)
                    del self.causes[worker]

    def excluded(self, now: float) -> list[str]:
        """Workers excluded right now."""
        return sorted(w for w, t in self.until.items() if t > now)

    def usable(self, workers: list, now: float) -> list:
        """The workers to schedule on: all but the excluded, unless none would be left."""
        kept = [w for w in workers if self.until.get(w, 0) <= now]
        return kept or list(workers)
