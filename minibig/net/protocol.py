"""Wire format between driver, master and workers.

Every message is one ZeroMQ multipart message:

    [identity]            only on ROUTER sockets, added/stripped by ZeroMQ
    kind                  ASCII name of the message, e.g. b"launch"
    header                UTF-8 JSON object: ids, counters, small metadata
    blob, blob, ...       opaque bytes: pickled code, task payloads, results

The master reads only `kind` and `header`; blobs (user code and data) pass
through it unopened, so the master never unpickles anything. A frame that does
not parse raises `ProtocolError`, which receivers log and drop.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import zmq

log = logging.getLogger("minibig.protocol")

# Driver -> master
HELLO = "hello"              # {driver_id} -> WELCOME
SUBMIT_STAGE = "submit_stage"
CANCEL_JOB = "cancel_job"
ADD_FILE = "add_file"        # {file_id} + [zip bytes]
DROP_SHUFFLE = "drop_shuffle"
DROP_BLOCKS = "drop_blocks"  # {prefix}: forget persisted partitions
DROP_FILES = "drop_files"    # {files: [ids]}: forget shipped modules/broadcasts
SHUTDOWN = "shutdown"        # stop the whole cluster (embedded clusters only)
STATUS = "status"            # any client -> STATUS_REPLY
# Master -> driver
WELCOME = "welcome"
TASK_RESULT = "task_result"
STAGE_FAILED = "stage_failed"
FETCH_FAILED = "fetch_failed"
OUTPUTS_LOST = "outputs_lost"
STATUS_REPLY = "status_reply"
# Worker -> master
REGISTER = "register"
TASK_DONE = "task_done"
TASK_FAILED = "task_failed"
# Master -> worker
REGISTERED = "registered"
REREGISTER = "reregister"
LAUNCH = "launch"
KILL_TASK = "kill_task"      # {taskset, partition, attempt}: another attempt won
# Both directions / anyone
HEARTBEAT = "heartbeat"
BYE = "bye"
# Worker block server
FETCH_BLOCK = "fetch_block"  # {shuffle, map, reduce} -> BLOCK + [bytes] | NO_BLOCK
BLOCK = "block"
NO_BLOCK = "no_block"


class ProtocolError(ValueError):
    """A message that does not follow the wire format."""


@dataclass
class Message:
    """One decoded message; `identity` is set when it came through a ROUTER."""

    kind: str
    header: dict
    blobs: list = field(default_factory=list)
    identity: bytes | None = None


def encode(kind: str, header: dict | None = None, blobs=()) -> list:
    """Frames of a message, without the ROUTER identity."""
    return [kind.encode("ascii"), json.dumps(header or {}).encode("utf-8"), *blobs]


def decode(frames: list, routed: bool = False) -> Message:
    """Parse frames received on a socket; `routed` if a ROUTER identity leads."""
    identity = None
    if routed:
        if len(frames) < 1:
            raise ProtocolError("empty message")
        identity, frames = bytes(frames[0]), frames[1:]
    if len(frames) < 2:
        raise ProtocolError(f"message has {len(frames)} frames, needs at least 2")
    try:
        kind = bytes(frames[0]).decode("ascii")
        header = json.loads(bytes(frames[1]))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"undecodable kind or header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    return Message(kind, header, list(frames[2:]), identity)


def send(sock: zmq.Socket, kind: str, header: dict | None = None, blobs=(),
         identity: bytes | None = None) -> None:
    """Send one message; `identity` routes it through a ROUTER socket."""
    frames = encode(kind, header, blobs)
    if identity is not None:
        frames.insert(0, identity)
    sock.send_multipart(frames, copy=False)


def recv(sock: zmq.Socket, routed: bool = False) -> Message:
    """Receive and decode one message (may raise ProtocolError)."""
    frames = sock.recv_multipart(copy=True)
    return decode(frames, routed)


def blob_bytes(frame) -> bytes:
    """The bytes of a received blob frame."""
    return frame if isinstance(frame, bytes) else bytes(frame)
