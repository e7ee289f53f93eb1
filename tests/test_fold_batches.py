"""A reducer's batches of combiners, however they come, fold to the definition's answer.

`ExternalMap.insert_batches` takes what `read_batches(..., frames=True)` gives
(`Columns`, Arrow frames, lists of pairs) for both reducers that fold rows: the
plain one (`ShuffledRDD`) and the columnar one once it hands over to rows
(`combine_columnar`). The oracle folds every pair in arrival order with `+`.
"""

from __future__ import annotations

import operator
import tempfile

import numpy as np

from minibig.shuffle import arrowpath
from minibig.shuffle.arrowpath import combine_columnar, to_frame
from minibig.shuffle.partitioners import reducing
from minibig.shuffle.spill import ExternalMap
from minibig.shuffle.writer import Columns


def _oracle(batches) -> dict:
    folded: dict = {}
    for batch in batches:
        if isinstance(batch, bytes):
            pairs = arrowpath.frame_records(batch)
        elif isinstance(batch, Columns):
            pairs = batch.records()
        else:
            pairs = batch
        for key, value in pairs:
            folded[key] = folded[key] + value if key in folded else value
    return folded


def _typed(d: dict) -> dict:
    return {key: (type(value), value) for key, value in d.items()}


def test_every_kind_of_batch_folds_in_arrival_order_with_its_types():
    frame = to_frame(np.arange(4, dtype=np.int64), np.array([0.25, 0.5, 0.75, 1.0]))
    batches = [Columns([1, 2, "a"], [1, 2.5, 3]), [(2, True), ("a", 4)], frame,
               Columns(["b", 0], [1.5, -0.0])]
    got = ExternalMap(reducing(operator.add), None, None).insert_batches(iter(batches)).map
    assert _typed(got) == _typed(_oracle(batches))


def test_columnar_reducer_over_its_budget_with_frames_only_goes_on_in_rows():
    # 20k distinct keys in frames alone: the kernels' sums outgrow half the budget, so
    # the rest arrives in rows (the frames after it, and the sums so far).
    frames = [to_frame(np.arange(i, i + 5000, dtype=np.int64), np.arange(5000, dtype=np.int64))
              for i in range(0, 20000, 2500)]
    with tempfile.TemporaryDirectory() as folder:
        got = dict(combine_columnar(iter(frames), "sum", reducing(operator.add), 64 << 10,
                                    lambda: folder))
    assert _typed(got) == _typed(_oracle(frames))
