"""checkpoint and localCheckpoint: cutting a dataset's lineage (PySpark's semantics).

An iterative job (PageRank, k-means, 1,000 rounds of reduceByKey) grows its
lineage every round: planning walks it, and the driver keeps every round's
datasets and shuffle files alive. Checkpointing cuts it. `rdd.checkpoint()`
(after `sc.setCheckpointDir`) or `rdd.localCheckpoint()` only *marks* the
dataset, before its first action; the next action that reads it runs as
usual, and then (`after_action`):

- reliable: a second job writes every partition to
  `<checkpoint dir>/rdd-<id>/part-NNNNN` with the pickle-file committer
  (`minibig.rdd.pickled`, batches of pickles, all or nothing), recomputing
  it unless it is persisted, as Spark does (persist it first);
- local: the dataset was persisted MEMORY_AND_DISK when marked, and a job
  makes sure every partition is in the workers' block stores (partitions
  the action did not read, after `take`). Faster, but a partition lost with
  its worker cannot be recomputed: reading it fails with a clear error.

Then the dataset is *truncated*: it becomes a `CheckpointedRDD` (same
object, id, partitions and partitioner; its class changes) whose
partitions come from the files, or from the cache, and which has no
parents; every reference to its ancestors is dropped, so they, their
shuffle files and their cached blocks go (`minibig.core.cleaner`) and the
next plan starts there. State: the context's `_pending_checkpoints`, a weak
set of the marked datasets not written yet, so an action with nothing
marked costs one check.
"""

from __future__ import annotations

import os
import threading
import weakref

from minibig.core.storagelevel import StorageLevel
from minibig.rdd.base import RDD
from minibig.rdd.saving import read_pickle_file, save_as_pickle_file

# Attributes a dataset keeps once truncated; every other one (parents,
# functions, slices) goes, so nothing of the old lineage stays reachable.
_KEPT = ("ctx", "_id", "_num_partitions", "partitioner", "creation_site", "_name",
         "_storage_level", "is_cached", "is_checkpointed", "_checkpoint_kind", "_checkpoint_file",
         "_unique_keys")

_writing = threading.local()            # set while this thread writes a checkpoint


class CheckpointedRDD(RDD):
    """A dataset whose lineage was cut: partitions from checkpoint files, or the cache."""

    _checkpoint_parts: list | None = None       # reliable: one file per partition

    def compute(self, split: int, task):
        if self._checkpoint_parts is not None:
            return read_pickle_file(self._checkpoint_parts[split])
        raise RuntimeError(
            f"partition {split} of {self.describe()} was locally checkpointed and its cached "
            "copy is gone (its worker was lost): a local checkpoint cannot be recomputed; use "
            "checkpoint() with sc.setCheckpointDir() for data that must survive a lost worker")


def mark(rdd, kind: str) -> None:
    """Mark `rdd` for a reliable or local checkpoint at the end of its next action."""
    if isinstance(rdd, CheckpointedRDD):
        return
    if kind == "reliable" and checkpoint_dir(rdd.ctx) is None:
        raise RuntimeError("Checkpoint directory has not been set in the SparkContext: "
                           "call sc.setCheckpointDir(path) first")
    if kind == "local" and rdd.getStorageLevel() == StorageLevel.NONE:
        rdd.persist(StorageLevel.MEMORY_AND_DISK)        # where a local checkpoint lives
    rdd._checkpoint_kind = kind
    rdd.is_checkpointed = True                  # PySpark's attribute: marked (isCheckpointed: done)
    _pending(rdd.ctx).add(rdd)


def checkpoint_dir(ctx) -> str | None:
    """The folder set by sc.setCheckpointDir, or None."""
    return getattr(ctx, "_checkpoint_dir", None)


def _pending(ctx) -> weakref.WeakSet:
    pending = ctx.__dict__.get("_pending_checkpoints")
    if pending is None:
        pending = ctx.__dict__.setdefault("_pending_checkpoints", weakref.WeakSet())
    return pending


def after_action(rdd) -> None:
    """Write and truncate the marked datasets in `rdd`'s lineage (nearest first)."""
    pending = _pending(rdd.ctx)
    if not pending or getattr(_writing, "active", False):
        return
    dag = rdd.ctx._dag
    summary = dag.last_job                      # sc.lastJob stays the user's action
    _writing.active = True
    try:
        for node in marked_in_lineage(rdd, pending):
            pending.discard(node)
            write(node)
    finally:
        _writing.active = False
        dag._thread_last.summary = summary


def marked_in_lineage(rdd, pending) -> list:
    """Marked datasets reachable from `rdd`, not looking past one (Spark's rule)."""
    found, seen, stack = [], set(), [rdd]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        if node in pending:
            found.append(node)
            continue
        stack.extend(dep.rdd for dep in node.deps)
    return found


def write(rdd) -> None:
    """Save `rdd` as its mark says, then cut its lineage."""
    if rdd._checkpoint_kind == "reliable":
        path = os.path.join(checkpoint_dir(rdd.ctx), f"rdd-{rdd.id}")
        save_as_pickle_file(rdd, path)
        parts = sorted(f for f in os.listdir(path) if f.startswith("part-"))
        truncate(rdd, [os.path.join(path, f) for f in parts], path)
    else:
        rdd.mapPartitions(_nothing).count()          # every partition into the block stores
        truncate(rdd, None, None)


def _nothing(records):
    for _ in records:
        pass
    return iter(())


def truncate(rdd, parts: list | None, path: str | None) -> None:
    """Turn `rdd` into a CheckpointedRDD reading `parts` (None: its cached blocks)."""
    state = {k: v for k, v in vars(rdd).items() if k in _KEPT}
    state["deps"] = []
    state["_checkpoint_file"] = path
    if parts is not None:
        state["_checkpoint_parts"] = parts
    vars(rdd).clear()
    vars(rdd).update(state)
    rdd.__class__ = CheckpointedRDD
