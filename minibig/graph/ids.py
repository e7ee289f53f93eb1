"""Vertex ids: the user's ids (int or str) and the dense index the engine uses.

Every vertex gets a dense int64 *global index* at load time: its rank among
the graph's original ids, sorted. Because the relabelling keeps the order,
"the smallest vertex id" (connected components, label propagation's ties) is
the smallest dense index, and messages can be routed and applied with numpy
fancy indexing instead of dict lookups. `VertexIndex` keeps the sorted
original ids so results are given back under the user's names.

A graph's ids are all of one kind: `int64` when every id column of the input
is made of integers, `str` otherwise (a file mixing "7" and "x" has str ids;
ids given as Python values keep their type: the str "7" stays a str).

>>> index, dense = VertexIndex.from_ids(["b", "a", "b", "c"])
>>> index.ids.tolist(), dense.tolist()
(['a', 'b', 'c'], [1, 0, 1, 2])
>>> index.to_dense(["c", "a"]).tolist(), index.original(2)
([2, 0], 'c')
"""

from __future__ import annotations

import numpy as np
# pyarrow at the top: only graph users import minibig.graph (a worker imports it with its
# first graph task), so the engine's start-up never pays for it.
import pyarrow as pa
import pyarrow.compute as pc


class VertexIndex:
    """The sorted original ids of a graph; position in it is the dense global index."""

    def __init__(self, ids):
        # sorted, unique: int64 or object (str) numpy, or str ids as an Arrow array, made numpy
        # on first use (a worker that only runs vectorised programs never uses it: 65k str ids,
        # 6 ms of a load)
        self._arrow = ids if isinstance(ids, pa.Array) else None
        self._ids = None if self._arrow is not None else ids
        self.is_int = self._arrow is None and ids.dtype.kind == "i"

    @property
    def ids(self) -> np.ndarray:
        """The sorted original ids: int64, or object (str)."""
        if self._ids is None:                # two threads may both convert: either result serves
            self._ids = self._arrow.to_numpy(zero_copy_only=False) if len(self._arrow) else np.zeros(0, object)
        return self._ids

    @property
    def packed(self):
        """The ids as kept: str ids' Arrow array (no object array made), else `ids`."""
        return self._arrow if self._arrow is not None else self.ids

    def __len__(self) -> int:
        return len(self._arrow) if self._ids is None else len(self._ids)

    def __repr__(self) -> str:
        return f"VertexIndex({len(self)} {'int' if self.is_int else 'str'} ids)"

    @classmethod
    def from_ids(cls, ids) -> tuple["VertexIndex", np.ndarray]:
        """Index the distinct ids of `ids` (a sequence or array); also return each one's dense index."""
        values = _as_id_array(ids)
        unique, dense = np.unique(values, return_inverse=True)
        return cls(unique), dense.astype(np.int64).reshape(-1)

    @classmethod
    def from_arrow(cls, *columns) -> tuple["VertexIndex", list[np.ndarray]]:
        """Index the ids of pyarrow columns (all int64 or all string) with Arrow's hash kernels.

        Returns the index and, for each column, its dense indices. Faster than
        `np.unique` on tens of millions of ids: hashing, then sorting only the
        distinct ids.
        """
        joined = pa.chunked_array([chunk for column in columns for chunk in _chunks(column)])
        unique = pc.unique(joined)
        unique = unique.take(pc.sort_indices(unique))
        dense = [pc.index_in(column, value_set=unique).to_numpy(zero_copy_only=False).astype(np.int64)
                 for column in columns]
        ids = unique.to_numpy(zero_copy_only=False)
        if ids.dtype.kind != "i":
            ids = ids.astype(object)
        return cls(ids), dense

    def to_dense(self, ids) -> np.ndarray:
        """Dense indices of original ids; `KeyError` naming the first id the graph does not have."""
        values = _as_id_array(ids, like=self.ids)
        pos = np.searchsorted(self.ids, values)
        pos = np.minimum(pos, max(len(self.ids) - 1, 0))
        # a graph without vertices has none of them (and no ids[0] to compare with)
        missing = self.ids[pos] != values if len(self.ids) and len(values) else \
            np.full(len(values), not len(self.ids))
        if np.any(missing):
            # tolist: the id as the user wrote it (8, not numpy's np.int64(8))
            raise KeyError(f"vertex {values[np.flatnonzero(missing)[:1]].tolist()[0]!r} is not in the graph")
        return pos.astype(np.int64)

    def original(self, dense: int):
        """The original id of one dense index, as a plain Python int or str."""
        value = self.ids[dense]
        return int(value) if self.is_int else value

    def originals(self, dense: np.ndarray) -> list:
        """Original ids of many dense indices, as a list of plain Python values."""
        return self.ids[dense].tolist()


def packed_ids(ids: np.ndarray):
    """Ids as they travel best: int64 as they are, str ids as one Arrow string array (its
    buffers pickle in one piece; a numpy object array pickles, and unpickles, string by string:
    about three times slower)."""
    return pa.array(ids, pa.string()) if ids.dtype.kind == "O" else ids


def plain_list(ids) -> list:
    """Plain Python values (ids, outputs) from a `packed_ids` value, a numpy array or a list."""
    if isinstance(ids, (pa.Array, np.ndarray)):
        return ids.to_pylist() if isinstance(ids, pa.Array) else ids.tolist()
    return list(ids)


def string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets as int64, UTF-8 bytes as uint8) of an Arrow string array's buffers (no copy of
    the bytes): string i is `data[offsets[i]:offsets[i + 1]]`."""
    _, offsets, data = strings.buffers()
    offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    offsets = np.frombuffer(offsets, offset_type, len(strings) + 1, strings.offset * offset_type().itemsize)
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets.astype(np.int64), data


def _as_id_array(ids, like: np.ndarray | None = None) -> np.ndarray:
    """ids as int64 when they are all ints (and `like`, if given, is int), else as object."""
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        values = ids.astype(np.int64)
    else:
        items = list(ids)
        if all(type(v) is int or isinstance(v, np.integer) for v in items):
            values = np.array(items, dtype=np.int64)
        elif all(isinstance(v, str) for v in items):
            values = np.array(items, dtype=object)
        else:
            raise TypeError("vertex ids must be all integers or all strings, not a mix: "
                            f"{sorted({type(v).__name__ for v in items})}")
    if like is not None and like.dtype.kind != values.dtype.kind and len(values):
        raise KeyError(f"vertex {values[:1].tolist()[0]!r} is not in the graph "
                       f"(its ids are {'int' if like.dtype.kind == 'i' else 'str'})")
    return values


def _chunks(column):
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]
