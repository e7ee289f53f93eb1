"""The sockets and messages of a streaming job on the cluster.

Two kinds of traffic, both ZeroMQ, both authenticated with the cluster key
when there is one (``minibig.net.security``):

- **control**: the driver binds a ROUTER; each task connects a DEALER (and
  its heartbeat thread another). A message is one pickled dict with
  ``kind`` and ``gen`` (the generation: each restart of the job is a new
  one, so a message from an earlier attempt is recognised and dropped).
  Task to driver: ``hello`` (its data address), ``beat``, ``results`` (a
  sink's values of one epoch), ``ack`` (its snapshots of a checkpoint),
  ``done`` (its final snapshots and counters), ``error``. Driver to task:
  ``table`` (every task's data address), ``trigger`` (start a checkpoint),
  ``commit`` (a checkpoint completed), ``drain`` (end the sources now),
  ``abort``, ``beat``.
- **data**: each task binds one PULL; every other task connects a PUSH to
  it. A message is a pickled list of ``(node, target, channel, payload)``;
  the high-water marks bound what is queued between two tasks, so a slow
  consumer stops its producers' sends (backpressure, see ``runtime.py``).
"""

from __future__ import annotations

import pickle

import zmq

from minibig.net.security import cluster_key, dealer
from minibig.cluster.runtime import bind_address

DATA_HWM = 32              # messages queued per direction between two tasks
LOOPBACK = "127.0.0.1"


def listen_host() -> str:
    """Loopback, or every interface when the cluster is keyed (then it is authenticated)."""
    return "0.0.0.0" if cluster_key() is not None else LOOPBACK


def pack(kind: str, gen: int, **fields) -> bytes:
    """A control message."""
    return pickle.dumps({"kind": kind, "gen": gen, **fields}, protocol=5)


def unpack(blob: bytes) -> dict:
    """A control message ``pack`` made."""
    return pickle.loads(blob)


def control_server(ctx: zmq.Context) -> tuple[zmq.Socket, str]:
    """The driver's ROUTER and its address."""
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    return sock, bind_address(sock, listen_host(), 0)


def control_client(url: str, ctx: zmq.Context) -> zmq.Socket:
    """A task's DEALER to the driver."""
    return dealer(url, linger=2000, ctx=ctx)


def data_server(ctx: zmq.Context) -> tuple[zmq.Socket, str]:
    """A task's PULL for the batches other tasks send it, and its address."""
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, DATA_HWM)
    return sock, bind_address(sock, listen_host(), 0)


def data_client(url: str, ctx: zmq.Context) -> zmq.Socket:
    """A PUSH to another task's data address."""
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, DATA_HWM)
    key = cluster_key()
    if key is not None:
        sock.curve_serverkey = key[0]
        sock.curve_publickey, sock.curve_secretkey = key
    sock.connect(url)
    return sock
