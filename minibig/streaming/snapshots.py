"""Where a streaming task keeps its checkpoint snapshots: its worker's disk.

Policy. When a task has every part of checkpoint ``cid`` (``runtime.py``) it
pickles them once and writes them to its worker's work dir as a one-segment
shuffle output (``minibig.shuffle.blocks``): key
``<driver id>/stream-<job>-g<generation>-c<cid>-t<task>``, so any worker's
block server serves it to a task elsewhere. A task deletes its older
snapshots once a newer checkpoint completes; the driver deletes what is left
(abandoned checkpoints, those a restart came from, the last one) when the
job ends, and the workers everything of a driver that goes. The acknowledgement to the driver
carries the location (``{"worker", "host", "addr", "dir", "key", "bytes"}``).

Durability. Flink writes snapshots to a durable store; a worker's disk is
not one (the worker may go with its machine). The driver therefore keeps a
second copy of each task's blob of the last completed checkpoint, and that
copy is the fallback: a restored task reads its parts from the worker that
wrote them (its own disk when it runs there, the block server otherwise),
and only when that worker is the one that died (or the read fails) from the
copy the driver hands it. The driver is the one process whose loss ends the
job anyway, so the job survives any worker's death, the snapshot holder's
included.
"""

from __future__ import annotations

import pickle

from minibig.errors import FetchFailedError
from minibig.shuffle.blocks import drop, write_output
from minibig.shuffle.reader import FileSegment, fetch_segments

READ_TIMEOUT = 10.0        # seconds a restoring task waits for a remote snapshot


def snapshot_key(driver_id: str, job: str, gen: int, cid: int, task: int) -> str:
    """The shuffle key of task ``task``'s snapshot of checkpoint ``cid`` in generation ``gen``.

    The generation is in it: after a restart checkpoint ids are taken again
    from the restored one, and a late delete of an abandoned snapshot must
    not hit a new one."""
    return f"{driver_id}/stream-{job}-g{gen}-c{cid}-t{task}"


def write_snapshot(location: dict, key: str, parts: dict) -> tuple[dict, bytes]:
    """Pickle ``parts`` into the work dir of ``location`` (this worker): (where, the blob)."""
    blob = pickle.dumps(parts, protocol=5)
    write_output(location["dir"], key, 0, [blob])
    return {**location, "key": key, "bytes": len(blob)}, blob


def read_snapshot(stored: dict, host: str, timeout: float = READ_TIMEOUT) -> dict:
    """The parts ``write_snapshot`` stored at ``stored``: from this host's disk or its worker."""
    for segment in fetch_segments(stored["key"], 1, 0, {"0": stored}, host=host, timeout=timeout):
        return pickle.loads(_bytes_of(segment))
    raise FetchFailedError(stored["key"], 0, stored["worker"], "no snapshot")


def _bytes_of(segment) -> bytes:
    if isinstance(segment, FileSegment):
        with segment.file as f:
            f.seek(segment.start)
            return f.read(segment.end - segment.start)
    return segment


def drop_snapshot(work_dir: str, key: str) -> None:
    """Delete a snapshot this worker stored."""
    drop(work_dir, key)
