"""What runs inside the engine's tasks: one step's map side and reduce side.

A step becomes two narrow functions of the engine around one shuffle:

    MapTask     mapPartitionsWithIndex over the step's input partition:
                mapper_init, mapper (or mapper_raw) on every input pair,
                mapper_final; then, if the step has a reduce side, group the
                pairs by key in a dict (see `internal`) and run the combiner
                over each key's values, combiner_init/_final around it. The
                dict may hold a quarter of the task's memory budget: past
                it, it is combined and sent, and a new one starts (see `memory`).
                The groups go out as columns cut by reducer, a record per
                block of keys (`internal.column_records`)
    (shuffle)   partitionBy(num_reducers): each record to its reducer, the
                engine's own map output files and fetch, spilling past the budget
    ReduceTask  mapPartitionsWithIndex over one reducer's partition: sort what
                every map task sent by the encoded key, within the budget
                (the engine's ExternalSorter), and run reducer_init,
                reducer(key, values) per key as the sorted records stream
                by, reducer_final

Each task builds its own job instance from the job class and the command
line (`JobSpec.make_job`), as every Hadoop task runs the job script anew,
so state a job keeps in `self` between `*_init`, the calls and `*_final`
belongs to one task. The last phase of the last step encodes its pairs with
OUTPUT_PROTOCOL into blocks of lines (`OUTPUT_PAIRS` pairs each); other phases hand
Python pairs to the next step in the same task, after the round trip through
INTERNAL_PROTOCOL that mrjob would do.

Counters a task increments are added to its step's accumulator when the task
finishes. An exception raised by the job's code gets a note naming the step,
the phase and function, and the input file and line (mapper) or the key
(combiner, reducer); its dict form is in `exc.mapreduce_context`.
"""

from __future__ import annotations

import inspect
import itertools
import json
import threading
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, starmap
from json.encoder import encode_basestring_ascii
from operator import itemgetter

from minibig.errors import FetchFailedError
from minibig.mapreduce.internal import (PLAIN_TYPES, CountedGroups, column_records, columns_of,
                                        path_for, split_groups)
from minibig.core.task import task_memory
from minibig.mapreduce.memory import GroupsMeter, value_size
from minibig.mapreduce.protocols import JSONProtocol, TextValueProtocol, json_text
from minibig.mapreduce.taskenv import (map_input_env, set_task_env, task_ids, thread_env_slot,
                                       thread_task_env)
from minibig.rdd.textfile import read_split
from minibig.shuffle.spill import effective_budget

_first = itemgetter(0)
_second = itemgetter(1)
#: Output pairs encoded into one block (a few hundred KiB of objects for small pairs).
OUTPUT_PAIRS = 4096
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
    job_key: str = ""                     # the runner's get_job_key(): mapreduce.job.id

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
    follow the keys fed to the combiner (both iterated in C); `key` is the
    key the reducer is at, once `at_key`. `env` is the task's jobconf,
    set for its thread when its stream starts (`taskenv`).
    """

    phase: str = "setup"
    func: str = ""
    counter: object = None
    keys: list | None = None
    key_counter: object = None
    key_of: object = None
    at_key: bool = False
    key: object = None
    env: dict = field(default_factory=dict)   # the task's jobconf, for `jobconf_from_env`

    def track_keys(self, keys: list, key_of):
        """Start following `keys`; returns the counter to zip with them."""
        self.keys, self.key_of = keys, key_of
        self.key_counter = itertools.count(1)
        return self.key_counter

    def reached(self, key) -> None:
        """The reducer is at `key` now (keys streamed from the sorted shuffle)."""
        self.keys = None
        self.at_key, self.key = True, key

    def current_key(self) -> tuple[bool, object]:
        """(True, key) while a key's values are being processed, else (False, None)."""
        if self.keys is None:
            return self.at_key, self.key
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


def _handed_over(groups: dict, pos: Position):
    """Yield `groups` to be combined and sent, then put the position back in the mapper."""
    phase = pos.phase, pos.func
    yield groups
    pos.phase, pos.func = phase


def _identity_reducer(key, values):
    for value in values:
        yield key, value


#: A list of scalars as JSON, one item a line: json's own C encoder, as `json.dumps` runs it.
_SCALAR_LINES = json.JSONEncoder(separators=("\n", ":"), check_circular=False)


def _json_texts(items: list):
    """JSON texts of `items`, in C when they are all scalars (`PLAIN_TYPES`).

    Only str or only int: one C function per item. Other scalars (floats,
    booleans, None, mixed): the whole list in one call of json's C encoder
    with a newline between items, split at the newlines: a scalar's JSON
    text never holds a raw newline (a string's is escaped). A float column
    costs ~0.3 less that way than `json_text` per item.
    """
    kinds = set(map(type, items))
    if kinds <= {str}:
        return map(encode_basestring_ascii, items)
    if kinds <= {int}:
        return map(int.__repr__, items)
    if items and PLAIN_TYPES.issuperset(kinds):
        return _SCALAR_LINES.encode(items)[1:-1].split("\n")
    return map(json_text, items)


def _unchanging(pairs: list) -> bool:
    """Whether no pair of `pairs` (encoded already: each of two items) can change once
    made: tuples of str, int, float, bool or None, or tuples of those (what the job's
    code does next cannot alter them)."""
    if set(map(type, pairs)) != {tuple}:
        return False
    kinds = set(map(type, chain.from_iterable(pairs)))
    if tuple in kinds:
        kinds.discard(tuple)
        kinds.update(map(type, chain.from_iterable(item for item in chain.from_iterable(pairs)
                                                    if type(item) is tuple)))
    return PLAIN_TYPES.issuperset(kinds)


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
        return joined_lines([write(key, value) for key, value in pairs])
    except Exception as exc:
        _name_culprit(exc, protocol, pairs)
        raise


def joined_lines(lines: list) -> bytes:
    """Lines a protocol wrote (bytes, or str as UTF-8) as one newline-terminated block."""
    if set(map(type, lines)) != {bytes}:
        lines = [line.encode("utf-8") if isinstance(line, str) else bytes(line)
                 for line in lines]
    return b"\n".join(lines) + b"\n"


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


class StepTask:
    """Common part of a step's map side and reduce side."""

    def __init__(self, spec: JobSpec, step_num: int, num_steps: int, counters, final: bool,
                 jobconf: dict | None = None):
        self.spec = spec
        self.step_num = step_num
        self.num_steps = num_steps
        self.counters = counters
        self.final = final
        # Hadoop Streaming's environment holds strings: booleans as Java writes them; a None
        # value unsets the setting (a step's, the job's too), as mrjob's combine_jobconfs.
        self.jobconf = {k: str(v).lower() if isinstance(v, bool) else str(v)
                        for k, v in (jobconf or {}).items() if v is not None}

    def task_env(self, split: int, is_map: bool) -> dict:
        """The jobconf this task's job sees through `jobconf_from_env` (see `taskenv`)."""
        return {**self.jobconf, "mapreduce.task.partition": str(split),
                "mapreduce.task.ismap": "true" if is_map else "false",
                **task_ids(self.spec.job_key, self.step_num, split, is_map)}

    def start(self, pos: Position) -> tuple:
        """(the thread's settings before, a fresh job for this task, its step object).

        The task's settings (`pos.env`) are set for its thread first, so the job
        is built under them, as a Hadoop task runs the job script in its
        environment; the caller puts `outer` back when its stream ends or fails.
        """
        outer = thread_task_env()
        set_task_env(pos.env)
        try:
            job = self.spec.make_job()
            return outer, job, job.steps()[self.step_num]
        except Exception:
            set_task_env(outer)
            raise

    def output(self, split: int, records, pos: Position, pairs_of):
        """Generator of the last phase's output: blocks of OUTPUT_PROTOCOL lines.

        `pairs_of(job, step, records, pos)` makes the pairs, encoded
        `OUTPUT_PAIRS` at a time, so a partition's output is never held
        whole (`-o DIR` writes each block as it comes).

        The batches grow from one pair to OUTPUT_PAIRS while their pairs cannot
        change once made (`_unchanging`: checked until the batches are full,
        4,095 pairs). A batch holding any other object turns to encoding each
        pair as it is taken, before the job's code makes the next: mrjob
        encodes a pair at its yield, and the code may change an object it
        yielded (one list grown across a key's values, say).
        """
        return self.run_as_task(split, pos, partial(self.blocks, records, pos, pairs_of))

    def run_as_task(self, split: int, pos: Position, items_of, roundtrip_of=None):
        """Generator of what `items_of(job, step)` gives, run as this task: its settings set
        for its thread before its job is built and put back once the items are out or a
        failure is raised (`taskenv`), a failure annotated, the counters reported at the end.

        `roundtrip_of(job)`, for `streamed`: the items are pairs for the next step's
        mapper in this thread, each passed through that function and handed over with
        the mapper's own settings back; this task's are set again when it asks for the
        next. Otherwise the consumer is the engine (it writes the blocks, or reads the
        shuffle iterators, running the combiner as it reads them): the settings stay
        set until the end.
        """
        outer, job, step = self.start(pos)
        try:
            items = items_of(job, step)
            if roundtrip_of is None:
                yield from items
            else:
                roundtrip = roundtrip_of(job)
                mine, held = pos.env, thread_env_slot()      # a dict store per switch, no call
                for key, value in items:
                    pair = roundtrip(key, value)
                    held["env"] = outer
                    yield pair
                    held["env"] = mine
        except Exception as exc:
            set_task_env(outer)
            self.annotate(exc, pos, split)
            raise
        set_task_env(outer)
        self.finish(job)

    @staticmethod
    def blocks(records, pos: Position, pairs_of, job, step):
        """`output`'s blocks, made by `job`'s step (see there)."""
        protocol = job.output_protocol()
        pairs = iter(pairs_of(job, step, records, pos))
        name, write = type(protocol).__name__, protocol.write
        encode_batch = partial(encode_output, protocol)

        def encoded(encode, items) -> bytes:
            phase = pos.phase, pos.func
            pos.phase, pos.func = "output", name
            block = encode(items)
            pos.phase, pos.func = phase
            return block

        def written(pair) -> bytes:
            try:
                key, value = pair
                return write(key, value)
            except Exception as exc:
                pos.phase, pos.func = "output", name
                _name_culprit(exc, protocol, [pair])
                raise
        size, one_by_one = 1, False
        while True:
            if one_by_one:                        # each line written as its pair is taken
                lines = list(map(written, itertools.islice(pairs, OUTPUT_PAIRS)))
                if not lines:
                    break
                yield encoded(joined_lines, lines)
                continue
            batch = list(itertools.islice(pairs, size))
            if not batch:
                break
            yield encoded(encode_batch, batch)
            if size < OUTPUT_PAIRS:
                one_by_one = not _unchanging(batch)
                size = min(2 * size, OUTPUT_PAIRS)

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

    def streamed(self, split: int, records, pos: Position, pairs_of):
        """Generator of this task's pairs, re-encoded for the next step's mapper.

        `pairs_of(job, step, records, pos)` makes the pairs; a failure is
        annotated with the step and phase, and the counters are reported once
        the pairs are all out.

        The consumer is the next step's mapper in the same task and thread: each
        pair is handed to it with its own settings back (`run_as_task`).
        """
        return self.run_as_task(split, pos, partial(pairs_of, records=records, pos=pos),
                                lambda job: path_for(job.internal_protocol()).roundtrip)

    def annotate(self, exc: BaseException, pos: Position, split: int) -> None:
        """Add the step, phase and input (or key) to a user's exception, once."""
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
    or ("raw", path). With a shuffle, the task's records are its groups in
    columns, already cut for the step's `reducers` (`internal.column_records`).
    """

    def __init__(self, spec, step_num, num_steps, counters, final, shuffle: bool,
                 sources: list | None = None, combine_min_values: int = 1, reducers: int = 1,
                 jobconf: dict | None = None):
        super().__init__(spec, step_num, num_steps, counters, final, jobconf)
        self.shuffle = shuffle
        self.sources = sources
        # Built here, in the driver: an input's absolute path is the driver's.
        self.input_envs = [map_input_env(source) for source in sources or ()]
        self.combine_min_values = combine_min_values
        self.reducers = reducers

    def __call__(self, split: int, records):
        pos = Position(env=self.map_env(split))
        if self.shuffle:
            return self.run_shuffle(split, records, pos)
        if self.final:
            return self.output(split, records, pos, self.mapped)
        return self.streamed(split, records, pos, self.mapped)

    def map_env(self, split: int) -> dict:
        """What `jobconf_from_env` finds in this map task: its input file in the first step."""
        env = self.task_env(split, is_map=True)
        if split < len(self.input_envs):
            env.update(self.input_envs[split])
        return env

    def run_shuffle(self, split: int, records, pos: Position):
        """This map task's shuffle records, one batch of groups after another (read in C)."""
        return chain.from_iterable(self.annotated_batches(split, records, pos))

    def annotated_batches(self, split: int, records, pos: Position):
        """Generator of the iterators of shuffle records; a failure is annotated, and the
        counters are reported once the last list is out. The task's settings stay set
        while the engine reads the iterators: the combiner runs as it reads them."""
        return self.run_as_task(split, pos, partial(self.shuffle_batches, records=records, pos=pos))

    def shuffle_batches(self, job, step, records, pos: Position):
        """Iterators of shuffle records: each batch of groups, through the combiner if there is one.

        combiner_init runs before the first batch's combiner calls (once the
        first batch is full: after mapper_final when there is only one) and
        combiner_final after the last batch's.
        """
        path = path_for(job.internal_protocol())
        batches = self.group_batches(job, step, records, pos, path)
        combiner = step["combiner"]
        if combiner is None:
            for groups in batches:
                yield self.records(columns_of(groups))
            return
        for n, groups in enumerate(batches):
            if n == 0:
                yield self.records(path.flat(_hook(pos, "combiner_init", step["combiner_init"])))
            yield self.combined(combiner, path, groups, pos)
        yield self.records(path.flat(_hook(pos, "combiner_final", step["combiner_final"])))

    def records(self, columns):
        """The shuffle records of `columns` (an iterator), each at most 1/32 of the
        task's budget."""
        return column_records(columns, self.reducers, effective_budget(task_memory()[0]) // 32)

    def group_batches(self, job, step, records, pos: Position, path):
        """The mapper's pairs (and its hooks') grouped by key, one dict at a time.

        One dict for the whole input unless it reaches its share of the task's
        memory budget (see `minibig.mapreduce.memory`); then it goes out and
        a new one starts.

        Pairs are counted a chunk at a time while they are (str, the same
        plain value): such a pair cannot change once made. From the first
        chunk that is not so on, each pair is grouped as it is taken (`group`),
        before the mapper makes the next: mrjob encodes a pair at its yield,
        and a mapper may change an object it yielded (one list grown across
        a line, say). Chunks start at one pair, so a mapper whose first pair
        is such an object is read exactly from the start.
        """
        meter = GroupsMeter(task_memory()[0])
        pairs = self.mapped(job, step, records, pos)
        groups = path.new_groups()
        while True:
            if type(groups) is CountedGroups:
                chunk = list(itertools.islice(pairs, meter.chunk))
                if not chunk:
                    break
                if not groups.add(chunk):
                    groups = groups.as_lists()
                    path.group(chunk, groups)
                last, taken = chunk[-1], len(chunk)
            else:
                taken = meter.chunk               # fewer only at the end of the input
                last = path.group(itertools.islice(pairs, taken), groups)
                if last is None:
                    break
            key, value = last
            held = groups.counts if type(groups) is CountedGroups else groups
            if meter.full(held, key, value_size(value), taken):
                yield from _handed_over(groups, pos)
                groups = path.new_groups() if type(groups) is CountedGroups else {}
        yield groups

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
                if mapper is not None:
                    # mapper(None, line) through map's two iterables: no tuple per line to unpack
                    return self.hooked(step, pos, mapper, chain.from_iterable(
                        map(_as_generator(mapper), itertools.repeat(None), counted)))
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
        return self.hooked(step, pos, mapper, body)

    @staticmethod
    def hooked(step, pos: Position, mapper, body):
        """The mapper's pairs `body`, with mapper_init's before and mapper_final's after."""
        return chain(_hook(pos, "mapper_init", step["mapper_init"]),
                     _enter(pos, "mapper", mapper), body,
                     _hook(pos, "mapper_final", step["mapper_final"]))

    def combined(self, combiner, path, groups, pos: Position):
        """Shuffle records (an iterator) after running the combiner over the keys with enough values.

        A key with fewer than `combine_min_values` values is sent as it is:
        calling the combiner costs more than sending a few values (combiners
        may run zero or more times, so the reducer is right either way).
        """
        identities, stored, rest = split_groups(groups, self.combine_min_values)
        body = chain.from_iterable(starmap(_as_generator(combiner),
                                           path.keyed(identities, stored, pos)))
        return chain(self.records(path.flat(chain(_enter(pos, "combiner", combiner), body))),
                     self.records(rest))

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
        return sum(sum(1 for _ in read_split(p, s, e)) for kind, p, s, e in
                   (src for src in sources if src[0] == "file")
                   if p == file_path and s < start)
    except Exception:
        return 0


class ReduceTask(StepTask):
    """The reduce side of one step: sort by key, reducer (with hooks), then output."""

    def __init__(self, spec, step_num, num_steps, counters, final, sort_values: bool,
                 jobconf: dict | None = None):
        super().__init__(spec, step_num, num_steps, counters, final, jobconf)
        self.sort_values = sort_values

    def __call__(self, split: int, records):
        pos = Position(phase="shuffle read", env=self.task_env(split, is_map=False))
        if self.final:
            return self.output(split, records, pos, self.reduced)
        return self.streamed(split, records, pos, self.reduced)

    def reduced(self, job, step, records, pos: Position):
        """The stream of the reducer's pairs over this partition's keys, in order, with hooks.

        What every map task sent is sorted at once, within the task's memory
        budget (see `minibig.mapreduce.internal`); each key's values then
        stream from the sorted records to the reducer.
        """
        path = path_for(job.internal_protocol())
        keyed = path.reducer_input(records, self.sort_values, pos, *task_memory())
        reducer = step["reducer"]
        body = chain.from_iterable(starmap(
            _identity_reducer if reducer is None else _as_generator(reducer), keyed))
        return chain(_hook(pos, "reducer_init", step["reducer_init"]),
                     _enter(pos, "reducer", reducer), body,
                     _hook(pos, "reducer_final", step["reducer_final"]))
