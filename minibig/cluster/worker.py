"""The worker: runs tasks, keeps shuffle blocks, serves them to other workers.

One thread owns every socket and runs the event loop:

    master     DEALER to the master: register, heartbeats, launches, results
    block_server  ROUTER bound on this host: other workers fetch shuffle blocks
    done       PULL (inproc): finished tasks, and the frames of results still being
               made (`core.task.stream_result`), handed over by the task threads

Tasks run on a pool of `slots` threads, so the loop keeps answering
heartbeats and block requests while a task computes. A stage's code arrives
once per worker (with its first task) and is unpickled by each task, as in
Spark, so each task has its own accumulators; broadcast values arrive once
per worker too. The modules a driver ships (its job's folder, zipped) are
what its tasks import, whatever other drivers shipped (`cluster/pyfiles.py`).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import pickle
import socket
import sys
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import psutil
import zmq

from minibig.core import gcpolicy, serialization
from minibig.core.broadcast import store_on_worker, drop_on_worker
from minibig.core.cache import BlockStore
from minibig.net import protocol as P
from minibig.net.security import dealer, stop_authenticators
from minibig.cluster.killswitch import KillSwitch, install_import_guard
from minibig.cluster.pyfiles import CodeSets
from minibig.cluster.workdir import WorkDir, sweep_abandoned
from minibig.cluster.runtime import (add_common_args, bind_address, check_master_url, use_cluster_key,
                                     check_port, die_with_parent, is_loopback,
                                     read_line_from_stdin, setup_logging, stop_on_sigterm,
                                     wait_for_master)
from minibig.errors import InvalidArgumentError, JobAbortedError, TaskKilledError, UserError
from minibig.core.memory import MemoryPool
from minibig.core.resident import ResidentStore
from minibig.shuffle.blocks import drop
from minibig.shuffle.reader import serve_block
from minibig.shuffle.sizing import pin_mmap_threshold
from minibig.core.task import TaskContext, describe_failure, load_stage, run_task

log = logging.getLogger("minibig.worker")

STAGE_CODE_CACHE = 64
FRAMES_IN_FLIGHT = 4          # frames of one attempt sent and not yet decoded by the driver
FRAME_WAIT = 300.0            # seconds a frame may wait for room before its attempt fails


class FrameCredit:
    """Flow control of one attempt's result frames: how many the driver has decoded.

    A task thread sends frame `seq` only once the driver has decoded all but
    FRAMES_IN_FLIGHT - 1 of the frames before it, so a fast worker and a slow
    driver hold a few frames in between, not the whole result.
    """

    def __init__(self):
        self.decoded = 0
        self.changed = threading.Condition()

    def took(self, seq: int) -> None:
        """The driver decoded frame `seq` (acks of one attempt come in order)."""
        with self.changed:
            self.decoded = max(self.decoded, seq + 1)
            self.changed.notify_all()

    def wait_for_room(self, seq: int, timeout: float = FRAME_WAIT) -> None:
        """Block until frame `seq` may go; JobAbortedError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while seq - self.decoded >= FRAMES_IN_FLIGHT:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JobAbortedError(
                        f"the driver decoded none of this result's frames for {timeout:g}s")
                self.changed.wait(min(left, 1.0))


class StageCodeCache:
    """The most recent stages' code blobs, by task set key."""

    def __init__(self):
        self.blobs: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, key: str, blob: bytes) -> None:
        with self.lock:
            self.blobs[key] = blob
            while len(self.blobs) > STAGE_CODE_CACHE:
                self.blobs.popitem(last=False)

    def get(self, key: str) -> bytes:
        with self.lock:
            return self.blobs[key]


class Worker:
    """Event loop of one worker process."""

    def __init__(self, master_url: str, slots: int, host: str, work_dir: str,
                 memory: int, heartbeat_interval: float = 0.5, block_port: int = 0,
                 announce: bool = False):
        self.master_url = master_url
        self.announce = announce                  # started by hand: say when the master takes it
        self.joined = self.joined_before = False   # to this master connection; to any
        self.slots = slots
        self.host = host
        self.block_port = block_port              # 0: any free port
        self.memory_budget = memory
        self.host_id = host_identity(f"tcp://{host}:{block_port}")   # run() knows it for sure
        self.block_addr: str | None = None        # where run() binds the block server
        self.work_dir = work_dir
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.heartbeat_interval = heartbeat_interval
        self.codes = StageCodeCache()
        self.memory = MemoryPool(memory, slots)
        self.blocks = BlockStore(work_dir, self.memory)
        self.code_sets = CodeSets(work_dir)
        self.resident = ResidentStore()
        # Each task slot gets an equal share of the budget for its shuffle data.
        self.pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="task")
        self.local = threading.local()
        self.active: dict[tuple, KillSwitch] = {}   # launched attempts, queued or running
        self.credits: dict[tuple, FrameCredit] = {}  # attempts streaming a result
        self.active_lock = threading.Lock()
        self.zctx = zmq.Context.instance()
        self.stopping = False
        self.process = psutil.Process()
        self.process.cpu_percent(None)            # the first call starts the measure

    def run(self) -> None:
        """Register with the master and serve until told to shut down."""
        install_import_guard()                    # a kill must never land inside an import
        self.master = dealer(self.master_url, linger=2000, ctx=self.zctx)
        self.block_server = self.zctx.socket(zmq.ROUTER)
        self.block_server.setsockopt(zmq.LINGER, 0)
        self.block_addr = bind_address(self.block_server, self.host, self.block_port)
        self.host_id = host_identity(self.block_addr)
        self.done = self.zctx.socket(zmq.PULL)
        self.done.bind(f"inproc://done-{self.worker_id}")
        self.register()
        poller = zmq.Poller()
        for sock in (self.master, self.block_server, self.done):
            poller.register(sock, zmq.POLLIN)
        # Started by hand: say when the master's connection drops (a stopped master), which
        # nothing else shows; the worker waits for it to come back.
        master_gone = self.master.get_monitor_socket(zmq.EVENT_DISCONNECTED) if self.announce else None
        if master_gone is not None:
            poller.register(master_gone, zmq.POLLIN)
        next_beat = time.monotonic()
        while not self.stopping:
            timeout = max(0.0, next_beat - time.monotonic())
            for sock, _ in poller.poll(int(timeout * 1000) + 1):
                try:
                    if sock is self.master:
                        self.on_master(P.recv(sock))
                    elif sock is self.block_server:
                        self.on_block_request(P.recv(sock, routed=True))
                    elif sock is master_gone:
                        sock.recv_multipart()             # the event: the connection dropped
                        self.say_master_gone()
                    else:
                        self.master.send_multipart(sock.recv_multipart(copy=False), copy=False)
                except P.ProtocolError as exc:
                    log.warning("dropped a malformed message: %s", exc)
                except Exception:
                    log.exception("dropped a message that could not be handled")
            if time.monotonic() >= next_beat:
                self.kill_again()
                P.send(self.master, P.HEARTBEAT, {"worker_id": self.worker_id,
                                                  "progress": self.progress(),
                                                  "reserved": self.reserved_bytes(),
                                                  "streams": self.live_metrics(),
                                                  **self.usage()})
                next_beat = time.monotonic() + self.heartbeat_interval
        P.send(self.master, P.BYE, {"worker_id": self.worker_id})
        self.pool.shutdown(wait=False, cancel_futures=True)

    def register(self) -> None:
        P.send(self.master, P.REGISTER, {
            "worker_id": self.worker_id, "host": self.host_id, "pid": os.getpid(),
            "slots": self.slots, "block_addr": self.block_addr, "work_dir": self.work_dir,
            "memory": self.memory_budget})

    # -- messages from the master ---------------------------------------------
    def on_master(self, msg: P.Message) -> None:
        if msg.kind == P.LAUNCH:
            self.on_launch_or_report(msg)
        elif msg.kind == P.DROP_SHUFFLE:
            drop(self.work_dir, msg.header.get("shuffle", ""), msg.header.get("shuffle_prefix", ""))
            if msg.header.get("shuffle_prefix"):           # the driver is gone
                self.blocks.drop(msg.header["shuffle_prefix"])
                self.resident.drop(msg.header["shuffle_prefix"])
        elif msg.kind == P.KILL_TASK:
            h = msg.header
            self.kill((h["taskset"], int(h["partition"]), int(h["attempt"])))
        elif msg.kind == P.FRAME_ACK:
            h = msg.header
            with self.active_lock:                         # none: the attempt has ended
                credit = self.credits.get((h["taskset"], int(h["partition"]), int(h["attempt"])))
            if credit is not None:
                credit.took(int(h["seq"]))
        elif msg.kind == P.DROP_BLOCKS:
            self.blocks.drop(str(msg.header["prefix"]))
            self.resident.drop(str(msg.header["prefix"]))
        elif msg.kind == P.DROP_FILES:
            drop_on_worker(msg.header.get("files", []))
            self.code_sets.drop([str(f) for f in msg.header.get("files", [])])
        elif msg.kind == P.REREGISTER:
            self.register()
        elif msg.kind == P.SHUTDOWN:
            self.stopping = True
        elif msg.kind == P.REGISTERED:
            self.heartbeat_interval = float(msg.header.get("heartbeat_interval", self.heartbeat_interval))
            if self.announce:
                self.say_joined()
        else:
            log.warning("dropped a message of unknown kind %r", msg.kind)

    def say_master_gone(self) -> None:
        """Tell whoever started this worker by hand that its master went away (once per join)."""
        if self.joined:
            self.joined = False
            print(f"minibig: worker {self.worker_id}: the master at {self.master_url} went away; "
                  "it joins it again when it is back (Ctrl-C stops it)", file=sys.stderr, flush=True)

    def say_joined(self) -> None:
        """Tell whoever started this worker by hand that the master took it, and again after
        a master restart: the worker is silent otherwise, so a wait said nothing."""
        again = " again" if self.joined_before else ""
        self.joined = self.joined_before = True
        print(f"minibig: worker {self.worker_id} joined the master at {self.master_url}{again}: "
              f"{self.slots} slot(s), {self.memory_budget / 2**30:.1f} GiB, blocks served at "
              f"{self.block_addr} (Ctrl-C stops it)", file=sys.stderr, flush=True)

    def on_launch_or_report(self, msg: P.Message) -> None:
        """Start a launched attempt; one that cannot start is reported failed, not dropped
        (the master would keep its slot busy and its job waiting forever)."""
        try:
            self.on_launch(msg)
        except Exception as exc:
            h = msg.header
            log.exception("could not start a launched task")
            if not all(k in h for k in ("taskset", "partition", "attempt")):
                raise P.ProtocolError("launch: no taskset, partition and attempt") from exc
            key = (h["taskset"], int(h["partition"]), int(h["attempt"]))
            self.forget(key)
            self.master.send_multipart(failure_frames(self.report_of(key), exc), copy=False)

    def on_launch(self, msg: P.Message) -> None:
        h = msg.header
        names = h["blobs"]
        if len(names) != len(msg.blobs):
            raise P.ProtocolError("launch: blob names and blobs differ in number")
        blobs = dict(zip(names, msg.blobs))
        for name, blob in blobs.items():
            if name == "code":
                self.codes.add(h["taskset"], P.blob_bytes(blob))
            elif name.startswith("pyfile:"):
                self.install_py_file(name[7:], P.blob_bytes(blob))
            elif name.startswith("bcast:"):
                store_on_worker(name[6:], P.blob_bytes(blob))
        key = (h["taskset"], int(h["partition"]), int(h["attempt"]))
        switch = KillSwitch()
        with self.active_lock:
            self.active[key] = switch
        self.pool.submit(self.execute_with_its_code, key, h, P.blob_bytes(blobs["payload"]),
                         switch)

    def install_py_file(self, file_id: str, data: bytes) -> None:
        """Keep a driver's zipped modules; its tasks import them (see cluster/pyfiles.py)."""
        self.code_sets.install(file_id, data)

    def execute_with_its_code(self, key: tuple, h: dict, payload: bytes, switch) -> None:
        """`execute`, seeing the modules the launching driver shipped and no other driver's."""
        with self.code_sets.entered(h.get("py_files")):
            self.execute(key, h, payload, switch)

    def on_block_request(self, msg: P.Message) -> None:
        kind, header, blobs = serve_block(self.work_dir, msg.header)
        P.send(self.block_server, kind, header, blobs, identity=msg.identity)

    # -- task threads ---------------------------------------------------------
    def report_of(self, key: tuple) -> dict:
        return {"worker_id": self.worker_id, "taskset": key[0], "partition": key[1],
                "attempt": key[2]}

    def execute(self, key: tuple, h: dict, payload: bytes, switch: KillSwitch) -> None:
        """Run one attempt on a pool thread and hand its outcome to the loop, always."""
        report = self.report_of(key)
        outcome = None                           # the report's frames, or what stopped it
        try:
            if switch.arm():
                outcome = self.run_attempt(key, h, payload, report, switch)
        except BaseException as exc:             # never leave the master waiting for a report
            outcome = exc
        try:
            killed = switch.disarm()
        except TaskKilledError:                  # the kill landed on the way here
            killed = switch.disarm()
        # From here no kill can land: releasing cannot be cut short.
        if switch.ctx is not None:
            switch.ctx.release()
        self.forget(key)
        self.put_back_gc_threshold_if_idle()
        if isinstance(outcome, BaseException) and not isinstance(outcome, TaskKilledError):
            outcome = failure_frames(report, outcome)
        if not isinstance(outcome, list) or killed and outcome[0] != P.TASK_DONE.encode():
            outcome = P.encode(P.TASK_FAILED, {**report, "killed": True, "error": "killed"}, [b""])
        self.outbox().send_multipart(outcome, copy=False)

    def run_attempt(self, key: tuple, h: dict, payload: bytes, report: dict,
                    switch: KillSwitch) -> list:
        """Run the task; the frames reporting its outcome (TaskKilledError if killed)."""
        code = None
        conf = h.get("task_conf", {})
        try:
            switch.ctx = TaskContext(
                partition=key[1], attempt=key[2], stage_id=int(h["stage_id"]),
                payloads=serialization.loads(payload), locations=h.get("locations", {}),
                work_dir=self.work_dir, worker_id=self.worker_id,
                driver_id=key[0].split("/", 1)[0], blocks=self.blocks, resident=self.resident,
                shuffle_local_read=bool(conf.get("shuffle_local_read", True)), host=self.host_id,
                fetch_timeout=float(conf.get("fetch_timeout", 30.0)),
                memory_pool=self.memory, block_addr=self.block_addr,
                send_frame=functools.partial(self.send_frame, report, switch))
            code = load_stage(self.codes.get(key[0]))
            fields, data = run_task(code, switch.ctx, int(conf.get("max_result_size", 1 << 30)))
            return P.encode(P.TASK_DONE, {**report, **fields}, [data])
        except TaskKilledError:
            raise
        except BaseException as exc:           # the user's exception, whatever it is
            return failure_frames(report, exc, code)

    def send_frame(self, report: dict, switch: KillSwitch, seq: int, codec: str,
                   data: bytes) -> None:
        """Hand the loop one frame of a running attempt's result (`core.task.stream_result`).

        The kill waits while the parts go out: a message cut after its first
        part would glue itself to the next one this thread's outbox sends.
        """
        self.credit((report["taskset"], report["partition"], report["attempt"])).wait_for_room(seq)
        frames = P.encode(P.TASK_FRAME, {**report, "seq": seq, "codec": codec}, [data])
        with switch.held():
            self.outbox().send_multipart(frames, copy=False)

    def credit(self, key: tuple) -> FrameCredit:
        """The flow control of an attempt's result frames (made when it sends its first)."""
        with self.active_lock:
            return self.credits.setdefault(key, FrameCredit())

    def forget(self, key: tuple) -> None:
        with self.active_lock:
            self.active.pop(key, None)
            self.credits.pop(key, None)

    def put_back_gc_threshold_if_idle(self) -> None:
        """After an attempt: with no attempt left on this worker, no `young_threshold` block
        is open, so put back the collector's threshold even if a kill left a holder counted
        (`gcpolicy.put_back_unheld`; a kill may have come to another attempt, which ended
        while this one ran). Under `active_lock`, no attempt starts meanwhile: one is made
        active before its thread runs."""
        with self.active_lock:
            if not self.active:
                gcpolicy.put_back_unheld()

    def kill(self, key: tuple) -> None:
        """Stop a launched attempt (see KillSwitch); nothing if it has ended."""
        with self.active_lock:
            switch = self.active.get(key)
        if switch is not None:
            switch.kill()

    def kill_again(self) -> None:
        """Each heartbeat: kill once more the killed attempts that still run (KillSwitch)."""
        with self.active_lock:
            switches = [s for s in self.active.values() if s.killed]
        for switch in switches:
            switch.kill_again()

    def reserved_bytes(self) -> int:
        """Memory reserved by tasks' shuffles right now (0 when no task holds any)."""
        with self.memory.lock:
            return sum(self.memory.reserved.values())

    def progress(self) -> list:
        """[taskset, partition, attempt, progress] of running attempts that report it."""
        with self.active_lock:
            switches = list(self.active.items())
        return [[*key, s.ctx.progress] for key, s in switches
                if s.ctx is not None and s.ctx.progress is not None]

    def live_metrics(self) -> list:
        """What running long-lived tasks (streaming) publish, each tagged with its taskset."""
        with self.active_lock:
            switches = list(self.active.items())
        return [{**s.ctx.live, "taskset": key[0]} for key, s in switches
                if s.ctx is not None and s.ctx.live is not None]

    def usage(self) -> dict:
        """This process's CPU percent since the last heartbeat and its resident memory."""
        try:
            return {"cpu_percent": self.process.cpu_percent(None),
                    "rss_bytes": self.process.memory_info().rss}
        except psutil.Error:
            return {}

    def outbox(self) -> zmq.Socket:
        sock = getattr(self.local, "outbox", None)
        if sock is None:
            sock = self.zctx.socket(zmq.PUSH)
            sock.connect(f"inproc://done-{self.worker_id}")
            self.local.outbox = sock
        return sock


def host_identity(block_addr: str) -> str:
    """The name this worker's host goes by for placement and same-host shuffle reads.

    Two workers are on one host when each may read the other's work dir. The
    machine's name cannot tell: cloned machines, containers and network
    namespaces often share one while their disks are apart. The address other
    workers reach this one at can: on loopback, it shares this machine with
    every other loopback worker (its name then); beyond, its address names it.

    >>> host_identity("tcp://10.0.0.7:7078")
    '10.0.0.7'
    """
    address = block_addr.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return socket.gethostname() if is_loopback(address) else address


def failure_frames(report: dict, exc: BaseException, code=None) -> list:
    """TASK_FAILED frames for `exc`, even when the exception cannot describe itself."""
    try:
        fields, blob = describe_failure(exc, code)
        return P.encode(P.TASK_FAILED, {**report, **fields}, [blob])
    except Exception as bad:               # e.g. its __str__ raises: report its type at least
        name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        message = f"(the exception could not be described: {type(bad).__name__}: {bad})"
        blob = pickle.dumps({"type": name, "message": message, "traceback": "", "dataset": "",
                             "exception": serialization.exception_blob(exc)}, protocol=5)
        return P.encode(P.TASK_FAILED, {**report, "error": f"{name}: {message}"[:2000]}, [blob])


def parse_size(text: str) -> int:
    """'512m', '2g', '1048576' -> bytes; InvalidArgumentError for anything else."""
    clean = text.strip().lower()
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    try:
        size = (int(float(clean[:-1]) * units[clean[-1]]) if clean and clean[-1] in units
                else int(clean))
    except ValueError:
        size = 0
    if size <= 0:
        raise InvalidArgumentError(f"--memory {text!r}: expected a size above 0 in bytes, or "
                                   "with a unit k, m, g or t (e.g. 512m, 2g)")
    return size


def default_memory_budget() -> int:
    """Half the machine's memory, shared by its cores (one worker per core)."""
    return psutil.virtual_memory().total // 2 // (os.cpu_count() or 1)


def main(argv=None) -> int:
    """Entry point of `minibig worker`."""
    parser = argparse.ArgumentParser(prog="minibig worker", description="Run a minibig worker.")
    parser.add_argument("--master", required=True,
                        help="master URL, e.g. tcp://127.0.0.1:7077 ('-': read it from stdin)")
    parser.add_argument("--slots", type=int, default=1, help="tasks run at once (default 1)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address other workers reach this one at (default: loopback)")
    parser.add_argument("--block-port", type=int, default=0,
                        help="port of this worker's block server, which other workers fetch "
                             "shuffle blocks from (default 0: any free port; fix one so that a "
                             "firewall can let it through)")
    parser.add_argument("--work-dir", default=None, help="folder for shuffle blocks (default: a temp dir)")
    parser.add_argument("--connect-timeout", type=float, default=30.0,
                        help="seconds to wait for the master to answer before giving up "
                             "(default 30: time enough for a master started at the same "
                             "moment, short enough that a wrong address is reported soon)")
    parser.add_argument("--memory", default=None,
                        help="memory budget for persisted partitions and for shuffles (shared "
                             "by the task slots; past it shuffles spill to disk), e.g. 512m or 2g "
                             "(default: half the machine's memory shared by its cores)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    setup_logging("worker", args.verbose)
    os.umask(0o077)               # scratch, shuffle and cached files: the owner's alone
    use_cluster_key(args)
    stop_on_sigterm()
    master = args.master
    handed = master == "-"
    if handed:
        master = read_line_from_stdin()
    check_master_url(master, "--master")
    if args.slots < 1:
        raise InvalidArgumentError(f"--slots {args.slots}: a worker runs at least 1 task at once")
    if not args.connect_timeout > 0:
        raise InvalidArgumentError(f"--connect-timeout {args.connect_timeout:g}: expected a "
                                   "number of seconds above 0")
    check_port(args.block_port, "--block-port")
    memory = parse_size(args.memory) if args.memory else default_memory_budget()
    if args.die_with_parent:
        die_with_parent()
    if not (handed and args.die_with_parent):
        # An embedded cluster (local.py: the URL on stdin, --die-with-parent) hands its
        # workers the URL of the master it started, once it listens: asking it first would
        # cost each worker a handshake and a round trip. Anyone else's URL is checked.
        wait_for_master(master, args.connect_timeout, log)
    scratch = None
    if args.work_dir is None:
        sweep_abandoned()                     # folders left by killed workers on this machine
        scratch = WorkDir()
        work_dir = scratch.path
    else:
        work_dir = args.work_dir
        os.makedirs(work_dir, exist_ok=True)
    try:
        pin_mmap_threshold()                  # freed shuffle buffers go back to the OS
        Worker(master, args.slots, args.host, work_dir, memory, block_port=args.block_port,
               announce=not args.die_with_parent).run()
    except UserError as exc:
        print(f"minibig worker: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if scratch is not None:
            scratch.release()
        stop_authenticators()
        zmq.Context.instance().destroy(linger=1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
