"""A running task's GC time, which its own code cannot measure.

(Its spilled bytes are counted by the shuffle as it writes runs: `shuffle.spill.take_spilled`.)

GC time. `gc.callbacks` tells when each collection starts and stops; the
process keeps a running total (`gc_seconds`), and a task's GC time is the
total at its end minus the total at its start. A collection stops every
thread of the process, so two tasks running side by side on one worker both
count it: this is what Spark's per-task "GC time" means too (the JVM's
collections during the task). The callback is Python code that runs often:
a task kill (an asynchronous exception) that lands in it is printed and
dropped by Python, so the worker raises a kill again at each heartbeat until
the attempt has stopped (`KillSwitch.kill_again` in cluster/killswitch.py).
"""

from __future__ import annotations

import gc
import threading
import time

_lock = threading.Lock()
_gc = {"total": 0.0, "started": None, "installed": False}


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
