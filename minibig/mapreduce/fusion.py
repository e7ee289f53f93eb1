"""Counting in C: the mapper that splits its line and emits each word with one constant.

The first mapper most people write is word count's

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1

Run as written, every word costs a resume of the generator, a tuple, and a
dict lookup and list append on the map side (`JSONPath.group`): about twice
what `collections.Counter` spends on the whole word. When a step's mapper is
exactly that shape, the map task counts the words of each line with
`collections._count_elements` (the C loop behind Counter) and gives each word
the list `[constant] * count`: the same groups, values and first-seen key
order `JSONPath.group` would build, so the combiner, the shuffle and the
reducer run as always.

Recognised, and nothing else:

- the mapper's body is, instruction for instruction, the one above: a loop
  over `<value argument>.split()` (no arguments), yielding the loop variable
  and one constant; any names; no other call, global or attribute;
- the constant's type survives a JSON round trip unchanged (str, int, float,
  bool or None), so the general path would keep it as the very same object;
- the step is the job's first, reads text lines (`TextValueProtocol`, so the
  value is a `str`), has no `mapper_raw`, and its internal protocol is JSON.

`mapper_init` and `mapper_final` run around it as usual. The map task
counts its lines chunk by chunk into one dict of counts (`count_words`) and
turns the counts into groups (`add_counts`) when they go out: at the end, or
when they reach the task's memory budget (see `minibig.mapreduce.memory`). Anything else takes
the general path, so the answer never depends on whether this applied.
The driver decides once per step (`counted_mapper`); map tasks only follow.
`MINIBIG_FUSION=0` turns it off (to measure it), as for the RDD shortcut.
"""

from __future__ import annotations

import inspect
from collections import _count_elements
from itertools import chain

from minibig.mapreduce.internal import PLAIN_TYPES, JSONPath, path_for
from minibig.mapreduce.protocols import TextValueProtocol
from minibig.rdd.fusion import fusion_enabled, instruction_shape


def _reference(self, _, line):
    for word in line.split():
        yield word, 1


_REFERENCE_SHAPE = instruction_shape(_reference.__code__)
_CONSTANT_AT = next(i for i, (op, arg) in enumerate(_REFERENCE_SHAPE)
                    if op == "LOAD_CONST" and arg == 1)


def counted_mapper(job, step, step_num: int) -> tuple[bool, object]:
    """(True, constant) if step `step_num` of `job` is to count its mapper's words in C.

    Decided once, by the driver, when it builds the step's map tasks.
    """
    if step_num or step["mapper_raw"] or step["mapper"] is None or not fusion_enabled():
        return False, None
    if type(job.input_protocol()) is not TextValueProtocol or \
            not isinstance(path_for(job.internal_protocol()), JSONPath):
        return False, None
    return split_words_constant(step["mapper"])


def split_words_constant(mapper) -> tuple[bool, object]:
    """(True, constant) if `mapper` is word count's split-and-emit mapper, else (False, None)."""
    fn = getattr(mapper, "__func__", mapper)
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__closure__", None):
        return False, None
    if not code.co_flags & inspect.CO_GENERATOR or code.co_kwonlyargcount or \
            code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS) or \
            code.co_argcount != 2 + hasattr(mapper, "__self__"):
        return False, None
    shape = instruction_shape(code)
    if len(shape) != len(_REFERENCE_SHAPE):
        return False, None
    constant = shape[_CONSTANT_AT][1]
    if shape[_CONSTANT_AT][0] != "LOAD_CONST" or type(constant) not in PLAIN_TYPES:
        return False, None
    shape[_CONSTANT_AT] = _REFERENCE_SHAPE[_CONSTANT_AT]
    if shape != _REFERENCE_SHAPE:
        return False, None
    return True, constant


def count_words(lines, counts: dict):
    """Count the words of `lines` into `counts`, in C; return (how many, the last one or None)."""
    words = list(chain.from_iterable(map(str.split, lines)))
    _count_elements(counts, words)
    return len(words), (words[-1] if words else None)


def add_counts(groups: dict, counts: dict, constant) -> None:
    """Add `[constant] * count` for every counted word to `groups`; empty `counts`."""
    one = [constant]
    if not groups:
        groups.update(zip(counts, map(one.__mul__, counts.values())))
    else:
        get = groups.get
        for word, count in counts.items():
            stored = get(word)
            if stored is None:
                groups[word] = one * count
            else:
                stored.extend(one * count)
    counts.clear()


def count_split_words(lines, groups: dict, constant) -> None:
    """Add `(word, constant)` for every word of every line to `groups`, counted in C."""
    counts: dict = {}
    count_words(lines, counts)
    add_counts(groups, counts, constant)
