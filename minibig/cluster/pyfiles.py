"""Each driver's tasks import that driver's own shipped modules.

A driver ships the modules beside its job (and `addPyFile`s) as zips, named
by a hash of their bytes. A worker serves many drivers in turn, and Python
keeps one `sys.modules` per process: without care, a second job shipping a
changed `helper.py` would get the first job's module, already imported.

The policy: the process holds one *code set* at a time, the tuple of zip ids
of the driver whose tasks run (content-addressed, so two drivers shipping the
same bytes share it). Before a task runs it enters its code set:

- same set as the one loaded: it runs at once, alongside the others;
- another set: it waits until no task of the loaded set runs, then the
  modules imported from zips outside the new set leave `sys.modules` (kept
  aside, so switching back does not import them again), those zips leave
  `sys.path`, and the new set's zips and modules come in;
- no zip at all (a driver that ships nothing): it runs at once, with
  whatever set is loaded.

When the master says a driver's zips are no longer used (DROP_FILES, once
its last driver is gone), they leave the disk and the kept sets; a zip of
the loaded set stays until no task of that set runs (its modules may still
import from it), and then the set is unloaded.

Waiting tasks enter in arrival order, so neither driver starves the other.
The cost: on one worker, tasks of two drivers shipping different code do
not overlap (each still runs on every free slot of other workers). Limits:
a module is recognised as shipped by its `__file__` inside a zip, so
namespace packages without one are not switched; a driver shipping nothing
can still import a module another driver shipped.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections import OrderedDict, deque
from contextlib import contextmanager

KEPT_CODE_SETS = 8              # switched-out sets whose modules are kept for a switch back


def zip_path(work_dir: str, file_id: str) -> str:
    """Where a worker keeps the shipped zip `file_id`."""
    return os.path.join(work_dir, f"pyfiles-{file_id}.zip")


class CodeSets:
    """Which driver's shipped modules the process's imports see (see the module doc)."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self.loaded: tuple = ()
        self.running = 0
        self.queue: deque = deque()
        self.kept: OrderedDict[tuple, dict] = OrderedDict()
        self.doomed: set = set()        # dropped zips of the loaded set: removed at the next switch
        self.cond = threading.Condition()

    def install(self, file_id: str, data: bytes) -> None:
        """Write a shipped zip; it reaches sys.path when a task of its code set runs."""
        path = zip_path(self.work_dir, file_id)
        tmp = f"{path}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
        with self.cond:
            self.doomed.discard(file_id)

    def drop(self, file_ids) -> None:
        """Free shipped zips no driver uses any more (see the module doc)."""
        with self.cond:
            for fid in file_ids:
                if fid in self.loaded:
                    self.doomed.add(fid)
                else:
                    self._remove(fid)
            self._unload_doomed()

    def _unload_doomed(self) -> None:
        """Once no task runs, unload a set holding dropped zips (removing them)."""
        if self.doomed and self.running == 0:
            self._switch(())

    def _remove(self, file_id: str) -> None:
        for code_set in [s for s in self.kept if file_id in s]:
            del self.kept[code_set]
        try:
            os.unlink(zip_path(self.work_dir, file_id))
        except FileNotFoundError:
            pass

    @contextmanager
    def entered(self, file_ids):
        """Run the body with the code set `file_ids` loaded."""
        wanted = tuple(file_ids or ())
        self._enter(wanted)
        try:
            yield
        finally:
            self._leave(wanted)

    def _enter(self, wanted: tuple) -> None:
        if not wanted:
            return
        with self.cond:
            ticket = object()
            self.queue.append(ticket)
            self.cond.wait_for(lambda: self.queue[0] is ticket and
                               (wanted == self.loaded or self.running == 0))
            self.queue.popleft()
            if wanted != self.loaded:
                self._switch(wanted)
            self.running += 1
            self.cond.notify_all()          # the next in line may share this set

    def _leave(self, wanted: tuple) -> None:
        if not wanted:
            return
        with self.cond:
            self.running -= 1
            self._unload_doomed()
            self.cond.notify_all()

    def _switch(self, wanted: tuple) -> None:
        """Unload the loaded set's modules and zips; load `wanted`'s (no task is running)."""
        if self.loaded:
            self.kept[self.loaded] = self._unload(set(self.loaded) - set(wanted))
            while len(self.kept) > KEPT_CODE_SETS:
                self.kept.popitem(last=False)
        paths = [zip_path(self.work_dir, fid) for fid in wanted]
        sys.path[:0] = [p for p in paths if p not in sys.path]
        for name, module in self.kept.pop(wanted, {}).items():
            sys.modules.setdefault(name, module)
        importlib.invalidate_caches()
        self.loaded = wanted
        for fid in self.doomed - set(wanted):
            self._remove(fid)
        self.doomed &= set(wanted)

    def _unload(self, file_ids: set) -> dict:
        """Take the modules imported from these zips out of sys.modules, and the zips off sys.path."""
        prefixes = tuple(zip_path(self.work_dir, fid) + os.sep for fid in file_ids)
        gone = {name: module for name, module in list(sys.modules.items())
                if str(getattr(module, "__file__", None) or "").startswith(prefixes)}
        for name in gone:
            del sys.modules[name]
        sys.path[:] = [p for p in sys.path if p + os.sep not in prefixes]
        return gone
