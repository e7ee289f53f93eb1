"""A reducer's `Columns` of combiners fold as the definition folds them, whichever way.

`ExternalMap.insert_columns` puts a chunk whose keys are all new to its dict in at
once (`minibig.shuffle.spill.put_new`) and folds any other chunk pair by pair. The
oracle folds every pair in arrival order (a new key's combiner as it is, else
`merge(old, combiner)`), so a merge that is not commutative, keys that are equal
across types, keys repeated inside a chunk and None combiners all show whether the
two ways agree in value, type, key object and order.
"""

from __future__ import annotations

import operator
import random

import pytest

from minibig.core.dependency import Aggregator
from minibig.shuffle.partitioners import reducing
from minibig.shuffle.spill import ExternalMap, put_new

MISSING = object()


def oracle(pairs, merge) -> dict:
    out: dict = {}
    for key, comb in pairs:
        old = out.get(key, MISSING)
        out[key] = comb if old is MISSING else merge(old, comb)
    return out


def typed(d: dict) -> list:
    return [(type(k), repr(k), type(v), repr(v)) for k, v in d.items()]


def concat(a, b):
    """Not commutative: the order of the merges shows in the answer."""
    return f"({a}+{b})"


def _map_outputs(seed: int) -> list:
    """Four map tasks' Columns: a spilled one's partial combiners (new keys, one of which
    repeats), a dict's keys (new to the reducer), then two overlapping them, with keys
    equal across types (1, 1.0, True), a NaN, None and a key repeated inside a batch."""
    rng = random.Random(seed)
    nan = float("nan")
    words = [f"w{i}" for i in range(3000)]
    first = {w: rng.choice(["a", "b", None]) for w in words[:2000]}
    first.update({1: "one", nan: "nan", ("t", 2): "tuple"})
    # A spilled map task's partial combiners first: new keys, r3 twice in the third
    # chunk the reducer takes (its chunks grow 1, 2, 4, ... keys).
    spilled = ["r0", "r1", "r2", "r3", "r4", "r5", "r3"]
    outputs = [(spilled, list("pqrstuv")), (list(first), list(first.values()))]
    for _ in range(2):
        keys = rng.sample(words, 1500) + [1.0, True, nan, ("t", 2), "w1", "w1"]
        outputs.append((keys, [rng.choice(["c", "d", None]) for _ in keys]))
    return outputs


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("merge", [concat, lambda a, b: (a, b)], ids=["concat", "pair"])
def test_a_general_merge_folds_columns_as_the_definition(seed, merge):
    outputs = _map_outputs(seed)
    folded = ExternalMap(reducing(merge), None, None)
    for keys, combs in outputs:
        folded.insert_columns(keys, combs)
    pairs = [pair for keys, combs in outputs for pair in zip(keys, combs)]
    assert typed(dict(folded.items())) == typed(oracle(pairs, merge))


def test_group_combiners_keep_their_lists_and_order():
    # groupByKey's reducer: a new key keeps the very list its map task sent.
    sent = [["x"], ["y"]]
    agg = Aggregator(lambda v: [v], operator.add, operator.iadd, "group")
    folded = ExternalMap(agg, None, None).insert_columns(["a", "b"], sent)
    folded.insert_columns(["b", "c"], [["z"], ["w"]])
    got = dict(folded.items())
    assert got == {"a": ["x"], "b": ["y", "z"], "c": ["w"]} and got["a"] is sent[0]


def test_sums_of_columns_fold_as_the_definition_with_new_keys_first():
    keys = ["a", 1, "b", 2.5]
    folded = ExternalMap(reducing(operator.add), None, None)
    folded.insert_columns(keys, [1, 2, 3, 4])            # all new: put as they are
    folded.insert_columns([1.0, "c", True], [0.5, 7, 1])   # 1.0 and True are the key 1
    expected = oracle(list(zip(keys, [1, 2, 3, 4])) + [(1.0, 0.5), ("c", 7), (True, 1)],
                      operator.add)
    assert typed(dict(folded.items())) == typed(expected)


def test_put_new_leaves_the_dict_as_it_was_unless_every_key_is_new_and_unique():
    d = {"a": 1, 2: "two"}
    assert not put_new(d, ["x", 2.0], [0, 0])       # 2.0 is the key 2
    assert not put_new(d, ["x", "y", "x"], [0, 0, 0])
    assert not put_new(d, [1, True], [0, 0])         # equal keys inside the chunk
    assert d == {"a": 1, 2: "two"} and list(d) == ["a", 2]
    assert put_new(d, ["z", None], [None, 5])
    assert list(d.items()) == [("a", 1), (2, "two"), ("z", None), (None, 5)]
