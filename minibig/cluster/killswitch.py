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
one are. An import of a module already loaded runs no module body and is
passed straight on (user functions often import per record): the guard
costs such an import about 0.8 us.
"""

from __future__ import annotations

import builtins
import ctypes
import sys
import threading
from contextlib import contextmanager

from minibig.errors import TaskKilledError

_armed: dict = {}                 # thread ident -> the KillSwitch armed in that thread
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
            _armed[self.thread] = self
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
            if self.thread is not None:
                if self.killed:
                    _raise_in_thread(self.thread, None)
                _armed.pop(self.thread, None)
            self.thread = None
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

    @contextmanager
    def held(self):
        """Hold kills, as during an import, while the armed thread does what must not be
        cut (sending the parts of one message); a kill that came meanwhile is raised after."""
        self.enter_import()
        try:
            yield
        finally:
            self.leave_import()


def current_attempt_killed() -> bool:
    """Whether the task attempt running in this thread has been asked to stop."""
    switch = _armed.get(threading.get_ident())
    return switch is not None and switch.killed


def install_import_guard() -> None:
    """Route `import` statements through `_guarded_import` (once per worker process)."""
    if builtins.__import__ is not _guarded_import:
        builtins.__import__ = _guarded_import


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """`__import__`, during which the armed attempt of this thread cannot be killed."""
    switch = _armed.get(threading.get_ident())
    if switch is None or switch.importing or (level == 0 and _loaded(name, fromlist)):
        # Not a task, inside a guarded import already (only this thread sets `importing`),
        # or nothing to run: a user function importing a loaded module per record pays least.
        return _original_import(name, globals, locals, fromlist, level)
    switch.enter_import()
    try:
        return _original_import(name, globals, locals, fromlist, level)
    finally:
        switch.leave_import()


def _loaded(name: str, fromlist) -> bool:
    """Whether importing `name` (and `fromlist` from it) can run no module's body."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return False
    return not fromlist or all(item != "*" and item in module.__dict__ for item in fromlist)
