"""The reduce side of a shuffle: find each map output and stream its segment.

A reduce task gets, in its launch message, where every map output of the
shuffles it reads lives (worker, host, block address, work dir).
`fetch_segments` yields the task's segments one by one, in map order, so
that a reducer holds one segment's batch at a time, never the whole shuffle:

* an output on a worker of the same host is read straight from that
  worker's disk: the segment is an open file range (`FileSegment`). "Same
  host" is the reducer's host id (`host`, what its worker registered, see
  `cluster/worker.py: host_identity`) equal to the writer's, never the
  machine's name, which cloned machines, containers and network namespaces
  share while their disks are apart;
* other outputs are requested from the owning worker's block server over
  ZeroMQ, at most `WINDOW` requests in flight so that transfers overlap
  with the reducer's work. A request asks for at most `chunk` bytes: a
  segment that fits comes back as bytes; a bigger one (Spark's "fetch to
  disk" of large blocks) is fetched chunk after chunk into a file of the
  task's spill folder and read from there, then deleted.

A segment is a sequence of pickled batches; `read_batches` loads them until
the segment ends. A missing output raises `FetchFailedError`, which makes
the driver rebuild the lost map partitions from lineage.
"""

from __future__ import annotations

import io
import os
import pickle
import socket
import tempfile
import uuid
from collections import deque
from dataclasses import dataclass

import zmq

from minibig.net import protocol as P
from minibig.net.security import dealer
from minibig.errors import FetchFailedError
from minibig.shuffle.blocks import read_segment_range, segment_bounds
from minibig.shuffle.spill import count_spilled
from minibig.shuffle.writer import ArrowColumns, Columns, StrPairs

WINDOW = 4                    # remote requests in flight
CHUNK = 4 << 20               # biggest reply of a block server


@dataclass
class FileSegment:
    """A segment read from a file: [start, end) of `file` (deleted after reading if `temp`)."""

    file: object
    start: int
    end: int
    temp: bool = False


def fetch_segments(shuffle_key: str, num_maps: int, reduce_index: int, locations: dict,
                   local_read: bool = True, timeout: float = 30.0, chunk: int = CHUNK,
                   spill_dir=None, host: str = ""):
    """The segments of one reduce partition, one per map task, in map order (a generator).

    `spill_dir()` gives a folder for big remote segments (a temporary folder if None);
    `host` is the reducer's host id ("": this machine's name, as the inline backend says).
    """
    here = host or socket.gethostname()
    remote = []
    for m in range(num_maps):
        loc = locations.get(str(m))
        if loc is None:
            raise FetchFailedError(shuffle_key, m, "?", "no known location")
        if not (local_read and loc["host"] == here):
            remote.append(m)
    fetcher = _RemoteFetcher(shuffle_key, reduce_index, locations, remote, timeout, chunk,
                             spill_dir) if remote else None
    try:
        for m in range(num_maps):
            if fetcher is not None and m in fetcher.wanted:
                yield fetcher.get(m)
            else:
                yield _local_segment(shuffle_key, m, reduce_index, locations[str(m)])
    finally:
        if fetcher is not None:
            fetcher.close()


def _local_segment(shuffle_key: str, m: int, reduce_index: int, loc: dict) -> FileSegment | bytes:
    bounds = segment_bounds(loc["dir"], shuffle_key, m, reduce_index)
    if bounds is None:
        raise FetchFailedError(shuffle_key, m, loc["worker"], "missing on disk")
    path, start, end = bounds
    if start == end:
        return b""
    try:
        return FileSegment(open(path, "rb"), start, end)
    except FileNotFoundError:
        raise FetchFailedError(shuffle_key, m, loc["worker"], "missing on disk") from None


class _RemoteFetcher:
    """Requests of remote segments: a window of them in flight, big ones in chunks.

    State: `pending` maps not requested yet (map order), `partial` segments
    being fetched to a file (map -> [file, path, bytes got]), `done` segments
    fetched and not yet consumed, `inflight` map -> address of its request.
    """

    def __init__(self, shuffle_key, reduce_index, locations, maps, timeout, chunk, spill_dir):
        self.shuffle_key, self.reduce_index, self.locations = shuffle_key, reduce_index, locations
        self.wanted = set(maps)
        self.pending = deque(maps)
        self.timeout, self.chunk, self.spill_dir = timeout, max(1, int(chunk)), spill_dir
        self.sockets: dict[str, zmq.Socket] = {}
        self.poller = zmq.Poller()
        self.inflight: dict[int, str] = {}
        self.partial: dict[int, list] = {}
        self.done: dict[int, object] = {}

    def get(self, m: int):
        while m not in self.done:
            while len(self.inflight) < WINDOW and self.pending:
                nxt = self.pending.popleft()
                self._request(nxt, 0)
            self._receive()
        return self.done.pop(m)

    def _request(self, m: int, offset: int) -> None:
        addr = self.locations[str(m)]["addr"]
        sock = self.sockets.get(addr)
        if sock is None:
            sock = self.sockets[addr] = dealer(addr)
            self.poller.register(sock, zmq.POLLIN)
        P.send(sock, P.FETCH_BLOCK, {"shuffle": self.shuffle_key, "map": m,
                                     "reduce": self.reduce_index, "offset": offset,
                                     "length": self.chunk})
        self.inflight[m] = addr

    def _receive(self) -> None:
        ready = dict(self.poller.poll(int(self.timeout * 1000)))
        if not ready:
            m = min(self.inflight)
            raise FetchFailedError(self.shuffle_key, m, self.locations[str(m)]["worker"],
                                   f"no answer from {self.inflight[m]}")
        for sock in ready:
            msg = P.recv(sock)
            m = int(msg.header["map"])
            worker = self.locations[str(m)]["worker"]
            if msg.kind != P.BLOCK:
                raise FetchFailedError(self.shuffle_key, m, worker, "block server has no such output")
            data = P.blob_bytes(msg.blobs[0])
            total, offset = int(msg.header.get("total", len(data))), int(msg.header.get("offset", 0))
            if offset == 0 and len(data) == total:
                self.inflight.pop(m, None)
                self.done[m] = data
                continue
            if m not in self.partial:
                folder = self.spill_dir() if self.spill_dir else _temp_dir()
                path = os.path.join(folder, f"fetch-{m}-{uuid.uuid4().hex[:8]}")
                self.partial[m] = [open(path, "w+b"), path, 0]
            state = self.partial[m]
            if offset != state[2]:
                raise FetchFailedError(self.shuffle_key, m, worker, "chunks out of order")
            state[0].write(data)
            state[2] += len(data)
            if state[2] >= total:
                self.inflight.pop(m, None)
                del self.partial[m]
                state[0].flush()
                self.done[m] = FileSegment(state[0], 0, total, temp=True)
                count_spilled(os.path.dirname(state[1]), total)
                os.unlink(state[1])              # the open file stays readable until closed
            else:
                self._request(m, state[2])

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close(0)
        for state in self.partial.values():
            state[0].close()
            try:
                os.unlink(state[1])
            except FileNotFoundError:
                pass
        for segment in self.done.values():
            if isinstance(segment, FileSegment):
                segment.file.close()


def _temp_dir() -> str:
    return tempfile.mkdtemp(prefix="minibig-fetch-")


def read_batches(segments, frames: bool = False):
    """The batches (lists of records) of each segment, in order; a segment holds
    one or more pickles back to back.

    A pickled `bytes` is an Arrow frame (`minibig.shuffle.arrowpath`), a
    `Columns` (or `ArrowColumns`) a combine's keys and values in two columns
    (`minibig.shuffle.writer`):
    each is turned into a list of records, or given as it is if `frames`.
    """
    for segment in segments:
        if isinstance(segment, FileSegment):
            f, end = segment.file, segment.end
            try:
                f.seek(segment.start)
                while f.tell() < end:
                    yield _batch(pickle.load(f), frames)
            finally:
                f.close()
        elif segment:
            f = io.BytesIO(segment)
            end = len(segment)
            while f.tell() < end:
                yield _batch(pickle.load(f), frames)


def _batch(loaded, frames: bool):
    if frames or type(loaded) is list:
        return loaded
    if type(loaded) is Columns or type(loaded) is ArrowColumns:
        return loaded.records()
    if type(loaded) is StrPairs:
        return loaded.records
    if type(loaded) is bytes:
        from minibig.shuffle.arrowpath import frame_records   # numpy: only for Arrow frames
        return frame_records(loaded)
    return loaded


def serve_block(work_dir: str, header: dict):
    """Answer a FETCH_BLOCK request: (kind, header, blobs).

    The request may name a byte range (offset, length) of the segment; the
    reply says where its bytes start and how big the whole segment is.
    """
    length = header.get("length")
    found = read_segment_range(work_dir, str(header["shuffle"]), int(header["map"]),
                               int(header["reduce"]), int(header.get("offset", 0)),
                               None if length is None else int(length))
    reply = {"map": int(header["map"])}
    if found is None:
        return P.NO_BLOCK, reply, []
    data, total = found
    reply.update(offset=int(header.get("offset", 0)), total=total)
    return P.BLOCK, reply, [data]
