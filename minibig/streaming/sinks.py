"""Sinks that write outside the job, each record exactly once: a commit per checkpoint.

Policy (Flink's two-phase commit sink, with the driver as the coordinator).
A sink has two halves:

- a **sink operator** per parallel instance, in the tasks. It takes records
  like any operator and, when asked (``take(boundary)``), hands over what the
  current *epoch* produced (the records between two checkpoints): a
  ``collect`` or Redis sink hands the records themselves, a file sink the
  name of the temporary file it has just closed. ``boundary`` is True at a
  checkpoint barrier and at the end of the input; otherwise an operator may
  hand over early what it holds in memory (``RESULTS_FLUSH`` records).
- a **committer** in the driver. ``open()`` before the job; ``commit(epoch,
  values)`` once the checkpoint that ends ``epoch`` has completed (every
  task acknowledged it), so what is committed is covered by a snapshot and
  is never produced again; ``discard()`` after a lost task, before the job
  restarts from its last completed checkpoint (what was handed over for
  later epochs is dropped with it: the restored job makes it again);
  ``finish()`` when every source has ended and everything is committed.

The file sink's tasks write ``<path>/_temporary/part-<task>-<uuid>`` and
the driver renames committed files to ``<path>/part-<task>-<epoch>`` (the
output committer of ``minibig.core.output``: the driver must see the
workers' filesystem, as for ``saveAsTextFile``); ``finish`` removes
``_temporary`` and writes ``_SUCCESS``. The Redis sink's driver writes an
epoch's records with ``XADD`` in one ``MULTI``/``EXEC`` transaction: an
epoch is in the stream entirely or not at all, and it is committed once.
Why in the driver and not in the tasks: entry ids are made by the server, so
a task that wrote and then died could not tell which of its entries a
restart would write again; with one committer per job and epochs committed
only after their checkpoint, there is nothing to deduplicate. The price is
that the sink's records travel through the driver.
"""

from __future__ import annotations

import os
import uuid

from minibig.core.output import TEMPORARY, prepare_output_dir, remove_tree
from minibig.streaming.operators import CollectOperator, SinkOperator

SUCCESS = "_SUCCESS"


class Sink:
    """What ``DataStream.sink_to`` takes: makes the sink's operators and its committer."""

    def operator(self, name: str) -> SinkOperator:
        """The operator of one parallel instance (runs in a task)."""
        raise NotImplementedError

    def committer(self) -> "Committer":
        """The driver's half."""
        raise NotImplementedError


class Committer:
    """The driver's half of a sink (see the module docstring)."""

    def open(self) -> None:
        """Before the job starts."""

    def commit(self, epoch: int, values: list) -> None:
        """The checkpoint ending ``epoch`` completed: make ``values`` visible."""
        raise NotImplementedError

    def discard(self) -> None:
        """Drop what uncommitted epochs left behind (the job restarts from its last checkpoint)."""

    def finish(self) -> None:
        """Every source ended and everything is committed."""


class CollectCommitter(Committer):
    """``collect()``: committed records kept in the driver for ``result()``."""

    def __init__(self):
        self.values: list = []

    def commit(self, epoch, values):
        self.values.extend(values)


# -- files ----------------------------------------------------------------------------


class FileSink(Sink):
    """Text files under the folder ``path``: one ``str(record)`` per line (as ``saveAsTextFile``).

    Each task writes its own part files, one per checkpoint interval that
    brought it records, named ``part-<task>-<epoch>``; they appear only once
    their checkpoint completes, and ``_SUCCESS`` when a finite stream ends.
    The folder must not exist yet.
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))

    def operator(self, name):
        return FileSinkOperator(name, self.path)

    def committer(self):
        return FileCommitter(self.path)


class FileSinkOperator(SinkOperator):
    """Appends lines to this instance's temporary file of the current epoch."""

    def __init__(self, name: str, path: str):
        super().__init__(name)
        self.folder = os.path.join(path, TEMPORARY)
        self.file = None
        self.temporary = None

    def process_batch(self, items, input_index=0):
        lines = [text_line(item[1]) for item in items if type(item) is tuple]
        if lines:
            if self.file is None:
                self.temporary = f"part-{self.ctx.index:05d}-{uuid.uuid4().hex}"
                self.file = open(os.path.join(self.folder, self.temporary), "wb")
            self.file.writelines(lines)
            self.counters["records_in"] += len(lines)
        return {}

    def take(self, boundary):
        if not boundary or self.file is None:
            return []
        # The file must be on disk before the checkpoint covering it can complete.
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        self.file = None
        return [(self.ctx.index, self.temporary)]

    def close(self):
        if self.file is not None:          # an aborted epoch: the driver sweeps the file
            self.file.close()
            self.file = None


class FileCommitter(Committer):
    """Renames an epoch's temporary files into place (see the module docstring)."""

    def __init__(self, path: str):
        self.path = path
        self.temporary = os.path.join(path, TEMPORARY)

    def open(self):
        prepare_output_dir(self.path)

    def commit(self, epoch, values):
        for index, name in values:
            os.replace(os.path.join(self.temporary, name), os.path.join(self.path, f"part-{index:05d}-{epoch:06d}"))

    def discard(self):
        for name in os.listdir(self.temporary):
            os.remove(os.path.join(self.temporary, name))

    def finish(self):
        remove_tree(self.temporary)
        with open(os.path.join(self.path, SUCCESS), "wb"):
            pass


def text_line(record) -> bytes:
    """A record's line, as ``saveAsTextFile`` writes it: bytes as they are, else ``str`` in UTF-8."""
    if isinstance(record, (bytes, bytearray)):
        return bytes(record) + b"\n"
    return f"{record}\n".encode("utf-8", "surrogateescape")


def read_committed(path) -> list[str]:
    """Every committed line under a ``FileSink`` folder (part files in name order)."""
    lines = []
    for name in sorted(os.listdir(path)):
        if name.startswith("part-"):
            with open(os.path.join(path, name), encoding="utf-8") as f:
                lines.extend(f.read().splitlines())
    return lines


# -- Redis Streams --------------------------------------------------------------------


class RedisStreamSink(Sink):
    """``XADD`` each record to the Redis stream ``stream``, an epoch per ``MULTI``/``EXEC``.

    A record that is a dict becomes the entry's fields (values as ``str``);
    anything else becomes ``{field: str(record)}``. ``url`` as
    ``redis.Redis.from_url`` takes it (``redis://host:port/db``).
    """

    def __init__(self, url: str, stream: str, field: str = "value"):
        self.url, self.stream, self.field = url, stream, field

    def operator(self, name):
        return RecordSinkOperator(name)

    def committer(self):
        return RedisCommitter(self)

    def fields(self, record) -> dict:
        """The entry's fields for ``record``."""
        if isinstance(record, dict):
            return {str(k): _redis_value(v) for k, v in record.items()}
        return {self.field: _redis_value(record)}


class RecordSinkOperator(CollectOperator):
    """Hands its records to the driver's committer (the Redis sink's tasks)."""


class RedisCommitter(Committer):
    """Writes each committed epoch in one transaction."""

    def __init__(self, sink: RedisStreamSink):
        self.sink = sink
        self.client = None

    def open(self):
        self.client = redis_client(self.sink.url)

    def commit(self, epoch, values):
        if not values:
            return
        with self.client.pipeline(transaction=True) as pipe:
            for record in values:
                pipe.xadd(self.sink.stream, self.sink.fields(record))
            pipe.execute()

    def finish(self):
        self.client.close()


def _redis_value(value):
    return value if isinstance(value, (bytes, str, int, float)) else str(value)


def redis_client(url: str):
    """A ``redis.Redis`` for ``url``; a clear error when the client is not installed."""
    try:
        import redis          # optional (minibig[redis]): only Redis sources and sinks need it
    except ImportError as exc:
        raise ImportError("Redis Streams sources and sinks need the redis client: "
                          "pip install 'minibig[redis]' (or pip install redis)") from exc
    return redis.Redis.from_url(url)
