"""A one-line progress display of stages and tasks, on terminals only."""

from __future__ import annotations

import sys
import time


class Progress:
    """Shows `[stage N: done/total tasks]` on stderr while a job runs.

    Silent unless stderr is a terminal, so logs and pipes stay clean.
    """

    def __init__(self, enabled: bool = True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.totals: dict = {}
        self.done: dict = {}
        self.last = 0.0
        self.shown = False

    def stage_started(self, stage, tasks: int) -> None:
        self.totals[stage.id] = (stage, tasks)
        self.done[stage.id] = 0
        self.render()

    def task_done(self, stage, done: int) -> None:
        if stage.id in self.totals:
            total = self.totals[stage.id][1]
            self.done[stage.id] = min(total, done - (stage.num_tasks - total))
        self.render()

    def stage_done(self, stage) -> None:
        self.totals.pop(stage.id, None)
        self.done.pop(stage.id, None)
        self.render(force=True)

    def render(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        parts = [f"[stage {sid}: {self.done[sid]}/{total} tasks]"
                 for sid, (_, total) in sorted(self.totals.items())]
        line = " ".join(parts)[:200]
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self.shown = bool(line)

    def finish(self) -> None:
        """Clear the line at the end of a job."""
        self.totals.clear()
        self.done.clear()
        if self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
