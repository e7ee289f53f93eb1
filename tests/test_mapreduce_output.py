"""The last phase's output lines are the bytes mrjob's JSONProtocol writes, whatever the scalars.

`tasks.encode_output` encodes a block of output pairs by column: str-only
and int-only columns one C function per item, any other column of scalars
(floats, booleans, None, mixed) in one call of json's C encoder split at
newlines. The oracle is mrjob's own `JSONProtocol.write`, line by line, on
adversarial values: quotes, backslashes, every control character, DEL,
non-ASCII, lone surrogates, astral characters, line and paragraph
separators; NaN, the infinities, -0.0, subnormal and huge floats; big ints.
"""

from __future__ import annotations

import json
import math
import random
import sys

import pytest

from minibig.mapreduce import MRJob
from minibig.mapreduce.protocols import JSONProtocol
from minibig.mapreduce.tasks import encode_output

mrjob_protocol = pytest.importorskip("mrjob.protocol", reason="mrjob is not installed (test extra)")

NASTY_TEXT = (['', '"', '\\', '\\"', '"\\', "a\tb", "a\nb", "\r", "\x00", "\x1f", "\x7f", "é",
               "\u2028\u2029", "\ud800", "\udfff", "\ud83d\ude00", "😀", "]\t[", "[1, 2]", "null",
               "'", "/", "\b\f"] + [chr(c) for c in range(32)])
NASTY_FLOATS = [0.0, -0.0, 0.1, 1e300, -1e-300, 5e-324, sys.float_info.max, 1.0, 2.5, 1e16,
                123456789.123456789, math.inf, -math.inf, math.nan]
NASTY_SCALARS = NASTY_TEXT + NASTY_FLOATS + [True, False, None, 0, -1, 10**30, -(10**30), 256, 257]


def mrjobs_lines(pairs: list) -> bytes:
    write = mrjob_protocol.JSONProtocol().write
    return b"".join(write(key, value) + b"\n" for key, value in pairs)


@pytest.mark.parametrize("values", [NASTY_FLOATS, [True, False, None], NASTY_SCALARS, NASTY_TEXT,
                                    [1, 2, 3, 10**40]], ids=["floats", "literals", "mixed", "text", "ints"])
def test_a_column_of_scalars_is_written_as_mrjob_writes_it(values):
    pairs = [(key, value) for key in NASTY_TEXT[:6] for value in values]
    assert encode_output(JSONProtocol(), pairs) == mrjobs_lines(pairs)
    swapped = [(value, key) for key, value in pairs]
    assert encode_output(JSONProtocol(), swapped) == mrjobs_lines(swapped)


@pytest.mark.parametrize("seed", range(20))
def test_random_blocks_of_scalars_are_written_as_mrjob_writes_them(seed):
    rng = random.Random(seed)
    pool = [rng.choice([NASTY_TEXT, NASTY_FLOATS, NASTY_SCALARS]) for _ in range(2)]
    pairs = [(rng.choice(pool[0]), rng.choice(pool[1])) for _ in range(rng.randrange(1, 300))]
    assert encode_output(JSONProtocol(), pairs) == mrjobs_lines(pairs)


def test_containers_beside_scalars_keep_json_dumps_separators():
    pairs = [("k", 1.5), ("k", [1, "a\n", None]), ("k", {"x": [2.5, True]}), ((1, "t"), False)]
    assert encode_output(JSONProtocol(), pairs) == mrjobs_lines(pairs)


class MRMeanLength(MRJob):
    """Per first letter: the mean length of its words (a float), whether any is long
    (a bool), and None where the letter has no vowel words: float, bool and None
    columns in the output."""

    def mapper(self, _, line):
        for word in line.split():
            yield word[0], len(word)

    def reducer(self, letter, lengths):
        lengths = list(lengths)
        yield letter, sum(lengths) / len(lengths)
        yield letter + "!", max(lengths) > 6
        yield letter + "?", None if letter not in "aeiou" else min(lengths) / 3


def test_a_job_with_float_bool_and_none_values_gives_mrjobs_output_bytes(sc, tmp_path):
    path = tmp_path / "words.txt"
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyzéß"
    path.write_text("\n".join(" ".join("".join(rng.choice(letters) for _ in range(rng.randrange(1, 12)))
                                       for _ in range(30)) for _ in range(200)) + "\n",
                    encoding="utf-8")
    job = MRMeanLength(args=[str(path), "--num-reducers", "1", "--master", sc.master, "-q"])
    with job.make_runner() as runner:
        runner.run()
        ours = b"".join(runner.cat_output())
    expected = []
    by_letter: dict = {}
    for word in path.read_text(encoding="utf-8").split():
        by_letter.setdefault(word[0], []).append(len(word))
    for letter in sorted(by_letter, key=json.dumps):
        lengths = by_letter[letter]
        expected += [(letter, sum(lengths) / len(lengths)), (letter + "!", max(lengths) > 6),
                     (letter + "?", None if letter not in "aeiou" else min(lengths) / 3)]
    assert ours == mrjobs_lines(expected)
