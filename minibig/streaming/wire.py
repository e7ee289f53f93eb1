"""The sockets and messages of a streaming job on the cluster.

Two kinds of traffic, both ZeroMQ, both authenticated with the cluster key
when there is one (``minibig.net.security``), both listening on loopback
unless the cluster is bound elsewhere (``driver_host``, ``task_host``):

- **control**: the driver binds a ROUTER; each task connects a DEALER (and
  its heartbeat thread another). A message is one pickled dict with
  ``kind`` and ``gen`` (the generation: each restart of the job is a new
  one, so a message from an earlier attempt is recognised and dropped).
  Task to driver: ``hello`` (its data address, its worker, where its
  restored parts came from), ``beat``, ``results`` (a sink's values of one
  epoch), ``ack`` (where it stored its snapshot of a checkpoint, and the
  blob), ``lost_snapshot`` (it could not read the parts to restore),
  ``done`` (its final parts, counters and the snapshot files it kept),
  ``error``. Driver to task: ``table`` (every task's data address),
  ``trigger`` (start a checkpoint), ``commit`` (a checkpoint completed, and
  its id, time, duration and size), ``drain`` (end the sources now),
  ``abort``, ``beat``.
- **data**: each task binds one PULL; every other task connects a PUSH to
  it. A message is a pickled list of ``(node, target, channel, payload)``
  (``pack_data``); the high-water marks bound what is queued between two
  tasks, so a slow consumer stops its producers' sends (backpressure, see
  ``runtime.py``).
"""

from __future__ import annotations

import io
import pickle
import socket

import zmq

from minibig.cluster.runtime import bind_address, is_loopback
from minibig.net.security import cluster_key, dealer

DATA_HWM = 32              # messages queued per direction between two tasks
LOOPBACK = "127.0.0.1"


def url_host(url: str | None) -> str:
    """The host part of ``tcp://host:port`` ("" for None or an in-process URL).

    >>> url_host("tcp://10.0.0.7:7077"), url_host(None)
    ('10.0.0.7', '')
    """
    if not url or "://" not in url:
        return ""
    return url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")


def driver_host(master_url: str | None) -> str:
    """Where the driver's control socket listens: loopback unless the cluster is beyond it.

    A master on loopback (or an in-process one) means every task runs on this
    machine; a master elsewhere means tasks on other hosts must reach the
    driver, so it listens on every interface (``bind_address`` then insists
    on the cluster key).

    >>> driver_host("tcp://127.0.0.1:7077"), driver_host("tcp://10.0.0.7:7077")
    ('127.0.0.1', '0.0.0.0')
    """
    host = url_host(master_url)
    return LOOPBACK if not host or is_loopback(host) else "0.0.0.0"


def task_host(worker_host: str) -> str:
    """Where a task's data socket listens: the interface its worker serves blocks on.

    ``worker_host`` is the worker's host id (``TaskContext.host``): the
    machine's name for a loopback worker, else the address other workers
    reach it at.

    >>> task_host(socket.gethostname()), task_host("10.0.0.7")
    ('127.0.0.1', '10.0.0.7')
    """
    if not worker_host or worker_host == socket.gethostname() or is_loopback(worker_host):
        return LOOPBACK
    return worker_host


def pack(kind: str, gen: int, **fields) -> bytes:
    """A control message."""
    return pickle.dumps({"kind": kind, "gen": gen, **fields}, protocol=5)


def unpack(blob: bytes) -> dict:
    """A control message ``pack`` made."""
    return pickle.loads(blob)


def pack_data(items: list) -> bytes:
    """A data message: ``items`` pickled without pickle's memo when they allow it.

    The memo (every tuple and string remembered, so a second reference to it
    is written as a back-reference) was about half of what pickling a batch
    of records cost, and records hardly share anything: a record's fields
    are written out each time, as Flink serializes each record on its own.
    Equal values arrive; only the identity of an object referenced twice in
    one message is not kept (no operator depends on it). A cycle, which
    pickling without the memo cannot write, makes it pickle with the memo.
    """
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True
    try:
        pickler.dump(items)
    except ValueError:                      # "fast mode: can't pickle cyclic objects"
        return pickle.dumps(items, protocol=5)
    return buffer.getvalue()


def unpack_data(blob: bytes) -> list:
    """The items of a data message ``pack_data`` made."""
    return pickle.loads(blob)


def control_server(ctx: zmq.Context, host: str = LOOPBACK, key=None) -> tuple[zmq.Socket, str]:
    """The driver's ROUTER on ``host`` (``driver_host``), admitting ``key``, and its address.

    ``ctx`` should be the job's own context: its authenticator admits one key,
    and a driver may run jobs on clusters with different keys (an embedded one
    and a standalone one) one after the other.
    """
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    return sock, bind_address(sock, host, 0, key)


def control_client(url: str, ctx: zmq.Context) -> zmq.Socket:
    """A task's DEALER to the driver."""
    return dealer(url, linger=2000, ctx=ctx)


def data_server(ctx: zmq.Context, host: str = LOOPBACK) -> tuple[zmq.Socket, str]:
    """A task's PULL on ``host`` (``task_host``) for the batches other tasks send it, and its address."""
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, DATA_HWM)
    return sock, bind_address(sock, host, 0)


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
