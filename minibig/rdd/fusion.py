"""Counting in C: `map(lambda k: (k, 1))` feeding `reduceByKey(add)`.

The commonest shuffle in big-data teaching is word count's

    words.map(lambda word: (word, 1)).reduceByKey(operator.add)

Run as written, each record costs a call of the lambda, a tuple, and a
Python-level fold into the combiner dict: more than twice what
`collections.Counter` needs for the whole word. When the stage ends in exactly
that shape, the map task instead counts the keys of the map's *input* with
`collections._count_elements` (the C loop behind Counter), which gives the
same combiners, in the same first-seen order, with the same int values.

Recognised, and nothing else:

- the stage's last dataset is a `map` (not persisted) whose function has one
  positional argument, no closure, and a body that is exactly
  `return (arg, 1)` with the int constant 1 (not True, not 1.0);
- the shuffle's aggregator is reduceByKey's: identity create_combiner and
  `operator.add` to merge values and combiners, with map-side combine.

The driver decides once per stage, when it pickles the stage's code
(`ShuffleDependency.counted_source`); map tasks only follow. Anything else takes the general
path, so the user's answer never depends on whether the shortcut applied.
`MINIBIG_FUSION=0` in the driver's environment turns it off (to measure it).
"""

from __future__ import annotations

import dis
import inspect
import os

_IGNORED = {"RESUME", "NOP", "CACHE", "EXTENDED_ARG"}
_JUMPS = set(dis.hasjrel) | set(dis.hasjabs)


def instruction_shape(code) -> list[tuple[str, object]]:
    """(opname, argument) of each instruction of `code` that does something.

    Local variables are given as their index from the first non-argument
    local (arguments negative), so names do not matter; jump targets are left
    out (the shapes compared share their layout).
    """
    def position(name):
        if name in code.co_varnames:
            return code.co_varnames.index(name) - code.co_argcount
        return name                               # a cell variable: kept by name

    shape = []
    for instr in dis.get_instructions(code):
        if instr.opname in _IGNORED:
            continue
        arg = instr.argval
        if instr.opcode in dis.haslocal:
            # Python 3.13's LOAD_FAST_LOAD_FAST and kin name two locals at once.
            arg = tuple(map(position, arg)) if isinstance(arg, tuple) else position(arg)
        elif instr.opcode in _JUMPS:
            arg = None
        shape.append((instr.opname, arg))
    return shape


def fusion_enabled() -> bool:
    """False when `MINIBIG_FUSION=0` asks for the general paths (to measure the shortcuts)."""
    return os.environ.get("MINIBIG_FUSION", "1") != "0"


def pairs_with_one(fn) -> bool:
    """True if `fn` is `lambda x: (x, 1)` in effect (by its bytecode)."""
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__closure__", None) or getattr(fn, "__defaults__", None):
        return False
    if code.co_argcount != 1 or code.co_kwonlyargcount or \
            code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_GENERATOR):
        return False
    shape = instruction_shape(code)
    if shape != [("LOAD_FAST", -1), ("LOAD_CONST", 1), ("BUILD_TUPLE", 2), ("RETURN_VALUE", None)]:
        return False
    return type(shape[1][1]) is int


def counted_input(rdd, dep):
    """The dataset whose records to count as keys, if `rdd` feeding `dep` is word count's shape."""
    agg = dep.aggregator
    if not fusion_enabled() or agg is None or not dep.map_side_combine or agg.op != "sum":
        return None
    if getattr(rdd, "kind", None) != "map" or rdd._persisted():      # a PipelinedRDD's map
        return None
    return rdd.prev if pairs_with_one(rdd.user_fn) else None
