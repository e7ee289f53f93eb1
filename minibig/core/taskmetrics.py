"""Two measurements of a running task that its own code cannot make: GC time and spilled bytes.

GC time. `gc.callbacks` tells when each collection starts and stops; the
process keeps a running total (`gc_seconds`), and a task's GC time is the
total at its end minus the total at its start. A collection stops every
thread of the process, so two tasks running side by side on one worker both
count it: this is what Spark's per-task "GC time" means too (the JVM's
collections during the task). The callback is Python code that runs often:
a task kill (an asynchronous exception) that lands in it is printed and
dropped by Python, so the worker raises a kill again at each heartbeat until
the attempt has stopped (`KillSwitch.kill_again` in cluster/worker.py).

Spilled bytes. A task's spills (shuffle runs past its memory budget, and
shuffle segments fetched to disk because they were too big to hold) go into
its spill folder (`TaskContext.spill_dir()`), and a finished merge deletes
its runs at once, so the folder's size when the task ends misses most of
them. `SpillMeter` watches the folder: Python raises the audit event
`os.remove` before it deletes a file (`sys.addaudithook`), where the file's
size is read and added up; what is left in the folder is added when the task
releases it. The hook is installed the first time any task spills in the
process, and does nothing for a path outside a watched folder.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

_lock = threading.Lock()
_gc = {"total": 0.0, "started": None, "installed": False}
_watched: dict = {}              # spill folder -> SpillMeter
_hooked = False


def _on_gc(phase: str, info: dict) -> None:
    # One collection runs at a time (it holds the GIL), so start and stop pair up.
    if phase == "start":
        _gc["started"] = time.perf_counter()
    elif _gc["started"] is not None:
        _gc["total"] += time.perf_counter() - _gc["started"]
        _gc["started"] = None


def gc_seconds() -> float:
    """Seconds this process has spent in garbage collections since it was first asked."""
    if not _gc["installed"]:
        with _lock:
            if not _gc["installed"]:
                gc.callbacks.append(_on_gc)
                _gc["installed"] = True
    return _gc["total"]


def _size(path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _on_audit(event: str, args: tuple) -> None:
    if event != "os.remove" or not _watched:
        return
    path, dir_fd = args
    if dir_fd != -1:
        return                        # relative to a folder descriptor: not a spill's unlink
    try:
        path = os.fsdecode(path)      # str, bytes or a path-like object, as given to os.remove
    except TypeError:
        return
    meter = _watched.get(os.path.dirname(path))
    if meter is not None:
        meter.bytes += _size(path)


class SpillMeter:
    """The bytes written into one task's spill folder, deleted files included."""

    def __init__(self, folder: str):
        global _hooked
        self.folder = folder
        self.bytes = 0
        with _lock:
            if not _hooked:
                sys.addaudithook(_on_audit)      # for the life of the process: hooks cannot be removed
                _hooked = True
            _watched[folder] = self

    def close(self) -> int:
        """Stop watching; the total, with the files still in the folder."""
        _watched.pop(self.folder, None)
        try:
            with os.scandir(self.folder) as entries:
                self.bytes += sum(_size(e.path) for e in entries if e.is_file())
        except OSError:
            pass
        return self.bytes
