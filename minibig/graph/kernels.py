"""numba kernels of the graph engine: segment reductions, mode, wedge checks.

Imported only by the code paths that need them (`import minibig` and
`import minibig.graph` do not load numba); compiled once and cached on disk
(`cache=True`).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def segment_min(slots, values, num_slots, identity):
    """Minimum of `values` per slot and the number of values per slot."""
    out = np.full(num_slots, identity, dtype=values.dtype)
    count = np.zeros(num_slots, dtype=np.int64)
    for i in range(len(slots)):
        s = slots[i]
        count[s] += 1
        if values[i] < out[s]:
            out[s] = values[i]
    return out, count


@numba.njit(cache=True)
def segment_max(slots, values, num_slots, identity):
    """Maximum of `values` per slot and the number of values per slot."""
    out = np.full(num_slots, identity, dtype=values.dtype)
    count = np.zeros(num_slots, dtype=np.int64)
    for i in range(len(slots)):
        s = slots[i]
        count[s] += 1
        if values[i] > out[s]:
            out[s] = values[i]
    return out, count


@numba.njit(cache=True)
def segment_mode(indptr, values, default):
    """Most frequent value of each CSR segment, smallest on ties; `default[i]` for an empty one.

    Each segment of `values` must be sorted ascending.
    """
    n = len(indptr) - 1
    out = default.copy()
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        best_count = 0
        j = start
        while j < stop:
            k = j
            while k < stop and values[k] == values[j]:
                k += 1
            if k - j > best_count:          # strictly more: the first (smallest) value wins ties
                best_count = k - j
                out[i] = values[j]
            j = k
    return out


@numba.njit(cache=True)
def wedges(indptr, neighbours, vertices):
    """Every ordered pair (u, w), u != w, of the neighbours of each vertex, as three arrays.

    Returns (centre, u, w): `centre` is the dense index of the vertex whose
    neighbours u and w are. `neighbours` is a CSR of dense indices.
    """
    total = 0
    for i in range(len(indptr) - 1):
        d = indptr[i + 1] - indptr[i]
        total += d * (d - 1)
    centre = np.empty(total, dtype=np.int64)
    first = np.empty(total, dtype=np.int64)
    second = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(len(indptr) - 1):
        start, stop = indptr[i], indptr[i + 1]
        for a in range(start, stop):
            for b in range(start, stop):
                if a != b:
                    centre[k] = vertices[i]
                    first[k] = neighbours[a]
                    second[k] = neighbours[b]
                    k += 1
    return centre, first, second


@numba.njit(cache=True)
def has_edge(indptr, targets, rows, wanted):
    """For each query j: is `wanted[j]` among the (sorted) targets of CSR row `rows[j]`?"""
    out = np.zeros(len(rows), dtype=np.bool_)
    for j in range(len(rows)):
        start, stop = indptr[rows[j]], indptr[rows[j] + 1]
        lo, hi = start, stop
        x = wanted[j]
        while lo < hi:
            mid = (lo + hi) // 2
            if targets[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        out[j] = lo < stop and targets[lo] == x
    return out


@numba.njit(cache=True)
def union_neighbours(out_indptr, out_dst, in_indptr, in_src, vertices):
    """CSR of each vertex's distinct neighbours over out- and in-edges, itself excluded, sorted."""
    n = len(out_indptr) - 1
    indptr = np.zeros(n + 1, dtype=np.int64)
    merged = np.empty(len(out_dst) + len(in_src), dtype=np.int64)
    k = 0
    for i in range(n):
        a, a_end = out_indptr[i], out_indptr[i + 1]
        b, b_end = in_indptr[i], in_indptr[i + 1]
        last = -1
        while a < a_end or b < b_end:
            if b >= b_end or (a < a_end and out_dst[a] <= in_src[b]):
                x = out_dst[a]
                a += 1
            else:
                x = in_src[b]
                b += 1
            if x != last and x != vertices[i]:
                merged[k] = x
                k += 1
            last = x
        indptr[i + 1] = k
    return indptr, merged[:k]

