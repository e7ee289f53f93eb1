"""Process-level helpers shared by the master and worker programs.

Binding (loopback unless told otherwise), choosing the cluster key, logging
to stderr, the registry of masters running on this machine (so `minibig
status` finds them; owner-only files in an owner-only folder, since a
master's address is where to aim an attack), and the parent watch that makes an embedded cluster's processes exit by themselves
when their driver dies, even by SIGKILL.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

from minibig.errors import InvalidArgumentError, MasterUnreachableError, UserError
from minibig.net import protocol as P
from minibig.net.security import (cluster_key, dealer, parse_key, secure_server, unanswered_hint,
                                  use_key, use_key_file)

MAX_PORT = 65535
CONNECT_RETRY_EVERY = 5.0        # seconds between "still waiting" reports while connecting
_MASTER_URL = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<port>[0-9]+)")


def add_common_args(parser) -> None:
    """Options every cluster process takes."""
    parser.add_argument("--verbose", "-v", action="store_true", help="log at INFO level")
    parser.add_argument("--die-with-parent", action="store_true",
                        help="exit when standard input closes (used by embedded clusters)")
    parser.add_argument("--worker-timeout", type=float, default=10.0,
                        help="seconds without heartbeat before a worker is declared lost")
    parser.add_argument("--key-file", help="the cluster's key file (default: $MINIBIG_KEY_FILE, "
                                           "else ~/.config/minibig/cluster.key, which `minibig "
                                           "keygen` writes); '-': read the key from stdin")
    parser.add_argument("--insecure", action="store_true",
                        help="run without a key: no authentication, no encryption, loopback only; "
                             "any user of this machine can then run code as you")


def use_cluster_key(args) -> None:
    """Choose the process's key from --key-file / --insecure; UserError if none is usable.

    `--key-file -` reads the key as the first line of stdin: that is how an
    embedded cluster's driver hands over its key, unseen by other users.
    """
    if args.key_file == "-":
        use_key(parse_key(read_line_from_stdin(), "the key on standard input"))
    else:
        use_key_file(args.key_file, args.insecure)


def setup_logging(name: str, verbose: bool) -> None:
    """Log to stderr, quietly unless `verbose`."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s {name}[{os.getpid()}] %(levelname)s %(message)s")


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so `kill` gives a clean shutdown."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


def die_with_parent() -> None:
    """Exit as soon as standard input reaches end of file.

    The embedded cluster's launcher keeps the write end of each child's stdin
    pipe open; the kernel closes it when the driver dies for any reason, so
    its processes never outlive it.
    """
    def watch():
        try:
            while os.read(0, 4096):      # raw reads: no buffer lock held at exit
                pass
        finally:
            os._exit(0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def read_line_from_stdin() -> str:
    """One line from fd 0, read unbuffered so the rest of stdin stays unread."""
    chunks = []
    while True:
        byte = os.read(0, 1)
        if not byte or byte == b"\n":
            return b"".join(chunks).decode().strip()
        chunks.append(byte)


def check_port(port: int, option: str = "--port") -> int:
    """`port` if it is a TCP port number or 0 (any free port); InvalidArgumentError otherwise."""
    if not 0 <= port <= MAX_PORT:
        raise InvalidArgumentError(f"{option} {port}: not a TCP port; expected 0 (any free "
                                   f"port) to {MAX_PORT}")
    return port


def check_master_url(url: str, source: str = "--master") -> str:
    """`url` if it is a master's address, tcp://HOST:PORT; InvalidArgumentError otherwise.

    ZeroMQ would raise a bare ZMQError on connect, or (for a port past
    65535) quietly connect somewhere else, so the address is checked first.
    """
    match = _MASTER_URL.fullmatch(str(url).strip())
    if match is None or not 1 <= int(match["port"]) <= MAX_PORT:
        raise InvalidArgumentError(
            f"{source} {url!r}: not a master URL; expected tcp://HOST:PORT with a port from "
            f"1 to {MAX_PORT}, e.g. tcp://127.0.0.1:7077")
    return str(url).strip()


def wait_for_master(url: str, timeout: float, log: logging.Logger) -> None:
    """Return once a master answers at `url`; MasterUnreachableError after `timeout` seconds.

    Asks for the master's status (as `minibig status` does) and says on the
    log every few seconds that it is still waiting, so a worker started
    before its master, or pointed at a wrong address, is never silent.
    """
    deadline = time.monotonic() + timeout
    every = min(CONNECT_RETRY_EVERY, timeout / 2)
    sock = dealer(url)
    try:
        log.info("connecting to the master at %s", url)
        while True:
            P.send(sock, P.STATUS)     # queued until connected; extra answers are dropped
            left = deadline - time.monotonic()
            if sock.poll(int(max(0.0, min(every, left)) * 1000) + 1):
                log.info("the master at %s answered", url)
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise MasterUnreachableError(
                    f"no minibig master answered at {url} within {timeout:g}s "
                    f"(--connect-timeout; {unanswered_hint()})")
            log.warning("no answer yet from the master at %s; retrying for %.0fs more", url, left)
    finally:
        sock.close(0)


def is_loopback(host: str) -> bool:
    """True if `host` names this machine's loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_address(sock: zmq.Socket, host: str, port: int, key=None) -> str:
    """Bind `sock` on host:port (port 0: any free one); return the tcp:// URL.

    `key`: the cluster key to admit (default: this process's, see `cluster_key`).

    Task payloads are code, so a socket reachable from other hosts must only
    accept authenticated peers: with a cluster key it speaks CurveZMQ and
    admits key holders only; without one, minibig refuses to listen beyond
    loopback.
    """
    key = key or cluster_key()
    if not is_loopback(host) and key is None:
        raise UserError(
            f"refusing to listen on {host} with --insecure: anyone who reaches it could "
            "run code on the workers. Make a key with `minibig keygen`, and drop --insecure.")
    secure_server(sock, key)
    if port == 0:
        port = sock.bind_to_random_port(f"tcp://{host}")
    else:
        sock.bind(f"tcp://{host}:{port}")
    shown = host if host not in ("0.0.0.0", "*") else socket.gethostname()
    return f"tcp://{shown}:{port}"


def runtime_dir() -> Path:
    """Per-user directory listing the masters running on this machine: the user's alone.

    It sits in the shared temp folder, so another user could have made it
    first: it is used only if this user owns it, and made 0700 if it is not.
    """
    base = Path(tempfile.gettempdir()) / f"minibig-{os.getuid()}"
    path = base / "masters"
    for folder in (base, path):
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
        if info.st_uid != os.getuid() or not stat.S_ISDIR(info.st_mode):
            raise UserError(f"{folder} belongs to another user or is not a folder: remove it "
                            "(minibig lists this user's masters there)")
        if info.st_mode & 0o077:
            folder.chmod(0o700)
    return path


def _entry(url: str) -> Path:
    return runtime_dir() / (url.replace("/", "_").replace(":", "_") + ".json")


def record_master(url: str, private_key: bool = False, ui: str | None = None) -> None:
    """Note that a master serves `url` (for `minibig status`); `private_key`: its key
    is an embedded cluster's, held by its driver alone, so no other process can ask it."""
    fd = os.open(_entry(url), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)              # an older minibig may have left it world-readable
        f.write(json.dumps({"url": url, "pid": os.getpid(), "private_key": private_key, "ui": ui}))


def forget_master(url: str) -> None:
    """Remove the note written by `record_master`."""
    try:
        _entry(url).unlink()
    except FileNotFoundError:
        pass


def known_masters() -> list[dict]:
    """What `record_master` noted of the masters on this machine whose process is alive:
    {"url", "pid", "private_key", "ui"}."""
    masters = []
    for entry in sorted(runtime_dir().glob("*.json")):
        try:
            info = json.loads(entry.read_text())
            os.kill(int(info["pid"]), 0)
            masters.append({"url": info["url"], "pid": int(info["pid"]),
                            "private_key": bool(info.get("private_key")), "ui": info.get("ui")})
        except (OSError, ValueError, KeyError, TypeError):
            entry.unlink(missing_ok=True)
    return masters
