"""The embedded cluster's zygote: one warm interpreter that forks the master and the workers.

A fresh interpreter per process costs each of them Python's start and the
import of the engine (about 0.3 s of CPU on a small machine, all at once);
the zygote pays that once, then each process is an `os.fork` of it
(`python -m minibig.cluster.zygote`, started by `cluster/local.py`). It
stays single-threaded and never opens a ZeroMQ context, so a fork copies
no thread and no socket.

Its standard input is a pipe the driver holds; each line is a JSON command:

    {"start": "master"|"worker", "argv": [...], "key": TEXT|null, "env": {...}, "cwd": DIR}

Each forked process gets a pipe of its own as standard input, whose write
end only the zygote holds: the zygote writes the key there (`--key-file
-`), and a worker's master URL once the master has said it. When the
driver dies (even by SIGKILL) the zygote reads end of file and exits; its
processes' pipes close with it, so each of them exits too
(`runtime.die_with_parent`). The zygote answers on standard output, one
JSON line each: `{"pid": N, "role": R}` per start, the master's own
start-up line (`{"url": ..., "pid": ..., "ui": ...}`), and `{"exit": PID,
"code": C}` when a process ends (it reaps them). A zygote never asked for
anything exits after IDLE_EXIT seconds (or the seconds its one argument
says): one started ahead of a Context that never came (`forking.prewarm`)
does not linger.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import selectors
import signal
import sys
import traceback

IDLE_EXIT = 60.0             # seconds an unused zygote waits for its first command

# What the zygote loads, group by group, before it forks workers: the modules master and
# workers share, the master's (the master is asked for first, and each process a fork
# imports on its own costs CPU the others are waiting for), the worker's, and what
# unpickling an RDD stage's code imports on a worker (by name, as pickle does: once here
# rather than by each worker during its first task, ~40 ms each). Not pyzmq's zmq.auth:
# minibig has its own ZAP handler, and zmq.auth imports asyncio (~50 ms on the zygote's
# start, before any worker can fork).
_PRELOAD = (("minibig.cluster.runtime",),
            ("minibig.cluster.master",),
            ("minibig.cluster.worker",),
            ("minibig.core.stages", "minibig.rdd.base", "minibig.shuffle.writer"))
# The master's web UI server (http.server, ~60 ms): loaded once the workers may fork, for a
# master not forked yet; one forked before loads it itself, beside the zygote's imports.
_MASTER_UI = "minibig.ui.server"

_PROGRAMS = {"master": "minibig.cluster.master", "worker": "minibig.cluster.worker"}


class Zygote:
    """The command loop: start processes, hand them key and URL, reap and report them."""

    def __init__(self, idle_exit: float = IDLE_EXIT):
        self.idle_exit = idle_exit
        self.selector = selectors.DefaultSelector()
        self.inbox = b""                       # unparsed command bytes
        self.pending: list[dict] = []          # commands not served yet
        self.asked = False                     # a command came: never exit for idleness
        self.workers_ready = False             # the workers' modules are loaded
        self.pipes: dict[int, int] = {}        # pid -> write end of its stdin
        self.waiting_url: list[int] = []       # workers started before the master's URL
        self.url: str | None = None
        self.master_out: int | None = None     # read end of the master's stdout
        self.master_line = b""
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)   # wakes the selector through wake_w
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the driver's to handle
        self.wake_w = wake_w
        self.selector.register(0, selectors.EVENT_READ, self.on_command)
        self.selector.register(self.wake_r, selectors.EVENT_READ, self.on_signal)

    def serve(self) -> None:
        """Serve commands until the driver closes standard input."""
        while True:
            # Only a zygote never asked for anything gives up: one serving a cluster
            # may sit quiet for as long as its cluster runs.
            events = self.selector.select(None if self.asked else self.idle_exit)
            if not events:
                os._exit(0)                    # never used: nobody to answer
            for key, _ in events:
                key.data()

    def serve_pending(self) -> None:
        """While still importing: take the commands already sent, start what can start."""
        events = self.selector.select(0)
        while events:
            for key, _ in events:
                key.data()
            events = self.selector.select(0)

    def on_command(self) -> None:
        chunk = os.read(0, 65536)
        if not chunk:                          # the driver is gone or done: so are we
            os._exit(0)
        self.inbox += chunk
        self.asked = True
        while b"\n" in self.inbox:
            line, self.inbox = self.inbox.split(b"\n", 1)
            if line.strip():
                self.pending.append(json.loads(line))
        self.dispatch()

    def dispatch(self) -> None:
        """Start the pending processes in order; workers wait for the workers' modules."""
        while self.pending and (self.workers_ready or self.pending[0]["start"] == "master"):
            self.start(self.pending.pop(0))

    def workers_loaded(self) -> None:
        """The workers' modules are loaded: start the workers asked for meanwhile."""
        self.workers_ready = True
        self.dispatch()

    def start(self, command: dict) -> None:
        role = command["start"]
        stdin_r, stdin_w = os.pipe()
        out_r = out_w = None
        if role == "master":
            out_r, out_w = os.pipe()
        gc.freeze()                            # the child's collections skip (never copy) these
        pid = os.fork()
        if pid == 0:
            os.close(stdin_w)
            if out_r is not None:
                os.close(out_r)
            self.become(role, command, stdin_r, out_w)
        os.close(stdin_r)
        self.pipes[pid] = stdin_w
        if command.get("key"):
            self.give(pid, command["key"])
        if role == "master":
            os.close(out_w)
            self.master_out = out_r
            self.selector.register(out_r, selectors.EVENT_READ, self.on_master_output)
        elif self.url is None:
            self.waiting_url.append(pid)
        else:
            self.give(pid, self.url)
        self.answer({"pid": pid, "role": role})

    def give(self, pid: int, line: str) -> None:
        """Write a line to a process's standard input (it reads it when it is ready)."""
        try:
            os.write(self.pipes[pid], (line + "\n").encode())
        except (BrokenPipeError, KeyError):    # it has exited already: its exit is reported
            pass

    def on_master_output(self) -> None:
        chunk = os.read(self.master_out, 65536)
        if not chunk:
            self.selector.unregister(self.master_out)
            os.close(self.master_out)
            self.master_out = None             # a later fork must not close the number again
            return
        if self.url is not None:               # anything after the start-up line: a log
            os.write(2, chunk)
            return
        self.master_line += chunk
        if b"\n" in self.master_line:
            line, rest = self.master_line.split(b"\n", 1)
            self.url = json.loads(line)["url"]
            self.tell(line + b"\n")
            if rest:
                os.write(2, rest)
            for pid in self.waiting_url:
                self.give(pid, self.url)
            self.waiting_url = []

    def on_signal(self) -> None:
        os.read(self.wake_r, 4096)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            fd = self.pipes.pop(pid, None)
            if fd is not None:
                os.close(fd)
            self.answer({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    def answer(self, message: dict) -> None:
        self.tell((json.dumps(message) + "\n").encode())

    def tell(self, line: bytes) -> None:
        """Send the driver one line."""
        try:
            os.write(1, line)
        except BrokenPipeError:                # the driver stopped listening: it is done
            os._exit(0)

    def become(self, role: str, command: dict, stdin_r: int, out_w: int | None) -> None:
        """In the forked child: drop the zygote's state and run the master or worker program."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            gc.enable()                        # a master forked while the zygote imports
            self.selector.close()
            for fd in (self.wake_r, self.wake_w, *self.pipes.values()):
                os.close(fd)
            if self.master_out is not None:
                os.close(self.master_out)
            os.dup2(stdin_r, 0)
            os.close(stdin_r)
            os.dup2(out_w if out_w is not None else 2, 1)   # workers' prints go to the log
            if out_w is not None:
                os.close(out_w)
            code = run_program(role, command)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)                     # no interpreter teardown: the zygote's is not ours


def run_program(role: str, command: dict) -> int:
    """Run `minibig master` or `minibig worker` with the command's argv, env and folder."""
    os.environ.clear()
    os.environ.update(command.get("env") or {})
    # Folders the driver put on PYTHONPATH since the zygote started go where a fresh
    # interpreter puts PYTHONPATH: right after the program's own folder.
    added = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    sys.path[1:1] = added
    cwd, here = command.get("cwd"), os.getcwd()
    if cwd and cwd != here:
        try:
            os.chdir(cwd)
        except OSError:                    # removed since: stay where the zygote started
            pass
        else:
            if sys.path and sys.path[0] == here:
                sys.path[0] = cwd          # as `python -m` started there would have it
    argv = [str(a) for a in command.get("argv", [])]
    sys.argv = [_PROGRAMS[role], *argv]
    # Loaded before the fork, except the master's own modules when it was forked early.
    return importlib.import_module(_PROGRAMS[role]).main(argv) or 0


def main() -> None:
    """Entry point of `python -m minibig.cluster.zygote`.

    Loads what every forked process runs before any fork, group by group
    (`_PRELOAD`); between two groups a master asked for meanwhile is forked,
    and loads what it lacks itself (in parallel: the zygote then skips the
    master's group).
    """
    gc.disable()                 # importing makes no garbage worth a collection's time
    zygote = Zygote(float(sys.argv[1]) if len(sys.argv) > 1 else IDLE_EXIT)
    for group in _PRELOAD:
        if _PROGRAMS["master"] in group and zygote.pipes:
            continue             # the master, forked already, loads them; workers never use them
        for name in group:
            importlib.import_module(name)
        zygote.serve_pending()
    zygote.workers_loaded()
    if not zygote.pipes:
        importlib.import_module(_MASTER_UI)
    gc.freeze()                  # its own collections never touch (and copy) pages forks share
    gc.enable()
    zygote.serve()


if __name__ == "__main__":
    main()
