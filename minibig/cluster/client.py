"""The driver's side of the wire: a Context talking to a master.

`ClusterBackend` says hello, submits stages, and hands the DAG scheduler the
master's events one at a time. A thread with its own socket sends the
driver's heartbeats, so a master notices a dead driver and frees its stages
and shuffle files even while the driver is busy between actions.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

from minibig.net import protocol as P
from minibig.net.security import dealer, unanswered_hint
from minibig.errors import ClusterStartError, JobAbortedError, MasterUnreachableError


class ClusterBackend:
    """A driver's connection to one master."""

    def __init__(self, url: str, conf, app_name: str = "", alive=None):
        self.url = url
        self.conf = conf
        self.alive = alive or (lambda: True)
        self.driver_id = f"d{uuid.uuid4().hex[:10]}"
        self.sock = dealer(url, linger=1000)
        self.info = {"workers": 0, "slots": 0, "hosts": []}
        self.stopped = threading.Event()
        P.send(self.sock, P.HELLO, {"driver_id": self.driver_id, "app_name": app_name,
                                    "host": socket.gethostname()})
        welcome = self._receive(P.WELCOME, conf.connect_timeout)
        if welcome is None:
            self.sock.close(0)
            raise MasterUnreachableError(
                f"no minibig master answered at {url} within {conf.connect_timeout:g}s "
                f"({unanswered_hint()})")
        self.info = welcome.header
        self.master_seen = time.monotonic()
        self.beats = threading.Thread(target=self._heartbeat, name="driver-heartbeat", daemon=True)
        self.beats.start()

    @property
    def default_parallelism(self) -> int:
        return max(1, int(self.info.get("slots", 0)))

    def _receive(self, kind: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.poll(int(max(0.0, deadline - time.monotonic()) * 1000) + 1):
                msg = P.recv(self.sock)
                if msg.kind == P.WELCOME:
                    self.info = msg.header
                if msg.kind == kind:
                    return msg
        return None

    def wait_for_workers(self, count: int, timeout: float) -> None:
        """Block until `count` workers have registered."""
        deadline = time.monotonic() + timeout
        while self.info.get("workers", 0) < count:
            if not self.alive():
                raise ClusterStartError("a process of the embedded cluster exited during start-up")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClusterStartError(
                    f"only {self.info.get('workers', 0)} of {count} workers registered "
                    f"within {timeout:g}s")
            self._receive(P.WELCOME, min(left, 0.5))

    def _heartbeat(self) -> None:
        """Beat every heartbeat_interval; note when the master last answered."""
        sock = dealer(self.url)
        try:
            while not self.stopped.wait(self.conf.heartbeat_interval):
                P.send(sock, P.HEARTBEAT, {"driver_id": self.driver_id})
                while sock.poll(0):
                    sock.recv_multipart()
                    self.master_seen = time.monotonic()
        finally:
            sock.close(0)

    def _master_silent_for(self) -> float:
        return time.monotonic() - self.master_seen

    def submit_stage(self, header: dict, code: bytes, payloads: list) -> None:
        P.send(self.sock, P.SUBMIT_STAGE, header, [code, *payloads])

    def next_event(self):
        """The next message about this driver's stages (blocks)."""
        while True:
            if self.sock.poll(500):
                msg = P.recv(self.sock)
                if msg.kind == P.WELCOME:
                    self.info = msg.header
                    continue
                return msg
            if not self.alive():
                raise JobAbortedError("the embedded cluster's master has exited")
            if self._master_silent_for() > self.conf.master_timeout:
                raise JobAbortedError(f"the master at {self.url} stopped answering "
                                      f"({self._master_silent_for():.0f}s without a heartbeat)")

    def cancel_job(self, job_id: int) -> None:
        P.send(self.sock, P.CANCEL_JOB, {"driver_id": self.driver_id, "job_id": job_id})

    def add_file(self, file_id: str, data: bytes, broadcast: bool = False) -> None:
        P.send(self.sock, P.ADD_FILE, {"file_id": file_id}, [data])

    def drop_files(self, ids: list) -> None:
        P.send(self.sock, P.DROP_FILES, {"files": ids})

    def drop_blocks(self, prefix: str) -> None:
        P.send(self.sock, P.DROP_BLOCKS, {"prefix": prefix})

    def drop_shuffles(self, keys: list) -> None:
        P.send(self.sock, P.DROP_SHUFFLE, {"shuffles": keys})

    def stop(self) -> None:
        """Say goodbye (the master drops this driver's shuffles) and close."""
        self.stopped.set()
        P.send(self.sock, P.BYE, {"driver_id": self.driver_id})
        self.beats.join(timeout=2)
        self.sock.close()
