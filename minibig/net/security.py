"""CurveZMQ for clusters that listen beyond loopback.

Task payloads are code, so a socket other hosts can reach must only talk to
peers that hold the cluster's key. A cluster key file (`minibig keygen`)
holds one CurveZMQ key pair; every process of the cluster loads it (from
`--key-file`, or the MINIBIG_KEY_FILE environment variable, which the
command line sets so that child processes and Contexts inherit it):

- servers (the master's ROUTER, each worker's block server) encrypt with it
  and, through a ZAP handler, accept only clients presenting its public key;
- clients (workers, drivers, `minibig status`) connect with it.

A peer without the key never completes the handshake, so none of its frames
reach the master's or a worker's code. Without a key file, minibig refuses
to listen beyond loopback (see `runtime.bind_address`).
"""

from __future__ import annotations

import json
import os
import stat

import zmq

from minibig.errors import UserError

KEY_ENV = "MINIBIG_KEY_FILE"
_authenticators: dict = {}


def generate_key_file(path: str) -> None:
    """Write a new cluster key pair to `path`, readable by its owner only."""
    if os.path.exists(path):
        raise UserError(f"{path} already exists; remove it first to make a new cluster key")
    public, secret = zmq.curve_keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        json.dump({"public": public.decode(), "secret": secret.decode()}, f)


def cluster_key() -> tuple[bytes, bytes] | None:
    """(public, secret) from MINIBIG_KEY_FILE, or None when the cluster is not keyed."""
    path = os.environ.get(KEY_ENV)
    if not path:
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        return data["public"].encode(), data["secret"].encode()
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"cannot read the cluster key file {path}: {exc}") from None


def use_key_file(path: str | None) -> None:
    """Make `path` this process's (and its children's) cluster key file."""
    if path:
        os.environ[KEY_ENV] = os.path.abspath(path)
        cluster_key()                  # fail now, with a clear message, if it is unreadable


def unanswered_hint() -> str:
    """What to check when a master does not answer: a keyed master ignores keyless peers."""
    if cluster_key() is None:
        return ("is `minibig master` running there? is the cluster keyed? pass --key-file "
                f"(or set {KEY_ENV})")
    return ("is `minibig master` running there? is the key file the cluster's? "
            f"(using {os.environ[KEY_ENV]})")


class _OnlyClusterMembers:
    def __init__(self, public: bytes):
        self.public = public

    def callback(self, domain, client_key) -> bool:
        """ZAP: admit a client whose (z85) public key is the cluster's."""
        return client_key == self.public


def secure_server(sock: zmq.Socket) -> None:
    """Make a listening socket accept only peers holding the cluster key (no-op unkeyed)."""
    key = cluster_key()
    if key is None:
        return
    ctx = sock.context
    if id(ctx) not in _authenticators:
        from zmq.auth.thread import ThreadAuthenticator
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve_callback(domain="*", credentials_provider=_OnlyClusterMembers(key[0]))
        _authenticators[id(ctx)] = auth
    sock.curve_publickey, sock.curve_secretkey = key
    sock.curve_server = True


def stop_authenticators() -> None:
    """Stop the ZAP threads, so the process's ZeroMQ context can terminate."""
    while _authenticators:
        _, auth = _authenticators.popitem()
        auth.stop()


def dealer(url: str, linger: int = 0, ctx: zmq.Context | None = None) -> zmq.Socket:
    """A DEALER connected to `url`, authenticated with the cluster key when there is one."""
    sock = (ctx or zmq.Context.instance()).socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, linger)
    key = cluster_key()
    if key is not None:
        sock.curve_serverkey = key[0]
        sock.curve_publickey, sock.curve_secretkey = key
    sock.connect(url)
    return sock
