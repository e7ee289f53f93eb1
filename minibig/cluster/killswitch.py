"""Stopping one running task attempt: an asynchronous exception, never inside an import.

The worker stops an attempt (a speculative copy whose original won) by
raising `TaskKilledError` in its thread, so that even a user function stuck
in one long call stops. Checking a flag at safe points could not do that.
An asynchronous exception can land anywhere, and two places must be kept
out of its reach:

* the cleanup that releases the attempt's memory and spill folder: the kill
  is allowed only between `arm` and `disarm` (`Worker.execute`);
* an `import`: Python's import system does not survive an exception in the
  middle of a module's body. The half-built module leaves `sys.modules`,
  but the submodules it had finished stay, bound to a parent that is gone,
  and the next import of the package builds a second one beside them.
  Measured: a kill that landed in `import numba` made every later numba
  compile in that worker fail with "module 'numba' has no attribute 'core'".
  So while an armed thread is inside an `import` statement its kill waits,
  and is raised when the outermost import returns (`install_import_guard`).

`importlib.import_module` called directly by user code does not go through
the `import` statement and is not guarded; imports nested in a guarded
one are.
"""

from __future__ import annotations

import builtins
import ctypes
import threading

from minibig.errors import TaskKilledError

_local = threading.local()        # .switch: the KillSwitch armed in this thread; .depth: imports
_original_import = builtins.__import__


def _raise_in_thread(thread_id: int, exc_type) -> None:
    """Raise `exc_type` in another thread at its next bytecode (None: cancel a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), None if exc_type is None else ctypes.py_object(exc_type))


class KillSwitch:
    """Stops one attempt: TaskKilledError raised in its thread, only while it runs the task.

    `disarm` cancels a kill sent but not yet raised; a kill that comes before
    the attempt starts stops it from starting; a kill that comes while the
    thread imports a module is raised when the import has finished.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.thread: int | None = None        # the attempt's thread while it may be killed
        self.killed = False
        self.importing = False                # the thread is inside an import: hold the kill
        self.ctx = None                       # the attempt's TaskContext, once it has one

    def arm(self) -> bool:
        """The calling thread starts the attempt; False if it was killed already."""
        with self.lock:
            if self.killed:
                return False
            self.thread = threading.get_ident()
            _local.switch = self
            return True

    def kill(self) -> None:
        """Stop the attempt (at most one exception, never during cleanup or an import)."""
        with self.lock:
            if not self.killed:
                self.killed = True
                self._raise_now()

    def kill_again(self) -> None:
        """Raise the kill once more if the attempt still runs: an asynchronous exception
        that lands in a GC callback or a `__del__` is printed and dropped by Python."""
        with self.lock:
            if self.killed:
                self._raise_now()

    def _raise_now(self) -> None:
        if self.thread is not None and not self.importing:
            _raise_in_thread(self.thread, TaskKilledError)

    def disarm(self) -> bool:
        """No kill can land in the calling thread once this returns; True if one was asked."""
        with self.lock:
            if self.thread is not None and self.killed:
                _raise_in_thread(self.thread, None)
            self.thread = None
            _local.switch = None
            return self.killed

    def enter_import(self) -> None:
        """The armed thread starts an import: hold kills until `leave_import`."""
        with self.lock:
            if self.killed:
                raise TaskKilledError("task attempt killed")
            self.importing = True

    def leave_import(self) -> None:
        """The import has finished: raise the kill that came meanwhile, if one did."""
        with self.lock:
            self.importing = False
            if self.killed:
                raise TaskKilledError("task attempt killed")


def current_attempt_killed() -> bool:
    """Whether the task attempt running in this thread has been asked to stop."""
    switch = getattr(_local, "switch", None)
    return switch is not None and switch.killed


def install_import_guard() -> None:
    """Route `import` statements through `_guarded_import` (once per worker process)."""
    if builtins.__import__ is not _guarded_import:
        builtins.__import__ = _guarded_import


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """`__import__`, during which the armed attempt of this thread cannot be killed."""
    switch = getattr(_local, "switch", None)
    if switch is None or getattr(_local, "depth", 0):
        if switch is None:
            return _original_import(name, globals, locals, fromlist, level)
        _local.depth += 1
        try:
            return _original_import(name, globals, locals, fromlist, level)
        finally:
            _local.depth -= 1
    switch.enter_import()
    _local.depth = 1
    try:
        return _original_import(name, globals, locals, fromlist, level)
    finally:
        _local.depth = 0
        switch.leave_import()
