"""Loading an edge file on the workers: the driver never holds the graph.

    data = WorkerGraph(sc, path, directed, num_partitions, partitioner)
    data.key, data.num_vertices, data.num_edges, data.weighted, data.timings, data.phases

The file is cut into byte ranges, one per partition (a `.gz` file is one
range, read whole by one worker); every worker must see the path (made
absolute on the driver).

One stage, when every partition can have a task slot at once (`session.usable`)
and the file has a range per partition: `ExchangeCode`, a session of its own
(`session.py`: the driver hands out the tasks' addresses, the tasks send each
other segments). Task q reads range q (as `ReadCode` below, while the driver
hears every task's hello), sends every other task its piece of the range
(`pieces_of`: the range's distinct ids and owners, and the edges that task
owns), and hears theirs. The sorted union of the ids is then cut into one
share per task by splitters every task picks alike from the same ids
(`index_shared`); task q sorts only its share (Arrow's dense rank) and the
tasks swap their shares and ranks, which gives every task the same
`VertexIndex` and each range's dense indices with no task sorting every id
(the two-stage build below sorted every id on every worker: 12.5 of its
~25 ms on Debian). Then each task builds its partition as `BuildCode` does.
No shuffle file and no second round trip through the master. When some range
cannot be read or routed in its own kind (a malformed line, ranges that
disagree on the kind, a partitioner that fails on the kind), every task says
so and the driver loads with the stages below, which report it as before;
when the tasks do not all start in time (`SessionUnavailable`), the stages
load too.
`data.phases` tells where a one-stage load's time went: per step (parse,
pieces: sending this range's and waiting for the others', index, build) the
slowest task's seconds ({} when the stages loaded).

Otherwise two stages, each one `run_code` call (one, for one partition: see
below):

    ReadCode   task r reads the lines that start in byte range r with
               pyarrow's CSV reader (`load.read_edge_columns`), numbers the
               range's distinct ids (Arrow's hash kernels; int ids in a
               compact span by marking an array; string work happens once
               per distinct id) and routes the range at once, in its own id
               kind (`route`): reads each line both ways when undirected,
               and writes one shuffle map output: to partition q the
               out-edges of the vertices q owns (by the partitioner, on the
               original ids), their in-edges, and the range's distinct ids
               with their owners (to every q: the ids are all-gathered); an
               edge travels as two int32 positions in its range's distinct
               ids. It reports its kind (int when all its ids are integers),
               whether it has weights, or its malformed line, numbered in
               the whole file.
    RouteCode  only when the ranges disagree on the kind (some int, some
               not: the graph's ids are str) or an int range's routing
               failed (a partitioner for str ids): every range is read and
               routed again, in the graph's kind, as a new shuffle.
    BuildCode  partition q reads its segments in range order, which is line
               order. The sorted union of the distinct ids is the graph's
               `VertexIndex`, the same on every worker, so every worker
               numbers the ids alike with no exchange of a mapping; q numbers
               its edges, collapses duplicates (the last line's weight wins),
               builds its `Partition` and keeps `(Partition, VertexIndex)`
               resident under `data.key + "p<q>"`.

A graph of one partition (one byte range) is one stage: `WholeCode` parses
the range and builds from it in the same task, with nothing to route and no
shuffle between (the ids of one range are distinct already: no second
dictionary encoding; HashPartitioner(1) hashes nothing).

What comes back to the driver is a few numbers per task. A run finds its
partitions in the resident store (`tasks.LoadCode`); when a worker died with
one, the driver loads the file again (`WorkerGraph.reload`), as it does when
a worker dies during the load (a lost shuffle, or a lost session task).
"""

from __future__ import annotations

import itertools
import os
import pickle
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa          # a hard dependency of minibig.graph (see load.py)
import pyarrow.compute as pc

from minibig.core.task import TaskCode
from minibig.errors import FetchFailedError
from minibig.graph.buffers import pooled, pooled_indices
from minibig.graph.errors import GraphRunError, GraphStateLostError
from minibig.graph.ids import VertexIndex
from minibig.graph.load import (PLAIN, EdgeFormat, EdgeLineError, as_chunked, collapse_duplicates, doubtful,
                                read_edge_columns, read_exact, read_vertex_column, run_ends, strings_as_ints)
from minibig.graph.partition import local_positions, make_partition, partition_key, rows_of
from minibig.graph.partitioning import partitions_of, rows_by_owner
from minibig.graph.session import Session, SessionUnavailable, linked, say_hello, usable, wait_for_driver
from minibig.graph.tasks import raise_remote, user_error
from minibig.net.protocol import max_frame_bytes
from minibig.shuffle.blocks import write_output_stream
from minibig.shuffle.reader import read_batches

_graph_ids = itertools.count()
_SCAN = 1 << 16                   # bytes read at a time while looking for a line's end
LOAD_ATTEMPTS = 4                 # loads of a file cut short by a lost worker, before giving up


@dataclass
class EdgeShuffle:
    """The routed edges, as `run_code`'s `reads=` / `writes=` want a shuffle."""

    shuffle_key: str
    num_maps: int


@dataclass
class RangeReport:
    """What `ReadCode` tells the driver about one byte range."""

    rows: int                     # its ids (0: it routed nothing)
    is_int: bool                  # all its ids are integers (an empty range: True)
    weighted: bool
    routed: bool = True           # its map output is written, in its own kind
    error: tuple | None = None    # (line in the file, what was wrong)
    sizes: list = field(default_factory=list)   # of its map output's segments
    built: tuple | None = None    # `WholeCode`: what `build` returned


@dataclass
class Spec:
    """What every stage of one load shares."""

    key: str                      # "<driver>/edges<n>g<generation>/": resident keys and the shuffle
    path: str
    ranges: list                  # (start, end) byte offsets; [(0, -1)]: the whole file, one reader
    directed: bool
    num_partitions: int
    partitioner: object
    fmt: EdgeFormat = PLAIN
    vertex_path: str | None = None  # a vertex file (ids with or without edges), cut as `vertex_ranges`
    vertex_ranges: list = field(default_factory=list)

    def columns(self, r: int, as_strings: bool = False):
        """(src, dst, weight) of range r (int64 or string ids, unchecked: see `parse_range`),
        and what to read it from again."""
        start, end = self.ranges[r]
        if end < 0:                                   # .gz: one reader, the file's own line numbers
            return read_edge_columns(self.path, self.path, as_strings, check=False, fmt=self.fmt), self.path
        source = read_range(self.path, start, end)
        # one range: one task reads the whole graph, on its worker's cores (`load._blocks`)
        spread = len(self.ranges) == 1
        return read_edge_columns(source, self.path, as_strings, check=False, spread=spread, fmt=self.fmt), source

    def listed(self, r: int):
        """The ids of the vertex file's range r (a string column as written; none without one)."""
        if self.vertex_path is None or r >= len(self.vertex_ranges):
            return pa.array([], pa.string())
        start, end = self.vertex_ranges[r]
        source = self.vertex_path if end < 0 else read_range(self.vertex_path, start, end)
        return read_vertex_column(source, self.fmt)

    def lines_before(self, r: int) -> int:
        """How many lines of the file start before range r (to number a malformed line)."""
        start, end = self.ranges[r]
        if end < 0 or start <= 0:
            return 0
        with open(self.path, "rb") as f:
            begin, lines = _line_start(f, start), 0
            f.seek(0)
            while f.tell() < begin:
                lines += f.read(min(_SCAN, begin - f.tell())).count(b"\n")
        return lines


def read_range(path: str, start: int, end: int) -> pa.Buffer:
    """The lines of `path` that start in `[start, end)`, in memory of Arrow's pool (which keeps
    its pages between tasks: bytes of a fresh allocation would fault each page in)."""
    with pa.OSFile(path) as f:
        begin, stop = _line_start(f, start), _line_start(f, end)
        f.seek(begin)
        return f.read_buffer(max(0, stop - begin))


def _line_start(f, pos: int) -> int:
    """The first offset at or after `pos` where a line starts (or the file's end)."""
    if pos <= 0:
        return 0
    f.seek(pos - 1)                                   # a line starts at pos when byte pos-1 is \n
    offset = pos - 1
    while block := f.read(_SCAN):
        found = block.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(block)
    return offset


@dataclass
class Range:
    """One byte range, parsed: its distinct ids and each edge as positions in them."""

    distinct: object              # Arrow array of the distinct ids: int64, or string as written
    as_ints: np.ndarray | None    # the same ids as int64, when all are integers (may repeat: 7, 007)
    src: np.ndarray               # int32 positions in `distinct`
    dst: np.ndarray
    weight: np.ndarray | None

    def report(self) -> RangeReport:
        """Its ids, its kind (int when all its ids are integers; an empty range: int), whether it
        has weights."""
        return RangeReport(len(self.distinct), not len(self.distinct) or self.as_ints is not None,
                           self.weight is not None)

    def ids(self, is_int: bool):
        """The distinct ids in the graph's kind: int64 numpy, or an Arrow string array."""
        if is_int:
            return self.as_ints if self.as_ints is not None else np.zeros(0, np.int64)
        return self.distinct


def parse_range(spec: Spec, r: int, as_strings: bool = False) -> Range:
    """Read and parse range r (of the edge file, and of the vertex file when there is one: its
    ids join the range's distinct ids after the edges'); string work happens once per distinct
    id, not per edge."""
    listed = as_chunked(spec.listed(r))
    listed_ints = strings_as_ints(listed) if len(listed) else pa.chunked_array([], pa.int64())
    if listed_ints is None:
        as_strings = True                             # a listed id is no integer: every id is text
    (src, dst, weight), source = spec.columns(r, as_strings)
    src, dst = as_chunked(src), as_chunked(dst)
    if pa.types.is_integer(src.type) and pa.types.is_integer(dst.type):
        src, dst = src.cast(pa.int64()), dst.cast(pa.int64())
        # (as_strings when a listed id is no integer: then the edges' ids are strings too)
        span = _span(src, dst, listed_ints)
        if span is not None:
            return _numbered_by_marking(src, dst, weight, *span, listed_ints)
        distinct, positions = numbered(src, dst, pa.int64(), listed_ints)
    else:
        src, dst = src.cast(pa.string()), dst.cast(pa.string())
        distinct, positions = numbered(src, dst, pa.string(), listed)
        if doubtful(distinct, spec.fmt.comments):     # the fast reader misread a line: read it whole
            src, dst, weight = read_exact(source, spec.path, spec.fmt)
            distinct, positions = numbered(as_chunked(src), as_chunked(dst), pa.string(), listed)
    ints = strings_as_ints(pa.chunked_array([distinct])) if len(distinct) else None
    as_ints = np.asarray(ints.to_numpy(), np.int64) if ints is not None else None
    return Range(distinct, as_ints, positions[0], positions[1], weight)


def numbered(src, dst, type_, extra) -> tuple[pa.Array, list[np.ndarray]]:
    """(distinct ids in order of first appearance, [src, dst] as int32 positions in them) of two
    chunked id columns, and of the ids of `extra` (a chunked column of vertices with or without
    edges: last, so they leave the edges' positions as they are), in one hash pass (Arrow's
    dictionary encoding; `unique` then `index_in` hashed every id twice)."""
    # the kernel drops empty chunks: only non-empty ones go in, so its chunks are theirs in order
    src, dst, more = ([c for c in column.chunks if len(c)] for column in (src, dst, extra))
    encoded = pc.dictionary_encode(pa.chunked_array(src + dst + more, type_), null_encoding="encode")
    positions = [np.asarray(c.indices.to_numpy(zero_copy_only=False), np.int32) for c in encoded.chunks]
    split, end = len(src), len(src) + len(dst)
    return (_dictionary(encoded, type_),
            [joined(p, np.int32) for p in (positions[:split], positions[split:end])])


def joined(arrays: list, dtype) -> np.ndarray:
    """The arrays end to end; the one itself when there is one (a copy of a few megabytes is a
    page fault per 4 KB on a worker, whose big allocations are fresh pages)."""
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype)


def _dictionary(encoded, type_) -> pa.Array:
    """The dictionary of a dictionary-encoded chunked array: its last chunk's (the hash table
    grows in order of first appearance, so it holds every earlier chunk's)."""
    return encoded.chunks[-1].dictionary if encoded.num_chunks else pa.array([], type_)


def _numbered_by_marking(src, dst, weight, low: int, high: int, extra) -> Range:
    """A range of int ids in the span [low, high]: distinct ids and positions without hashing
    (`extra`: ids of vertices with or without edges, marked too)."""
    src, dst = (np.asarray(c.to_numpy(), np.int64) for c in (src, dst))
    if low:
        src, dst = src - low, dst - low
    seen = np.zeros(high - low + 1, dtype=bool)
    seen[src] = True
    seen[dst] = True
    if len(extra):
        seen[np.asarray(extra.to_numpy(), np.int64) - low] = True
    distinct = np.flatnonzero(seen)
    position = np.zeros(len(seen), dtype=np.int32)
    position[distinct] = np.arange(len(distinct), dtype=np.int32)
    distinct += low
    return Range(pa.array(distinct), distinct, position[src], position[dst], weight)


def _span(src, dst, extra) -> tuple[int, int] | None:
    """(lowest, highest) int id of the columns when they are close enough to number the ids by
    marking an array (no hashing), else None."""
    columns = [c for c in (src, dst, extra) if len(c)]
    if not columns:
        return None
    low = min(pc.min(c).as_py() for c in columns)
    high = max(pc.max(c).as_py() for c in columns)
    return (low, high) if high - low < 2 * sum(map(len, columns)) + (1 << 20) else None


@dataclass
class ReadCode(TaskCode):
    """Stage 1: parse byte range `ctx.partition` and route it in its own id kind; report on it."""

    spec: Spec
    writes: EdgeShuffle

    def run(self, ctx):
        r = ctx.partition
        try:
            parsed = parse_range(self.spec, r)
        except EdgeLineError as exc:
            return RangeReport(0, False, False, error=(self.spec.lines_before(r) + exc.line, exc.detail),
                               sizes=write_nothing(ctx, self.writes, r, self.spec.num_partitions))
        report = parsed.report()
        if not report.is_int:             # str ids here: the graph's ids are str
            report.sizes = route(ctx, self.spec, parsed, False, self.writes)
            return report
        try:                              # int here, and in the graph unless another range says str
            report.sizes = route(ctx, self.spec, parsed, True, self.writes)
        except Exception:                 # noqa: BLE001 - a partitioner for str ids, say: route
            report.routed = False         # again in the graph's kind (RouteCode), which raises it
            report.sizes = write_nothing(ctx, self.writes, r, self.spec.num_partitions)
        return report

    def result_fields(self, value):
        return {"sizes": value.sizes}


@dataclass
class RouteCode(TaskCode):
    """Stage 2, when stage 1 could not route every range in the graph's kind: read and route
    range `ctx.partition` again, in that kind."""

    spec: Spec
    is_int: bool
    writes: EdgeShuffle

    def run(self, ctx):
        parsed = parse_range(self.spec, ctx.partition, as_strings=not self.is_int)
        return route(ctx, self.spec, parsed, self.is_int, self.writes)

    def result_fields(self, value):
        return {"sizes": value}


def route(ctx, spec: Spec, parsed: Range, is_int: bool, writes: EdgeShuffle) -> list[int]:
    """Write range `ctx.partition`'s edges, in id kind `is_int`, to the partitions that own
    them (see the module docstring); the segment sizes."""
    piece = pieces_of(spec, parsed, is_int)

    def segment(q, out):
        pickle.dump(piece(q), out, protocol=5)
    return write_output_stream(ctx.work_dir, writes.shuffle_key, ctx.partition, spec.num_partitions, segment)


def pieces_of(spec: Spec, parsed: Range, is_int: bool):
    """A function of q: what partition q gets of a parsed range, in id kind `is_int`: `(the
    range's distinct ids, their owners, q's out-edges (src, dst, weight), q's in-edges (dst,
    src, weight))`, the edges as positions in the distinct ids."""
    distinct = parsed.ids(is_int)
    src, dst, weight = parsed.src, parsed.dst, parsed.weight
    if not spec.directed:
        src, dst, weight = both_ways(src, dst, weight)
    owners = _owners(spec.partitioner, distinct, spec.num_partitions)
    if spec.num_partitions == 1:                      # every edge is partition 0's, both ways
        return lambda q: (distinct, owners, (src, dst, weight), (dst, src, weight))
    # each edge's owner, in Arrow's pool (buffers.py): an array of the range's edges, 16-bit where
    # the partitions allow (rows_by_owner sorts those by radix; the small table cast once, not
    # every edge's owner). mode="clip": with "raise" numpy takes into a new array first (R-MAT
    # scale 20: its read stage 0.2-0.4 s slower); the positions are the range's own, in range
    table = owners.astype(np.uint16) if spec.num_partitions <= 1 << 16 else owners
    # (int32 positions cast in the pool too: `pooled_indices`)
    out_groups = rows_by_owner(np.take(table, pooled_indices(src), out=pooled(len(src), table.dtype), mode="clip"),
                               spec.num_partitions)
    in_groups = rows_by_owner(np.take(table, pooled_indices(dst), out=pooled(len(dst), table.dtype), mode="clip"),
                              spec.num_partitions)

    def piece(q):
        o, i = out_groups[q], in_groups[q]
        return distinct, owners, (src[o], dst[o], _take(weight, o)), (dst[i], src[i], _take(weight, i))
    return piece


def write_nothing(ctx, writes: EdgeShuffle, r: int, num_partitions: int) -> list[int]:
    """An empty map output for range r (its task routed nothing: the driver will not build)."""
    return write_output_stream(ctx.work_dir, writes.shuffle_key, r, num_partitions, lambda q, out: None)


@dataclass
class BuildCode(TaskCode):
    """Stage 3: number partition `ctx.partition`'s edges, build it, keep it resident."""

    spec: Spec
    is_int: bool
    weighted: bool
    reads: EdgeShuffle

    def run(self, ctx):
        pieces = list(read_batches(ctx.fetch_shuffle(self.reads, ctx.partition)))
        return build(ctx, self.spec, pieces, self.is_int, self.weighted)


@dataclass
class WholeCode(TaskCode):
    """A graph of one partition (so one byte range): read, number and build in one task, as
    `ReadCode` then `BuildCode` would, with no shuffle between them (nothing to route)."""

    spec: Spec

    def run(self, ctx):
        try:
            parsed = parse_range(self.spec, 0)
        except EdgeLineError as exc:
            return RangeReport(0, False, False, error=(exc.line, exc.detail))
        report = parsed.report()
        report.built = build(ctx, self.spec, [pieces_of(self.spec, parsed, report.is_int)(0)], report.is_int,
                             report.weighted)
        return report


def build(ctx, spec: Spec, pieces: list, is_int: bool, weighted: bool, indexed=None) -> tuple[int, int, int]:
    """Number partition `ctx.partition`'s edges from every range's piece (`pieces_of`), in
    range order, build the partition and keep it resident; (its vertices, its edges, the
    graph's vertices). `indexed`: the `_index` of the pieces' ids, when the caller has it."""
    index, dense = indexed or _index([piece[0] for piece in pieces], is_int)
    out_edges = _numbered([piece[2] for piece in pieces], dense, weighted)
    n = len(index)
    out_edges = collapse_duplicates(*out_edges, n)  # by (src, dst), last line wins; unweighted: make_partition's ones
    routed_in = [piece[3] for piece in pieces]

    def in_edges():                           # on first use (PageRank and SSSP never ask)
        return collapse_duplicates(*_numbered(routed_in, dense, weighted), n)
    owner = np.zeros(n, np.int32)                 # as the ranges found it: no id is hashed twice
    for ids, piece in zip(dense, pieces):
        owner[ids] = piece[1]
    local = local_positions(owner, spec.num_partitions)
    part = make_partition(ctx.partition, spec.num_partitions, index.packed, owner,
                          local, out_edges, in_edges, weighted, spec.partitioner)
    key = partition_key(spec.key, ctx.partition)
    ctx.resident.put(key, (part, index))
    ctx.cached.append(key)
    return len(part), len(part.out_dst), n


@dataclass
class ExchangeCode(TaskCode):
    """The load in one stage, a session of its own (`session.py`): task q reads byte range q,
    sends every other task its piece of it through the session's peer sockets, sorts its share
    of the ids (`index_shared`), and builds partition q. Its answer to the driver is `build`'s
    counts, or None when the stages must load the file instead (see the module docstring)."""

    spec: Spec
    lost_after: float

    def run(self, ctx):
        return linked(ctx, self.lost_after, self.serve)

    def serve(self, ctx, sock, peers) -> None:
        """Say hello, read the range while the driver hears the others, then the exchange."""
        clock = _Clock()
        say_hello(ctx, sock, peers)
        told = self.read(ctx.partition)
        phases = {"parse": clock.lap()}
        wait_for_driver(sock, ctx.partition, self.spec.key)
        order = pickle.loads(sock.recv())
        if order["kind"] != "go":                  # abort: the driver gave the session up
            return
        peers.connect(order["peers"])
        try:
            mine = send_pieces(peers, ctx.partition, *told)
            # the range's arrays (`pieces_of`'s, as much again as the pieces) are not held
            # through the exchange and the build: only the pieces are needed now
            told = None
            answer = self.exchange(ctx, peers, sock, mine, clock, phases)
        except Exception as exc:                   # noqa: BLE001 - the driver raises it at once (its
            answer = {"error": user_error(exc)}    # peers, waiting for this task's segments, are aborted)
        if answer is None:                         # the driver spoke meanwhile: an abort
            return
        sock.send(pickle.dumps({"kind": "loaded", "partition": ctx.partition, "phases": phases, **answer},
                               protocol=5))
        # the driver's `end` (every task built: none waits for a segment of this one) or `abort`
        wait_for_driver(sock, ctx.partition, self.spec.key)

    def read(self, r: int) -> tuple:
        """What range r tells every task (its `RangeReport`: not `routed` when it could not be
        read or routed in its own kind), and its piece function (`pieces_of`) or None."""
        try:
            parsed = parse_range(self.spec, r)
            report = parsed.report()
            return report, pieces_of(self.spec, parsed, report.is_int)
        except Exception:   # noqa: BLE001 - a malformed line, bytes that are not UTF-8, the user's
            # partitioner failing (on ints, one for str ids): the stages load the file and route in
            # the graph's kind, or raise the error with its file and line, as they always did
            return RangeReport(0, True, False, routed=False), None

    def exchange(self, ctx, peers, sock, mine: tuple, clock: "_Clock", phases: dict) -> dict | None:
        """Hear the other tasks' pieces (this task's own: `mine`), index and build: the answer
        for the driver (None: the driver spoke meanwhile). Each step's seconds go in `phases`
        (`WorkerGraph.phases`)."""
        q = ctx.partition
        ranges = heard(peers, sock, 0, q, mine, self.spec.num_partitions)
        if ranges is None:
            return None
        phases["pieces"] = clock.lap()             # sending this range's, waiting for the others'
        is_int, weighted, routed = graph_kind([report for report, _ in ranges])
        if not routed:                 # the stages route again in the graph's kind (or raise)
            return {"built": None}
        pieces = [piece for _, piece in ranges]
        indexed = index_shared(q, self.spec.num_partitions, [piece[0] for piece in pieces], is_int, peers, sock)
        if indexed is None:
            return None
        phases["index"] = clock.lap()
        built = build(ctx, self.spec, pieces, is_int, weighted, indexed)
        phases["build"] = clock.lap()
        return {"built": built, "weighted": weighted}


def send_pieces(peers, q: int, report: RangeReport, piece) -> tuple:
    """Send every other task its piece of range q with the range's report (round 0 of
    `ExchangeCode`); task q's own."""
    peers.send(0, {p: (report, piece(p) if piece else None) for p in peers.out}, {})
    return report, piece(q) if piece else None


def heard(peers, sock, round_: int, q: int, mine, count: int) -> list | None:
    """Every task's batch of round `round_` of `ExchangeCode`, in task order, task q's own
    `mine` (None: the driver spoke meanwhile)."""
    got = peers.inbox(round_, sock)
    if got is None:
        return None
    batches = {q: mine}
    batches.update((sender, batch) for sender, batch, _ in got[0])
    return [batches[r] for r in range(count)]


def one_stage_fits(spec: Spec) -> bool:
    """Whether every array a task of `ExchangeCode` sends fits in one socket frame
    (`max_frame_bytes`: past it, ZeroMQ drops the sender, and its peers would wait for it). A
    line of `r` bytes holds one edge of at least 4 bytes ("a b\n") or, weighted, 6 ("a b 1\n"):
    a range's int32 positions take at most its size, its float64 weights 8/6 of it, twice that
    read both ways; its distinct int64 ids four times its size, and those of the vertex file's
    range r ("7\n") four times that one's, in the same array (a compressed vertex file's size
    is not known before it is read: the stages load it)."""
    if any(end < 0 for _, end in spec.vertex_ranges):
        return False
    listed = [end - start for start, end in spec.vertex_ranges]
    listed += [0] * (len(spec.ranges) - len(listed))
    return all(end - start + more <= max_frame_bytes() // 4 for (start, end), more in zip(spec.ranges, listed))


def index_shared(q: int, count: int, pieces: list, is_int: bool, peers, sock):
    """`_index(pieces, is_int)` with task q of `count` sorting only its share of the ids: those
    between two splitters every task picks alike from the same pieces (`_splitters`), so the
    shares in order are the sorted ids, each share's dense indices start where the last one's
    end, and the tasks exchange their shares and ranks once (None: the driver spoke meanwhile)."""
    pieces = [_of_kind(piece, is_int) for piece in pieces]
    splitters = _splitters(pieces, count, is_int)
    rows = [rows_by_owner(_share_of(piece, splitters, is_int), count) for piece in pieces]
    share, ranks = _index([rows_of(piece, cut[q]) for piece, cut in zip(pieces, rows)], is_int)
    mine = (share.packed, ranks)
    peers.send(1, {p: mine for p in peers.out}, {})
    shares = heard(peers, sock, 1, q, mine, count)
    if shares is None:
        return None
    dense = [np.empty(len(piece), np.int64) for piece in pieces]
    start = 0
    for b in range(count):
        ids, share_ranks = shares[b]
        for r, cut in enumerate(rows):
            dense[r][cut[b]] = share_ranks[r] + start
        start += len(ids)
    every = [shares[b][0] for b in range(count)]
    if is_int:
        return VertexIndex(np.concatenate(every)), dense
    return VertexIndex(pa.concat_arrays(every)), dense


def _of_kind(ids, is_int: bool):
    """A range's distinct ids; an empty range's in the graph's kind (it may have been read in the other)."""
    if len(ids):
        return ids
    return np.zeros(0, np.int64) if is_int else pa.array([], pa.string())


def _splitters(pieces: list, count: int, is_int: bool):
    """`count - 1` ids cutting the pieces' ids into shares of about equal size: quantiles of a
    sample of every piece (the same pieces give every task the same splitters)."""
    step = max(1, sum(map(len, pieces)) // (64 * count))
    if is_int:
        sample = np.sort(np.concatenate([piece[::step] for piece in pieces]))
    else:
        sample = pa.concat_arrays([piece.take(np.arange(0, len(piece), step)) for piece in pieces])
        sample = sample.take(pc.sort_indices(sample))
    return [sample[len(sample) * k // count] for k in range(1, count)] if len(sample) else []


def _share_of(ids, splitters: list, is_int: bool) -> np.ndarray:
    """The share of each id: how many splitters are at or below it."""
    share = np.zeros(len(ids), np.int32)
    for splitter in splitters:
        share += (ids >= splitter) if is_int else pc.greater_equal(ids, splitter).to_numpy(zero_copy_only=False)
    return share


class _LoadSession(Session):
    """The driver's side of `ExchangeCode`: every task's hello, then `go` with the others'
    addresses, every task's answer, then `end`."""

    def loop(self, first: int, driver) -> list:
        self.send_all({"kind": "go", "peers": self.peers})
        answers = self.gather("loaded")
        self.send_all({"kind": "end"})
        return self.end(answers)

    def receive(self, timeout_ms: int) -> list:
        """`Session.receive`, a task's error raised as soon as it comes (its peers wait for its
        segments: they would never answer)."""
        taken = super().receive(timeout_ms)
        for message in taken:
            if "error" in message:
                raise_remote(message["error"], message["partition"], "graph load failed")
        return taken


@dataclass
class FetchCode(TaskCode):
    """The resident `(Partition, VertexIndex)` of partition `ctx.partition` (or only the index)."""

    key: str
    index_only: bool = False

    def run(self, ctx):
        entry = ctx.resident.get(partition_key(self.key, ctx.partition))
        if entry is None:
            raise GraphStateLostError(f"partition {ctx.partition} of {self.key} is not on worker "
                                      f"{ctx.worker_id}")
        return entry[1] if self.index_only else entry


class WorkerGraph:
    """A graph whose partitions live on the workers; see the module docstring."""

    def __init__(self, sc, path: str, directed: bool, num_partitions: int, partitioner, fmt: EdgeFormat = PLAIN,
                 vertices: str | None = None):
        self.sc, self.path, self.directed = sc, os.fspath(path), directed
        self.num_partitions, self.partitioner = num_partitions, partitioner
        self.fmt, self.vertices = fmt, None if vertices is None else os.fspath(vertices)
        self.name = f"{sc._driver_id}/edges{next(_graph_ids)}-g"      # "-": edges1- is no prefix of edges10-
        self.generation = -1
        self.load()
        # A graph nobody can reach any more leaves nothing on the workers (not at exit: the
        # context's stop clears the workers then).
        self._forget = weakref.finalize(self, _drop_quietly, sc._backend, self.name)
        self._forget.atexit = False

    @property
    def key(self) -> str:
        """Prefix of this generation's resident keys."""
        return f"{self.name}{self.generation}/"

    def prefer(self) -> dict:
        """Each partition's resident key, for `run_code(prefer=...)`."""
        return {q: [partition_key(self.key, q)] for q in range(self.num_partitions)}

    def reload(self) -> None:
        """Load the file again (a worker died with a partition), under a new generation's keys."""
        self.sc._backend.drop_blocks(self.key)
        self.load()

    def load(self) -> None:
        """Load the file under a new generation's keys; again from the start when a worker dies
        with routed edges the build still needs (`FetchFailedError`)."""
        for attempt in range(LOAD_ATTEMPTS):
            self.generation += 1
            try:
                return self.load_once()
            except (FetchFailedError, GraphStateLostError) as exc:    # a worker died mid-load
                self.sc._backend.drop_blocks(self.key)
                lost = exc
        raise GraphRunError(f"graph load {self.path}: workers lost {LOAD_ATTEMPTS} times; last: {lost}") \
            from lost

    def load_once(self) -> None:
        """Load in one stage where it can (`exchange`), else run the stages; set the vertex and
        edge counts and `timings` (seconds per stage)."""
        dag, parts = self.sc._dag, list(range(self.num_partitions))
        self.timings, self.phases = {}, {}
        ranges = _byte_ranges(self.path, self.num_partitions)
        spec = Spec(self.key, os.path.abspath(self.path), ranges, self.directed, self.num_partitions,
                    self.partitioner, self.fmt)
        if self.vertices is not None:             # cut alike: range r of each file goes to task r
            spec.vertex_path = os.path.abspath(self.vertices)
            spec.vertex_ranges = _byte_ranges(self.vertices, len(ranges))
        ranges = list(range(len(spec.ranges)))
        clock = _Clock()
        if self.num_partitions == 1:              # one range (see _byte_ranges): one task
            report = dag.run_code(WholeCode(spec), [0], f"graph load {self.path}", speculate=False)[0]
            self.timings = {"read and build": clock.lap()}
            _raise_line_error(self.path, [report])
            self.weighted = report.weighted
            self.num_vertices, self.num_edges = report.built[2], report.built[1]
            return
        if len(ranges) == self.num_partitions and one_stage_fits(spec) and usable(self.sc, self.num_partitions):
            answers = self.exchange(spec)
            if answers is not None:
                self.timings = {"read and build": clock.lap()}
                self.phases = slowest_phases(answers)
                self.weighted = answers[0]["weighted"]
                self.num_vertices = answers[0]["built"][2]
                self.num_edges = sum(a["built"][1] for a in answers)
                return
            self.timings = {"exchange": clock.lap()}     # the stages say why, or just load
        shuffle = EdgeShuffle(f"{self.key}edges", len(ranges))
        written = [shuffle.shuffle_key]
        try:
            reports = dag.run_code(ReadCode(spec, shuffle), ranges, f"graph load {self.path}: read",
                                   writes=shuffle, speculate=False)
            self.timings["read"] = clock.lap()
            _raise_line_error(self.path, reports)
            is_int, self.weighted, routed = graph_kind(reports)
            if not routed:
                shuffle = EdgeShuffle(f"{self.key}edges-again", len(ranges))
                written.append(shuffle.shuffle_key)
                dag.run_code(RouteCode(spec, is_int, shuffle), ranges, f"graph load {self.path}: route",
                             writes=shuffle, speculate=False)
                self.timings["route"] = clock.lap()
            built = dag.run_code(BuildCode(spec, is_int, self.weighted, shuffle), parts,
                                 f"graph load {self.path}: build", reads=[shuffle], speculate=False)
            self.timings["build"] = clock.lap()
        finally:
            self.sc._backend.drop_shuffles(written)
        self.num_vertices = built[0][2] if built else 0
        self.num_edges = sum(b[1] for b in built)

    def exchange(self, spec: Spec) -> list | None:
        """Load in one stage (`ExchangeCode`): each task's answer; None when a task could not
        (the stages then load the file) or the session's tasks did not all start."""
        session = _LoadSession(self.sc, list(range(self.num_partitions)), self.sc.conf.worker_timeout,
                               self.key)
        session.description = f"graph load {self.path}: read and build"
        try:
            answers = session.run(ExchangeCode(spec, session.lost_after), {}, 0, None)
        except SessionUnavailable:
            return None
        # every task decided from the same ranges' states: all built, or none did
        return answers if answers[0]["built"] is not None else None

    def index(self) -> VertexIndex:
        """The vertex index, fetched from partition 0's worker."""
        return self._fetch(True, [0])[0]

    def partitions(self) -> list:
        """Every partition, fetched to the driver (for a run in this process)."""
        return [part for part, _ in self._fetch(False, list(range(self.num_partitions)))]

    def _fetch(self, index_only: bool, parts: list) -> list:
        code = FetchCode(self.key, index_only)
        prefer = {q: [partition_key(self.key, q)] for q in parts}
        try:
            return self.sc._dag.run_code(code, parts, f"graph {self.key} fetch", prefer=prefer,
                                         speculate=False)
        except GraphStateLostError:
            self.reload()
            return self.sc._dag.run_code(code, parts, f"graph {self.key} fetch", prefer=self.prefer(),
                                         speculate=False)

    def drop(self) -> None:
        """Forget the partitions on the workers."""
        self.sc._backend.drop_blocks(self.key)


def slowest_phases(answers: list) -> dict:
    """Per step of the one-stage load (parse, pieces, index, build), the slowest task's seconds."""
    return {name: max(a["phases"].get(name, 0.0) for a in answers) for name in answers[0]["phases"]}


def _drop_quietly(backend, name: str) -> None:
    try:
        backend.drop_blocks(name)
    except Exception:             # the context stopped first: its workers, and the partitions, are gone
        pass


class _Clock:
    """Seconds since the last lap."""

    def __init__(self):
        self.last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        return round(seconds, 4)


def _byte_ranges(path: str, count: int) -> list:
    """`count` byte ranges covering the file; one whole-file range for a compressed file."""
    if path.endswith((".gz", ".bz2")):
        return [(0, -1)]
    size = os.path.getsize(path)
    cuts = [size * i // count for i in range(count + 1)]
    return list(zip(cuts, cuts[1:]))


def graph_kind(reports: list) -> tuple[bool, bool, bool]:
    """From every range's `RangeReport`: (the graph's ids are int, it has weights, every range is
    routed in the graph's kind). Not routed: an int range of a str graph, or one whose routing
    failed (an empty range routed nothing, in either kind)."""
    is_int = all(r.is_int for r in reports)
    return (is_int, any(r.weighted for r in reports),
            all(r.routed and (r.is_int == is_int or not r.rows) for r in reports))


def _raise_line_error(path: str, reports: list) -> None:
    """The first malformed line (the reports number it in the whole file)."""
    for report in reports:
        if report.error is not None:
            raise EdgeLineError(path, *report.error)


def both_ways(src: np.ndarray, dst: np.ndarray, weight):
    """Each edge then its reverse, in line order (undirected reading)."""
    return (np.stack((src, dst), axis=1).reshape(-1), np.stack((dst, src), axis=1).reshape(-1),
            None if weight is None else np.repeat(weight, 2))


def _take(column, rows: np.ndarray):
    return None if column is None else column[rows]


def _owners(partitioner, distinct, num_partitions: int) -> np.ndarray:
    """The owner partition of every distinct id; a ValueError names an id put outside."""
    owners = partitions_of(partitioner, distinct)
    bad = np.flatnonzero((owners < 0) | (owners >= num_partitions))
    if len(bad):
        vertex = distinct[int(bad[0])]
        vertex = vertex.as_py() if isinstance(vertex, pa.Scalar) else vertex.item()
        raise ValueError(f"partitioner put vertex {vertex!r} in partition {owners[bad[0]]}, "
                         f"outside [0, {num_partitions})")
    return owners


def _index(pieces: list, is_int: bool) -> tuple[VertexIndex, list[np.ndarray]]:
    """The sorted union of every range's distinct ids, and for each range the dense index of
    each of its distinct ids (int ids: by binary search; str ids: one sort of them all, equal
    neighbours then one id; the index keeps them as Arrow). An empty range's ids may be of
    the other kind."""
    pieces = [_of_kind(piece, is_int) for piece in pieces]
    if is_int:
        ids = np.sort(np.concatenate(pieces).astype(np.int64))
        ids = ids[run_ends(ids)]
        return VertexIndex(ids), [np.searchsorted(ids, piece).astype(np.int64) for piece in pieces]
    # sorting them all at once beats hashing them into one dictionary and sorting that (Debian,
    # two ranges of ~40k ids: 33 against 49 ms); Arrow's dense rank is that sort and each id's
    # index in one kernel (12.5 against 13.7 ms: no take, comparison of neighbours, cumsum).
    # File ids are never null (see load.py).
    every = pa.concat_arrays(pieces) if len(pieces) > 1 else pieces[0]
    if not len(every):
        return VertexIndex(every), [np.zeros(0, np.int64) for _ in pieces]
    rank = pc.rank(every, sort_keys="ascending", tiebreaker="dense").to_numpy().astype(np.int64)
    rank -= 1                                               # dense index of each id of `every`
    where = np.empty(int(rank.max()) + 1, np.int64)         # an occurrence of each distinct id
    where[rank] = np.arange(len(every))
    bounds = np.cumsum([0, *map(len, pieces)])
    return VertexIndex(every.take(where)), [rank[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def _numbered(edges: list, dense: list, weighted: bool):
    """(key, other, weight) of the ranges' edges, concatenated in range order, as dense indices."""
    key = _gathered(dense, [e[0] for e in edges])
    other = _gathered(dense, [e[1] for e in edges])
    weight = (joined([np.ones(len(e[0])) if e[2] is None else e[2] for e in edges], np.float64)
              if weighted and edges else None)             # a range without weights: 1 each
    return key, other, weight


def _gathered(tables: list, positions: list) -> np.ndarray:
    """`tables[r][positions[r]]` end to end, each range's taken straight into its place in an
    array of Arrow's pool (buffers.py): no piece of its own, then a copy of them all."""
    out = pooled(sum(map(len, positions)), np.int64)
    at = 0
    for table, rows in zip(tables, positions):
        # mode="clip": with "raise" numpy takes into a new array first (the positions are the
        # range's own, in range); int32 positions cast in Arrow's pool (`pooled_indices`)
        np.take(table, pooled_indices(rows), out=out[at:at + len(rows)], mode="clip")
        at += len(rows)
    return out
