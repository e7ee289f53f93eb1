"""Messages of vectorised programs: numpy arrays, combined on the sender, routed by owner.

A batch of messages is `Messages(dst, values)`: `dst` an int64 array of dense
global indices, `values` an array whose first axis matches (1-D for scalars,
2-D for fixed-size tuples). A superstep's outbox is a dict
`{destination partition: Messages}` and the next superstep's inbox is the
list of the batches addressed to one partition, in any order.

Combining: with a combiner ("sum", "min" or "max") the messages a partition
sends to one vertex become one message before they leave it, and the
receiver reduces again over the batches of all senders. Both reductions are
commutative and associative, so the answer does not depend on how messages
were grouped or ordered (floating-point sums up to rounding). Without a
combiner (None) every message is delivered, grouped by receiving vertex.

Sending along every out-edge (or in-edge) is the common case, so each
partition caches an `EdgePlan` per direction: the distinct destinations of
its edges, already ordered by owner partition, and each edge's slot among
them. Combining is then one `bincount` (sum) or one pass of a numba kernel
(min/max), and splitting by owner is slicing: no sort per superstep.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minibig.graph.buffers import pooled
from minibig.graph.partitioning import rows_by_owner

COMBINERS = ("sum", "min", "max")


class Messages(NamedTuple):
    """A batch of messages: destination dense indices and one value (row) per message."""

    dst: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.dst)


class EdgePlan(NamedTuple):
    """Distinct destinations of a partition's edges in one direction, grouped by owner."""

    targets: np.ndarray       # distinct destination dense indices, ordered by (owner, index)
    slot: np.ndarray          # per edge: position of its destination in `targets`
    bounds: np.ndarray        # targets[bounds[p]:bounds[p+1]] are owned by partition p
    # those slices, made once: the same array objects every superstep, so a receiver can tell
    # it has seen them (`deliver` keeps their local positions, a session sends them once); read-only
    pieces: tuple


def check_combiner(combiner) -> None:
    """`ValueError` unless `combiner` is one of COMBINERS or None."""
    if combiner is not None and combiner not in COMBINERS:
        raise ValueError(f"combiner must be one of {COMBINERS} or None, not {combiner!r}")


def edge_plan(part, direction: str) -> EdgePlan:
    """The cached `EdgePlan` of a partition's "out" (to out_dst) or "in" (to in_src) edges."""
    key = "plan_" + direction
    if key not in part.cache:
        targets_of_edges = part.out_dst if direction == "out" else part.in_src
        # the distinct targets by marking an array of the graph's size (no sort), grouped by owner
        # with a mask per partition; then each edge's slot in one gather through a table of their
        # positions (a gather per edge, not two: each a fresh array of the edges' size)
        seen = np.zeros(part.num_vertices, dtype=bool)
        seen[targets_of_edges] = True
        distinct = np.flatnonzero(seen)
        if part.num_partitions == 1:             # one owner: the sorted targets are grouped already
            targets, counts = distinct, [len(distinct)]
        else:
            groups = rows_by_owner(part.owner[distinct], part.num_partitions)
            targets, counts = np.concatenate([distinct[g] for g in groups]), [len(g) for g in groups]
        position = np.empty(part.num_vertices, np.int64)     # read only at the targets
        position[targets] = np.arange(len(targets))
        slot = np.take(position, targets_of_edges, out=pooled(len(targets_of_edges), np.int64), mode="clip")
        bounds = np.concatenate(([0], np.cumsum(counts)))
        # shared by every run on the partition (the cache): never written. The slots stay
        # writable: frozen, they made PageRank's 20 supersteps of Debian at 1 worker take
        # 0.06 instead of 0.03 s (measured, bench/graph.py; the cause is not pinned down:
        # a bincount over a read-only index alone costs only ~0.1 ms more)
        for shared in (targets, bounds):         # targets' pieces are told apart by identity
            shared.setflags(write=False)
        part.cache[key] = EdgePlan(targets, slot, bounds,
                                   tuple(targets[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])))
    return part.cache[key]


def distinct_and_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, position of each value in them), like np.unique's return_inverse,
    by one argsort: numpy 2's np.unique hashes first and is ten times slower on millions of values.
    """
    order = np.argsort(values)
    ordered = values[order]
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], inverse


# Below this many values a min/max reduction stays in numpy: loading the numba kernels costs a
# worker one to two seconds once, which a small graph (or a quiet superstep) should not pay.
SMALL_REDUCE = 4096


def reduce_by_slot(slots: np.ndarray, values: np.ndarray, num_slots: int, combiner: str):
    """(combined value per slot, number of values per slot) for slots in [0, num_slots)."""
    counts = np.bincount(slots, minlength=num_slots)
    if combiner == "sum":
        if values.ndim == 1 and values.dtype.kind == "f":
            return np.bincount(slots, weights=values, minlength=num_slots).astype(values.dtype), counts
        out = np.zeros((num_slots,) + values.shape[1:], dtype=values.dtype)
        np.add.at(out, slots, values)
        return out, counts
    if values.ndim != 1:
        raise ValueError(f"the {combiner!r} combiner needs scalar messages, got shape {values.shape[1:]}")
    identity = _identity(values.dtype, combiner)
    if len(values) <= SMALL_REDUCE:      # numpy's ufunc.at is fast enough; numba's first load is not
        out = np.full(num_slots, identity, dtype=values.dtype)
        (np.minimum if combiner == "min" else np.maximum).at(out, slots, values)
        return out, counts
    from minibig.graph import kernels        # numba: a worker loads it only for big min/max reductions
    kernel = kernels.segment_min if combiner == "min" else kernels.segment_max
    return kernel(slots.astype(np.int64), values, num_slots, identity)


def _identity(dtype, combiner):
    if dtype.kind == "f":
        return np.inf if combiner == "min" else -np.inf
    info = np.iinfo(dtype)
    return info.max if combiner == "min" else info.min


def combine(batch: Messages, combiner: str) -> Messages:
    """One message per distinct destination (ascending), reduced with `combiner`."""
    if len(batch) == 0:
        return batch
    targets, slots = distinct_and_inverse(batch.dst)
    combined, _ = reduce_by_slot(slots.reshape(-1), batch.values, len(targets), combiner)
    return Messages(targets, combined)


def split_by_owner(batch: Messages, owner: np.ndarray, num_partitions: int) -> dict[int, Messages]:
    """The batch cut into one batch per destination partition (empty ones left out)."""
    if len(batch) == 0:
        return {}
    return {p: Messages(batch.dst[take], batch.values[take])
            for p, take in enumerate(rows_by_owner(owner[batch.dst], num_partitions)) if len(take)}


def send_along_plan(plan: EdgePlan, edge_values: np.ndarray, edge_mask, combiner) -> dict[int, Messages]:
    """Messages along a partition's edges, one per edge (where `edge_mask`), combined per target."""
    slots = plan.slot
    if edge_mask is not None:
        slots, edge_values = slots[edge_mask], edge_values[edge_mask]
    if combiner is None:
        order = np.argsort(slots, kind="stable")
        slots, edge_values = slots[order], edge_values[order]
        bounds = np.searchsorted(slots, plan.bounds)
        dst = plan.targets[slots]
        return {p: Messages(dst[bounds[p]:bounds[p + 1]], edge_values[bounds[p]:bounds[p + 1]])
                for p in range(len(plan.bounds) - 1) if bounds[p + 1] > bounds[p]}
    if edge_mask is None and combiner == "sum" and edge_values.ndim == 1 and edge_values.dtype.kind == "f":
        # every target has an edge, so every one gets a message: no counting pass (PageRank's case)
        combined = np.bincount(slots, weights=edge_values, minlength=len(plan.targets))
        combined = combined.astype(edge_values.dtype, copy=False)
        return {p: Messages(plan.pieces[p], combined[lo:hi])
                for p, (lo, hi) in enumerate(zip(plan.bounds[:-1], plan.bounds[1:])) if hi > lo}
    combined, counts = reduce_by_slot(slots, edge_values, len(plan.targets), combiner)
    out = {}
    for p in range(len(plan.bounds) - 1):
        lo, hi = plan.bounds[p], plan.bounds[p + 1]
        sent = np.flatnonzero(counts[lo:hi]) + lo
        if len(sent) == hi - lo > 0:             # every target of p (no mask): the plan's piece, no copy
            out[p] = Messages(plan.pieces[p], combined[lo:hi])
        elif len(sent):
            out[p] = Messages(plan.targets[sent], combined[sent])
    return out


def merge_outboxes(outboxes: list[dict[int, Messages]], combiner) -> dict[int, Messages]:
    """One batch per destination partition from several sends (combined again when there is a combiner)."""
    merged: dict[int, list[Messages]] = {}
    for outbox in outboxes:
        for p, batch in outbox.items():
            merged.setdefault(p, []).append(batch)
    result = {}
    for p, batches in merged.items():
        batch = batches[0] if len(batches) == 1 else concat(batches)
        if combiner is not None and len(batches) > 1:
            batch = combine(batch, combiner)
        result[p] = batch
    return result


def concat(batches: list[Messages]) -> Messages:
    """All batches as one (empty float64 batch when there are none)."""
    batches = [b for b in batches if len(b)]
    if not batches:
        return Messages(np.zeros(0, np.int64), np.zeros(0))
    if len(batches) == 1:
        return batches[0]
    return Messages(np.concatenate([b.dst for b in batches]), np.concatenate([b.values for b in batches]))


class Inbox(NamedTuple):
    """The messages of one partition's superstep, by local vertex.

    With a combiner: `values[i]` is vertex i's combined message (the
    combiner's identity when `count[i] == 0`). Without: vertex i's messages
    are `values[indptr[i]:indptr[i+1]]`.
    """

    count: np.ndarray
    values: np.ndarray
    indptr: np.ndarray | None


def deliver(part, batches: list[Messages], combiner, dtype=np.float64, distinct: bool = False) -> Inbox:
    """Group the batches addressed to `part` by receiving vertex (reducing them with the combiner).

    `distinct`: each batch has one message per destination (its sender
    combined it), so with a combiner each batch is scattered straight into
    place: no concatenation and no counting pass over all messages.
    """
    if combiner is not None and distinct:
        return _deliver_combined(part, [b for b in batches if len(b)], combiner, np.dtype(dtype))
    n = len(part)
    batch = concat(batches)
    local = local_slots(part, batch.dst)
    if combiner is not None:
        values = batch.values if len(batch) else np.zeros(0, dtype)
        combined, counts = reduce_by_slot(local, values, n, combiner)
        return Inbox(counts, combined, None)
    order = np.argsort(local, kind="stable")
    counts = np.bincount(local, minlength=n)
    values = batch.values[order] if len(batch) else np.zeros(0, dtype)
    return Inbox(counts, values, np.concatenate(([0], np.cumsum(counts))))


def _deliver_combined(part, batches: list[Messages], combiner: str, dtype) -> Inbox:
    """`deliver` of non-empty batches each holding at most one message per vertex."""
    n = len(part)
    if batches:
        dtype = np.result_type(*[b.values for b in batches])
        shape = (n,) + batches[0].values.shape[1:]
    else:
        shape = (n,)
    if combiner != "sum" and len(shape) != 1:
        raise ValueError(f"the {combiner!r} combiner needs scalar messages, got shape {shape[1:]}")
    out = np.zeros(shape, dtype) if combiner == "sum" else np.full(shape, _identity(dtype, combiner), dtype)
    counts = np.zeros(n, np.int64)
    for k, (batch, local) in enumerate(zip(batches, kept_local_slots(part, [b.dst for b in batches]))):
        if k == 0 and dtype.kind in "iuf":
            # the first batch lands on the identity: a plain assignment (a read-modify-write scatter
            # took 8x as long), the same values: min/max(identity, v) is v, and 0 + v is v but for
            # -0.0, which the float sum then makes +0.0 as adding it would
            out[local] = batch.values
            if combiner == "sum" and dtype.kind == "f":
                out += 0.0
            counts[local] = 1
            continue
        if combiner == "sum":
            out[local] += batch.values            # distinct slots: a plain scatter is exact
        else:
            out[local] = (np.minimum if combiner == "min" else np.maximum)(out[local], batch.values)
        counts[local] += 1
    return Inbox(counts, out, None)


def kept_local_slots(part, arrays: list) -> list:
    """`local_slots` of each destination array; those of an array delivered in the run's last
    superstep too (the same object: a plan's `pieces`, a session's kept destinations, neither
    ever written to) are taken from the run's scratch, not computed again."""
    last = part.scratch.get("local_slots", ())
    kept = []
    for dst in arrays:
        local = next((local for seen, local in last if seen is dst), None)
        kept.append((dst, local_slots(part, dst) if local is None else local))
    part.scratch["local_slots"] = kept          # this superstep's only: the cache stays small
    return [local for _, local in kept]


def local_slots(part, dst: np.ndarray) -> np.ndarray:
    """The local positions in `part` of destinations `dst`; `ValueError` if one is not `part`'s."""
    misplaced = part.owner[dst] != part.index
    if misplaced.any():
        wrong = dst[misplaced]
        raise ValueError(f"partition {part.index} was delivered a message for vertex {int(wrong[0])}, "
                         f"owned by partition {int(part.owner[wrong[0]])}")
    return part.local[dst].astype(np.int64)
