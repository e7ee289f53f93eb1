"""The event log's format: one JSON object per line, versioned (docs/event-log.md).

Every event is ``{"event": NAME, "v": VERSION, "time": EPOCH_SECONDS, ...}``.
A log file holds the events of one application (one driver) from
``app_start`` to ``app_end``: ``DIR/app-<start>-<driver id>.jsonl``, named
``... .jsonl.inprogress`` while the application runs, and renamed when it
ends (as Spark's event logs are). A reader skips what it cannot use: a torn
last line of a log whose writer died, and events of a newer major version.
"""

from __future__ import annotations

import json
import logging
import os
import time

VERSION = 1               # the major version, in every event's "v": a reader skips newer ones
MINOR = 1                 # fields added within the major version (docs/event-log.md)
FORMAT = f"{VERSION}.{MINOR}"      # in app_start's "format"
# A graph superstep task's counts, on its task_end (minibig.graph.tasks.SuperstepCode.result_fields);
# a session task's (minibig.graph.session) are lists, one entry per superstep it ran, its
# `superstep` entries being [n, start, seconds, outbox bytes].
GRAPH_FIELDS = ("superstep", "messages_sent", "active_vertices")
SUFFIX = ".jsonl"
IN_PROGRESS = ".inprogress"

log = logging.getLogger("minibig.eventlog")


def event(kind: str, /, **fields) -> dict:
    """A new event of `kind`, stamped with the format version and the time."""
    return {"event": kind, "v": VERSION, "time": round(time.time(), 6), **fields}


class LogFile:
    """The log file of one application, written a line at a time."""

    def __init__(self, directory: str, app_id: str, started: float):
        os.makedirs(directory, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
        self.path = os.path.join(directory, f"app-{stamp}-{app_id}{SUFFIX}")
        # Line-buffered: each event reaches the file when it happens, so a log
        # survives its master being killed, up to the torn last line at worst.
        self.file = open(self.path + IN_PROGRESS, "w", buffering=1, encoding="utf-8")

    def write(self, ev: dict) -> None:
        """Append one event."""
        self.file.write(json.dumps(ev, separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Close the file and drop the in-progress mark from its name."""
        self.file.close()
        os.replace(self.path + IN_PROGRESS, self.path)


def log_files(directory: str) -> list[str]:
    """The event logs in `directory`, finished and in progress, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(directory, n) for n in names
                  if n.endswith(SUFFIX) or n.endswith(SUFFIX + IN_PROGRESS))


def read_events(path: str) -> list[dict]:
    """The events of one log file that this version of minibig can read."""
    events = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s:%d: skipped a line that is not JSON (a torn write?)", path, number)
                continue
            if isinstance(ev, dict) and int(ev.get("v", 0)) <= VERSION and "event" in ev:
                events.append(ev)
    return events
