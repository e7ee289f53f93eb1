"""An embedded cluster: a master and N workers started by the driver.

Each process is a fresh interpreter (`python -m minibig.cluster.master`,
`... .worker`), started all at once so their imports overlap. The workers
read the master's address from their stdin, and every process exits when its
stdin closes: the driver holds the write ends, and the kernel closes them when
the driver dies, even by SIGKILL, so an embedded cluster never outlives it.
Workers run with a fixed PYTHONHASHSEED, so even a user type whose hash
depends on strings partitions the same way in every worker.

Every embedded cluster is keyed (`minibig.net.security`): the driver's
embedded key goes to each process as the first line on the same stdin pipe
(`--key-file -`), which no other user can read, and never touches argv, the
environment or the disk. Under --insecure (MINIBIG_INSECURE=1) the processes
run unkeyed, told so explicitly.

How many workers: `worker_count` decides, and refuses what the machine
cannot run. Past 4 per core (8 at least, for teaching on small laptops) more
processes only time-slice the same cores, and each idle worker holds about
40 MiB, so the count must also fit in free memory at 64 MiB each; a larger
cluster is started by hand with `minibig worker`, on as many hosts as needed.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import psutil

from minibig.errors import ClusterStartError, InvalidArgumentError
from minibig.net import protocol as P
from minibig.net.security import dealer, embedded_key, forget_cluster, key_text, remember_cluster

WORKERS_PER_CORE = 4
MIN_WORKER_LIMIT = 8
WORKER_MEMORY = 64 << 20       # an idle worker's RSS is about 40 MiB

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def max_embedded_workers() -> int:
    """The most workers an embedded cluster may start on this machine."""
    by_cores = max(MIN_WORKER_LIMIT, WORKERS_PER_CORE * (os.cpu_count() or 1))
    by_memory = psutil.virtual_memory().available // WORKER_MEMORY
    return max(1, min(by_cores, by_memory))


def check_worker_count(count, source: str = "--workers", limit: int | None = None) -> int:
    """`count` as an int if it is a whole number from 1 to `limit`; InvalidArgumentError otherwise."""
    if isinstance(count, bool) or not isinstance(count, int):
        try:
            count = int(str(count).strip())
        except ValueError:
            raise InvalidArgumentError(f"{source}={count!r}: not a number of workers; "
                                       "expected a whole number, at least 1") from None
    if count < 1:
        raise InvalidArgumentError(f"{source}={count}: a cluster needs at least 1 worker")
    if limit is not None and count > limit:
        raise InvalidArgumentError(
            f"{source}={count}: an embedded cluster on this machine takes 1 to {limit} workers "
            f"({WORKERS_PER_CORE} per core, {WORKER_MEMORY >> 20} MiB of free memory each); "
            "start more with `minibig master` and `minibig worker`")
    return count


def worker_count(workers=None, source: str = "workers") -> int:
    """Workers of an embedded cluster: `workers`, else $MINIBIG_WORKERS, else one per core."""
    limit = max_embedded_workers()
    if workers is not None:
        return check_worker_count(workers, source, limit)
    if os.environ.get("MINIBIG_WORKERS"):
        return check_worker_count(os.environ["MINIBIG_WORKERS"], "MINIBIG_WORKERS", limit)
    return min(os.cpu_count() or 1, limit)


def _log_stream():
    """Where workers' stdout goes: the driver's stderr, so that `minibig submit`
    prints only the job's own output on stdout."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    paths = [_PACKAGE_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class LocalCluster:
    """A master and `workers` worker processes on this machine."""

    def __init__(self, workers: int, conf, slots: int = 1):
        self.conf = conf
        self.key = embedded_key()
        self.url = None
        env = _child_env()
        common = self._common_args()
        policy = ["--locality-wait", str(conf.locality_wait), "--scheduler", conf.scheduler_mode.upper()]
        if not conf.speculation:
            policy.append("--no-speculation")
        if conf.ui:
            policy += ["--ui-port", "0"]          # the web UI, on a free loopback port
        if conf.event_log:
            policy += ["--event-log", os.path.abspath(conf.event_log)]
        self.master = subprocess.Popen(
            [sys.executable, "-m", "minibig.cluster.master", "--port", "0", *common, *policy],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._send_key(self.master)
        self.workers = [self._start_worker(slots, env, common) for _ in range(workers)]
        self.url = self._read_master_url(conf.startup_timeout)
        remember_cluster(self.url, self.key)
        for worker in self.workers:
            self._send_url(worker)

    def _common_args(self) -> list:
        keying = ["--key-file", "-"] if self.key is not None else ["--insecure"]
        return ["--die-with-parent", "--worker-timeout", str(self.conf.worker_timeout), *keying]

    def _send_key(self, proc: subprocess.Popen) -> None:
        """Hand the cluster key to a child on its stdin (see the module doc)."""
        if self.key is not None:
            proc.stdin.write(key_text(self.key).encode())
            proc.stdin.flush()

    def _start_worker(self, slots: int, env: dict, common: list) -> subprocess.Popen:
        memory = getattr(self.conf, "worker_memory", None)
        extra = ["--memory", str(int(memory))] if memory else []
        worker = subprocess.Popen(
            [sys.executable, "-m", "minibig.cluster.worker", "--master", "-",
             "--slots", str(slots), *extra, *common],
            stdin=subprocess.PIPE, stdout=_log_stream(), env=env)
        self._send_key(worker)
        return worker

    def _send_url(self, worker: subprocess.Popen) -> None:
        worker.stdin.write((self.url + "\n").encode())
        worker.stdin.flush()

    def add_worker(self, slots: int = 1) -> subprocess.Popen:
        """Start one more worker and join it to this cluster."""
        worker = self._start_worker(slots, _child_env(), self._common_args())
        self._send_url(worker)
        self.workers.append(worker)
        return worker

    def _read_master_url(self, timeout: float) -> str:
        ready, _, _ = select.select([self.master.stdout], [], [], timeout)
        line = self.master.stdout.readline() if ready else b""
        if not line:
            self.kill()
            raise ClusterStartError("the embedded master did not start "
                                    f"(exit code {self.master.poll()})")
        info = json.loads(line)
        self.ui_url = info.get("ui")              # the master's web UI, when it serves one
        return info["url"]

    def shutdown(self) -> None:
        """Tell the master to stop its workers and itself."""
        sock = dealer(self.url, linger=1000)
        P.send(sock, P.SHUTDOWN)
        sock.close()

    def alive(self) -> bool:
        """True while the master process runs."""
        return self.master.poll() is None

    def processes(self) -> list:
        return [self.master, *self.workers]

    def stop(self, timeout: float = 5.0) -> None:
        """Shut the cluster down; kill whatever has not exited within `timeout`."""
        if self.alive():
            self.shutdown()
        deadline = time.monotonic() + timeout
        for proc in self.processes():
            try:
                proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close_pipes()

    def kill(self) -> None:
        """Kill every process at once."""
        for proc in self.processes():
            if proc.poll() is None:
                proc.kill()
        for proc in self.processes():
            proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for proc in self.processes():
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        if self.url is not None:
            forget_cluster(self.url)
