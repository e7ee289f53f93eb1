"""The columnar path of a shuffle: numeric aggregations as Arrow blocks and kernels.

When a shuffle aggregates with a known function — `reduceByKey(operator.add)`,
`reduceByKey(min)`, `reduceByKey(max)`: a combiner that is the value itself,
merged by one of those three — and hashes keys with `portable_hash`, the
combined records travel as columns instead of pickled Python pairs:

* the map task folds its records in its dict as usual (`ExternalMap`: for
  Python records a dict fold is cheaper than converting each record to
  arrays first); when it spills or ends, the dict becomes two arrays (keys:
  all `int` within int64, or all `str`; values: all `int` or all `float`),
  which the kernels cut by reducer (`columnar.partition_batch`, the same
  hash as `portable_hash`), written as Arrow IPC streams — one record batch
  of columns key and value — each pickled as a `bytes` frame among the
  segment's batches. That saves, per distinct key, the Python partitioning,
  pickling and unpickling of a pair;
* the reducer folds the frames it reads with `columnar.aggregate` (numba
  kernels) instead of merging Python pairs in a dict, and hands out
  (key, value) pairs.

The choice is automatic and must not show in the answer, so whatever could
make the Python result differ keeps the row path — exactly, since what the
columns held so far goes back as Python pairs:

* keys or values of another type (bool, mixed int and float, numpy
  scalars, ints beyond int64): that dict is written as pickled pairs, as is
  a dict of fewer than `MIN_GROUPS` keys (too small to gain);
* integer sums that could leave int64: the reducer's running total of
  |value| (a float) must stay below 2**62, or Python's unbounded ints take
  over; a map task's own partial sums are Python ints, converted only if
  they fit;
* min/max over floats holding NaN (Python's min and max then depend on
  argument order; the kernels skip NaN);
* a frame whose value type differs from the frames before (a key could then
  mix int and float partial results).

Fold order is the Python one: map outputs in map order, rows in order, so
float sums are the same left-to-right sums. State of the reducer's
`ColumnarCombiner`: `keys`/`values`, the folded arrays; `pending`, frames read
but not folded yet (folded once they hold 4x the state's rows, so each row
is folded O(1) times); `abs_total`. Its memory is counted exactly (array
bytes): past half the budget it hands everything to the row path, which
spills. `MINIBIG_SHUFFLE_COLUMNAR=0` in the workers' environment turns the
path off, to measure it against the row path (`bench/groupby.py --compare`).
"""

from __future__ import annotations

import itertools

import numpy as np

from minibig.shuffle.partitioners import columnar_size_pays
from minibig.shuffle.spill import ExternalMap, effective_budget

CHUNK = 65536
INT_SUM_LIMIT = float(2 ** 62)


def to_columns(combined: dict):
    """(keys, values) arrays of a {key: combiner} dict, or None if it does not fit."""
    if not combined:
        return None
    keys, values = list(combined), list(combined.values())
    value_types = set(map(type, values))
    if value_types == {int}:
        try:
            values = np.array(values, dtype=np.int64)
        except OverflowError:
            return None
    elif value_types == {float}:
        values = np.array(values, dtype=np.float64)
    else:
        return None
    if values.dtype.kind == "f" and np.isnan(values).any():
        return None                  # min/max of NaN: Python's answer depends on the order
    key_types = set(map(type, keys))
    if key_types == {int}:
        try:
            keys = np.array(keys, dtype=np.int64)
        except OverflowError:
            return None
    elif key_types == {str}:
        import pyarrow as pa              # only now: an idle worker need not load Arrow
        try:
            keys = pa.array(keys, type=pa.string())
        except (pa.ArrowException, UnicodeError):  # lone surrogates have no UTF-8
            return None
    else:
        return None
    return keys, values


def pairs_of(keys, values):
    """(key, value) Python pairs of two arrays."""
    return zip(keys.tolist() if isinstance(keys, np.ndarray) else keys.to_pylist(), values.tolist())


def _concat(parts: list):
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import pyarrow as pa              # heavy: loaded by the first columnar shuffle only
    return pa.concat_arrays(parts)


def _nbytes(array) -> int:
    return array.nbytes


class ColumnarCombiner:
    """Folds (key, value) columns with the kernels; None from `add` means: use the row path."""

    def __init__(self, op: str, budget: int | None):
        self.op = op
        self.budget = effective_budget(budget)
        self.keys = self.values = None
        self.pending: list[tuple] = []
        self.pending_rows = 0
        self.abs_total = 0.0

    def accepts(self, keys, values) -> bool:
        """Whether folding these columns keeps the Python answer (see the module's rules)."""
        if self.values is not None and values.dtype != self.values.dtype:
            return False
        if self.pending and values.dtype != self.pending[0][1].dtype:
            return False
        if self.keys is not None and type(keys) is not type(self.keys):
            return False
        if self.pending and type(keys) is not type(self.pending[0][0]):
            return False
        if values.dtype.kind == "f":
            return self.op == "sum" or not np.isnan(values).any()
        if self.op == "sum":
            self.abs_total += float(np.abs(values.astype(np.float64)).sum())
            return self.abs_total < INT_SUM_LIMIT
        return True

    def add(self, keys, values) -> None:
        """Queue columns (already `accepts`-ed); fold when the queue is as long as the state."""
        self.pending.append((keys, values))
        self.pending_rows += len(values)
        if self.pending_rows >= max(CHUNK, 0 if self.values is None else 4 * len(self.values)):
            self.fold()

    def fold(self) -> None:
        """Fold the queued columns into the state."""
        if not self.pending:
            return
        from minibig.shuffle.columnar import aggregate   # loads numba: only where it pays
        parts = ([] if self.keys is None else [(self.keys, self.values)]) + self.pending
        keys = _concat([k for k, _ in parts])
        values = np.concatenate([v for _, v in parts])
        self.pending, self.pending_rows = [], 0
        self.keys, self.values = aggregate(keys, values, self.op, "hash")

    def nbytes(self) -> int:
        """Bytes the state and the queue hold."""
        held = 0 if self.keys is None else _nbytes(self.keys) + _nbytes(self.values)
        return held + sum(_nbytes(k) + _nbytes(v) for k, v in self.pending)

    def take(self):
        """The folded (keys, values), emptying the combiner (None, None if empty)."""
        self.fold()
        keys, values = self.keys, self.values
        self.keys = self.values = None
        return keys, values

    def python_pairs(self):
        """Everything held, as Python pairs in fold order (for the row path)."""
        held = [] if self.keys is None else [(self.keys, self.values)]
        parts, self.pending, self.pending_rows = held + self.pending, [], 0
        self.keys = self.values = None
        return itertools.chain.from_iterable(pairs_of(k, v) for k, v in parts)


def to_frame(keys, values) -> bytes:
    """An Arrow IPC stream of one record batch (key, value)."""
    import pyarrow as pa              # heavy: loaded by the first columnar shuffle only
    batch = pa.record_batch([pa.array(keys), pa.array(values)], names=["key", "value"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def from_frame(frame: bytes):
    """(keys, values) of a frame: a numpy int64 array or an Arrow string array, and numpy values."""
    import pyarrow as pa              # heavy: loaded by the first columnar shuffle only
    table = pa.ipc.open_stream(frame).read_all()
    keys = table.column("key").combine_chunks()
    values = table.column("value").to_numpy()
    if pa.types.is_integer(keys.type):
        keys = keys.to_numpy()
    return keys, values


def frame_records(frame: bytes) -> list:
    """The (key, value) records of a frame, for a reader that wants rows."""
    return list(pairs_of(*from_frame(frame)))


# -- the map side ----------------------------------------------------------------------------
def dict_frames(combined: dict, n: int) -> list | None:
    """One Arrow frame (or None) per reduce partition for a map task's combined dict,
    or None when its keys or values do not fit the columnar path, or when it
    is too small to gain from it (`MIN_GROUPS`). Empties the dict if it fits."""
    if not columnar_size_pays(len(combined)):
        return None
    columns = to_columns(combined)
    if columns is None:
        return None
    combined.clear()                  # the arrays hold it all now
    return _partitioned(columns, n)


def _partitioned(columns, n: int) -> list:
    """One Arrow frame (or None) per reduce partition."""
    import pyarrow as pa              # heavy: loaded by the first columnar shuffle only
    from minibig.shuffle.columnar import partition_batch   # loads numba: only where it pays
    keys, values = columns
    perm, offsets = partition_batch(keys, n)
    frames = []
    for p in range(n):
        rows = perm[offsets[p]:offsets[p + 1]]
        if len(rows) == 0:
            frames.append(None)
        elif isinstance(keys, np.ndarray):
            frames.append(to_frame(keys[rows], values[rows]))
        else:
            frames.append(to_frame(keys.take(pa.array(rows)), values[rows]))
    return frames


# -- the reduce side ---------------------------------------------------------------------------
def combine_columnar(batches, op: str, aggregator, budget: int | None, spill_dir):
    """Merge a reducer's batches (Arrow frames, `Columns` and lists of pairs, as
    `read_batches(..., frames=True)` gives them) into (key, value) pairs."""
    combiner = ColumnarCombiner(op, budget)
    limit = combiner.budget // 2
    batches = iter(batches)
    for batch in batches:
        if type(batch) is not bytes:
            break
        keys, values = from_frame(batch)
        if not combiner.accepts(keys, values):
            batch = pairs_of(keys, values)
            break
        combiner.add(keys, values)
        if combiner.nbytes() > limit:
            combiner.fold()
            if combiner.nbytes() > limit:                # too many keys: the row path spills
                batch = None
                break
    else:
        keys, values = combiner.take()
        return iter(()) if keys is None else pairs_of(keys, values)
    # The row path from here on: the kernels' sums so far, then every batch left.
    rows = ExternalMap(aggregator, budget, spill_dir)
    rows.insert_combiners(combiner.python_pairs())
    rest = batches if batch is None else itertools.chain([batch], batches)
    return rows.insert_batches(rest).items()
