"""MRJob: a MapReduce job written as a class, with mrjob's API.

A job defines `mapper(key, value)`, `combiner(key, values)` and
`reducer(key, values)` as generators of (key, value) pairs, with optional
`*_init` / `*_final` hooks, or several steps through `steps()`. The class
is both the program and its command line:

    class MRWordCount(MRJob):
        def mapper(self, _, line):
            for word in line.split():
                yield word, 1
        def reducer(self, word, counts):
            yield word, sum(counts)

    if __name__ == "__main__":
        MRWordCount.run()            # python job.py input... [-o OUTDIR]

or, from Python:

    job = MRWordCount(args=["input.txt"])
    with job.make_runner() as runner:
        runner.run()
        for word, count in job.parse_output(runner.cat_output()):
            ...

An instance parses its arguments when it is built (`configure_args`, then
`load_args`); the runner compiles its steps into engine stages (see
`minibig.mapreduce.runner`), and every task rebuilds the job from the same
arguments, as each Hadoop task runs the job script anew.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import logging
import os
import sys
import traceback
from itertools import chain, repeat

from minibig.mapreduce.counters import increment
from minibig.mapreduce.internal import PLAIN_TYPES
from minibig.mapreduce.options import add_runner_args, optparse_kwargs, raising_parser
from minibig.mapreduce.protocols import JSONProtocol, RawValueProtocol
from minibig.mapreduce.runner import MRJobRunner
from minibig.mapreduce.step import STEP_FUNCS, MRStep
from minibig.mapreduce.tasks import building_task_job

log = logging.getLogger("minibig.mapreduce")


def _line_blocks(chunks, size: int = 1 << 20):
    """Blocks of whole lines (about `size` bytes each) from arbitrary byte chunks."""
    pending = []
    held = 0
    for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            data = b"".join(pending)
            cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut]
                pending, held = ([data[cut:]], len(data) - cut) if cut < len(data) else ([], 0)
            else:
                pending = [data]
    if pending:
        yield b"".join(pending)


_NOT_SEPARATORS = bytes(range(256)).translate(None, b"\t\n")


def _json_pairs(block: bytes, lines: int):
    """Decode a block of `lines` JSONProtocol lines in one `json.loads`, or None if it cannot be.

    The block becomes one flat JSON array, key, value, key, value...: one
    list for the whole block, not one per line for the cyclic garbage
    collector to walk (word count's output decodes 3x faster). It is taken
    only where that is sure to give what reading line by line gives, else
    None and its lines are read one by one (which raises on a bad line):

    - exactly one tab per line (one C pass);
    - the tabs and newlines stay in the text (a comma added after each):
      a string holding either is an error for json.loads, so each field
      lies between two separators;
    - every item a scalar (no list or dict: one C pass over their types),
      so no bracket or brace stood outside a string (json.loads would have
      made it a list or a dict); a word's `[` inside a key is fine;
    - 2n items for n lines: with no brackets outside strings every comma
      outside a string separates two items, so no field holds a comma, and
      a field of one line is then one JSON scalar, the one its line's read
      decodes.

    Lines with lists or objects are read line by line.
    """
    body = block[:-1] if block.endswith(b"\n") else block
    if not body or body.translate(None, _NOT_SEPARATORS) != b"\t\n" * (lines - 1) + b"\t":
        return None
    try:
        items = json.loads(b"[" + body.replace(b"\t", b"\t,").replace(b"\n", b"\n,") + b"]")
    except ValueError:
        return None
    if len(items) != 2 * lines or not PLAIN_TYPES.issuperset(map(type, items)):
        return None
    fields = iter(items)
    return zip(fields, fields)                  # key, value, key, value...: no copy of each half


def _block_pairs(protocol, lines_before: list, block: bytes):
    """The (key, value) pairs of a block of whole output lines, read with `protocol`.

    `lines_before[0]`: the output's lines before this block, moved on past it.
    As mrjob's `parse_output`, `protocol.read` gets each line with its newline
    (the last without one if the output does not end in one): JSON ignores
    it, and a raw protocol's value keeps it, as it does with mrjob.
    """
    first = lines_before[0]
    lines = block.count(b"\n") + (not block.endswith(b"\n"))
    lines_before[0] += lines
    pairs = _json_pairs(block, lines) if type(protocol) is JSONProtocol else None
    if pairs is None:
        # split at b"\n" alone, each line with its newline (the last without one if none)
        pairs = _read_lines(protocol, io.BytesIO(block).readlines(), first)
    return pairs


def _read_lines(protocol, lines: list, first: int):
    """`lines` read one by one; a line that fails is named (its index in the output)."""
    try:
        yield from map(protocol.read, lines)
    except Exception as exc:
        for index, line in enumerate(lines):    # the first that fails: the one map stopped at
            try:
                protocol.read(line)
            except Exception:
                shown = line.rstrip(b"\n")[:200]
                exc.add_note(f"output line {first + index + 1}: {shown!r}")
                break
        raise


class MRJob:
    """Base class of MapReduce jobs: define mapper/combiner/reducer, or steps().

    >>> class MRLengths(MRJob):
    ...     def mapper(self, _, line):
    ...         yield len(line), line
    >>> job = MRLengths(args=["in.txt", "--num-reducers", "3"])
    >>> job.options.args, job.options.num_reducers, len(job.steps())
    (['in.txt'], 3, 1)
    """

    #: Reads the first mapper's input lines (default: key None, value the line as str).
    INPUT_PROTOCOL = RawValueProtocol
    #: Encodes pairs between mapper, combiner and reducer, and between steps.
    INTERNAL_PROTOCOL = JSONProtocol
    #: Encodes the job's output lines (default: JSON key, tab, JSON value).
    OUTPUT_PROTOCOL = JSONProtocol
    #: True: a reducer receives each key's values sorted by their encoding (secondary sort).
    SORT_VALUES = None
    #: Hadoop-style settings for every step, e.g. {"mapreduce.job.reduces": "4"}.
    JOBCONF: dict = {}
    #: Accepted for mrjob compatibility and ignored with a warning (input is text lines,
    #: keys are hash-partitioned).
    HADOOP_INPUT_FORMAT = None
    HADOOP_OUTPUT_FORMAT = None
    PARTITIONER = None

    def __init__(self, args=None):
        self._passthru_arg_dests: set = set()
        self._file_arg_dests: set = set()
        self._counters: dict = {}
        self._is_task = building_task_job()
        self._stdin = self._stdout = self._stderr = None
        self.arg_parser = argparse.ArgumentParser(usage=self._usage(), allow_abbrev=False)
        self.configure_args()
        if type(self).configure_options is not MRJob.configure_options:
            self.configure_options()          # a job written for mrjob 0.5, as mrjob 0.6 ran it
        if args is None:
            self._cl_args = sys.argv[1:]
        else:
            self._cl_args = list(args)
            raising_parser(self.arg_parser)
        self.load_args(self._cl_args)

    def _usage(self) -> str:
        return "%(prog)s [options] [input files]"

    # -- the job's functions (redefine the ones you need) ----------------------
    def mapper(self, key, value):
        """Yield (key, value) pairs for one input pair (key None and value the line, by default)."""
        raise NotImplementedError

    def mapper_init(self):
        """Run before the mapper's first input in each map task; may yield pairs."""
        raise NotImplementedError

    def mapper_final(self):
        """Run after the mapper's last input in each map task; may yield pairs."""
        raise NotImplementedError

    def mapper_raw(self, input_path, input_uri):
        """Instead of mapper: called once per input file with its path; yield pairs."""
        raise NotImplementedError

    def combiner(self, key, values):
        """Yield pairs combining some of one key's values, map side (may run 0 or more times)."""
        raise NotImplementedError

    def combiner_init(self):
        """Run before the combiner in each map task; may yield pairs."""
        raise NotImplementedError

    def combiner_final(self):
        """Run after the combiner in each map task; may yield pairs."""
        raise NotImplementedError

    def reducer(self, key, values):
        """Yield pairs from one key and an iterator over all its values."""
        raise NotImplementedError

    def reducer_init(self):
        """Run before the reducer's first key in each reduce task; may yield pairs."""
        raise NotImplementedError

    def reducer_final(self):
        """Run after the reducer's last key in each reduce task; may yield pairs."""
        raise NotImplementedError

    def mapper_cmd(self):
        """Not supported by minibig (mrjob: a shell command as the mapper)."""
        raise NotImplementedError

    def mapper_pre_filter(self):
        """Not supported by minibig (mrjob: a shell filter before the mapper)."""
        raise NotImplementedError

    def combiner_cmd(self):
        """Not supported by minibig (mrjob: a shell command as the combiner)."""
        raise NotImplementedError

    def combiner_pre_filter(self):
        """Not supported by minibig (mrjob: a shell filter before the combiner)."""
        raise NotImplementedError

    def reducer_cmd(self):
        """Not supported by minibig (mrjob: a shell command as the reducer)."""
        raise NotImplementedError

    def reducer_pre_filter(self):
        """Not supported by minibig (mrjob: a shell filter before the reducer)."""
        raise NotImplementedError

    def steps(self) -> list:
        """The job's steps; by default one step of the functions this class redefines."""
        kwargs = {name: getattr(self, name) for name in STEP_FUNCS
                  if getattr(type(self), name) is not getattr(MRJob, name)}
        for name in list(kwargs):
            if name.endswith(("_cmd", "_pre_filter")):
                kwargs[name] = kwargs[name]()
        return [MRStep(**kwargs)] if kwargs else []

    # -- inside tasks -------------------------------------------------------------
    def increment_counter(self, group, counter, amount=1) -> None:
        """Add `amount` (an int) to counter `counter` of group `group`.

        Read the totals after the run with `runner.counters()`.
        """
        increment(self._counters, group, counter, amount)

    def set_status(self, msg) -> None:
        """Report what the task is doing (written to the task's stderr)."""
        print(f"minibig.mapreduce: status: {msg}", file=sys.stderr, flush=True)

    def is_task(self) -> bool:
        """True in the job instances that tasks build to run mapper, combiner or reducer."""
        return self._is_task

    # -- command-line arguments -----------------------------------------------------
    def configure_args(self) -> None:
        """Define the job's arguments; redefine it, call super(), then add_passthru_arg(...)."""
        add_runner_args(self.arg_parser)

    def load_args(self, args) -> None:
        """Parse `args` into `self.options`; redefine it to post-process (call super() first)."""
        self.options = self.arg_parser.parse_intermixed_args(list(args or []))

    def add_passthru_arg(self, *args, **kwargs) -> None:
        """An argument (argparse's add_argument) that the job's tasks see in self.options."""
        action = self.arg_parser.add_argument(*args, **kwargs)
        self._passthru_arg_dests.add(action.dest)

    def add_file_arg(self, *args, **kwargs) -> None:
        """An argument naming a file the tasks read; tasks see its absolute path.

        The file must be readable where the tasks run (like input files).
        """
        if kwargs.get("type") not in (None, str):
            raise argparse.ArgumentTypeError("file options must take strings")
        if kwargs.get("action") not in (None, "append", "store"):
            raise argparse.ArgumentTypeError("file options must use the actions 'store' or 'append'")
        action = self.arg_parser.add_argument(*args, **kwargs)
        self._file_arg_dests.add(action.dest)

    def pass_arg_through(self, opt_str: str) -> None:
        """Make a built-in argument (e.g. --runner) visible to tasks too (they see all)."""
        for action in self.arg_parser._actions:
            if opt_str in action.option_strings or opt_str == action.dest:
                self._passthru_arg_dests.add(action.dest)
                return
        raise ValueError(f"unknown arg: {opt_str}")

    # mrjob < 0.6 names of the same methods, with optparse's keywords (type="int", ...)
    def configure_options(self) -> None:
        """Deprecated mrjob name of configure_args: a job that redefines it has it called
        after configure_args (which added the built-in switches), as mrjob 0.6 did."""

    def add_passthrough_option(self, *args, **kwargs) -> None:
        """Deprecated mrjob name of add_passthru_arg."""
        self.add_passthru_arg(*args, **optparse_kwargs(kwargs, args))

    def add_file_option(self, *args, **kwargs) -> None:
        """Deprecated mrjob name of add_file_arg."""
        self.add_file_arg(*args, **optparse_kwargs(kwargs, args))

    def file_args(self) -> dict:
        """{dest: absolute path(s)} of the file arguments given."""
        found = {}
        for dest in self._file_arg_dests:
            value = getattr(self.options, dest, None)
            if isinstance(value, list):
                found[dest] = [os.path.abspath(v) for v in value]
            elif value:
                found[dest] = os.path.abspath(value)
        return found

    # -- protocols, jobconf, sorting --------------------------------------------------
    def input_protocol(self):
        """An instance of INPUT_PROTOCOL."""
        return self.INPUT_PROTOCOL()

    def internal_protocol(self):
        """An instance of INTERNAL_PROTOCOL."""
        return self.INTERNAL_PROTOCOL()

    def output_protocol(self):
        """An instance of OUTPUT_PROTOCOL."""
        return self.OUTPUT_PROTOCOL()

    def jobconf(self) -> dict:
        """Settings for every step (default: JOBCONF); the command line's -D wins over them."""
        return dict(self.JOBCONF)

    def sort_values(self):
        """Whether reducers get values sorted (default: SORT_VALUES)."""
        return self.SORT_VALUES

    def partitioner(self):
        """Accepted for mrjob compatibility (default: PARTITIONER); keys are always hashed."""
        return self.PARTITIONER

    # -- running ------------------------------------------------------------------
    def make_runner(self):
        """A runner for this job, per its arguments (-r, --master, -o, ...); use it with `with`."""
        return MRJobRunner(self)

    def parse_output(self, chunks):
        """(key, value) pairs decoded by OUTPUT_PROTOCOL from the output's bytes chunks.

        An iterator, lazy as mrjob's generator: a block of lines is read when
        its first pair is asked for. Its pairs are handed on in C, without a
        Python step per pair (a word count's 615k: 0.03 s less, in the driver
        while the cluster waits).
        """
        return chain.from_iterable(map(_block_pairs, repeat(self.output_protocol()), repeat([0]),
                                       _line_blocks(chunks)))

    def parse_output_line(self, line: bytes):
        """(key, value) of one output line (older mrjob API)."""
        return self.output_protocol().read(line.rstrip(b"\r\n"))

    @classmethod
    def run(cls) -> None:
        """Run the job from the command line (`python job.py ...`, `minibig submit job.py ...`).

        A failure of the job's code in a worker's task is printed without the
        driver's stack, which says nothing about it: the exception, the step,
        phase and input or key, and the worker's traceback; the exit status
        is 1. (With -r inline the task ran here: the whole traceback shows.)
        """
        try:
            cls().execute()
        except BrokenPipeError:                   # `python job.py ... | head`: stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:
            if not hasattr(exc, "minibig_context"):
                raise
            print("".join(traceback.format_exception_only(type(exc), exc)).rstrip(),
                  file=sys.stderr)
            sys.exit(1)

    def execute(self) -> None:
        """Run the whole job and stream its output to stdout (unless -o or --no-cat-output)."""
        self.run_job()

    def run_job(self) -> None:
        """Run every step; stream the output to stdout; log to stderr."""
        if not self.options.quiet and not logging.getLogger().handlers and not log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.DEBUG if self.options.verbose else logging.INFO)
        with self.make_runner() as runner:
            runner.run()
            if self._should_cat_output():
                out = self.stdout
                for chunk in runner.cat_output():
                    out.write(chunk)
                out.flush()

    def _should_cat_output(self) -> bool:
        if self.options.cat_output is None:
            return not self.options.output_dir
        return self.options.cat_output

    @classmethod
    def mr_job_script(cls) -> str | None:
        """Path of the file that defines this job class, or None."""
        try:
            return inspect.getsourcefile(cls)
        except TypeError:
            return None

    # -- standard streams (replaceable for tests) ------------------------------------
    @property
    def stdin(self):
        """Binary input stream read when the job has no input paths (or gets '-')."""
        return self._stdin or getattr(sys.stdin, "buffer", sys.stdin)

    @property
    def stdout(self):
        """Binary stream the output goes to when run from the command line."""
        return self._stdout or getattr(sys.stdout, "buffer", sys.stdout)

    @property
    def stderr(self):
        """Binary stream for the job's own messages."""
        return self._stderr or getattr(sys.stderr, "buffer", sys.stderr)

    def sandbox(self, stdin=None, stdout=None, stderr=None) -> "MRJob":
        """Replace stdin/stdout/stderr with given (or empty BytesIO) streams; returns self."""
        self._stdin = stdin or io.BytesIO()
        self._stdout = stdout or io.BytesIO()
        self._stderr = stderr or io.BytesIO()
        return self
