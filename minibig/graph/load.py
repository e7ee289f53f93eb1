"""Reading edges: text files, Parquet, Matrix Market, and Python iterables, into one `EdgeList`.

An edge file has one edge per line, `src dst [weight]`, fields separated by
spaces or tabs; `#` starts a comment line; blank lines are skipped; a `.gz`
file is read through gzip. `EdgeFormat` says otherwise: another comment
prefix (KONECT's `%`), or more fields after the weight (KONECT's timestamp),
which are then skipped. A vertex file (Graphalytics' `.v`: one id per line,
first field of the line) names vertices that are in the graph with or without
an edge. Reading is done by pyarrow's multi-threaded CSV
reader, never by a Python loop over lines:

* fast path: the leading comment lines are skipped and the rest is read with
  the file's one delimiter (a tab or a space, taken from the first edge);
* exact path, when the fast path cannot be sure (several spaces in a row,
  a comment in the middle, a line with a wrong number of fields): every line
  is read whole and split on whitespace by Arrow's compute kernels, which also
  give a wrong line's number. Both paths give the same edges.

Then, as in a networkx DiGraph: duplicate edges collapse into one and the
last line's weight wins (`add_edge` overwrites); self-loops stay; with
`directed=False` each line is an edge both ways (so `u v 1` then `v u 2`
leaves weight 2 on both directions, as networkx's Graph does).

Ids: when both id columns (and a vertex file's ids) are all integers the ids
are int, otherwise str (a file of no edge leaves the kind to its vertex file);
tuples' ids keep their Python type (the str "1" stays a str).
A malformed line (one field, more than three unless the format allows extra
fields, a weight that is not a number) raises `ValueError` naming the file and
the line number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
# pyarrow at the top: only graph users import minibig.graph (a worker imports it with its
# first graph task), so the engine's start-up never pays for it.
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from minibig.graph.buffers import pooled
from minibig.graph.ids import VertexIndex, string_buffers

_FIELD_ERROR = "expected 'src dst [weight]'"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_BLOCK = 1 << 24                                      # bytes the CSV reader parses at a time
_SPREAD = 1 << 20                                     # the smallest block `spread` cuts (see `_blocks`)
_WHITESPACE = np.zeros(256, bool)                    # the bytes of the regex class \s
_WHITESPACE[[9, 10, 12, 13, 32]] = True


@dataclass(frozen=True)
class EdgeFormat:
    """How an edge file is written beyond `src dst [weight]` lines.

    `comments`: the prefix of a comment line (networkx's `comments=`; KONECT's files use "%").
    `extra_columns`: lines may have fields after the weight (KONECT's timestamp), skipped;
    without it such a line is malformed.
    """

    comments: str = "#"
    extra_columns: bool = False

    def __post_init__(self):
        if not isinstance(self.comments, str) or len(self.comments) != 1 or self.comments.isspace():
            raise ValueError(f"comments must be one character that is not whitespace, not {self.comments!r}")


PLAIN = EdgeFormat()


@dataclass
class EdgeList:
    """Deduplicated edges over dense vertex indices, sorted by (src, dst).

    `weight` is None when the input had no weights (every edge weighs 1).
    """

    index: VertexIndex
    src: np.ndarray          # int64 dense indices
    dst: np.ndarray          # int64 dense indices
    weight: np.ndarray | None

    @property
    def num_vertices(self) -> int:
        """Number of distinct vertices."""
        return len(self.index)

    @property
    def num_edges(self) -> int:
        """Number of distinct directed edges."""
        return len(self.src)

    def weights_or_ones(self) -> np.ndarray:
        """The weights, or an array of 1.0 for an unweighted graph."""
        return self.weight if self.weight is not None else np.ones(len(self.src))


class EdgeLineError(ValueError):
    """A malformed line of an edge file: `name`, `line` (1-based) and what was wrong."""

    def __init__(self, name: str, line: int, detail: str):
        super().__init__(f"{name}, line {line}: {detail}")
        self.name, self.line, self.detail = name, line, detail

    def __reduce__(self):
        return EdgeLineError, (self.name, self.line, self.detail)


def read_edge_file(path: str, directed: bool = True, fmt: EdgeFormat = PLAIN, vertices: str | None = None) -> EdgeList:
    """Edges of a `src dst [weight]` text file (or `.gz`), over their ids and those of the
    vertex file `vertices` (if given); see the module docstring."""
    path = os.fspath(path)
    src, dst, weight = read_edge_columns(path, path, fmt=fmt)
    listed = None if vertices is None else read_vertex_column(os.fspath(vertices), fmt)
    return edges_from_columns(src, dst, weight, directed=directed, source=path, vertices=listed)


def first_negative_weight(path: str, fmt: EdgeFormat = PLAIN) -> tuple[int, str] | None:
    """(line, weight as written) of the first line of an edge file whose weight is below 0 or
    NaN, or None (read whole, line by line: for an error's message, not for loading)."""
    if _is_empty(path):
        return None
    _, fields, counts, edge_line = _split_lines(path, fmt)
    rows = np.flatnonzero(edge_line & (counts >= 3))
    raw = pc.list_element(fields.take(pa.array(rows)), 2)
    weights = pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~(weights >= 0))
    return (int(rows[bad[0]]) + 1, raw[int(bad[0])].as_py()) if len(bad) else None


def read_vertex_column(source, fmt: EdgeFormat = PLAIN):
    """The ids of a vertex file (a path, `.gz` too, or a `pyarrow.Buffer` of whole lines): the
    first field of each line that is not blank or a comment, as written (a string column)."""
    if _is_empty(source):
        return pa.array([], pa.string())
    _, trimmed = _lines(source)
    keep = ~_blank_or_comment(trimmed, fmt)
    fields = pc.utf8_split_whitespace(trimmed.filter(pa.array(keep)), max_splits=1)
    return pc.list_element(fields, 0)


def read_edge_columns(source, name: str, as_strings: bool = False, check: bool = True, spread: bool = False,
                      fmt: EdgeFormat = PLAIN):
    """(src, dst, weight) of edge text: `source` is a path (`.gz` too) or a `pyarrow.Buffer`
    holding whole lines; `src` and `dst` are int64 columns when the ids are all integers (and
    not `as_strings`), else string columns as written; `weight` a float64 array or None. A
    malformed line raises `EdgeLineError` naming `name` and the line within `source`.

    `check=False` leaves string ids unchecked: the caller then calls `doubtful` on their
    distinct values and, when it says so, `read_exact` (it has the distinct values anyway).
    `spread`: the reader has the machine's cores to itself (see `_blocks`).
    """
    columns = _read_fast(source, as_strings, check, spread, fmt)
    if columns is None:
        columns = _read_exact(source, name, fmt)
    return columns


def read_exact(source, name: str, fmt: EdgeFormat = PLAIN):
    """(src, dst, weight) of edge text, every line split on whitespace (the slow, sure path)."""
    return _read_exact(source, name, fmt)


def doubtful(values, comments: str = "#") -> bool:
    """Whether string ids read by the fast path show that it misread the lines: an empty
    field (a doubled delimiter, a trailing space), a comment line (`comments` first), a whitespace character
    inside (the regex class \\s: tab, newline, form feed, carriage return, space), or bytes
    that are not UTF-8 (the fast path does not check them: the exact path then reports it).

    Checked on the strings' bytes with numpy (three Arrow kernels, one of them a regex, took
    five times as long): a UTF-8 multi-byte character never holds an ASCII byte.
    """
    strings = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not len(strings):
        return False
    try:
        strings.validate(full=True)
    except pa.ArrowInvalid:
        return True
    offsets, data = string_buffers(strings)
    starts, lengths = offsets[:-1], np.diff(offsets)
    if not lengths.all():
        return True
    if (data[starts] == ord(comments)).any():
        return True
    # the table only for bytes up to a space, where every whitespace byte is: one comparison
    # pass instead of a table lookup per byte (Debian's 1.2 MB of distinct ids: 0.1 against 2.5 ms)
    text = data[offsets[0]:offsets[-1]]
    return bool(_WHITESPACE[text[text <= 32]].any())


def read_edge_parquet(path: str, directed: bool = True) -> EdgeList:
    """Edges of a Parquet file (or dataset folder) with columns `src`, `dst` and optionally `weight`."""
    import pyarrow.parquet as pq        # only Parquet input needs it (0.1 s to import)
    table = pq.read_table(path)
    missing = {"src", "dst"} - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: Parquet edges need columns src and dst; missing {sorted(missing)}")
    weight = None
    if "weight" in table.column_names:
        weight = pc.cast(table.column("weight"), "float64").to_numpy()
    return edges_from_columns(table.column("src"), table.column("dst"), weight,
                              directed=directed, source=path)


def read_matrix_market(path: str) -> EdgeList:
    """Edges of a Matrix Market file (`.mtx`, `.mtx.gz`) as networkx makes a graph of its matrix
    (`nx.from_scipy_sparse_array(scipy.io.mmread(path), create_using=nx.DiGraph)`): vertices
    0..n-1, all of them, an edge per stored entry (a symmetric file's both ways; a dense `array`
    file's non-zero entries, as `nx.from_numpy_array`), the entry its weight (a `pattern` file:
    unweighted). Read by scipy, in this process."""
    import scipy.io                     # only Matrix Market input needs it
    import scipy.sparse
    path = os.fspath(path)
    rows, columns, _, _, field, _ = scipy.io.mminfo(path)
    if rows != columns:
        raise ValueError(f"{path}: a graph's adjacency matrix is square, not {rows} x {columns}")
    if field == "complex":
        raise ValueError(f"{path}: complex entries are no edge weights")
    # a dense (`array`) file is an ndarray: its non-zero entries are the edges, as networkx's
    # from_numpy_array has them; a coordinate file keeps its stored entries, zeros too
    matrix = scipy.sparse.coo_array(scipy.io.mmread(path, spmatrix=False))
    weight = None if field == "pattern" else np.asarray(matrix.data, np.float64)
    return edges_from_columns(pa.array(matrix.row, pa.int64()), pa.array(matrix.col, pa.int64()), weight,
                              source=path, typed=True, vertices=pa.array(np.arange(rows), pa.int64()))


def edges_from_tuples(edges, directed: bool = True, vertices=()) -> EdgeList:
    """Edges from an iterable of `(src, dst)` or `(src, dst, weight)` tuples (all of one shape),
    over their ids and `vertices` (ids in the graph with or without an edge)."""
    rows = [tuple(e) for e in edges]
    widths = {len(r) for r in rows}
    if widths - {2, 3} or len(widths) > 1:
        raise ValueError(f"edges must all be (src, dst) or all (src, dst, weight) tuples; got lengths {sorted(widths)}")
    src = [r[0] for r in rows]
    dst = [r[1] for r in rows]
    weight = np.array([r[2] for r in rows], dtype=np.float64) if widths == {3} else None
    vertices = list(vertices)
    kind = _id_kind(src + dst + vertices)
    return edges_from_columns(pa.array(src, kind), pa.array(dst, kind), weight, directed=directed,
                              source="edge list", typed=True, vertices=pa.array(vertices, kind))


def edges_from_columns(src, dst, weight, directed: bool = True, source: str = "edges",
                       typed: bool = False, vertices=None) -> EdgeList:
    """Index, orient and deduplicate edge columns (pyarrow arrays of int or str ids). `typed`: the
    columns' types are the ids' own (Python's "1" is a str), not text that may hold integers.
    `vertices`: a column of ids that are vertices with or without edges (of the edges' kind:
    text read from a file is int when it and the edges' ids are all integers)."""
    listed = [] if vertices is None or not len(vertices) else [vertices]
    if typed:
        src, dst, *extra = (as_chunked(c) for c in (src, dst, *listed))
    else:
        src, dst, *extra = _as_id_columns(src, dst, *listed)
    if len(src) and (pc.any(pc.is_null(src)).as_py() or pc.any(pc.is_null(dst)).as_py()):
        raise ValueError(f"{source}: an edge has a missing (null) vertex id")
    if weight is not None:
        weight = np.asarray(weight, dtype=np.float64)
    if len(src) == 0 and not extra:
        index = VertexIndex(np.zeros(0, np.int64) if pa.types.is_integer(src.type) else np.zeros(0, object))
        return EdgeList(index, np.zeros(0, np.int64), np.zeros(0, np.int64), weight)
    index, (s, d, *_) = VertexIndex.from_arrow(src, dst, *extra)
    if not directed:
        s, d = _both_ways(s, d), _both_ways(d, s)
        weight = None if weight is None else np.repeat(weight, 2)
    s, d, weight = collapse_duplicates(s, d, weight, len(index))
    return EdgeList(index, s, d, weight)


def _both_ways(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a0 b0 a1 b1 ...: each line's two directions stay at its place in line order."""
    return np.stack((a, b), axis=1).reshape(-1)


def collapse_duplicates(src, dst, weight, n):
    """One edge per (src, dst), the last occurrence's weight, sorted by (src, dst)."""
    # a key orders as (src, dst): src in the high 32 bits where ids fit in 31 (a shift and a mask
    # take it apart 20x faster than a division), else src * n (n < 3e9 keeps it inside int64)
    # (the edges' arrays in Arrow's pool: see buffers.py)
    high = n <= 1 << 31
    key = pooled(len(src), np.int64)
    if high:
        np.left_shift(src, 32, out=key, dtype=np.int64)
    else:
        np.multiply(src, np.int64(n), out=key, dtype=np.int64)
    key += dst                                       # in place: no second array of the edges' size
    if not len(key):
        return np.asarray(src, np.int64), np.asarray(dst, np.int64), weight
    # np.sort and a mask, not np.unique: numpy 2's np.unique hashes first (20x slower on 8M keys)
    if weight is None:                               # no weight to choose: any duplicate will do
        key.sort()                                   # key is this function's own
        # Arrow's filter, into its pool: np.compress took into a fresh array, then copied into
        # `out` (a Debian partition's 160k keys on a worker: 615 page faults, 1.8 against 0.3 ms)
        kept = pc.filter(pa.array(key), pa.array(run_ends(key))).to_numpy()     # read-only
        if high:
            src = np.right_shift(kept, 32, out=pooled(len(kept), np.int64))
            return src, np.bitwise_and(kept, np.int64(0xFFFFFFFF), out=pooled(len(kept), np.int64)), None
        src, dst = np.divmod(kept, np.int64(n))
        return src, dst, None
    order = np.argsort(key, kind="stable")           # equal keys stay in line order: keep the last
    last = order[run_ends(key[order])]
    return src[last], dst[last], weight[last]


def run_ends(ordered: np.ndarray) -> np.ndarray:
    """Mask of the last element of each run of equal values in a sorted array."""
    ends = np.ones(len(ordered), dtype=bool)
    ends[:-1] = ordered[1:] != ordered[:-1]
    return ends


def _as_id_columns(*columns) -> list:
    """Every column int64 when all are integers (an empty one, as an edge file of no edge
    reads, fits either kind: the workers' ranges say so too), else every one str."""
    columns = [as_chunked(c) for c in columns]
    as_int = [strings_as_ints(c) if len(c) else pa.chunked_array([], pa.int64()) for c in columns]
    if all(c is not None for c in as_int):
        return as_int
    return [as_id_kind(c, False) for c in columns]


def as_chunked(column):
    """A pyarrow ChunkedArray of `column` (an Array, a ChunkedArray or a sequence)."""
    if isinstance(column, pa.ChunkedArray):
        return column
    return pa.chunked_array([column if isinstance(column, pa.Array) else pa.array(column)])


def as_id_kind(column, is_int: bool):
    """An id column cast to int64 (`is_int`) or to str."""
    return pc.cast(column, pa.int64() if is_int else pa.string())


def strings_as_ints(column):
    """An int64 column when every value of a column is an integer, else None."""
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.int64())
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    # a first id that is no integer settles it without a regex pass over every id
    first = column[0].as_py() if len(column) else None
    if first is not None and not _INTEGER.fullmatch(first):
        return None
    # int64 cast accepts exactly optional-sign digits; anything else (1.5, 1e3, x) stays str
    if not pc.all(pc.match_substring_regex(column, r"^[+-]?[0-9]+$")).as_py():
        return None
    try:
        return pc.cast(column, pa.int64())
    except (pa.ArrowInvalid, OverflowError):
        return None


def _id_kind(ids):
    if all(type(v) is int or isinstance(v, np.integer) for v in ids):
        return pa.int64()
    if all(isinstance(v, str) for v in ids):
        return pa.string()
    raise TypeError("vertex ids must be all integers or all strings, not a mix: "
                    f"{sorted({type(v).__name__ for v in ids})}")


# -- text files ------------------------------------------------------------

def _open(source):
    """What pyarrow's CSV reader reads: a path as it is (it decompresses `.gz`), a Buffer's reader."""
    return pa.BufferReader(source) if isinstance(source, pa.Buffer) else source


def _head_lines(source, size: int = 1 << 16) -> list[str]:
    """The whole lines in the first `size` bytes (the fast path looks for its first edge there)."""
    if isinstance(source, pa.Buffer):
        data = source[:size].to_pybytes()
    else:
        with pa.input_stream(source, compression="detect") as stream:
            data = stream.read(size)
    if len(data) == size:                                # the last line may be cut: drop it
        data = data[:data.rfind(b"\n") + 1]
    return data.decode("utf-8", "replace").splitlines()


def _read_fast(source, as_strings: bool = False, check: bool = True, spread: bool = False,
               fmt: EdgeFormat = PLAIN):
    """(src, dst, weight) read with the file's single delimiter, or None when unsure."""
    head = _head_lines(source)
    skip = 0
    while skip < len(head) and (not head[skip].strip() or head[skip].lstrip().startswith(fmt.comments)):
        skip += 1
    if skip == len(head):
        return None
    first = head[skip]
    delimiter = "\t" if "\t" in first else " "
    width = len(first.split(delimiter))
    if width < 2 or (width > 3 and not fmt.extra_columns) or first != first.strip() or "  " in first:
        return None
    names = ["src", "dst", "weight"][:width] + [f"extra{i}" for i in range(3, width)]
    table = None
    if not as_strings and all(_INTEGER.fullmatch(field) for field in first.split(delimiter)[:2]):
        table = _read_table(source, skip, names, delimiter, pa.int64(), spread)    # None: not all integers
        if table is not None:                        # integers cannot be empty, comments or spaces
            return _columns_of(table, width)
    table = _read_table(source, skip, names, delimiter, pa.string(), spread)
    if table is None:
        return None
    src, dst = table.column("src"), table.column("dst")
    # checked on the distinct values (ids repeat: a few times fewer strings to scan)
    if check and any(doubtful(pc.unique(column), fmt.comments) for column in (src, dst)):
        return None                                  # let the exact path judge
    return _columns_of(table, width)


def _blocks(source, spread: bool = False) -> dict:
    """The CSV reader's block size and whether its threads share the blocks. `spread`: a
    buffer of a few megabytes is cut into a block per core (a graph of one partition, read
    whole by one task: Debian's 10 MB parse in 11 against 21 ms on two cores). Otherwise the
    threads only for a source of several blocks: one block is parsed by one thread anyway,
    and the pool's hand-offs cost (a byte range of the Debian graph, each worker of two
    reading one: 100 ms against 130 ms on a busy 2-core machine, the same CPU)."""
    if spread and isinstance(source, pa.Buffer) and source.size > _SPREAD:
        return {"block_size": max(_SPREAD, -(-source.size // pa.cpu_count())), "use_threads": True}
    return {"block_size": _BLOCK, "use_threads": not isinstance(source, pa.Buffer) or source.size > _BLOCK}


def _read_table(source, skip: int, names: list, delimiter: str, id_type, spread: bool = False):
    """The table of (src, dst[, weight]) with ids of `id_type`, or None when a line does not fit."""
    types = {"src": id_type, "dst": id_type, "weight": pa.float64()}
    kept = names[:3]                                 # fields after the weight: read as text, not kept
    try:
        return csv.read_csv(
            _open(source),
            read_options=csv.ReadOptions(skip_rows=skip, column_names=names, **_blocks(source, spread)),
            parse_options=csv.ParseOptions(delimiter=delimiter, quote_char=False, escape_char=False,
                                           ignore_empty_lines=True),
            # UTF-8 is checked on the distinct ids, not on every field (`doubtful`): Debian's
            # whole file parses in 34 ms against 41
            convert_options=csv.ConvertOptions(column_types={n: types[n] for n in kept}, include_columns=kept,
                                               null_values=[],
                                               strings_can_be_null=False, quoted_strings_can_be_null=False,
                                               check_utf8=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None


def _columns_of(table, width: int):
    """(src, dst, weight) of a fast-path table; None when a weight is missing."""
    weight = None
    if width >= 3:
        w = table.column("weight")
        if w.null_count:
            return None
        weight = w.to_numpy()
    return table.column("src"), table.column("dst"), weight


def _lines(source):
    """(every line of edge text, the same lines trimmed of whitespace) as Arrow string arrays."""
    table = csv.read_csv(
        _open(source),
        read_options=csv.ReadOptions(column_names=["line"], **_blocks(source)),
        parse_options=csv.ParseOptions(delimiter="\x01", quote_char=False, escape_char=False,
                                       ignore_empty_lines=False, newlines_in_values=False),
        convert_options=csv.ConvertOptions(column_types={"line": pa.string()},
                                           strings_can_be_null=False, quoted_strings_can_be_null=False))
    lines = table.column("line").combine_chunks()
    return lines, pc.utf8_trim_whitespace(lines)


def _blank_or_comment(trimmed, fmt: EdgeFormat) -> np.ndarray:
    """Mask of the trimmed lines that are blank or comments."""
    blank = pc.equal(pc.utf8_length(trimmed), 0).to_numpy(zero_copy_only=False)
    return blank | pc.starts_with(trimmed, fmt.comments).to_numpy(zero_copy_only=False)


def _split_lines(source, fmt: EdgeFormat):
    """(every line of edge text, each line's whitespace-separated fields, how many, mask of the
    lines that are neither blank nor comments) of non-empty edge text."""
    lines, trimmed = _lines(source)                  # trimmed: splitting gives no empty first/last field
    fields = pc.utf8_split_whitespace(trimmed)
    counts = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    return lines, fields, counts, ~_blank_or_comment(trimmed, fmt)


def _read_exact(source, name: str, fmt: EdgeFormat = PLAIN):
    """(src, dst, weight) from whole lines split on any whitespace; errors name the line."""
    if _is_empty(source):                            # Arrow's CSV reader refuses an empty file
        return pa.array([], pa.string()), pa.array([], pa.string()), None
    lines, fields, counts, edge_line = _split_lines(source, fmt)
    bad = edge_line & ((counts < 2) | ((counts > 3) & (not fmt.extra_columns)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EdgeLineError(name, row + 1, f"{_FIELD_ERROR}, got {lines[row].as_py()!r}")
    rows = np.flatnonzero(edge_line)
    fields = fields.take(pa.array(rows))
    counts = counts[rows]
    src = pc.list_element(fields, 0)
    dst = pc.list_element(fields, 1)
    weight = None
    if (counts >= 3).any():
        raw = pc.list_element(fields.filter(pa.array(counts >= 3)), 2)
        try:
            values = pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            at = _first_non_number(raw.to_pylist())
            row = int(rows[np.flatnonzero(counts >= 3)[at]])
            raise EdgeLineError(name, row + 1, f"weight {raw[at].as_py()!r} is not a number "
                                               f"({_FIELD_ERROR})") from None
        weight = np.ones(len(rows))
        weight[counts >= 3] = values
    return src, dst, weight


def _is_empty(source) -> bool:
    if isinstance(source, pa.Buffer):
        return not source.size
    with pa.input_stream(source, compression="detect") as stream:
        return not stream.read(1)


def _first_non_number(texts: list[str]) -> int:
    for i, text in enumerate(texts):
        try:
            float(text)
        except ValueError:
            return i
    raise AssertionError("Arrow refused a weight column that Python parses")
