"""Fast paths decided by the operator and the data's types give the general path's answer.

`reduceByKey(operator.add)` folds with `minibig.shuffle.spill.fold_sum`,
which picks its loop by the values' types (Counter's C loop for int ones,
`get(k, 0) + v` for ints, a sentinel fold otherwise). Every way of writing
word count takes the same general path: the answer never depends on how
the user's function is written.
"""

from __future__ import annotations

import collections
import operator
import random

import pytest

from minibig.shuffle.partitioners import Aggregator, identity, reducing
from minibig.shuffle.spill import ExternalMap, fold_sum

MISSING = object()


def oracle_fold(pairs) -> dict:
    """reduceByKey(add)'s definition: the first value of a key as it is, then `old + value`."""
    out: dict = {}
    for key, value in pairs:
        old = out.get(key, MISSING)
        out[key] = value if old is MISSING else operator.add(old, value)
    return out


VALUE_KINDS = {
    "ones": lambda rng: 1,
    "ints": lambda rng: rng.randrange(-5, 5),
    "bools": lambda rng: rng.random() < 0.5,
    "floats": lambda rng: rng.choice([-0.0, 0.5, 1.0]),
    "strs": lambda rng: rng.choice("ab"),
    "lists": lambda rng: [rng.randrange(3)],
    "ints_and_floats": lambda rng: rng.choice([1, 2.5, -0.0]),
    "ones_and_true": lambda rng: rng.choice([1, True]),
}


@pytest.mark.parametrize("kind", sorted(VALUE_KINDS))
def test_fold_sum_equals_the_general_fold_value_for_value_and_type_for_type(kind):
    rng = random.Random(kind)
    make = VALUE_KINDS[kind]
    pairs = [(rng.choice("pqrstu"), make(rng)) for _ in range(500)]
    got: dict = {}
    for start in range(0, len(pairs), 64):            # chunk by chunk, as ExternalMap does
        fold_sum(got, pairs[start:start + 64])
    expected = oracle_fold(pairs)
    assert list(got) == list(expected), "same first-seen key order"
    assert got == expected
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
    assert [repr(v) for v in got.values()] == [repr(v) for v in expected.values()], "-0.0 stays -0.0"


def test_only_reducing_add_is_tagged_sum():
    assert reducing(operator.add).op == "sum"
    assert reducing(lambda a, b: a + b).op is None
    assert Aggregator(identity, operator.add, operator.add).op is None


def test_external_map_spills_and_merges_sums_as_the_general_path(tmp_path):
    rng = random.Random(3)
    pairs = [(f"w{rng.randrange(3000)}", 1) for _ in range(30000)]
    spilled = ExternalMap(reducing(operator.add), 64 << 10, lambda: str(tmp_path))
    got = dict(spilled.insert_values(pairs).items())
    assert spilled.spills > 0, "the budget is small enough to spill"
    assert got == collections.Counter(k for k, _ in pairs)


def _words(sc, lines):
    return sc.parallelize(lines, 4).flatMap(lambda line: line.split())


WAYS = {
    "pairs_add": lambda w: dict(w.map(lambda x: (x, 1)).reduceByKey(operator.add).collect()),
    "pairs_lambda": lambda w: dict(w.map(lambda x: (x, 1)).reduceByKey(lambda a, b: a + b).collect()),
    "pairs_lower": lambda w: dict(w.map(lambda x: (x.lower(), 1)).reduceByKey(operator.add).collect()),
    "count_by_value": lambda w: dict(w.countByValue()),
    "partition_counter": lambda w: dict(w.mapPartitions(lambda it: collections.Counter(it).items())
                                        .reduceByKey(operator.add).collect()),
}


@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_way_of_writing_word_count_matches_a_counter(sc, way):
    rng = random.Random(way)
    vocab = [f"w{i}" for i in range(2000)] + ["ünïcode", "x\u00a0y"]
    lines = [" ".join(rng.choices(vocab, k=rng.randrange(0, 12))) for _ in range(3000)]
    expected = collections.Counter(word for line in lines for word in line.split())
    got = WAYS[way](_words(sc, lines))
    assert got == expected
    assert all(type(v) is int for v in got.values())


def test_reduce_by_key_add_over_mixed_values_matches_the_oracle(sc):
    rng = random.Random(11)
    pairs = [(rng.choice("abcdef"), rng.choice([1, 2, True, 0.5, -0.0])) for _ in range(2000)]
    pairs += [("s", "x"), ("s", "y"), ("l", [1]), ("l", [2])]
    got = dict(sc.parallelize(pairs, 1).reduceByKey(operator.add, 1).collect())
    assert got == oracle_fold(pairs)
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in oracle_fold(pairs).items()}
