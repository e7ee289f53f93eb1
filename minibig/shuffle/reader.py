"""The reduce side of a shuffle: find each map output and fetch its segment.

A reduce task gets, in its launch message, where every map output of the
shuffles it reads lives (worker, host, block address, work dir). Outputs on
a worker of the same host are read straight from that worker's disk; others
are requested from the owning worker's block server over ZeroMQ, all at once,
so that the transfers overlap. A missing output raises `FetchFailedError`,
which makes the driver rebuild the lost map partitions from lineage.
"""

from __future__ import annotations

import pickle
import socket

from minibig.cluster import protocol as P
from minibig.cluster.security import dealer
from minibig.errors import FetchFailedError
from minibig.shuffle.blocks import read_segment

def fetch_segments(shuffle_key: str, num_maps: int, reduce_index: int, locations: dict,
                   local_read: bool = True, timeout: float = 30.0) -> list[bytes]:
    """The serialised segments of one reduce partition, one per map task."""
    here = socket.gethostname()
    segments: list = [None] * num_maps
    remote: dict[str, list[int]] = {}
    for m in range(num_maps):
        loc = locations.get(str(m))
        if loc is None:
            raise FetchFailedError(shuffle_key, m, "?", "no known location")
        if local_read and loc["host"] == here:
            data = read_segment(loc["dir"], shuffle_key, m, reduce_index)
            if data is None:
                raise FetchFailedError(shuffle_key, m, loc["worker"], "missing on disk")
            segments[m] = data
        else:
            remote.setdefault(loc["addr"], []).append(m)
    for addr, maps in remote.items():
        worker = locations[str(maps[0])]["worker"]
        for m, data in _fetch_remote(addr, shuffle_key, maps, reduce_index, worker, timeout):
            segments[m] = data
    return segments


def _fetch_remote(addr: str, shuffle_key: str, maps: list, reduce_index: int, worker: str,
                  timeout: float):
    sock = dealer(addr)
    try:
        for m in maps:
            P.send(sock, P.FETCH_BLOCK, {"shuffle": shuffle_key, "map": m, "reduce": reduce_index})
        for _ in maps:
            if not sock.poll(int(timeout * 1000)):
                raise FetchFailedError(shuffle_key, maps[0], worker, f"no answer from {addr}")
            msg = P.recv(sock)
            m = int(msg.header["map"])
            if msg.kind != P.BLOCK:
                raise FetchFailedError(shuffle_key, m, worker, "block server has no such output")
            yield m, P.blob_bytes(msg.blobs[0])
    finally:
        sock.close(0)


def read_batches(segments):
    """Unpickle non-empty segments into lists of records, one list per segment."""
    for data in segments:
        if data:
            yield pickle.loads(data)


def serve_block(work_dir: str, header: dict):
    """Answer a FETCH_BLOCK request: (kind, header, blobs)."""
    data = read_segment(work_dir, str(header["shuffle"]), int(header["map"]), int(header["reduce"]))
    reply = {"map": int(header["map"])}
    if data is None:
        return P.NO_BLOCK, reply, []
    return P.BLOCK, reply, [data]

