"""Building blocks for fault-injection tests: tasks that announce themselves
and wait for the test's go-ahead, so a test kills or stops a worker at an
exact moment without sleeping."""

from __future__ import annotations

import os
import threading

from minibig.streaming import IterableSource
import time


def announce_and_wait(folder: str, tag: str, release: str | None = None, limit: float = 120.0) -> int:
    """Inside a task: write `<tag>-<pid>-<n>` into `folder`, then wait for `release` to exist."""
    pid = os.getpid()
    name = os.path.join(folder, f"{tag}-{pid}-{time.monotonic_ns()}")
    with open(name + ".tmp", "w") as f:
        f.write(str(pid))
    os.replace(name + ".tmp", name)
    deadline = time.monotonic() + limit
    while release and not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} never appeared")
        time.sleep(0.005)
    return pid


def wait_for_marker(folder: str, tag: str, timeout: float = 120.0, count: int = 1) -> list[int]:
    """In the test: pids of the first `count` tasks that announced `tag`."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [int(n.split("-")[1]) for n in sorted(os.listdir(folder))
                if n.startswith(tag + "-") and not n.endswith(".tmp")]
        if len(pids) >= count:
            return pids
        if time.monotonic() > deadline:
            raise TimeoutError(f"no task announced {tag!r} within {timeout}s")
        time.sleep(0.01)


def markers(folder: str, tag: str) -> list[str]:
    """Every marker written for `tag`."""
    return [n for n in os.listdir(folder) if n.startswith(tag + "-") and not n.endswith(".tmp")]


def touch(path: str) -> None:
    with open(path, "w"):
        pass


def wait_until(predicate, what: str, timeout: float = 60.0):
    """In the test: poll `predicate` until it returns something true; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(0.02)


def master_status(url: str, timeout: float = 10.0) -> dict:
    """The master's status snapshot (what `minibig status --json` prints)."""
    from minibig.net import protocol as P
    from minibig.net.security import dealer
    sock = dealer(url)
    try:
        P.send(sock, P.STATUS)
        if not sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"the master at {url} did not answer status within {timeout}s")
        return P.recv(sock).header
    finally:
        sock.close(0)


def pids_of(folder: str, tag: str) -> set[int]:
    """Pids of the processes that announced `tag`."""
    return {int(n.split("-")[1]) for n in markers(folder, tag)}


def run_in_thread(fn, timeout: float = 240.0):
    """Start fn() on a daemon thread; a function join(timeout, what) that waits for it
    (bounded), fails the test naming `what` if it hung, and returns its value or raises its error."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join(limit: float = timeout, what: str = "the job"):
        thread.join(max(0.0, limit))
        assert not thread.is_alive(), f"{what} did not finish within {limit:.0f}s"
        if "error" in box:
            raise box["error"]
        return box["value"]
    return join


class PausingSource(IterableSource):
    """A replayable stream of `events` that pauses after `pause_at` of them until the
    file `release` appears in `folder` (writing `paused` there while it waits): a
    streaming test kills a worker at that exact point, without sleeping."""

    def __init__(self, events, folder, pause_at):
        super().__init__(events)
        self.folder, self.pause_at = folder, pause_at

    def split(self, index, parallelism):
        if index == 0:
            return PausingSource(self.records, self.folder, self.pause_at)
        return super().split(index, parallelism)

    def poll(self, max_records):
        released = os.path.exists(os.path.join(self.folder, "release"))
        if self.position >= self.pause_at and not released:
            open(os.path.join(self.folder, "paused"), "a").close()
            return []
        end = len(self.records) if self.position >= self.pause_at else self.pause_at
        return super().poll(min(max_records, end - self.position))
