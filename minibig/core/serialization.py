"""Serialising user code, and saying exactly what could not be serialised.

Everything minibig ships that may hold code goes through `dumps`: cloudpickle,
except that a code object travels as its `marshal` form, so a function
pickled by value keeps its file name and line numbers (cloudpickle 3.1
renames them all to `<dynamic-code>`, and remote tracebacks would stop naming
the user's file). marshal is the format of `.pyc` files: it holds every
constant a compiled code object can carry, and is read by the same
interpreter version, which by-value pickles need anyway.

A stage is pickled once with cloudpickle. When that fails (a lock, a socket,
an open file captured by a closure), `dumps_stage` searches the stage's
datasets, their functions, and those functions' closure cells and globals for
the first object that cannot be pickled, and names it with the dataset and
the line that created it.
"""

from __future__ import annotations

import copy
import functools
import gc
import io
import marshal
import pickle
import sys
import threading
import types
from collections import ChainMap

import cloudpickle

from minibig.errors import PicklingError


def _load_code(data: bytes) -> types.CodeType:
    """Rebuild a code object shipped by `_reduce_code`."""
    return marshal.loads(data)


def _reduce_code(code: types.CodeType):
    return _load_code, (marshal.dumps(code),)


class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler, with code objects kept whole (file name included)."""

    dispatch_table = ChainMap({types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table)


def dumps(obj, protocol: int = 5) -> bytes:
    """Pickle `obj` with cloudpickle, keeping the file and lines of its functions' code."""
    out = io.BytesIO()
    _Pickler(out, protocol=protocol).dump(obj)
    return out.getvalue()


loads = cloudpickle.loads


def copy_of(value):
    """A fresh copy of `value`: the zero value of fold and aggregate, which the user's
    functions may mutate, as Spark clones it with its serializer.

    `copy.deepcopy` (cheap for small zeros and for the job's own classes), and where it
    cannot copy the value (a zero holding a module, which a task gets by reference) a
    cloudpickle of it unpickled: whatever a task can be sent, the zero can be copied from.
    """
    try:
        return copy.deepcopy(value)
    except Exception:
        return loads(dumps(value))


def copies_of(value):
    """A function returning a `copy_of(value)` at each call (a by-key zero, copied per
    key), the way of copying chosen once: `value` pickled once if deepcopy cannot."""
    try:
        copy.deepcopy(value)
    except Exception:
        try:
            return functools.partial(loads, dumps(value))
        except Exception:
            pass      # nor can a task be sent it: the stage's pickling fails, naming the dataset
    return functools.partial(copy.deepcopy, value)


# Frames a narrow pipeline of n datasets may need: pickling nests a few calls per
# dataset (the object, its state dict, its parent), and computing a partition
# nests iterator/compute calls and then one generator frame per dataset.
FRAMES_PER_DATASET = 8
_recursion_lock = threading.Lock()


_gc_lock = threading.Lock()
_gc_pausers = 0              # threads inside loads_without_gc
_gc_was_enabled = False      # the collector's state before the first of them


def exception_blob(exc: BaseException) -> bytes | None:
    """``exc`` pickled (its traceback dropped) so that the driver raises it in its own type;
    None when it does not pickle here or does not unpickle again (checked by unpickling it)."""
    try:
        exc.__traceback__ = None
        blob = dumps(exc)
        pickle.loads(blob)
        return blob
    except Exception:                   # noqa: BLE001 - any failure: the caller sends its text alone
        return None


def loads_without_gc(data, loads=pickle.loads):
    """pickle.loads (or `loads`) with the cyclic garbage collector paused.

    Unpickling a million tuples allocates a million containers, and the
    collector runs a young collection every 700 of them, each finding
    nothing to free (30-50% of the load of an action's result). Several
    threads may pause it at once; the last one out restores the state the
    first one found.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        return loads(data)
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def ensure_recursion_limit(datasets: int) -> None:
    """Raise Python's recursion limit so a pipeline of `datasets` narrow steps fits.

    A job that chains hundreds of narrow steps (600 reduceByKey calls by one
    partitioner are 599 mapPartitions) is deep, not wrong. The limit is
    process-wide and only ever raised here, never lowered, so one thread
    cannot pull it from under another's deep pipeline.
    """
    needed = 1000 + FRAMES_PER_DATASET * datasets
    with _recursion_lock:                 # two task threads must not lower each other's raise
        if sys.getrecursionlimit() < needed:
            sys.setrecursionlimit(needed)


def _picklable(obj) -> bool:
    try:
        dumps(obj)
        return True
    except Exception:
        return False


def _captured(fn):
    """(name, value) pairs a function carries: closure cells and used globals."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    pairs = []
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            pairs.append((name, cell.cell_contents))
        except ValueError:
            pass
    fn_globals = getattr(fn, "__globals__", {})
    for name in code.co_names:
        if name in fn_globals:
            pairs.append((name, fn_globals[name]))
    return pairs


def find_unpicklable(fn, path: str, depth: int = 0):
    """Describe the innermost object reachable from `fn` that will not pickle."""
    for name, value in _captured(fn):
        if _picklable(value):
            continue
        where = f"{path} -> {name!r}"
        if callable(value) and depth < 4:
            inner = find_unpicklable(value, where, depth + 1)
            if inner:
                return inner
        return f"{type(value).__name__} object {where}"
    return None


def dumps_stage(stage_code, rdd) -> bytes:
    """cloudpickle `stage_code`, or raise PicklingError naming the culprit."""
    ensure_recursion_limit(len(rdd.lineage()))
    try:
        return dumps(stage_code)
    except Exception as exc:
        cause = exc
    for node in rdd.lineage():
        for fn in node.user_functions():
            if _picklable(fn):
                continue
            fn_name = getattr(fn, "__qualname__", repr(fn))
            culprit = find_unpicklable(fn, f"function {fn_name}") or f"function {fn_name}"
            raise PicklingError(
                f"cannot serialise {culprit}, used by {node.describe()} created at "
                f"{node.creation_site}: {cause}") from cause
    raise PicklingError(f"cannot serialise the stage of {rdd!r}: {cause}") from cause
