"""Wire format between driver, master and workers.

Every message is one ZeroMQ multipart message:

    [identity]            only on ROUTER sockets, added/stripped by ZeroMQ
    kind                  ASCII name of the message, e.g. b"launch"
    header                UTF-8 JSON object: ids, counters, small metadata
    blob, blob, ...       opaque bytes: pickled code, task payloads, results

The master reads only `kind` and `header`; blobs (user code and data) pass
through it unopened, so the master never unpickles anything. A frame that does
not parse raises `ProtocolError`, which receivers log and drop.

Bounds: no frame may exceed MINIBIG_MAX_FRAME_BYTES (default 2 GiB, above
the largest result `max_result_size` lets through) and no message may have
more than MINIBIG_MAX_FRAMES frames (default 131072: a stage of that many
tasks). ZeroMQ itself drops the connection of a peer that sends a bigger
frame (`MAXMSGSIZE`, set on every socket by `limit_socket`), before the
frame is buffered; `recv` refuses a message of too many frames, keeping
none of them; `send` refuses to send either, with an error saying which
setting to raise.
"""

from __future__ import annotations

import json
import logging
import os
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
DROP_FILES = "drop_files"    # {files: [ids], workers_only?}: forget shipped modules/broadcasts
SHUTDOWN = "shutdown"        # stop the whole cluster (embedded clusters only)
STATUS = "status"            # any client -> STATUS_REPLY
JOB_STATE = "job_state"      # {driver_id, job_id, tasksets}: which of these do you still hold?
# Master -> driver
WELCOME = "welcome"
TASK_RESULT = "task_result"
RESULT_FRAME = "result_frame"  # {taskset, partition, attempt, seq, codec} + [encoded records]
STAGE_FAILED = "stage_failed"
FETCH_FAILED = "fetch_failed"
OUTPUTS_LOST = "outputs_lost"
STATUS_REPLY = "status_reply"
JOB_STATE_REPLY = "job_state_reply"  # {job_id, known, missing}: the asked task sets it lacks
# Driver-internal (never on the wire)
JOB_QUIET = "job_quiet"      # {job_id}: nothing came about the job for a while
# Worker -> master
REGISTER = "register"
TASK_DONE = "task_done"
TASK_FRAME = "task_frame"    # part of a running attempt's result, ahead of its task_done
TASK_FAILED = "task_failed"
# Master -> worker
REGISTERED = "registered"
REREGISTER = "reregister"
LAUNCH = "launch"
KILL_TASK = "kill_task"      # {taskset, partition, attempt}: another attempt won
# Driver -> master -> worker
FRAME_ACK = "frame_ack"      # {taskset, partition, attempt, seq}: the driver has decoded it
# Both directions / anyone
HEARTBEAT = "heartbeat"
BYE = "bye"
# Worker block server
FETCH_BLOCK = "fetch_block"  # {shuffle, map, reduce} -> BLOCK + [bytes] | NO_BLOCK
BLOCK = "block"
NO_BLOCK = "no_block"


MAX_FRAME_BYTES_ENV = "MINIBIG_MAX_FRAME_BYTES"
MAX_FRAMES_ENV = "MINIBIG_MAX_FRAMES"
DEFAULT_MAX_FRAME_BYTES = 2 << 30
DEFAULT_MAX_FRAMES = 1 << 17


class ProtocolError(ValueError):
    """A message that does not follow the wire format."""


class MessageTooLargeError(ProtocolError):
    """A message past the configured bounds (MINIBIG_MAX_FRAME_BYTES, MINIBIG_MAX_FRAMES)."""


def _limit(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = 0
    if value < 1:
        raise MessageTooLargeError(f"{name}={raw!r}: expected a whole number above 0")
    return value


def max_frame_bytes() -> int:
    """The largest frame any socket accepts (MINIBIG_MAX_FRAME_BYTES)."""
    return _limit(MAX_FRAME_BYTES_ENV, DEFAULT_MAX_FRAME_BYTES)


def max_frames() -> int:
    """The most frames one message may have (MINIBIG_MAX_FRAMES)."""
    return _limit(MAX_FRAMES_ENV, DEFAULT_MAX_FRAMES)


def limit_socket(sock: zmq.Socket) -> None:
    """Make ZeroMQ drop a peer that sends a frame past `max_frame_bytes`, before buffering it."""
    sock.setsockopt(zmq.MAXMSGSIZE, max_frame_bytes())


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
    check_size(kind, frames)
    if identity is not None:
        frames.insert(0, identity)
    sock.send_multipart(frames, copy=False)


def check_size(kind: str, frames: list) -> None:
    """MessageTooLargeError if a message to send is past the bounds its receiver enforces."""
    if len(frames) > max_frames():
        raise MessageTooLargeError(
            f"a {kind} message of {len(frames)} frames is past the limit of {max_frames()} "
            f"(fewer partitions, or raise {MAX_FRAMES_ENV} on every process)")
    limit = max_frame_bytes()
    for frame in frames:
        size = frame.nbytes if isinstance(frame, memoryview) else len(frame)
        if size > limit:
            raise MessageTooLargeError(
                f"a {kind} message carries {size} bytes in one frame, past the limit of {limit} "
                f"(raise {MAX_FRAME_BYTES_ENV} on every process)")


def recv_frames(sock: zmq.Socket) -> list:
    """The frames of one message; MessageTooLargeError (the message consumed) past `max_frames`.

    Frames past the limit are read and dropped one by one, so a message of
    a million frames never becomes a list of a million Python objects.
    """
    limit = max_frames()
    frames = [sock.recv(copy=True)]
    count = 1
    while sock.getsockopt(zmq.RCVMORE):
        frame = sock.recv(copy=True)
        count += 1
        if count <= limit:
            frames.append(frame)
        elif count == limit + 1:
            frames.clear()
    if count > limit:
        raise MessageTooLargeError(f"refused a message of {count} frames: the limit is {limit} "
                                   f"({MAX_FRAMES_ENV})")
    return frames


def recv(sock: zmq.Socket, routed: bool = False) -> Message:
    """Receive and decode one message (may raise ProtocolError)."""
    return decode(recv_frames(sock), routed)


def blob_bytes(frame) -> bytes:
    """The bytes of a received blob frame."""
    return frame if isinstance(frame, bytes) else bytes(frame)
