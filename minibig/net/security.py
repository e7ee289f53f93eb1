"""CurveZMQ on every socket: a cluster admits only the holders of its key.

Task payloads are code, and drivers unpickle what workers send, so a peer
that reaches any socket of a cluster can run code as the cluster's owner.
Loopback is no boundary on a shared machine, so every cluster is keyed:

- servers (the master's ROUTER, each worker's block server, streaming
  sockets) encrypt with the key and, through a ZAP handler, accept only
  clients presenting its public key: a peer without it never completes the
  handshake, so none of its frames reach minibig's code or memory;
- clients (workers, drivers, `minibig status`) connect with it.

Which key a process uses (`cluster_key`):

1. an embedded cluster's key, for that cluster's URL: a driver makes one
   fresh key (`embedded_key`, never written to disk) for the clusters it
   starts and hands it to their processes on their stdin pipe, which
   only the driver holds (argv is readable by every user; a file would
   outlive a SIGKILLed driver);
2. the key the process was given on stdin (`--key-file -`: embedded
   masters and workers);
3. inside a driver that started an embedded cluster, with no URL at hand
   (its streaming sockets): the embedded key;
4. the key file `--key-file` / MINIBIG_KEY_FILE names, else the user's
   default key, ~/.config/minibig/cluster.key (`minibig keygen` writes it,
   like ssh-keygen's ~/.ssh/id_*). A key file readable by group or others
   is refused: anyone who reads it can run code on the cluster.

Without any key, minibig refuses to start unless told `--insecure`
(MINIBIG_INSECURE=1): no authentication, no encryption, loopback only.
Every key holder has every right (run code, register workers, shut the
cluster down): roles are not told apart.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from typing import NamedTuple

import zmq
from zmq.utils.z85 import encode as z85_encode

from minibig.errors import UserError
from minibig.net.protocol import limit_socket

KEY_ENV = "MINIBIG_KEY_FILE"
INSECURE_ENV = "MINIBIG_INSECURE"
INSECURE_WARNING = ("--insecure: no authentication and no encryption: any user of this machine "
                    "can run code as you on every worker and driver, register fake workers, "
                    "read shuffle data and stop the cluster")
_REFUSALS_LOGGED = 100          # distinct refused keys logged, so a retrying peer cannot flood the log

log = logging.getLogger("minibig.security")


class ClusterKey(NamedTuple):
    """A CurveZMQ key pair (z85-encoded bytes), shared by every process of one cluster."""

    public: bytes
    secret: bytes


class _KeyRing:
    """This process's keys (see the module doc for the order they are used in)."""

    def __init__(self):
        self.given: ClusterKey | None = None           # from stdin (embedded master/worker)
        self.embedded: ClusterKey | None = None        # this driver's embedded clusters' key
        self.by_url: dict[str, ClusterKey] = {}        # embedded clusters running now


_keys = _KeyRing()
_authenticators: dict = {}                     # id of a context -> its ZapHandler
_authenticators_lock = threading.Lock()


def default_key_path() -> str:
    """Where `minibig keygen` writes the user's key, and where processes look for it."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "minibig", "cluster.key")


def key_path() -> str:
    """The key file this process uses: MINIBIG_KEY_FILE, else the default path."""
    return os.environ.get(KEY_ENV) or default_key_path()


def generate_key_file(path: str | None = None) -> str:
    """Write a new key pair to `path` (default: `default_key_path`), owner-only; return the path."""
    path = os.path.abspath(path or default_key_path())
    if os.path.exists(path):
        raise UserError(f"{path} already exists; remove it first to make a new cluster key")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    public, secret = zmq.curve_keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(key_text(ClusterKey(public, secret)))
    return path


def key_text(key: ClusterKey) -> str:
    """One JSON line holding `key`: the key file's content, and what embedded processes read."""
    return json.dumps({"public": key.public.decode(), "secret": key.secret.decode()}) + "\n"


def parse_key(text: str, source: str) -> ClusterKey:
    """The key in `text` (as `key_text` writes it); UserError naming `source` otherwise."""
    try:
        data = json.loads(text)
        key = ClusterKey(data["public"].encode(), data["secret"].encode())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{source} is not a minibig cluster key: {exc}") from None
    if len(key.public) != 40 or len(key.secret) != 40:
        raise UserError(f"{source} is not a minibig cluster key: keys are 40 z85 characters")
    return key


def load_key_file(path: str) -> ClusterKey:
    """The key in file `path`; UserError if it is missing, unreadable or readable by others."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise UserError(_no_key_message(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read the cluster key file {path}: {exc}") from None
    with os.fdopen(fd) as f:
        mode = os.fstat(fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UserError(
                f"the cluster key file {path} is open to other users (mode {stat.filemode(mode)}): "
                f"whoever reads it can run code on the cluster. Run `chmod 600 {path}` and, "
                "if others may have read it, make a new key with `minibig keygen`")
        return parse_key(f.read(), f"the key file {path}")


def _no_key_message(path: str) -> str:
    return (f"no cluster key at {path}: make one with `minibig keygen` (once; copy it to every "
            f"host of the cluster), or pass --key-file FILE (or set {KEY_ENV}); "
            "--insecure runs without one, open to every user of the machine")


def insecure() -> bool:
    """True when this process was told to run unkeyed (--insecure, MINIBIG_INSECURE=1)."""
    return os.environ.get(INSECURE_ENV) == "1"


def use_key_file(path: str | None, insecure_mode: bool = False) -> None:
    """Make `path` (or, with `insecure_mode`, no key) this process's and its children's choice.

    Fails now, with a clear message, when the key is missing or unsafe.
    """
    if insecure_mode:
        if path:
            raise UserError("--insecure and --key-file contradict each other: choose one")
        os.environ[INSECURE_ENV] = "1"
        os.environ.pop(KEY_ENV, None)
        log.warning(INSECURE_WARNING)
        return
    if path:
        os.environ[KEY_ENV] = os.path.abspath(path)
        os.environ.pop(INSECURE_ENV, None)
    cluster_key()


def use_key(key: ClusterKey) -> None:
    """Make `key` (handed over on stdin by an embedded cluster's driver) this process's key."""
    _keys.given = key


def embedded_key() -> ClusterKey | None:
    """The key of the clusters this driver starts: made once, kept in memory only (None: insecure)."""
    if insecure():
        return None
    if _keys.embedded is None:
        _keys.embedded = ClusterKey(*zmq.curve_keypair())
    return _keys.embedded


def remember_cluster(url: str, key: ClusterKey | None) -> None:
    """Connections to `url` (an embedded cluster this driver started) use `key`."""
    if key is not None:
        _keys.by_url[url] = key


def forget_cluster(url: str) -> None:
    """Undo `remember_cluster` once the cluster has stopped."""
    _keys.by_url.pop(url, None)


def cluster_key(url: str | None = None) -> ClusterKey | None:
    """The key to reach `url` (or to listen with): see the module doc; None when insecure."""
    if url is not None and url in _keys.by_url:
        return _keys.by_url[url]
    if _keys.given is not None:
        return _keys.given
    if url is None and _keys.by_url and _keys.embedded is not None:
        return _keys.embedded
    if insecure():
        return None
    return load_key_file(key_path())


def unanswered_hint() -> str:
    """What to check when a master does not answer: a keyed master ignores other keys' peers."""
    if insecure():
        return "is `minibig master` running there? a keyed master ignores --insecure peers"
    return ("is `minibig master` running there? a keyed master ignores peers without its key: "
            f"is {key_path()} the cluster's? (--key-file, {KEY_ENV})")


class _OnlyClusterMembers:
    """ZAP credentials check: the cluster's public key, nothing else."""

    def __init__(self, public: bytes):
        self.public = public
        self.refused: set = set()

    def callback(self, domain, client_key) -> bool:
        """Admit a client whose (z85) public key is the cluster's; log the others (once each)."""
        if client_key == self.public:
            return True
        if client_key not in self.refused and len(self.refused) < _REFUSALS_LOGGED:
            self.refused.add(client_key)
            log.warning("refused a peer whose key is not the cluster's (public key %s)",
                        client_key.decode(errors="replace") if isinstance(client_key, bytes)
                        else client_key)
        return False


ZAP_ENDPOINT = "inproc://zeromq.zap.01"      # where libzmq asks a context's handler (RFC 27)
ZAP_VERSION = b"1.0"


class ZapHandler:
    """A context's ZAP handler: a thread answering libzmq's authentication requests.

    A CURVE client is admitted when its public key is the cluster's
    (`_OnlyClusterMembers`); a NULL one (a socket that is not a CURVE server:
    an ipc:// path the filesystem guards) is let through, as pyzmq's
    authenticator lets it; every other mechanism, version or malformed
    request is refused. pyzmq's `ThreadAuthenticator` answers the same, but
    loads asyncio first (65 ms on the start of every listening process).
    The handler is bound before `secure_server` turns a socket into a CURVE
    server, so no handshake can happen without it.
    """

    def __init__(self, ctx: zmq.Context, public: bytes):
        self.members = _OnlyClusterMembers(public)
        # stop() says so on a pipe of its own: the handler's socket is its thread's alone
        self.sock, self.pipe_end, self.stop_end = (ctx.socket(t) for t in (zmq.REP, zmq.PAIR,
                                                                             zmq.PAIR))
        try:
            for sock in (self.sock, self.pipe_end, self.stop_end):
                sock.linger = 0
            self.sock.bind(ZAP_ENDPOINT)
            self.pipe_end.bind(f"inproc://minibig-zap-stop-{id(self)}")
            self.stop_end.connect(f"inproc://minibig-zap-stop-{id(self)}")
        except BaseException:               # a socket left open would hang the context's end
            for sock in (self.sock, self.pipe_end, self.stop_end):
                sock.close(0)
            raise
        self.thread = threading.Thread(target=self._serve, name="minibig-zap", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.pipe_end, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if self.pipe_end in ready:
                    return
                if self.sock in ready:
                    self.sock.send_multipart(self.answer(self.sock.recv_multipart()))
        finally:
            self.sock.close(0)
            self.pipe_end.close(0)

    def answer(self, request: list) -> list:
        """The reply frames to one ZAP request (version, id, domain, address, identity,
        mechanism, credentials...): 200 for a member or a NULL peer, 400 otherwise."""
        request_id = request[1] if len(request) > 1 else b""
        ok = False
        if len(request) >= 6 and request[0] == ZAP_VERSION:
            mechanism, credentials = request[5], request[6:]
            if mechanism == b"NULL":
                ok = True
            elif mechanism == b"CURVE" and len(credentials) == 1 and len(credentials[0]) == 32:
                ok = self.members.callback(request[2], z85_encode(credentials[0]))
        return [ZAP_VERSION, request_id, b"200" if ok else b"400",
                b"OK" if ok else b"NO ACCESS", b"", b""]

    def stop(self) -> None:
        """End the thread (bounded wait) and close the sockets, so the context can end."""
        self.stop_end.send(b"")
        self.thread.join(timeout=5)
        self.stop_end.close(0)


def secure_server(sock: zmq.Socket, key: ClusterKey | None = None) -> None:
    """Make a listening socket accept only peers holding the cluster key (no-op when insecure)."""
    limit_socket(sock)
    key = key or cluster_key()
    if key is None:
        return
    ctx = sock.context
    with _authenticators_lock:              # two task threads binding at once: one handler
        if id(ctx) not in _authenticators:
            _authenticators[id(ctx)] = ZapHandler(ctx, key.public)
    sock.curve_publickey, sock.curve_secretkey = key
    sock.curve_server = True


def secure_client(sock: zmq.Socket, url: str) -> None:
    """Make `sock` present the key for `url` (before it connects); no-op when insecure
    or for an `ipc://` socket file, which its binder keeps in a folder only its user may
    enter: the filesystem guards it, as it guards the key file."""
    limit_socket(sock)
    if url.startswith("ipc://"):
        return
    key = cluster_key(url)
    if key is not None:
        sock.curve_serverkey = key.public
        sock.curve_publickey, sock.curve_secretkey = key


def stop_authenticator(ctx: zmq.Context) -> None:
    """Stop the ZAP handler `secure_server` started for `ctx` (a context of its own), if any."""
    auth = _authenticators.pop(id(ctx), None)
    if auth is not None:
        auth.stop()


def stop_authenticators() -> None:
    """Stop the ZAP handlers, so the process's ZeroMQ context can terminate."""
    while _authenticators:
        _, auth = _authenticators.popitem()
        auth.stop()


def dealer(url: str, linger: int = 0, ctx: zmq.Context | None = None) -> zmq.Socket:
    """A DEALER connected to `url`, presenting the key for `url` (see `cluster_key`)."""
    sock = (ctx or zmq.Context.instance()).socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, linger)
    try:
        secure_client(sock, url)
    except BaseException:
        sock.close(0)
        raise
    sock.connect(url)
    return sock
