"""Redis Streams as a replayable source: ``XREAD`` from the last entry id read.

Policy. A Redis stream keeps its entries, each with an id that only grows,
so a reader that remembers the last id it delivered can read on from there
after any failure: the offset is ``{stream: last id}``, ``seek`` puts it
back and the same entries follow (no consumer group: the checkpoint, not
the server, holds the position, as Flink's Kafka source keeps its offsets
in its snapshots).

Parallel instances split the *streams*: instance ``i`` of ``P`` reads
``streams[i::P]`` (Kafka's partitions to source instances). One stream is
read by one instance, so its order is kept; more instances than streams
leaves some idle (give them ``idle_timeout``, or as many streams).

A record is the entry's fields as a ``dict`` of ``str`` (``decode=True``,
UTF-8) or of ``bytes``. Unbounded by default; ``bounded=True`` ends the
source at the entries present when it first reads (the last id of each
stream then is kept in the offset, so a restored run stops at the same
place).
"""

from __future__ import annotations

from minibig.streaming.sinks import redis_client
from minibig.streaming.sources import EmptySource, Source

BEGINNING = "0-0"


class RedisStreamSource(Source):
    """Entries of the Redis streams ``streams`` (a name or a list) at ``url``, from ``start`` on.

    ``start`` is the id after which reading begins (``"0-0"``: every entry).
    """

    def __init__(self, url: str, streams, start: str = BEGINNING, bounded: bool = False, decode: bool = True):
        self.url = url
        self.streams = [streams] if isinstance(streams, str) else list(streams)
        self.start, self.bounded, self.decode = start, bounded, decode
        self.last = {s: start for s in self.streams}     # the last id delivered per stream
        self.bound = None                                # {stream: last id to read} when bounded
        self.client = None

    def split(self, index, parallelism):
        mine = self.streams[index::parallelism]
        if not mine:
            return EmptySource()
        return RedisStreamSource(self.url, mine, self.start, self.bounded, self.decode)

    def open(self, clock):
        super().open(clock)
        self.client = redis_client(self.url)

    @property
    def finished(self):
        return self.bound is not None and not self._open_streams()

    def _open_streams(self) -> list[str]:
        if self.bound is None:
            return self.streams
        return [s for s in self.streams if self.bound[s] is not None and _id(self.last[s]) < _id(self.bound[s])]

    def poll(self, max_records):
        if self.bounded and self.bound is None:
            self.bound = {s: self._last_entry(s) for s in self.streams}
        streams = self._open_streams()
        if not streams:
            return []
        reply = self.client.xread({s: self.last[s] for s in streams}, count=max_records)
        records = []
        for name, entries in reply:
            stream = name.decode() if isinstance(name, bytes) else name
            for entry_id, fields in entries:
                entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                if self.bound is not None and _id(entry_id) > _id(self.bound[stream]):
                    break
                self.last[stream] = entry_id
                records.append(self._record(fields))
        return records

    def _last_entry(self, stream: str):
        newest = self.client.xrevrange(stream, count=1)
        if not newest:
            return None
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    def _record(self, fields: dict) -> dict:
        if not self.decode:
            return dict(fields)
        return {k.decode(): v.decode() for k, v in fields.items()}

    def offset(self):
        return {"last": dict(self.last), "bound": None if self.bound is None else dict(self.bound)}

    def seek(self, offset):
        self.last = dict(offset["last"])
        self.bound = None if offset["bound"] is None else dict(offset["bound"])

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None


def _id(entry_id: str) -> tuple[int, int]:
    """An entry id as a comparable pair (``"1700000000000-3"`` -> ``(1700000000000, 3)``)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
