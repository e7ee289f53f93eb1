"""The engine's own exceptions.

A user's exception raised inside a task is *not* wrapped in one of these: it is
re-raised on the driver with its own type, and the context (stage, partition,
attempt, worker, remote traceback, the line that created the dataset) is
attached as exception notes. These types are for what the engine itself
detects. `UserError` marks a mistake of the user (a missing path, an
unreachable master): the command line prints its message as one line.
"""

from __future__ import annotations

import os
import traceback

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_engine_frame(frame: traceback.FrameSummary) -> bool:
    """Frames of minibig itself and of runpy: they say how user code was reached."""
    name = frame.filename
    return name.startswith(_ENGINE_DIR) or name in ("<frozen runpy>", "<string>") or \
        os.path.basename(name) == "runpy.py"


def format_user_traceback(exc: BaseException) -> str:
    """`exc`'s traceback (and its causes') showing the user's frames only.

    Engine frames are left out whenever a frame of the user's is there, so a
    failed job leads with the user's own lines; an error inside minibig
    itself (no user frame at all) keeps every frame. Notes (stage,
    partition, worker, remote traceback) follow the exception as usual.
    """
    parts = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if not _is_engine_frame(f)]
        parts.append(_traceback_text(mine or frames, exc))
        cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if cause is not None:
            parts.append("\nThe above was raised while handling:\n\n" if exc.__cause__ is None
                         else "\nThe above was directly caused by:\n\n")
        exc = cause
    return "".join(parts)


def format_interrupt(exc: BaseException) -> str:
    """A Ctrl-C's traceback down to the user's line that called into minibig, where the job was:
    the frames below it are the scheduler's waits and pyzmq's poll."""
    frames = traceback.extract_tb(exc.__traceback__)
    first_engine = next((i for i, f in enumerate(frames) if _is_engine_frame(f)), len(frames))
    return _traceback_text(frames[:first_engine] or frames, exc)


def _traceback_text(frames: list, exc: BaseException) -> str:
    """`exc` as the interpreter prints it, with `frames` for its traceback (none: no header)."""
    text = "".join(traceback.format_exception_only(type(exc), exc))
    if not frames:
        return text
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + text


class MinibigError(Exception):
    """Base class of every error raised by the engine itself."""


class UserError(MinibigError):
    """A mistake in how minibig was called; shown as one line, no traceback."""


class InvalidArgumentError(UserError, ValueError):
    """A bad value for an option or argument (a worker count, a port, a master URL)."""


class InputPathError(UserError, FileNotFoundError):
    """An input path or glob matches no file."""


class OutputExistsError(UserError, FileExistsError):
    """An output directory already exists."""


class MasterUnreachableError(UserError, ConnectionError):
    """No master answered at the given address."""


class JobFileError(UserError):
    """The job file given to `minibig submit` cannot be run."""


class ClusterStartError(MinibigError):
    """An embedded cluster's processes failed to start or register."""


class PicklingError(MinibigError):
    """User code or data could not be serialised; names the culprit."""


class ResultTooLargeError(MinibigError):
    """An action's results exceed `Conf.max_result_size`."""


class TaskError(MinibigError):
    """A task failed with an exception whose type could not be sent back."""


class FetchFailedError(MinibigError):
    """A reduce task could not fetch a shuffle block: its map output is lost."""

    def __init__(self, shuffle_key: str, map_index: int, worker: str, reason: str = ""):
        super().__init__(
            f"shuffle {shuffle_key}: map output {map_index} on worker {worker} "
            f"cannot be fetched{': ' + reason if reason else ''}"
        )
        self.shuffle_key = shuffle_key
        self.map_index = map_index
        self.worker = worker

    def __reduce__(self):
        return (FetchFailedError, (self.shuffle_key, self.map_index, self.worker))


class TaskKilledError(MinibigError):
    """Raised inside a task attempt that the master cancelled (another attempt won)."""


class WorkerLostError(MinibigError):
    """A task's worker died on each of its attempts: the task itself may end its process
    (`os._exit`, a crash in native code, the kernel's OOM killer), as Spark counts an
    executor lost while running it against `spark.task.maxFailures`."""


class JobAbortedError(MinibigError):
    """A job was cancelled or lost its cluster before it finished."""


class MemoryBudgetError(MinibigError):
    """One record, or one key's group, is bigger than a task's memory budget.

    Everything else a shuffle holds spills to disk; a single record or a single
    group of values cannot be cut, so it fails the task with this error instead
    of letting the operating system kill the worker.
    """

    def __init__(self, what: str, key, size: int, budget: int):
        shown = repr(key)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(
            f"{what} of key {shown} is about {size} bytes, over the task's memory budget of "
            f"{budget} bytes; give workers more memory (`minibig worker --memory`, "
            "Conf.worker_memory) or keep groups small (reduceByKey or aggregateByKey "
            "instead of groupByKey)")
        self.what, self.key_repr, self.size, self.budget = what, shown, size, budget

    def __reduce__(self):
        return (MemoryBudgetError, (self.what, _Shown(self.key_repr), self.size, self.budget))


class _Shown(str):
    """A key already shown with repr (so that re-raising does not quote it twice)."""

    def __repr__(self) -> str:
        return str(self)
