"""Where records come from: each source reads raw records and can rewind.

The interface a runtime drives (one object per parallel source instance):

    src.split(index, parallelism) -> Source   this instance's share (default: only index 0 reads)
    src.open(clock)                           before the first poll
    src.poll(max_records) -> list             what is there now ([] : nothing yet)
    src.finished -> bool                      a finite source has nothing left
    src.offset() -> picklable                 the position after the last record polled
    src.seek(offset)                          resume at a checkpointed offset()
    src.commit(offset)                        a checkpoint holding offset() completed
    src.close()

A checkpoint stores ``offset()`` taken at the barrier; recovery calls
``seek`` on a fresh instance and the same records follow again, so a finite
or replayable source gives the same answer every time. The socket source can
only replay what it still holds in memory since the last ``commit``.
"""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path


class Source:
    """Base of the sources (see the module docstring for the protocol)."""

    finished = False

    def split(self, index: int, parallelism: int) -> "Source":
        """A fresh copy for instance ``index``; by default instance 0 reads it all."""
        return copy.deepcopy(self) if index == 0 else EmptySource()

    def open(self, clock) -> None:
        """Start reading; ``clock`` is the runtime's processing-time clock."""
        self.clock = clock

    def poll(self, max_records: int) -> list:
        """Up to ``max_records`` raw records available now."""
        raise NotImplementedError

    def offset(self):
        """Where reading stands, as plain data."""
        raise NotImplementedError

    def seek(self, offset) -> None:
        """Resume reading at ``offset`` (a value ``offset()`` returned)."""
        raise NotImplementedError

    def commit(self, offset) -> None:
        """A checkpoint at ``offset`` completed: nothing before it will be replayed."""

    def close(self) -> None:
        """Release files and sockets."""


class EmptySource(Source):
    """The share of a parallel instance that has nothing to read."""

    finished = True

    def poll(self, max_records):
        return []

    def offset(self):
        return 0

    def seek(self, offset):
        pass


class IterableSource(Source):
    """A finite in-memory stream; the records are copied to a list when the job is built.

    >>> src = IterableSource("abc"); src.open(None)
    >>> src.poll(2), src.offset(), src.finished
    (['a', 'b'], 2, False)
    >>> src.poll(5), src.finished
    (['c'], True)
    """

    def __init__(self, records):
        self.records = list(records)
        self.position = 0

    def split(self, index, parallelism):
        if index != 0:
            return EmptySource()
        fresh = IterableSource(())
        fresh.records = self.records          # shared, never changed: only positions move
        return fresh

    @property
    def finished(self):
        return self.position >= len(self.records)

    def poll(self, max_records):
        batch = self.records[self.position:self.position + max_records]
        self.position += len(batch)
        return batch

    def offset(self):
        return self.position

    def seek(self, offset):
        self.position = offset


_GOLDEN = 0x9E3779B97F4A7C15        # 2**64 / golden ratio: Fibonacci hashing
_MASK64 = (1 << 64) - 1


class GeneratorSource(Source):
    """Seeded synthetic events for benchmarks: record ``i`` is ``(timestamp, key, 1)``.

    Record ``i`` has timestamp ``i * step`` minus a seeded jitter in ``[0,
    disorder]`` (out of order by at most ``disorder``) and key ``"k<n>"``,
    ``n < keys``. With ``rate`` (records/s
    of processing time) a poll returns only what is due by the clock; without
    it, as fast as asked. Records depend only on ``(seed, i)``, so ``seek(i)``
    replays exactly; parallel instances take every ``parallelism``-th record.

    >>> src = GeneratorSource(count=3, keys=2, seed=1); src.open(None)
    >>> [r[0] for r in src.poll(10)]
    [0, 1, 2]
    """

    def __init__(self, count=None, keys=100, step=1, disorder=0, seed=0, rate=None,
                 index=0, parallelism=1):
        self.count, self.keys, self.step, self.disorder = count, keys, step, disorder
        self.seed, self.rate = seed, rate
        self.index, self.parallelism = index, parallelism
        self.position = index          # the next record number this instance makes
        self.started = self.last_now = None
        self.paced_from = index
        self._names = None

    def split(self, index, parallelism):
        return GeneratorSource(self.count, self.keys, self.step, self.disorder, self.seed,
                               None if self.rate is None else self.rate / parallelism,
                               index, parallelism)

    def open(self, clock):
        super().open(clock)
        self.started = self.last_now = clock() if (clock is not None and self.rate) else None
        self.paced_from = self.position

    @property
    def finished(self):
        return self.count is not None and self.position >= self.count

    def poll(self, max_records):
        limit = self.count if self.count is not None else float("inf")
        if self.started is not None:
            now = self.clock()
            if now < self.last_now:          # the wall clock stepped back (NTP): pace on from here
                self.started -= self.last_now - now
            self.last_now = now
            emitted = (self.position - self.paced_from) // self.parallelism
            due = int((now - self.started) * self.rate) - emitted
            max_records = min(max_records, max(due, 0))
        end = min(limit, self.position + max(max_records, 0) * self.parallelism)
        batch = self._records(self.position, end) if self.position < end else []
        self.position += len(batch) * self.parallelism
        return batch

    def _records(self, start, end):
        """Records ``start, start + parallelism, ...`` below ``end``, each from ``(seed, i)`` alone.

        A multiplicative (Fibonacci) hash of ``i`` and the seed: its top 32 bits
        pick the key, lower ones the jitter; an instance computes only its own
        records, and a split stream is the whole one dealt out."""
        keys, step, every = self.keys, self.step, self.parallelism
        spread = self.disorder + 1 if self.disorder else 1
        salt = (self.seed * 0x632BE59BD9B4E019 + 0x2545F4914F6CDD1D) & _MASK64
        if keys <= 1 << 16:
            if self._names is None:
                self._names = [f"k{n}" for n in range(keys)]
            names = self._names
            return [(i * step - ((h := ((i + salt) * _GOLDEN) & _MASK64) >> 8 & 0xFFFFFF) % spread,
                     names[(h >> 32) % keys], 1) for i in range(start, end, every)]
        return [(i * step - ((h := ((i + salt) * _GOLDEN) & _MASK64) >> 8 & 0xFFFFFF) % spread,
                 f"k{(h >> 32) % keys}", 1) for i in range(start, end, every)]

    def offset(self):
        return self.position

    def seek(self, offset):
        """Resume at ``offset``; a paced source's rate counts from here (a restore's records
        before it are not owed again)."""
        self.position = self.paced_from = offset
        if self.started is not None:
            self.started = self.last_now = self.clock()


class TailFileSource(Source):
    """Lines appended to a file (``tail -f``); offset = bytes of whole lines read.

    A line is only delivered once its newline has been written. ``bounded``
    makes the source finish at the end of the file instead of waiting.
    """

    def __init__(self, path, bounded=False, encoding="utf-8"):
        self.path, self.bounded, self.encoding = str(path), bounded, encoding
        self.position = 0
        self.finished = False
        self._file = None

    def poll(self, max_records):
        if self._file is None:
            if not os.path.exists(self.path):
                return []
            self._file = open(self.path, "rb")
        self._file.seek(self.position)
        lines = []
        while len(lines) < max_records:
            line = self._file.readline()
            if not line.endswith(b"\n"):
                if self.bounded and not line:
                    self.finished = True
                break
            self.position += len(line)
            lines.append(line[:-1].decode(self.encoding))
        return lines

    def offset(self):
        return self.position

    def seek(self, offset):
        self.position = offset
        self.finished = False

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class DirectorySource(Source):
    """Lines of the files in a directory, in name order; new files are picked up.

    Offset: ``(files_done, current_file, byte_position)``. A file is read once
    it appears (write it elsewhere and rename it in, so no half file is seen).
    ``bounded`` finishes once every file present at the first poll is read.
    """

    def __init__(self, path, pattern="*", bounded=False, encoding="utf-8"):
        self.path, self.pattern, self.bounded, self.encoding = str(path), pattern, bounded, encoding
        self.done: list[str] = []
        self.current: TailFileSource | None = None
        self.finished = False
        self._bound: set | None = None

    def poll(self, max_records):
        lines: list = []
        while len(lines) < max_records and not self.finished:
            if self.current is None and not self._next_file():
                break
            lines.extend(self.current.poll(max_records - len(lines)))
            if self.current.finished:
                self.done.append(Path(self.current.path).name)
                self.current.close()
                self.current = None
        return lines

    def _next_file(self) -> bool:
        names = sorted(p.name for p in Path(self.path).glob(self.pattern) if p.is_file())
        if self._bound is None and self.bounded:
            self._bound = set(names)
        done = set(self.done)
        waiting = [n for n in names if n not in done and (self._bound is None or n in self._bound)]
        if not waiting:
            self.finished = self.bounded
            return False
        self.current = TailFileSource(Path(self.path) / waiting[0], bounded=True, encoding=self.encoding)
        return True

    def offset(self):
        current = None if self.current is None else (Path(self.current.path).name, self.current.position)
        return (tuple(self.done), current)

    def seek(self, offset):
        done, current = offset
        self.done = list(done)
        self.finished = False
        if self.current is not None:
            self.current.close()
        self.current = None
        if current is not None:
            self.current = TailFileSource(Path(self.path) / current[0], bounded=True, encoding=self.encoding)
            self.current.seek(current[1])


class SocketSource(Source):
    """Lines from a TCP server (``nc -lk PORT``); offset = lines delivered.

    A socket cannot be re-read, so the source keeps the lines delivered since
    the last ``commit`` and ``seek`` replays from them; a lost worker loses
    them (this source is at-least-once only within one process). The source
    finishes when the server closes the connection.
    """

    def __init__(self, host, port, encoding="utf-8"):
        self.host, self.port, self.encoding = host, port, encoding
        self.delivered = 0            # lines handed out so far
        self.committed = 0            # lines before buffer[0]
        self.buffer: list[str] = []   # lines since the last commit, for replay
        self.replay_at = None
        self.finished = False
        self._socket = None
        self._partial = b""

    def open(self, clock):
        super().open(clock)
        self._socket = socket.create_connection((self.host, self.port))
        self._socket.setblocking(False)

    def poll(self, max_records):
        if self.replay_at is not None:
            start = self.replay_at - self.committed
            lines = self.buffer[start:start + max_records]
            self.replay_at += len(lines)
            if self.replay_at >= self.committed + len(self.buffer):
                self.replay_at = None
            return lines
        lines = self._read_lines(max_records)
        self.buffer.extend(lines)
        self.delivered += len(lines)
        return lines

    def _read_lines(self, max_records):
        closed = False
        try:
            chunk = self._socket.recv(65536)
            closed = chunk == b""
        except BlockingIOError:
            chunk = b""
        data = self._partial + chunk
        *whole, self._partial = data.split(b"\n")
        if closed:
            self.finished = True
            if self._partial:              # a last line without its newline
                whole.append(self._partial)
                self._partial = b""
        if len(whole) > max_records:       # keep the rest for the next poll
            self._partial = b"\n".join(whole[max_records:] + [self._partial])
            whole = whole[:max_records]
            self.finished = False
        return [line.decode(self.encoding).rstrip("\r") for line in whole]

    def offset(self):
        return self.delivered if self.replay_at is None else self.replay_at

    def seek(self, offset):
        if offset < self.committed:
            raise ValueError(f"socket source: lines before {self.committed} are no longer held")
        self.replay_at = offset if offset < self.committed + len(self.buffer) else None

    def commit(self, offset):
        drop = max(0, offset - self.committed)
        del self.buffer[:drop]
        self.committed += drop

    def close(self):
        if self._socket is not None:
            self._socket.close()
            self._socket = None
