"""What runs inside the engine's tasks: one step's map side and reduce side.

A step becomes two narrow functions of the engine around one shuffle:

    MapTask     mapPartitionsWithIndex over the step's input partition:
                mapper_init, mapper (or mapper_raw) on every input pair,
                mapper_final; then, if the step has a reduce side, group the
                pairs by key in a dict (see `internal`) and run the combiner
                once over each key's values, combiner_init/_final around it
    (shuffle)   partitionBy(num_reducers): hash of the key, the engine's own
                map output files and fetch
    ReduceTask  mapPartitionsWithIndex over one reducer's partition: merge the
                groups sent by every map task, order the keys by their encoded
                form, and run reducer_init, reducer(key, values) per key,
                reducer_final

Each task builds its own job instance from the job class and the command
line (`JobSpec.make_job`), as every Hadoop task runs the job script anew,
so state a job keeps in `self` between `*_init`, the calls and `*_final`
belongs to one task. The last phase of the last step encodes its pairs with
OUTPUT_PROTOCOL into one block of lines per partition; other phases hand
Python pairs to the next step in the same task, after the round trip through
INTERNAL_PROTOCOL that mrjob would do.

Counters a task increments are added to its step's accumulator when the task
finishes. An exception raised by the job's code gets a note naming the step,
the phase and function, and the input file and line (mapper) or the key
(combiner, reducer); its dict form is in `exc.mapreduce_context`.
"""

from __future__ import annotations

import gc
import inspect
import itertools
import operator
import threading
from dataclasses import dataclass, field
from itertools import chain, compress, starmap
from json.encoder import encode_basestring_ascii
from operator import itemgetter

from minibig.mapreduce.fusion import count_split_words
from minibig.mapreduce.internal import grouped_records, path_for
from minibig.mapreduce.protocols import JSONProtocol, TextValueProtocol, json_text

_first = itemgetter(0)
_second = itemgetter(1)
_building = threading.local()


def building_task_job() -> bool:
    """True while a task is constructing its job instance (for `MRJob.is_task`)."""
    return getattr(_building, "active", False)


@dataclass
class JobSpec:
    """How a task rebuilds the driver's job: its class, command line and file arguments."""

    job_cls: type
    args: list
    file_args: dict = field(default_factory=dict)

    def make_job(self):
        """A fresh job instance, as the task's own copy of the job script."""
        _building.active = True
        try:
            job = self.job_cls(args=list(self.args))
        finally:
            _building.active = False
        for dest, value in self.file_args.items():
            setattr(job.options, dest, value)
        return job


@dataclass
class Position:
    """Where a task is, to name it if the job's code fails.

    `counter` counts the mapper's input records; `keys` and `key_counter`
    follow the keys fed to the combiner or reducer (both iterated in C).
    """

    phase: str = "setup"
    func: str = ""
    counter: object = None
    keys: list | None = None
    key_counter: object = None
    key_of: object = None

    def track_keys(self, keys: list, key_of):
        """Start following `keys`; returns the counter to zip with them."""
        self.keys, self.key_of = keys, key_of
        self.key_counter = itertools.count(1)
        return self.key_counter

    def current_key(self) -> tuple[bool, object]:
        """(True, key) while a key's values are being processed, else (False, None)."""
        if self.keys is None:
            return False, None
        index = next(self.key_counter) - 2        # the counter ran one past the current key
        if 0 <= index < len(self.keys):
            try:
                return True, self.key_of(self.keys[index])
            except Exception:
                return True, self.keys[index]
        return False, None


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _as_generator(fn):
    """`fn` itself if it is a generator function, else a wrapper turning None into ()."""
    if inspect.isgeneratorfunction(fn):
        return fn

    def call(*args):
        out = fn(*args)
        return () if out is None else out
    return call


def _hook(pos: Position, phase: str, fn):
    """Run an *_init or *_final hook when the stream reaches it; yield what it yields."""
    if fn is None:
        return
    pos.phase, pos.func = phase, _name(fn)
    out = fn()
    if out is not None:
        yield from out


def _enter(pos: Position, phase: str, fn):
    """Mark the start of the main phase in the stream (yields nothing)."""
    pos.phase, pos.func = phase, _name(fn) if fn is not None else "(identity)"
    return
    yield


def _identity_reducer(key, values):
    for value in values:
        yield key, value


def _json_texts(items: list):
    """JSON texts of `items`, in C for lists of only str or only int."""
    kinds = set(map(type, items))
    if kinds <= {str}:
        return map(encode_basestring_ascii, items)
    if kinds <= {int}:
        return map(int.__repr__, items)
    return map(json_text, items)


def encode_output(protocol, pairs: list) -> bytes:
    """`pairs` as OUTPUT_PROTOCOL lines, newline-terminated, in one block."""
    if not pairs:
        return b""
    try:
        if type(protocol) is JSONProtocol and set(map(len, pairs)) == {2}:
            keys, values = list(map(_first, pairs)), list(map(_second, pairs))
            lines = map("\t".join, zip(_json_texts(keys), _json_texts(values)))
            return ("\n".join(lines) + "\n").encode("ascii")
        write = protocol.write
        lines = [write(key, value) for key, value in pairs]
        if set(map(type, lines)) != {bytes}:
            lines = [line.encode("utf-8") if isinstance(line, str) else bytes(line)
                     for line in lines]
        return b"\n".join(lines) + b"\n"
    except Exception as exc:
        _name_culprit(exc, protocol, pairs)
        raise


def _name_culprit(exc: BaseException, protocol, pairs: list) -> None:
    """Add a note naming the first pair that `protocol` cannot write."""
    for pair in pairs:
        try:
            key, value = pair
            protocol.write(key, value)
        except Exception:
            shown = repr(pair)
            exc.add_note(f"minibig.mapreduce: {type(protocol).__name__} cannot write the "
                         f"output pair {shown if len(shown) <= 200 else shown[:200] + '...'}")
            return


class _PausedGC:
    """Keep the cyclic garbage collector off the groups a task builds.

    A task holds hundreds of thousands of value lists, none in a cycle (they
    are freed by reference counting); every automatic collection would walk
    all of them again, and again as they age. So the collector is paused
    while they are built, and what was built is then frozen out of its sight
    (`gc.freeze`) until the task's output has been consumed (`thaw`).
    Counted, so concurrent tasks of one worker resume it when the last ends.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.depth = 0
        self.was_enabled = True

    def __enter__(self):
        with self.lock:
            if self.depth == 0:
                self.was_enabled = gc.isenabled()
                gc.disable()
            self.depth += 1

    def __exit__(self, *exc):
        with self.lock:
            self.depth -= 1
            gc.freeze()
            if self.depth == 0 and self.was_enabled:
                gc.enable()

    @staticmethod
    def thaw() -> None:
        """Give frozen objects back to the collector (they are usually gone by then)."""
        gc.unfreeze()

    def thawing(self, records):
        """Iterate `records`, then thaw."""
        try:
            yield from records
        finally:
            self.thaw()


paused_gc = _PausedGC()


class StepTask:
    """Common part of a step's map side and reduce side."""

    def __init__(self, spec: JobSpec, step_num: int, num_steps: int, counters, final: bool):
        self.spec = spec
        self.step_num = step_num
        self.num_steps = num_steps
        self.counters = counters
        self.final = final

    def job_and_step(self):
        """A fresh job for this task, and its step object."""
        job = self.spec.make_job()
        return job, job.steps()[self.step_num]

    @staticmethod
    def output_block(job, pairs: list, pos: Position) -> list[bytes]:
        """The last phase's pairs as one block of OUTPUT_PROTOCOL lines."""
        protocol = job.output_protocol()
        pos.phase, pos.func = "output", type(protocol).__name__
        return [encode_output(protocol, pairs)]

    def finish(self, job) -> None:
        """Report the task's counters to the step's accumulator."""
        if job._counters:
            self.counters.add(job._counters)

    def where(self, pos: Position, split: int) -> dict:
        """The context of a failure, as a dict."""
        context = {"step": self.step_num + 1, "steps": self.num_steps, "phase": pos.phase,
                   "function": pos.func, "partition": split}
        if pos.phase in ("combiner", "reducer"):
            has_key, key = pos.current_key()
            if has_key:
                context["key"] = key
        return context

    def streamed(self, split: int, records, pos: Position, pairs_of, after=None):
        """Generator of this task's pairs, re-encoded for the next step's mapper.

        `pairs_of(job, step, records, pos)` makes the pairs; a failure is
        annotated with the step and phase, `after()` runs however it ends, and
        the counters are reported once the pairs are all out.
        """
        job, step = self.job_and_step()
        roundtrip = path_for(job.internal_protocol()).roundtrip
        try:
            for key, value in pairs_of(job, step, records, pos):
                yield roundtrip(key, value)
        except Exception as exc:
            self.annotate(exc, pos, split)
            raise
        finally:
            if after is not None:
                after()
        self.finish(job)

    def annotate(self, exc: BaseException, pos: Position, split: int) -> None:
        """Add the step, phase and input (or key) to a user's exception, once."""
        from minibig.errors import FetchFailedError
        if isinstance(exc, FetchFailedError) or hasattr(exc, "mapreduce_context"):
            return
        context = self.where(pos, split)
        text = (f"minibig.mapreduce: failed in step {context['step']} of {context['steps']}, "
                f"{pos.phase} {pos.func}")
        if "input" in context:
            text += f", input {context['input']}"
            if "line" in context:
                text += f" line {context['line']}"
            elif "record" in context:
                text += f" record {context['record']}"
        if "key" in context:
            shown = repr(context["key"])
            text += f", key {shown if len(shown) <= 200 else shown[:200] + '...'}"
        try:
            exc.add_note(text)
            exc.mapreduce_context = context
        except (AttributeError, TypeError):
            pass


class MapTask(StepTask):
    """The map side of one step: mapper (with hooks), then group and combine, or output.

    `sources[split]` describes the input of step 0's partition `split` for
    error messages: ("file", path, start, end), ("stdin", first line index)
    or ("raw", path).
    """

    def __init__(self, spec, step_num, num_steps, counters, final, shuffle: bool,
                 sources: list | None = None, combine_min_values: int = 1,
                 counted: tuple[bool, object] = (False, None)):
        super().__init__(spec, step_num, num_steps, counters, final)
        self.shuffle = shuffle
        self.sources = sources
        self.combine_min_values = combine_min_values
        self.counted = counted          # (count the mapper's words in C?, its constant)

    def __call__(self, split: int, records):
        if self.shuffle or self.final:
            return iter(self.run(split, records))
        return self.run_streaming(split, records)

    def run(self, split: int, records) -> list:
        """This map task's output records: groups for the shuffle, or the output block."""
        job, step = self.job_and_step()
        pos = Position()
        path = path_for(job.internal_protocol())
        try:
            if self.shuffle:
                groups: dict = {}
                with paused_gc:
                    self.group_mapped(job, step, records, pos, path, groups)
                    if step["combiner"] is not None:
                        output = self.combined(step, path, groups, pos)
                    else:
                        output = grouped_records(list(groups), list(groups.values()))
            else:
                output = self.output_block(job, list(self.mapped(job, step, records, pos)), pos)
        except Exception as exc:
            paused_gc.thaw()
            self.annotate(exc, pos, split)
            raise
        self.finish(job)
        return paused_gc.thawing(output) if self.shuffle else output

    def run_streaming(self, split: int, records):
        """Generator of a map-only step's pairs for the next step (not the last one)."""
        return self.streamed(split, records, Position(), self.mapped)

    def group_mapped(self, job, step, records, pos: Position, path, groups: dict) -> None:
        """Add the mapper's pairs (and its hooks') to `groups`, by key.

        Word count's split-and-emit mapper is counted in C instead of run
        (see `minibig.mapreduce.fusion`); every other mapper runs as written.
        """
        counted, constant = self.counted
        if not counted:
            path.group(self.mapped(job, step, records, pos), groups)
            return
        path.group(_hook(pos, "mapper_init", step["mapper_init"]), groups)
        pos.phase, pos.func = "mapper", _name(step["mapper"])
        count_split_words(self.numbered(records, pos), groups, constant)
        path.group(_hook(pos, "mapper_final", step["mapper_final"]), groups)

    @staticmethod
    def numbered(records, pos: Position):
        """`records`, counted as they are read, so a failure can name its input line."""
        pos.counter = counter = itertools.count(1)
        return map(_second, zip(counter, records))

    def mapped(self, job, step, records, pos: Position):
        """The stream of the mapper's pairs, with mapper_init's before and mapper_final's after."""
        counted = self.numbered(records, pos)
        mapper = step["mapper_raw"] or step["mapper"]
        if self.step_num == 0 and not step["mapper_raw"]:
            protocol = job.input_protocol()
            if type(protocol) is TextValueProtocol:
                pairs = zip(itertools.repeat(None), counted)
            elif type(protocol).__module__ == __package__ + ".protocols":
                pairs = map(protocol.read, counted)          # built-ins read str lines
            else:
                pairs = map(protocol.read, (line.encode("utf-8", "surrogateescape")
                                            for line in counted))
        else:
            pairs = counted
        body = pairs if mapper is None else chain.from_iterable(
            starmap(_as_generator(mapper), pairs))
        return chain(_hook(pos, "mapper_init", step["mapper_init"]),
                     _enter(pos, "mapper", mapper), body,
                     _hook(pos, "mapper_final", step["mapper_final"]))

    def combined(self, step, path, groups: dict, pos: Position) -> list:
        """Shuffle records after running the combiner over the keys with enough values.

        A key with fewer than `combine_min_values` values is sent as it is:
        calling the combiner costs more than sending a few values (combiners
        may run zero or more times, so the reducer is right either way).
        combiner_init and combiner_final run once, around the calls.
        """
        combiner = step["combiner"]
        threshold = self.combine_min_values
        if threshold <= 1:
            identities, stored, rest = list(groups), groups.values(), []
        else:
            enough = list(map(threshold.__le__, map(len, groups.values())))
            identities = list(compress(groups, enough))
            stored = list(compress(groups.values(), enough))
            few = list(map(operator.not_, enough))
            rest = grouped_records(list(compress(groups, few)),
                                   list(compress(groups.values(), few)))
        body = chain.from_iterable(starmap(_as_generator(combiner),
                                           path.keyed(identities, stored, pos)))
        records = path.flat(chain(_hook(pos, "combiner_init", step["combiner_init"]),
                                  _enter(pos, "combiner", combiner), body,
                                  _hook(pos, "combiner_final", step["combiner_final"])))
        records.extend(rest)
        return records

    def where(self, pos: Position, split: int) -> dict:
        """The context of a failure, with the input file and line for the mapper."""
        context = super().where(pos, split)
        if pos.phase.startswith("mapper") and pos.counter is not None:
            index = next(pos.counter) - 1          # 1-based position of the current record
            if pos.phase == "mapper" and index > 0:
                context.update(self.input_location(split, index))
            elif self.sources is not None and self.sources[split][0] in ("file", "raw"):
                context["input"] = self.sources[split][1]
        return context

    def input_location(self, split: int, index: int) -> dict:
        """{"input": ..., "line": n} for the index-th record of partition `split`."""
        if self.step_num > 0 or self.sources is None:
            return {"input": f"output of step {self.step_num} (partition {split})",
                    "record": index}
        source = self.sources[split]
        if source[0] == "raw":
            return {"input": source[1]}
        if source[0] == "stdin":
            return {"input": "<stdin>", "line": source[1] + index}
        _, file_path, start, _end = source
        return {"input": file_path, "line": _lines_before(self.sources, file_path, start) + index}


def _lines_before(sources: list, file_path: str, start: int) -> int:
    """Lines of `file_path` read by the splits before the one starting at `start`."""
    if not start:
        return 0
    try:
        from minibig.rdd.textfile import read_split
        return sum(sum(1 for _ in read_split(p, s, e)) for kind, p, s, e in
                   (src for src in sources if src[0] == "file")
                   if p == file_path and s < start)
    except Exception:
        return 0


class ReduceTask(StepTask):
    """The reduce side of one step: merge, sort keys, reducer (with hooks), then output."""

    def __init__(self, spec, step_num, num_steps, counters, final, sort_values: bool):
        super().__init__(spec, step_num, num_steps, counters, final)
        self.sort_values = sort_values

    def __call__(self, split: int, records):
        if self.final:
            return iter(self.run(split, records))
        return self.run_streaming(split, records)

    def reduced(self, job, step, records, pos: Position):
        """The stream of the reducer's pairs over this partition's keys, in order, with hooks."""
        path = path_for(job.internal_protocol())
        with paused_gc:
            groups = path.merge(records)
            order = path.order(groups)
            if self.sort_values:
                for stored in groups.values():
                    path.sort_values(stored)
        reducer = step["reducer"]
        body = chain.from_iterable(starmap(
            _identity_reducer if reducer is None else _as_generator(reducer),
            path.keyed(order, map(groups.__getitem__, order), pos)))
        return chain(_hook(pos, "reducer_init", step["reducer_init"]),
                     _enter(pos, "reducer", reducer), body,
                     _hook(pos, "reducer_final", step["reducer_final"]))

    def run(self, split: int, records) -> list:
        """The last step's output block for this partition."""
        job, step = self.job_and_step()
        pos = Position(phase="shuffle read")
        try:
            output = self.output_block(job, list(self.reduced(job, step, records, pos)), pos)
        except Exception as exc:
            self.annotate(exc, pos, split)
            raise
        finally:
            paused_gc.thaw()
        self.finish(job)
        return output

    def run_streaming(self, split: int, records):
        """Generator of the reducer's pairs for the next step's mapper."""
        return self.streamed(split, records, Position(phase="shuffle read"), self.reduced,
                             after=paused_gc.thaw)
