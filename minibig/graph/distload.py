"""Loading an edge file on the workers: the driver never holds the graph.

    data = load_on_workers(sc, path, directed, num_partitions, partitioner)
    data.key, data.num_vertices, data.num_edges, data.weighted

The file is cut into byte ranges, one per partition (a `.gz` file is one
range, read whole by one worker); every worker must see the path. Three
stages, each one `run_code` call:

    ReadCode   task r reads the lines that start in byte range r with
               pyarrow's CSV reader (`load.read_edge_columns`) and keeps the
               columns in its worker's resident store. It reports its line
               count, whether its ids are all integers, whether it has
               weights, or its malformed line (the driver adds the lines of
               the earlier ranges to name it in the file).
    RouteCode  the same worker turns range r into the graph's id kind (int
               only when every range's ids are integers), reads each line
               both ways when undirected, and writes one shuffle map output:
               to partition q the out-edges of the vertices q owns (by the
               partitioner, on the original ids), their in-edges, and the
               range's distinct ids (to every q: the ids are all-gathered).
    BuildCode  partition q reads its segments in range order, which is line
               order. The sorted union of the distinct ids is the graph's
               `VertexIndex`, the same on every worker, so every worker
               numbers the ids alike with no exchange of a mapping; q numbers
               its edges, collapses duplicates (the last line's weight wins),
               builds its `Partition` and keeps `(Partition, VertexIndex)`
               resident under `data.key + "p<q>"`.

What comes back to the driver is a few numbers per task. A run finds its
partitions in the resident store (`tasks.LoadCode`); when a worker died with
one, the driver loads the file again (`WorkerGraph.reload`).
"""

from __future__ import annotations

import itertools
import os
import pickle
from dataclasses import dataclass

import numpy as np
import pyarrow as pa          # a hard dependency of minibig.graph (see load.py)
import pyarrow.compute as pc

from minibig.core.task import TaskCode
from minibig.graph.errors import GraphStateLostError
from minibig.graph.ids import VertexIndex
from minibig.graph.load import (EdgeLineError, as_chunked, as_id_kind, collapse_duplicates,
                                read_edge_columns, strings_as_ints)
from minibig.graph.partition import make_partition, routing_tables
from minibig.graph.partitioning import partitions_of
from minibig.shuffle.blocks import write_output_stream
from minibig.shuffle.reader import read_batches

_graph_ids = itertools.count()
_SCAN = 1 << 16                   # bytes read at a time while looking for a line's end


@dataclass
class EdgeShuffle:
    """The routed edges, as `run_code`'s `reads=` / `writes=` want a shuffle."""

    shuffle_key: str
    num_maps: int


@dataclass
class RangeReport:
    """What `ReadCode` tells the driver about one byte range."""

    lines: int
    rows: int
    is_int: bool
    weighted: bool
    error: tuple | None = None    # (line within the range, what was wrong)


@dataclass
class Spec:
    """What every stage of one load shares."""

    key: str                      # "<driver>/edges<n>g<generation>/": resident keys and the shuffle
    path: str
    ranges: list                  # (start, end) byte offsets; [(0, -1)]: the whole file, one reader
    directed: bool
    num_partitions: int
    partitioner: object

    def columns(self, r: int):
        """(src, dst, weight) of range r (string ids), and its line count."""
        start, end = self.ranges[r]
        if end < 0:                                   # .gz: one reader, the file's own line numbers
            return read_edge_columns(self.path, self.path), 0
        data = read_range(self.path, start, end)
        lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        return read_edge_columns(pa.py_buffer(data), self.path), lines


def read_range(path: str, start: int, end: int) -> bytes:
    """The lines of `path` that start in `[start, end)`."""
    with open(path, "rb") as f:
        begin, stop = _line_start(f, start), _line_start(f, end)
        f.seek(begin)
        return f.read(max(0, stop - begin))


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
class ReadCode(TaskCode):
    """Stage 1: parse byte range `ctx.partition`, keep it resident, report on it."""

    spec: Spec

    def run(self, ctx):
        r = ctx.partition
        try:
            (src, dst, weight), lines = self.spec.columns(r)
        except EdgeLineError as exc:
            return RangeReport(0, 0, False, False, error=(exc.line, exc.detail))
        ints = [strings_as_ints(as_chunked(c)) if len(c) else None for c in (src, dst)]
        is_int = len(src) == 0 or all(c is not None for c in ints)
        key = f"{self.spec.key}r{r}"
        ctx.resident.put(key, (src, dst, weight, ints if is_int and len(src) else None))
        ctx.cached.append(key)
        return RangeReport(lines, len(src), is_int, weight is not None)


@dataclass
class RouteCode(TaskCode):
    """Stage 2: send range `ctx.partition`'s edges to the partitions that own them."""

    spec: Spec
    is_int: bool
    weighted: bool
    writes: EdgeShuffle

    def run(self, ctx):
        r = ctx.partition
        raw = ctx.resident.pop(f"{self.spec.key}r{r}")
        if raw is None:                               # the reading worker died: read it again here
            (src, dst, weight), _ = self.spec.columns(r)
            raw = (src, dst, weight, None)
        src, dst = self.id_columns(raw)
        weight = raw[2]
        if self.weighted and weight is None:
            weight = np.ones(len(src))
        if not self.spec.directed:
            src, dst, weight = both_ways(src, dst, weight)
        distinct = _distinct(src, dst)
        owners = _owners(self.spec.partitioner, distinct, self.spec.num_partitions)
        out_owner, in_owner = (owners[_positions(c, distinct)] for c in (src, dst))
        out_groups = _groups(out_owner, self.spec.num_partitions)
        in_groups = _groups(in_owner, self.spec.num_partitions)

        def segment(q, out):
            out_take, in_take = out_groups[q], in_groups[q]
            pickle.dump((distinct,
                         (_take(src, out_take), _take(dst, out_take), _take(weight, out_take)),
                         (_take(dst, in_take), _take(src, in_take), _take(weight, in_take))),
                        out, protocol=5)
        return write_output_stream(ctx.work_dir, self.writes.shuffle_key, r, self.spec.num_partitions, segment)

    def id_columns(self, raw):
        """src and dst as int64 numpy arrays (int graphs) or Arrow string arrays."""
        src, dst, _, ints = raw
        if self.is_int:
            pair = ints if ints is not None else [as_id_kind(as_chunked(c), True) for c in (src, dst)]
            return tuple(np.asarray(c.to_numpy(), dtype=np.int64) if len(c) else np.zeros(0, np.int64)
                         for c in pair)
        return tuple(as_chunked(c).cast(pa.string()).combine_chunks() for c in (src, dst))

    def result_fields(self, value):
        return {"sizes": value}


@dataclass
class BuildCode(TaskCode):
    """Stage 3: number partition `ctx.partition`'s edges, build it, keep it resident."""

    spec: Spec
    weighted: bool
    reads: EdgeShuffle

    def run(self, ctx):
        q = ctx.partition
        pieces = list(read_batches(ctx.fetch_shuffle(self.reads, q)))
        index, lookup = _index([distinct for distinct, _, _ in pieces])
        n = len(index)
        out_edges = _numbered([out for _, out, _ in pieces], lookup, self.weighted)
        in_edges = _numbered([inn for _, _, inn in pieces], lookup, self.weighted)
        out_edges = collapse_duplicates(*out_edges, n)       # sorted by (src, dst), last line wins
        in_edges = collapse_duplicates(*in_edges, n)         # sorted by (dst, src)
        out_edges, in_edges = _with_weights(out_edges), _with_weights(in_edges)
        owner, local = routing_tables(index, self.spec.num_partitions, self.spec.partitioner)
        part = make_partition(q, self.spec.num_partitions, index.ids, owner, local, out_edges, in_edges,
                              self.weighted, self.spec.partitioner)
        key = partition_key(self.spec.key, q)
        ctx.resident.put(key, (part, index))
        ctx.cached.append(key)
        return len(part), len(part.out_dst), n


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


def partition_key(key: str, q: int) -> str:
    """The resident key of partition q of a loaded graph."""
    return f"{key}p{q}"


class WorkerGraph:
    """A graph whose partitions live on the workers; see the module docstring."""

    def __init__(self, sc, path: str, directed: bool, num_partitions: int, partitioner):
        self.sc, self.path, self.directed = sc, os.fspath(path), directed
        self.num_partitions, self.partitioner = num_partitions, partitioner
        self.name = f"{sc._driver_id}/edges{next(_graph_ids)}g"
        self.generation = -1
        self.load()

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
        """Run the three stages; set the vertex and edge counts."""
        dag, parts = self.sc._dag, list(range(self.num_partitions))
        self.generation += 1
        spec = Spec(self.key, self.path, _byte_ranges(self.path, self.num_partitions), self.directed,
                    self.num_partitions, self.partitioner)
        ranges = list(range(len(spec.ranges)))
        reports = dag.run_code(ReadCode(spec), ranges, f"graph load {self.path}: read", speculate=False)
        _raise_line_error(self.path, reports)
        is_int = all(r.is_int for r in reports)
        self.weighted = any(r.weighted for r in reports)
        shuffle = EdgeShuffle(f"{self.key}edges", len(ranges))
        try:
            dag.run_code(RouteCode(spec, is_int, self.weighted, shuffle), ranges,
                         f"graph load {self.path}: route", writes=shuffle,
                         prefer={r: [f"{self.key}r{r}"] for r in ranges}, speculate=False)
            built = dag.run_code(BuildCode(spec, self.weighted, shuffle), parts,
                                 f"graph load {self.path}: build", reads=[shuffle], speculate=False)
        finally:
            self.sc._backend.drop_shuffles([shuffle.shuffle_key])
        self.num_vertices = built[0][2] if built else 0
        self.num_edges = sum(b[1] for b in built)

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


def _byte_ranges(path: str, count: int) -> list:
    """`count` byte ranges covering the file; one whole-file range for a compressed file."""
    if path.endswith((".gz", ".bz2")):
        return [(0, -1)]
    size = os.path.getsize(path)
    cuts = [size * i // count for i in range(count + 1)]
    return list(zip(cuts, cuts[1:]))


def _raise_line_error(path: str, reports: list) -> None:
    """The first malformed line, numbered in the whole file."""
    before = 0
    for report in reports:
        if report.error is not None:
            line, detail = report.error
            raise EdgeLineError(path, before + line, detail)
        before += report.lines


def both_ways(src, dst, weight):
    """Each edge then its reverse, in line order (undirected reading)."""
    n = len(src)
    order = np.stack((np.arange(n), np.arange(n) + n), axis=1).reshape(-1)
    return (_take(_concat(src, dst), order), _take(_concat(dst, src), order),
            None if weight is None else np.repeat(weight, 2))


def _concat(a, b):
    if isinstance(a, np.ndarray):
        return np.concatenate((a, b))
    return pa.concat_arrays([a, b])


def _take(column, rows: np.ndarray):
    if column is None:
        return None
    if isinstance(column, np.ndarray):
        return column[rows]
    return column.take(pa.array(rows, pa.int64()))


def _distinct(src, dst):
    """The distinct ids of both columns, in no particular order."""
    if isinstance(src, np.ndarray):
        return pc.unique(pa.array(np.concatenate((src, dst)))).to_numpy()
    return pc.unique(pa.concat_arrays([src, dst]))


def _positions(column, distinct) -> np.ndarray:
    """Where each id of `column` is in `distinct`."""
    values = pa.array(distinct) if isinstance(distinct, np.ndarray) else distinct
    return pc.index_in(pa.array(column) if isinstance(column, np.ndarray) else column,
                       value_set=values).to_numpy(zero_copy_only=False).astype(np.int64)


def _owners(partitioner, distinct, num_partitions: int) -> np.ndarray:
    """The owner partition of every distinct id; a ValueError names an id put outside."""
    ids = distinct if isinstance(distinct, np.ndarray) else distinct.to_numpy(zero_copy_only=False)
    owners = partitions_of(partitioner, ids)
    bad = np.flatnonzero((owners < 0) | (owners >= num_partitions))
    if len(bad):
        raise ValueError(f"partitioner put vertex {ids[bad[0]]!r} in partition {owners[bad[0]]}, "
                         f"outside [0, {num_partitions})")
    return owners


def _groups(owner: np.ndarray, num_partitions: int) -> list:
    """Per partition, the rows it owns, in row order."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(num_partitions + 1))
    return [order[bounds[q]:bounds[q + 1]] for q in range(num_partitions)]


def _index(pieces: list) -> tuple[VertexIndex, object]:
    """The sorted union of every range's distinct ids, and the same ids to look up in
    (the numpy array of int ids, or an Arrow array of str ids)."""
    if pieces and isinstance(pieces[0], np.ndarray):
        ids = np.unique(np.concatenate(pieces)).astype(np.int64)
        return VertexIndex(ids), ids
    joined = pc.unique(pa.chunked_array(pieces, pa.string()))
    joined = joined.take(pc.sort_indices(joined))
    ids = joined.to_numpy(zero_copy_only=False).astype(object)
    return VertexIndex(ids if len(ids) else np.zeros(0, object)), joined


def _numbered(edges: list, lookup, weighted: bool):
    """(key, other, weight) of the ranges' edges, concatenated in range order, as dense indices."""
    key = _dense([e[0] for e in edges], lookup)
    other = _dense([e[1] for e in edges], lookup)
    weight = np.concatenate([e[2] for e in edges]) if weighted and edges else None
    return key, other, weight


def _dense(columns: list, lookup) -> np.ndarray:
    """Positions of the ids of `columns` in the sorted `lookup`."""
    if not columns:
        return np.zeros(0, np.int64)
    if isinstance(lookup, np.ndarray):
        return np.searchsorted(lookup, np.concatenate(columns)).astype(np.int64)
    return pc.index_in(pa.chunked_array(columns, pa.string()), value_set=lookup) \
        .to_numpy(zero_copy_only=False).astype(np.int64)


def _with_weights(edges: tuple) -> tuple:
    key, other, weight = edges
    return key, other, (np.ones(len(key)) if weight is None else weight)
