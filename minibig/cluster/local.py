"""An embedded cluster: a master and N workers started by the driver.

On Linux the processes are forks of one warm interpreter, the zygote
(`cluster/zygote.py`, driven through `cluster/forking.py`): one Python start
and one import of the engine instead of one per process. Elsewhere (or with
MINIBIG_ZYGOTE=0) each is a fresh interpreter (`python -m
minibig.cluster.master`, `... .worker`), started all at once so their
imports overlap. The workers read the master's address from their stdin,
and every process exits when its stdin closes: its write end is held by the
driver (or by the zygote, whose own stdin the driver holds), and the kernel
closes it when its holder dies, even by SIGKILL, so an embedded cluster
never outlives its driver. Workers run with a fixed PYTHONHASHSEED (the
zygote's), so even a user type whose hash depends on strings partitions
the same way in every worker.

Every embedded cluster is keyed (`minibig.net.security`): the driver's
embedded key goes to each process as the first line on the same stdin pipe
(`--key-file -`; forked processes get it from the zygote the same way),
which no other user can read, and never touches argv, the environment or
the disk. Under --insecure (MINIBIG_INSECURE=1) the processes
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

from minibig.cluster import forking
from minibig.cluster.forking import child_env, log_stream
from minibig.errors import ClusterStartError, InvalidArgumentError
from minibig.net import protocol as P
from minibig.net.security import dealer, embedded_key, forget_cluster, key_text, remember_cluster

WORKERS_PER_CORE = 4
MIN_WORKER_LIMIT = 8
WORKER_MEMORY = 64 << 20       # an idle worker's RSS is about 40 MiB

def max_embedded_workers() -> int:
    """The most workers an embedded cluster may start on this machine."""
    by_cores = max(MIN_WORKER_LIMIT, WORKERS_PER_CORE * (os.cpu_count() or 1))
    by_memory = available_memory() // WORKER_MEMORY
    return max(1, min(by_cores, by_memory))


def available_memory() -> int:
    """Bytes of memory available for new processes, without swapping."""
    try:
        with open("/proc/meminfo", "rb") as f:        # Linux: MemAvailable, as psutil reads it
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Elsewhere psutil; imported here because it costs a driver ~30 ms to import.
    import psutil
    return psutil.virtual_memory().available


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


class LocalCluster:
    """A master and `workers` worker processes on this machine."""

    def __init__(self, workers: int, conf, slots: int = 1):
        self.conf = conf
        self.key = embedded_key()
        self.url = None
        self.ui_url = None                        # the master's web UI, when it serves one
        self.zygote = None
        self.master = None
        self.workers = []
        self.size, self.slots = workers, slots    # what revive_workers starts again
        policy = ["--locality-wait", str(conf.locality_wait), "--scheduler", conf.scheduler_mode.upper()]
        if not conf.speculation:
            policy.append("--no-speculation")
        if conf.ui:
            policy += ["--ui-port", "0"]          # the web UI, on a free loopback port
        if conf.event_log:
            policy += ["--event-log", os.path.abspath(conf.event_log)]
        master_argv = ["--port", "0", *self._common_args(), *policy]
        if forking.supported():
            self.zygote = forking.take_prewarmed() or forking.Zygote(child_env(), log_stream())
            self.master, *self.workers = self._fork(
                [("master", master_argv)] + [("worker", self._worker_argv(slots))] * workers)
            info = self.zygote.master_info(conf.startup_timeout)
        else:
            self.master = subprocess.Popen([sys.executable, "-m", "minibig.cluster.master", *master_argv],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env())
            self._send_key(self.master)
            self.workers = [self._spawn_worker(slots) for _ in range(workers)]
            info = self._read_master_line(conf.startup_timeout)
        if info is None:
            self.kill()
            raise ClusterStartError("the embedded master did not start "
                                    f"(exit code {self.master.poll() if self.master else None})")
        self.url, self.ui_url = info["url"], info.get("ui")
        remember_cluster(self.url, self.key)
        if self.zygote is None:                   # forked workers get it from the zygote
            for worker in self.workers:
                self._send_url(worker)

    def _common_args(self) -> list:
        keying = ["--key-file", "-"] if self.key is not None else ["--insecure"]
        return ["--die-with-parent", "--worker-timeout", str(self.conf.worker_timeout), *keying]

    def _worker_argv(self, slots: int) -> list:
        memory = getattr(self.conf, "worker_memory", None)
        extra = ["--memory", str(int(memory))] if memory else []
        return ["--master", "-", "--slots", str(slots), *extra, *self._common_args()]

    def _fork(self, roles: list) -> list:
        """Forked processes, one per (role, argv), from this cluster's zygote."""
        key = key_text(self.key).strip() if self.key is not None else None
        try:
            cwd = os.getcwd()
        except FileNotFoundError:                 # the driver's folder was removed
            cwd = None
        env = child_env()
        commands = [{"start": role, "argv": argv, "key": key, "env": env, "cwd": cwd}
                    for role, argv in roles]
        pids = self.zygote.start(commands, self.conf.startup_timeout)
        if len(pids) < len(commands):
            self.kill()
            raise ClusterStartError("the embedded cluster's zygote did not start its processes "
                                    f"(exit code {self.zygote.proc.poll()})")
        return [forking.ForkedProcess(pid, self.zygote, role) for pid, (role, _) in zip(pids, roles)]

    def _send_key(self, proc: subprocess.Popen) -> None:
        """Hand the cluster key to a child on its stdin (see the module doc)."""
        if self.key is not None:
            proc.stdin.write(key_text(self.key).encode())
            proc.stdin.flush()

    def _spawn_worker(self, slots: int) -> subprocess.Popen:
        worker = subprocess.Popen(
            [sys.executable, "-m", "minibig.cluster.worker", *self._worker_argv(slots)],
            stdin=subprocess.PIPE, stdout=log_stream(), env=child_env())
        self._send_key(worker)
        return worker

    def _send_url(self, worker: subprocess.Popen) -> None:
        worker.stdin.write((self.url + "\n").encode())
        worker.stdin.flush()

    def add_worker(self, slots: int = 1):
        """Start one more worker and join it to this cluster."""
        if self.zygote is not None:
            (worker,) = self._fork([("worker", self._worker_argv(slots))])
        else:
            worker = self._spawn_worker(slots)
            self._send_url(worker)
        self.workers.append(worker)
        return worker

    def revive_workers(self) -> int:
        """When every worker process has exited (tasks that ended their own process: os._exit,
        a native crash, the OOM killer) while the master runs, start the cluster's workers
        again and return how many; else 0. A driver calls it as a job starts, so one job that
        killed every worker fails (JobAbortedError) but the next ones run, as Spark's
        standalone master launches new executors in place of lost ones."""
        if self.workers_alive() or not self.alive():
            return 0
        for _ in range(self.size):
            self.add_worker(self.slots)
        return self.size

    def _read_master_line(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.master.stdout], [], [], timeout)
        line = self.master.stdout.readline() if ready else b""
        return json.loads(line) if line else None

    def shutdown(self) -> None:
        """Tell the master to stop its workers and itself."""
        sock = dealer(self.url, linger=1000)
        P.send(sock, P.SHUTDOWN)
        sock.close()

    def alive(self) -> bool:
        """True while the master process runs."""
        return self.master.poll() is None

    def workers_alive(self) -> bool:
        """True while at least one of this cluster's worker processes runs."""
        return any(worker.poll() is None for worker in self.workers)

    def processes(self) -> list:
        """The master's and the workers' process handles (`.pid`, `.poll()`, `.kill()`...)."""
        return [p for p in (self.master, *self.workers) if p is not None]

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
            if isinstance(proc, forking.ForkedProcess):
                proc.release()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        if self.zygote is not None:
            self.zygote.close(timeout=5.0)
        if self.url is not None:
            forget_cluster(self.url)
