"""The driver's side of the zygote (`cluster/zygote.py`): start it, ask it for processes.

`Zygote` starts the zygote and talks to it over its stdin and stdout pipes;
`ForkedProcess` is a handle on one process it forked, with the part of
`subprocess.Popen` an embedded cluster's users rely on (`pid`, `poll`,
`wait`, `send_signal`, `kill`, `terminate`, `returncode`). The processes
are the zygote's children, not the driver's, so a handle waits on a pidfd
(Linux 5.3+): an event, no polling, and a signal through it never reaches
a recycled pid. Their exit codes come from the zygote, which reaps them.

`prewarm` starts a zygote ahead of time, when the driver imports
`minibig.Context`: its start (an interpreter and the engine's imports)
then overlaps the driver's own imports, and the first embedded cluster
takes it (`take_prewarmed`). One not taken within PREWARM_FRESH seconds is
not used (it exits by itself, `zygote.IDLE_EXIT`), nor one started when
the driver's stderr was another file (its processes log there), nor one
started by another process (a fork of the driver).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

PREWARM_FRESH = 20.0          # seconds a prewarmed zygote stays usable (it exits after 60 idle)
IDLE_EXIT = 60.0              # seconds a zygote never asked for anything waits (zygote.py)
EXIT_REPORT_WAIT = 5.0        # seconds to wait for the zygote's report of an exit it saw
UNKNOWN_EXIT = -1             # the exit code of a process whose zygote died before reporting it
_PREWARM_ENV = "MINIBIG_ZYGOTE"

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_prewarmed = None
_prewarm_lock = threading.Lock()


def supported() -> bool:
    """True where processes can be forked and waited on through pidfds (Linux 5.3+)."""
    if os.environ.get(_PREWARM_ENV, "1") == "0" or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


def log_stream():
    """Where cluster processes' output goes: the driver's stderr, so that `minibig submit`
    prints only the job's own output on stdout."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL


def child_env() -> dict:
    """The environment of cluster processes: the driver's, with str hashing fixed and
    this minibig importable."""
    env = with_minibig_importable(dict(os.environ))
    env["PYTHONHASHSEED"] = "0"
    return env


def with_minibig_importable(env: dict) -> dict:
    """`env` with this minibig's folder first on PYTHONPATH (for a child Python process)."""
    paths = [_PACKAGE_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def _stderr_identity():
    try:
        info = os.fstat(2)
        return info.st_dev, info.st_ino
    except OSError:
        return None


class Zygote:
    """A running zygote and the messages it sent."""

    def __init__(self, env: dict, stderr):
        self.stderr_identity = _stderr_identity()
        self.started = time.monotonic()
        self.owner = os.getpid()                # a forked copy of the driver must not share it
        self.proc = subprocess.Popen([sys.executable, "-m", "minibig.cluster.zygote", str(IDLE_EXIT)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, env=env)
        self.lock = threading.Lock()            # one reader of the zygote's stdout at a time
        self.inbox = b""
        self.pids: list[dict] = []              # answers to starts, in order
        self.exits: dict[int, int] = {}
        self.master_line: dict | None = None
        self.ended = False                      # its stdout reached end of file

    def start(self, commands: list[dict], timeout: float) -> list[int]:
        """Ask for processes (one command each, see the zygote); their pids, in order."""
        payload = b"".join(json.dumps(c).encode() + b"\n" for c in commands)
        try:
            self.proc.stdin.write(payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            return []
        deadline = time.monotonic() + timeout
        while len(self.pids) < len(commands) and self._pump(deadline):
            pass
        answers, self.pids = self.pids[:len(commands)], self.pids[len(commands):]
        return [int(a["pid"]) for a in answers]

    def master_info(self, timeout: float) -> dict | None:
        """The master's start-up line, within `timeout` seconds; None if it never came."""
        deadline = time.monotonic() + timeout
        while self.master_line is None and self._pump(deadline):
            pass
        return self.master_line

    def exit_code(self, pid: int, timeout: float = EXIT_REPORT_WAIT) -> int:
        """The exit code the zygote reported for `pid`, waiting up to `timeout` for it."""
        deadline = time.monotonic() + timeout
        while pid not in self.exits and self._pump(deadline):
            pass
        return self.exits.get(pid, UNKNOWN_EXIT)

    def _pump(self, deadline: float) -> bool:
        """Read what the zygote sent, waiting until `deadline`; False once there is no more."""
        with self.lock:
            if self.ended:
                return False
            fd = self.proc.stdout.fileno()
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return False
            chunk = os.read(fd, 65536)
            if not chunk:
                self.ended = True
                return False
            self.inbox += chunk
            while b"\n" in self.inbox:
                line, self.inbox = self.inbox.split(b"\n", 1)
                self._note(json.loads(line))
            return True

    def _note(self, message: dict) -> None:
        if "exit" in message:
            self.exits[int(message["exit"])] = int(message["code"])
        elif "url" in message:
            self.master_line = message
        else:
            self.pids.append(message)

    def close(self, timeout: float) -> None:
        """Close its stdin (it exits, and so does every process it still has) and reap it."""
        with self.lock:                         # no reader is in select() on its stdout
            self.ended = True
            for pipe in (self.proc.stdin, self.proc.stdout):
                if not pipe.closed:
                    pipe.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def discard(self) -> None:
        """Kill it at once (an unused prewarmed zygote may still be importing)."""
        self.proc.kill()
        self.close(timeout=5.0)

    def usable_now(self) -> bool:
        """True if a cluster may still take this prewarmed zygote (see the module doc)."""
        return (self.proc.poll() is None and time.monotonic() - self.started < PREWARM_FRESH
                and self.stderr_identity == _stderr_identity())


class ForkedProcess:
    """A process the zygote forked, handled like a `subprocess.Popen`."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, zygote: Zygote, role: str):
        self.pid = pid
        self.args = [f"minibig {role}"]
        self.returncode: int | None = None
        self._zygote = zygote
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:              # exited (and reaped) already
            self._pidfd = -1
            self.returncode = zygote.exit_code(pid)

    def poll(self) -> int | None:
        """The exit code if it has exited, else None."""
        return self._wait(0)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to exit; subprocess.TimeoutExpired after `timeout` seconds."""
        code = self._wait(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return code

    def _wait(self, timeout: float | None) -> int | None:
        if self.returncode is None and self._pidfd >= 0 and \
                select.select([self._pidfd], [], [], timeout)[0]:
            self.returncode = self._zygote.exit_code(self.pid)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Send `sig`, unless it has exited (the pidfd never names another process)."""
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, sig)
            except ProcessLookupError:
                pass

    def release(self) -> None:
        """Close the pidfd, once the process has exited (the cluster's stop)."""
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(signal.SIGTERM)

    def __repr__(self) -> str:
        return f"<ForkedProcess {self.args[0]} pid={self.pid} returncode={self.returncode}>"


def prewarm() -> None:
    """Start a zygote now for the first embedded cluster to take (see the module doc).

    Not when this driver will not start one: it names a master ($MINIBIG_MASTER) or
    runs on another engine ($MINIBIG_ENGINE).
    """
    global _prewarmed
    if os.environ.get("MINIBIG_MASTER") or os.environ.get("MINIBIG_ENGINE", "minibig") != "minibig":
        return
    with _prewarm_lock:
        if _prewarmed is None and supported():
            _prewarmed = Zygote(child_env(), log_stream())


def take_prewarmed() -> Zygote | None:
    """The prewarmed zygote if there is a usable one (it is then this caller's), else None."""
    global _prewarmed
    with _prewarm_lock:
        zygote, _prewarmed = _prewarmed, None
    if zygote is None or zygote.owner != os.getpid():
        return None                             # none, or the driver's: this is a fork of it
    if not zygote.usable_now():
        zygote.discard()
        return None
    return zygote


def discard_prewarmed() -> None:
    """Stop the prewarmed zygote, if any: this driver's Context does not start a cluster."""
    zygote = take_prewarmed()
    if zygote is not None:
        zygote.discard()
